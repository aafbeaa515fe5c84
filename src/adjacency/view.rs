//! The merged graph a snapshot reads: segment plus delta, as [`Adjacency`].

use std::sync::Arc;

use super::segment::SegEdges;
use super::{Delta, Segment};
use crate::graph::{Adjacency, Link, NodeId, RelId};

/// A consistent view of the adjacency at one version.
#[derive(Clone, Debug)]
pub(crate) struct GraphView {
    pub(crate) segment: Arc<Segment>,
    pub(crate) delta: Delta,
    pub(crate) node_count: u32,
    pub(crate) undirected: bool,
}

/// Edges of one node from the segment, its link projection, or the delta.
#[derive(Clone, Debug)]
pub(crate) enum EdgeIter<'a> {
    Segment(SegEdges<'a>),
    Delta(std::slice::Iter<'a, (NodeId, RelId, f64)>),
    /// Columns of the segment's link projection: (other end, relation, weight).
    Projected {
        targets: &'a [NodeId],
        rels: &'a [RelId],
        weights: &'a [f64],
        next: usize,
    },
}

impl Iterator for EdgeIter<'_> {
    type Item = (NodeId, RelId, f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            EdgeIter::Segment(it) => it.next(),
            EdgeIter::Delta(it) => it.next().copied(),
            EdgeIter::Projected {
                targets,
                rels,
                weights,
                next,
            } => {
                let i = *next;
                let edge = (*targets.get(i)?, *rels.get(i)?, *weights.get(i)?);
                *next += 1;
                Some(edge)
            }
        }
    }
}

impl GraphView {
    /// Calls `f(src, dst, rel, weight)` for every edge, by source then (dst, rel): one
    /// sequential pass over the segment's columns, with the delta's lists in place of the
    /// nodes it changed.
    pub(crate) fn for_each_edge(&self, mut f: impl FnMut(NodeId, NodeId, RelId, f64)) {
        if self.delta.is_empty() {
            self.segment.for_each_out_edge(|_| false, f);
            return;
        }
        let changed = self.delta.node_bitmap(self.node_count);
        let is_changed = |u: NodeId| bit(&changed, u);
        let mut next: NodeId = 0;
        self.segment.for_each_out_edge(is_changed, |u, v, r, w| {
            if next <= u {
                self.emit_delta(&changed, &mut next, u, &mut f);
                next = u + 1;
            }
            f(u, v, r, w);
        });
        self.emit_delta(&changed, &mut next, self.node_count, &mut f);
    }

    /// Emits the delta lists of the changed nodes in `next..until`, advancing `next`.
    fn emit_delta(
        &self,
        changed: &[u64],
        next: &mut NodeId,
        until: NodeId,
        f: &mut impl FnMut(NodeId, NodeId, RelId, f64),
    ) {
        while *next < until {
            if bit(changed, *next) {
                if let Some(adj) = self.delta.get(*next) {
                    for &(v, r, w) in &adj.out {
                        f(*next, v, r, w);
                    }
                }
            }
            *next += 1;
        }
    }

    /// Number of walkable links of `u` (`links(u).count()`) without reading them: from the
    /// delta's list lengths or the segment's offsets.
    pub(crate) fn link_count(&self, u: NodeId) -> usize {
        match self.delta.get(u) {
            Some(adj) => adj.out.len() + if self.undirected { adj.inn.len() } else { 0 },
            None => self.segment.edge_count_of(u, self.undirected),
        }
    }

    /// `(target, pair weight)` of `u`'s walkable links, ascending by target: the weights of
    /// parallel links to one target summed in link order (out-links by relation, then in-links
    /// by relation), the same floats as summing `links(u)` after a stable sort by target.
    /// A merge of the two sorted lists: no allocation, no sort. Empty beyond the node count.
    pub(crate) fn pair_weights(&self, u: NodeId) -> PairWeights<'_> {
        if u >= self.node_count {
            return PairWeights {
                out: EdgeIter::Delta([].iter()).peekable(),
                inn: None,
            };
        }
        PairWeights {
            out: self.out_edges(u).peekable(),
            inn: self.undirected.then(|| self.in_edges(u).peekable()),
        }
    }

    /// Out-edges of `u` as (dst, rel, weight), sorted by (dst, rel).
    pub(crate) fn out_edges(&self, u: NodeId) -> EdgeIter<'_> {
        match self.delta.get(u) {
            Some(adj) => EdgeIter::Delta(adj.out.iter()),
            None => EdgeIter::Segment(self.segment.out_edges(u)),
        }
    }

    /// In-edges of `v` as (src, rel, weight), sorted by (src, rel). A segment node's come
    /// from the link projection when it holds both lists (undirected): decoding the in-list
    /// finds each edge's relation and weight by a binary search in another node's out-list.
    pub(crate) fn in_edges(&self, v: NodeId) -> EdgeIter<'_> {
        match self.delta.get(v) {
            Some(adj) => EdgeIter::Delta(adj.inn.iter()),
            None => projected_in_edges(&self.segment, v)
                .unwrap_or_else(|| EdgeIter::Segment(self.segment.in_edges(v))),
        }
    }
}

/// `v`'s in-list from the segment's link projection, when the projection holds both lists
/// (its links are the out-list, then the in-list, column for column); else None.
pub(crate) fn projected_in_edges(segment: &Segment, v: NodeId) -> Option<EdgeIter<'_>> {
    let csr = segment
        .link_projection_if_built()
        .filter(|csr| (v as usize) < csr.node_count())?;
    let n_out = segment.edge_count_of(v, false);
    let n_links = segment.edge_count_of(v, true);
    let (targets, weights) = csr.link_slices(v);
    let rels = csr.link_rels(v);
    // A directed projection holds the out-list only: its length tells.
    if targets.len() != n_links || rels.len() != n_links || weights.len() != n_links {
        return None;
    }
    Some(EdgeIter::Projected {
        targets: targets.get(n_out..)?,
        rels: rels.get(n_out..)?,
        weights: weights.get(n_out..)?,
        next: 0,
    })
}

/// See [`GraphView::pair_weights`].
pub(crate) struct PairWeights<'a> {
    out: std::iter::Peekable<EdgeIter<'a>>,
    inn: Option<std::iter::Peekable<EdgeIter<'a>>>,
}

impl Iterator for PairWeights<'_> {
    type Item = (NodeId, f64);

    fn next(&mut self) -> Option<(NodeId, f64)> {
        let first_out = self.out.peek().map(|e| e.0);
        let first_in = self.inn.as_mut().and_then(|i| i.peek()).map(|e| e.0);
        let target = match (first_out, first_in) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, b) => b?,
        };
        let mut sum: Option<f64> = None;
        let mut add = |w: f64| sum = Some(sum.map_or(w, |s| s + w));
        while let Some(&(_, _, w)) = self.out.next_if(|e| e.0 == target).as_ref() {
            add(w);
        }
        if let Some(inn) = self.inn.as_mut() {
            while let Some(&(_, _, w)) = inn.next_if(|e| e.0 == target).as_ref() {
                add(w);
            }
        }
        sum.map(|w| (target, w))
    }
}

#[inline]
fn bit(bits: &[u64], u: NodeId) -> bool {
    bits.get(u as usize / 64)
        .is_some_and(|word| word & (1 << (u % 64)) != 0)
}

/// The walkable links of one node, from the segment's link projection, or from its edge lists.
// The iterator lives briefly on the stack; boxing the larger variant would allocate on every
// call for delta nodes, the hot path of walk repairs.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum LinkIter<'a> {
    Projected {
        targets: &'a [NodeId],
        rels: &'a [RelId],
        weights: &'a [f64],
        next: usize,
    },
    Lists {
        out: EdgeIter<'a>,
        inn: Option<EdgeIter<'a>>,
    },
}

impl Iterator for LinkIter<'_> {
    type Item = Link;

    #[inline]
    fn next(&mut self) -> Option<Link> {
        match self {
            LinkIter::Projected {
                targets,
                rels,
                weights,
                next,
            } => {
                let i = *next;
                let target = *targets.get(i)?;
                *next += 1;
                Some(Link {
                    target,
                    rel: rels.get(i).copied().unwrap_or(0),
                    weight: weights.get(i).copied().unwrap_or(0.0),
                })
            }
            LinkIter::Lists { out, inn } => {
                let (target, rel, weight) = match out.next() {
                    Some(edge) => edge,
                    None => inn.as_mut()?.next()?,
                };
                Some(Link {
                    target,
                    rel,
                    weight,
                })
            }
        }
    }
}

impl Adjacency for GraphView {
    fn node_count(&self) -> usize {
        self.node_count as usize
    }

    fn links(&self, u: NodeId) -> impl Iterator<Item = Link> + '_ {
        match self.delta.get(u) {
            Some(adj) => LinkIter::Lists {
                out: EdgeIter::Delta(adj.out.iter()),
                inn: self.undirected.then(|| EdgeIter::Delta(adj.inn.iter())),
            },
            None => match self.segment.link_projection_if_built() {
                Some(csr) if (u as usize) < csr.node_count() => {
                    let (targets, weights) = csr.link_slices(u);
                    LinkIter::Projected {
                        targets,
                        rels: csr.link_rels(u),
                        weights,
                        next: 0,
                    }
                }
                _ => LinkIter::Lists {
                    out: EdgeIter::Segment(self.segment.out_edges(u)),
                    inn: self
                        .undirected
                        .then(|| EdgeIter::Segment(self.segment.in_edges(u))),
                },
            },
        }
    }

    fn weight_sum(&self, u: NodeId) -> f64 {
        match self.delta.get(u) {
            Some(adj) => adj.link_weight_sum(self.undirected),
            None => match self.segment.link_projection_if_built() {
                Some(csr) if (u as usize) < csr.node_count() => csr.weight_sum(u),
                _ => self.links(u).map(|l| l.weight).sum(),
            },
        }
    }

    fn degree(&self, u: NodeId) -> usize {
        if let Some(adj) = self.delta.get(u) {
            // `links(u)` is the delta's out-list then (undirected) its in-list.
            return adj.link_count(self.undirected);
        }
        if let Some(csr) = self.segment.link_projection_if_built() {
            if (u as usize) < csr.node_count() {
                return csr.degree(u);
            }
        }
        // `links(u)` is the segment's out-list then (undirected) its in-list.
        self.segment.edge_count_of(u, self.undirected)
    }

    fn is_symmetric(&self) -> bool {
        self.undirected
    }

    #[inline]
    fn unit_step(&self, u: NodeId, pick: impl FnOnce(usize) -> usize) -> Option<NodeId> {
        match self.delta.get(u) {
            Some(adj) => adj.unit_step(self.undirected, pick),
            None => match self.segment.link_projection_if_built() {
                Some(csr) if (u as usize) < csr.node_count() => csr.unit_step(u, pick),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::segment::encode_segment;
    use super::*;
    use crate::backend::FileBytes;
    use crate::walks::{pair_changes, NodeChange};
    use proptest::prelude::*;

    /// `(target, summed weight)` of `links(u)` after a stable sort by target: the reference
    /// the merged [`GraphView::pair_weights`] must equal float for float.
    fn summed_links(view: &GraphView, u: NodeId) -> Vec<(NodeId, f64)> {
        let mut links: Vec<(NodeId, f64)> = view.links(u).map(|l| (l.target, l.weight)).collect();
        links.sort_by_key(|l| l.0);
        let mut out: Vec<(NodeId, f64)> = Vec::new();
        for (t, w) in links {
            match out.last_mut() {
                Some(last) if last.0 == t => last.1 += w,
                _ => out.push((t, w)),
            }
        }
        out
    }

    /// An edge of the generated graphs: few nodes and relations (parallel links, self-loops),
    /// weights that do not sum exactly in every order.
    fn edge() -> impl Strategy<Value = (NodeId, RelId, NodeId, f64)> {
        (
            0u32..6,
            0u32..3,
            0u32..6,
            prop::sample::select(vec![1.0, 0.1, 0.7, 2.5, 1e-3]),
        )
    }

    proptest! {
        /// Pair weights merged from the sorted lists equal the sorted-and-summed links, from
        /// the segment (with and without its projection) and from the delta, in both modes;
        /// every degree is its link count; the pair changes between two views equal `NodeChange::between`'s.
        #[test]
        fn merged_pair_weights_equal_the_sorted_sums(
            base in prop::collection::vec(edge(), 0..30),
            edits in prop::collection::vec((edge(), any::<bool>()), 0..20),
            undirected in any::<bool>(),
            project in any::<bool>(),
        ) {
            let nodes = 6;
            let mut lists = vec![Vec::new(); nodes as usize];
            for &(s, r, d, w) in &base {
                let list: &mut Vec<(NodeId, RelId, f64)> = &mut lists[s as usize];
                match list.binary_search_by(|e| (e.0, e.1).cmp(&(d, r))) {
                    Ok(i) => list[i].2 = w,
                    Err(i) => list.insert(i, (d, r, w)),
                }
            }
            let bytes = encode_segment(1, 0, nodes, &mut lists.into_iter());
            let segment = Arc::new(Segment::open("s", FileBytes::from_vec(bytes)).unwrap());
            if project {
                segment.link_projection(undirected);
            }
            let mut delta = Delta::default();
            delta.seal();
            let before = GraphView { segment: Arc::clone(&segment), delta: delta.clone(), node_count: nodes, undirected };
            for ((s, r, d, w), delete) in edits {
                match delete {
                    true => { delta.del_edge(&segment, s, r, d); }
                    false => { delta.put_edge(&segment, s, r, d, w); }
                }
            }
            // Read through the pending lists first, then sealed.
            for seal in [false, true] {
                if seal {
                    delta.seal();
                }
                let after = GraphView { segment: Arc::clone(&segment), delta: delta.clone(), node_count: nodes, undirected };
                for u in 0..nodes + 1 {
                    for view in [&before, &after] {
                        let merged: Vec<(NodeId, f64)> = view.pair_weights(u).collect();
                        let reference = if u < nodes { summed_links(view, u) } else { Vec::new() };
                        if u < nodes {
                            prop_assert_eq!(view.degree(u), view.links(u).count(), "node {}", u);
                        }
                        prop_assert_eq!(
                            merged.iter().map(|p| (p.0, p.1.to_bits())).collect::<Vec<_>>(),
                            reference.iter().map(|p| (p.0, p.1.to_bits())).collect::<Vec<_>>(),
                            "node {}", u
                        );
                    }
                    if u < nodes {
                        let pairs = pair_changes(before.pair_weights(u), after.pair_weights(u));
                        prop_assert_eq!(pairs, NodeChange::between(&before, &after, u).pairs);
                    }
                }
            }
        }
    }
}
