//! The change description a transaction hands to the walk index's repair. Public only with the
//! `testing` feature (see `WalkIndex::apply`).
#![cfg_attr(not(any(test, feature = "testing")), allow(unreachable_pub))]

#[cfg(any(test, feature = "testing"))]
use crate::graph::Adjacency;
use crate::graph::NodeId;

/// The new weight of one walkable pair `(node, target)`.
///
/// Weights are *pair* weights: the sum of the weights of all parallel links from the node to
/// `target` (0 when there is none), because a walk cannot tell parallel links apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairChange {
    /// The other end of the pair.
    pub target: NodeId,
    /// Pair weight before the transaction (0 if the pair had no link).
    pub before: f64,
    /// Pair weight after the transaction (0 if the pair has no link any more).
    pub after: f64,
}

/// How one node's walkable links changed in a transaction.
///
/// Only the pairs whose weight changed are listed: unchanged pairs keep their weight, and the
/// index reads their weights from the graph after the transaction. `weight_sum_before` is
/// `W(node)` before the transaction; `W` after is read from the graph. In an undirected
/// database an edge changes the links of both ends, so the database sends a change for each.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeChange {
    /// The node whose links changed.
    pub node: NodeId,
    /// `W(node)` before the transaction, summed as `Adjacency::weight_sum` sums it.
    pub weight_sum_before: f64,
    /// The changed pairs, each target at most once.
    pub pairs: Vec<PairChange>,
}

/// The pair weights of `node`, ascending by target (the reference the database's merged form,
/// `GraphView::pair_weights`, is tested against). Parallel links are summed in link order
/// (a stable sort keeps it), so the sums are the same floats on every run and replay.
#[cfg(any(test, feature = "testing"))]
fn pair_weights<G: Adjacency>(graph: &G, node: NodeId) -> Vec<(NodeId, f64)> {
    let mut links: Vec<(NodeId, f64)> = Vec::new();
    if (node as usize) < graph.node_count() {
        links.extend(graph.links(node).map(|link| (link.target, link.weight)));
    }
    links.sort_by_key(|&(target, _)| target);
    links.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 += later.1;
            true
        } else {
            false
        }
    });
    links
}

/// The pairs whose weight differs between two target-sorted pair-weight sequences (a target
/// missing on one side weighs 0 there), ascending by target.
pub(crate) fn pair_changes(
    old: impl Iterator<Item = (NodeId, f64)>,
    new: impl Iterator<Item = (NodeId, f64)>,
) -> Vec<PairChange> {
    let (mut old, mut new) = (old.peekable(), new.peekable());
    let mut pairs = Vec::new();
    loop {
        let (target, b, a) = match (old.peek(), new.peek()) {
            (Some(&(t, b)), Some(&(u, a))) if t == u => {
                old.next();
                new.next();
                (t, b, a)
            }
            (Some(&(t, b)), Some(&(u, _))) if t < u => {
                old.next();
                (t, b, 0.0)
            }
            (Some(&(t, b)), None) => {
                old.next();
                (t, b, 0.0)
            }
            (_, Some(&(u, a))) => {
                new.next();
                (u, 0.0, a)
            }
            (None, None) => break,
        };
        if a != b {
            pairs.push(PairChange {
                target,
                before: b,
                after: a,
            });
        }
    }
    pairs
}

#[cfg(any(test, feature = "testing"))]
impl NodeChange {
    /// Computes the change of `node` between two graph snapshots by comparing pair weights.
    ///
    /// This is the reference form of what the database must send; it costs O(degree) and is
    /// meant for tests, tools and small transactions. A node beyond `before.node_count()` is
    /// treated as a new node without links.
    pub fn between<G1: Adjacency, G2: Adjacency>(
        before: &G1,
        after: &G2,
        node: NodeId,
    ) -> NodeChange {
        let pairs = pair_changes(
            pair_weights(before, node).into_iter(),
            pair_weights(after, node).into_iter(),
        );
        let weight_sum_before = if (node as usize) < before.node_count() {
            before.weight_sum(node)
        } else {
            0.0
        };
        NodeChange {
            node,
            weight_sum_before,
            pairs,
        }
    }
}
