//! The graph vocabulary every layer shares: dense node ids, interned relation ids, walkable
//! links, and the [`Adjacency`] trait through which PPR and the walk index read a graph.
//!
//! A *link* is one step a random walk can take out of a node. In a directed database the links
//! of `u` are its out-edges; in an undirected database they are its out-edges followed by its
//! in-edges reversed (each stored edge is walkable both ways, and a stored pair `a->b`, `b->a`
//! gives two links each way, as igraph counts them). Parallel edges (same pair, other
//! relations) are separate links; a walk picks a link with probability `weight / weight_sum(u)`.

/// Dense node identifier, assigned in order of first appearance.
pub type NodeId = u32;
/// Interned relation identifier.
pub type RelId = u32;

/// One walkable step out of a node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Link {
    /// The node the step leads to.
    pub target: NodeId,
    /// The relation of the edge the step follows.
    pub rel: RelId,
    /// The edge's weight: finite and > 0.
    pub weight: f64,
}

/// Read access to the walkable links of a graph snapshot.
///
/// Implementations must return the links of a node in a deterministic order (the walk index
/// relies on it to replay repairs bit for bit), and `weight_sum(u)` must equal the sum of the
/// weights `links(u)` yields, summed in that order.
pub trait Adjacency: Sync {
    /// Number of node ids in use: ids are `0..node_count()`. A node may have no links.
    fn node_count(&self) -> usize;
    /// The links out of `u`, in a fixed order.
    fn links(&self, u: NodeId) -> impl Iterator<Item = Link> + '_;
    /// Sum of the weights of `links(u)`; 0 for a dangling node.
    fn weight_sum(&self, u: NodeId) -> f64;
    /// Number of links out of `u`.
    fn degree(&self, u: NodeId) -> usize {
        self.links(u).count()
    }
    /// True when the links are symmetric: `u` has a link to `v` of weight `w` exactly when `v`
    /// has one to `u` of weight `w` (undirected mode). PPR then obeys reversibility,
    /// `W(v) psi_v(t) = W(t) psi_t(v)`, which the certified query bounds use.
    fn is_symmetric(&self) -> bool {
        false
    }
    /// The targets of `links(u)` in the same order, when the graph stores them as one slice
    /// (for O(1) picks by position); `None` when it does not.
    fn target_slice(&self, _u: NodeId) -> Option<&[NodeId]> {
        None
    }
    /// A step out of `u` without a scan, for a node with links whose weights are all exactly
    /// 1 (so `weight_sum(u)` is its degree `d` and every running sum an exact integer: the
    /// scan's choice for a draw `x` in `[0, d)` is link `floor(x)`): calls `pick(d)` for a
    /// position and returns that link's target. `None`, without calling `pick`, when `u` is
    /// not such a node or the graph cannot find it in O(1); the caller then scans.
    #[inline]
    fn unit_step(&self, _u: NodeId, _pick: impl FnOnce(usize) -> usize) -> Option<NodeId> {
        None
    }
}

/// A compact in-memory CSR of walkable links: the graph projection queries run on.
///
/// Built from an edge list (or from a database snapshot) once, then shared read-only.
#[derive(Clone, Debug)]
pub struct CsrGraph {
    offsets: Vec<usize>,
    targets: Vec<NodeId>,
    rels: Vec<RelId>,
    weights: Vec<f64>,
    weight_sums: Vec<f64>,
    /// True when every link leads to a node that has links (see [`CsrGraph::walks_never_die`]).
    no_dangling_targets: bool,
    /// True when built from an undirected graph (see [`Adjacency::is_symmetric`]).
    symmetric: bool,
    /// The largest `weight_sum` of any node (0 without links).
    max_weight_sum: f64,
    /// True when every link weighs exactly 1 (see [`Adjacency::unit_step`]).
    all_unit: bool,
}

impl Default for CsrGraph {
    /// The graph without nodes.
    fn default() -> CsrGraph {
        CsrGraph {
            offsets: Vec::new(),
            targets: Vec::new(),
            rels: Vec::new(),
            weights: Vec::new(),
            weight_sums: Vec::new(),
            no_dangling_targets: true,
            symmetric: false,
            max_weight_sum: 0.0,
            all_unit: true,
        }
    }
}

/// One stored edge, as the database keeps it: `(src, rel, dst, weight)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    /// Source node.
    pub src: NodeId,
    /// Relation.
    pub rel: RelId,
    /// Destination node.
    pub dst: NodeId,
    /// Weight: finite and > 0.
    pub weight: f64,
}

impl CsrGraph {
    /// Bytes of heap the graph's columns hold (their capacities).
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.offsets.capacity() * size_of::<usize>()
            + self.targets.capacity() * size_of::<NodeId>()
            + self.rels.capacity() * size_of::<RelId>()
            + self.weights.capacity() * size_of::<f64>()
            + self.weight_sums.capacity() * size_of::<f64>()
    }

    /// Assembles a graph from its CSR columns, deriving the summary fields (largest weight
    /// sum, whether walks can die) every constructor needs.
    pub(crate) fn from_columns(
        offsets: Vec<usize>,
        targets: Vec<NodeId>,
        rels: Vec<RelId>,
        weights: Vec<f64>,
        weight_sums: Vec<f64>,
        symmetric: bool,
    ) -> CsrGraph {
        let no_dangling_targets = no_dangling_targets(&targets, &weight_sums);
        CsrGraph {
            all_unit: all_unit(&weights),
            offsets,
            targets,
            rels,
            weights,
            max_weight_sum: max_of(&weight_sums),
            weight_sums,
            no_dangling_targets,
            symmetric,
        }
    }

    /// Builds the link CSR of `node_count` nodes from stored edges. In undirected mode every
    /// edge also gives the reverse link. Links of a node are ordered: out-links in the order of
    /// `edges`, then (undirected) in-links in the order of `edges`.
    pub fn from_edges(node_count: usize, edges: &[Edge], undirected: bool) -> CsrGraph {
        let mut counts = vec![0usize; node_count + 1];
        for e in edges {
            counts[e.src as usize + 1] += 1;
            if undirected {
                counts[e.dst as usize + 1] += 1;
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let offsets = counts;
        let n_links = offsets[node_count];
        let mut cursor = offsets.clone();
        let mut targets: Vec<NodeId> = crate::memory::zeroed_table(n_links);
        let mut rels: Vec<RelId> = crate::memory::zeroed_table(n_links);
        let mut weights: Vec<f64> = crate::memory::zeroed_table(n_links);
        let mut place = |from: NodeId, to: NodeId, e: &Edge| {
            let slot = cursor[from as usize];
            cursor[from as usize] += 1;
            targets[slot] = to;
            rels[slot] = e.rel;
            weights[slot] = e.weight;
        };
        for e in edges {
            place(e.src, e.dst, e);
        }
        if undirected {
            for e in edges {
                place(e.dst, e.src, e);
            }
        }
        let weight_sums: Vec<f64> = (0..node_count)
            .map(|u| weights[offsets[u]..offsets[u + 1]].iter().sum())
            .collect();
        CsrGraph::from_columns(offsets, targets, rels, weights, weight_sums, undirected)
    }

    /// Copies any adjacency into a CSR, keeping each node's link order.
    pub fn from_adjacency(graph: &impl Adjacency) -> CsrGraph {
        use rayon::prelude::*;
        let n = graph.node_count();
        // Degrees first (from offsets, for a segment), so every node's links have their
        // place; then the links are decoded in parallel, node ranges of about equal links
        // each into its own stretch of the columns.
        let degrees: Vec<usize> = (0..n as NodeId)
            .into_par_iter()
            .with_min_len(1 << 12)
            .map(|u| graph.degree(u))
            .collect();
        let mut offsets = Vec::with_capacity(n + 1);
        crate::memory::prefer_huge_pages(&mut offsets);
        let mut total = 0usize;
        offsets.push(0);
        for &d in &degrees {
            total += d;
            offsets.push(total);
        }
        drop(degrees);
        let mut targets: Vec<NodeId> = crate::memory::zeroed_table(total);
        let mut rels: Vec<RelId> = crate::memory::zeroed_table(total);
        let mut weights: Vec<f64> = crate::memory::zeroed_table(total);
        let mut weight_sums: Vec<f64> = crate::memory::zeroed_table(n);
        let per_piece = (total / (8 * rayon::current_num_threads().max(1))).max(1 << 16);
        let mut pieces = Vec::new();
        {
            let (mut t, mut r, mut w, mut s) = (
                &mut targets[..],
                &mut rels[..],
                &mut weights[..],
                &mut weight_sums[..],
            );
            let mut lo = 0usize;
            while lo < n {
                let mut hi = lo + 1;
                while hi < n && offsets[hi] - offsets[lo] < per_piece {
                    hi += 1;
                }
                let links = offsets[hi] - offsets[lo];
                let (t0, t1) = std::mem::take(&mut t).split_at_mut(links);
                let (r0, r1) = std::mem::take(&mut r).split_at_mut(links);
                let (w0, w1) = std::mem::take(&mut w).split_at_mut(links);
                let (s0, s1) = std::mem::take(&mut s).split_at_mut(hi - lo);
                (t, r, w, s) = (t1, r1, w1, s1);
                pieces.push((lo, hi, t0, r0, w0, s0));
                lo = hi;
            }
        }
        let offsets_ref = &offsets;
        let filled = pieces
            .into_par_iter()
            .all(|(lo, hi, targets, rels, weights, sums)| {
                let base = offsets_ref[lo];
                for u in lo..hi {
                    let (a, b) = (offsets_ref[u] - base, offsets_ref[u + 1] - base);
                    let mut at = a;
                    let mut sum = 0.0;
                    for link in graph.links(u as NodeId) {
                        if at == b {
                            return false;
                        }
                        targets[at] = link.target;
                        rels[at] = link.rel;
                        weights[at] = link.weight;
                        sum += link.weight;
                        at += 1;
                    }
                    if at != b {
                        return false;
                    }
                    sums[u - lo] = sum;
                }
                true
            });
        if !filled {
            // A graph whose `degree` disagrees with its `links` (the trait asks them to
            // agree): build from the links alone.
            return CsrGraph::from_links_in_order(graph);
        }
        CsrGraph::from_columns(
            offsets,
            targets,
            rels,
            weights,
            weight_sums,
            graph.is_symmetric(),
        )
    }

    /// [`CsrGraph::from_adjacency`] by one pass over every node's links in order.
    fn from_links_in_order(graph: &impl Adjacency) -> CsrGraph {
        let n = graph.node_count();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut targets = Vec::new();
        let mut rels = Vec::new();
        let mut weights = Vec::new();
        let mut weight_sums = Vec::with_capacity(n);
        offsets.push(0);
        for u in 0..n as NodeId {
            let sum = push_links(graph, u, &mut targets, &mut rels, &mut weights);
            offsets.push(targets.len());
            weight_sums.push(sum);
        }
        CsrGraph::from_columns(
            offsets,
            targets,
            rels,
            weights,
            weight_sums,
            graph.is_symmetric(),
        )
    }

    /// The projection of `graph`, given `base`, the projection of a graph that differs from it
    /// only at the nodes set in `changed` (a bitmap: bit `u % 64` of word `u / 64`) and at
    /// nodes beyond `base`'s count: unchanged nodes' links are copied from `base` in runs,
    /// changed ones read from `graph`. Equal to [`CsrGraph::from_adjacency`] of `graph`
    /// (except that [`CsrGraph::walks_never_die`] may be false where a full build finds it
    /// true, see the body), at the cost of a copy instead of a walk over every node's
    /// adjacency.
    pub fn patched(base: &CsrGraph, graph: &impl Adjacency, changed: &[u64]) -> CsrGraph {
        CsrGraph::patched_into(base, graph, changed, CsrGraph::default())
    }

    /// [`CsrGraph::patched`] written into `spare`'s buffers (a projection nobody uses any
    /// more): the same result, without faulting in fresh pages for every column.
    pub(crate) fn patched_into(
        base: &CsrGraph,
        graph: &impl Adjacency,
        changed: &[u64],
        spare: CsrGraph,
    ) -> CsrGraph {
        let n = graph.node_count();
        let is_changed = |u: usize| {
            u >= base.node_count() || changed.get(u / 64).is_some_and(|w| w >> (u % 64) & 1 == 1)
        };
        fn reuse<T>(mut v: Vec<T>, capacity: usize) -> Vec<T> {
            v.clear();
            v.reserve(capacity);
            v
        }
        let mut offsets = reuse(spare.offsets, n + 1);
        let mut targets = reuse(spare.targets, base.targets.len());
        let mut rels = reuse(spare.rels, base.rels.len());
        let mut weights = reuse(spare.weights, base.weights.len());
        let mut weight_sums = reuse(spare.weight_sums, n);
        offsets.push(0);
        let mut u = 0;
        while u < n {
            if is_changed(u) {
                let sum = push_links(graph, u as NodeId, &mut targets, &mut rels, &mut weights);
                offsets.push(targets.len());
                weight_sums.push(sum);
                u += 1;
                continue;
            }
            // A run of unchanged nodes u..end: one bulk copy per column.
            let mut end = u + 1;
            while end < n && !is_changed(end) {
                end += 1;
            }
            let (from, to) = (base.offsets[u], base.offsets[end]);
            let shift = targets.len() as isize - from as isize;
            targets.extend_from_slice(&base.targets[from..to]);
            rels.extend_from_slice(&base.rels[from..to]);
            weights.extend_from_slice(&base.weights[from..to]);
            weight_sums.extend_from_slice(&base.weight_sums[u..end]);
            offsets.extend(
                base.offsets[u + 1..=end]
                    .iter()
                    .map(|&o| (o as isize + shift) as usize),
            );
            u = end;
        }
        // Whether walks never die, without the full build's pass over every link (a random
        // read per link: about half the cost of a patch on WordNet). Symmetric links always
        // lead to nodes with links. Otherwise: unchanged nodes' links are `base`'s, whose
        // targets had links and keep them unless they changed; so it holds if it held in
        // `base`, every changed node has links, and every changed node's links lead to nodes
        // with links. A changed node left without links may have no link into it, so this
        // can say false where the full pass says true: a slower certificate, never a wrong
        // one.
        let symmetric = graph.is_symmetric();
        let no_dangling = symmetric
            || (base.no_dangling_targets
                && (0..n).filter(|&u| is_changed(u)).all(|u| {
                    weight_sums[u] > 0.0
                        && targets[offsets[u]..offsets[u + 1]]
                            .iter()
                            .all(|&t| weight_sums.get(t as usize).is_some_and(|&w| w > 0.0))
                }));
        // Unit weights everywhere: the base's unchanged links were, so only the changed nodes'
        // need a look.
        let all_unit = base.all_unit
            && (0..n)
                .filter(|&u| is_changed(u))
                .all(|u| all_unit(&weights[offsets[u]..offsets[u + 1]]));
        CsrGraph {
            max_weight_sum: max_of(&weight_sums),
            all_unit,
            offsets,
            targets,
            rels,
            weights,
            weight_sums,
            no_dangling_targets: no_dangling,
            symmetric,
        }
    }

    /// A copy whose link weights are multiplied by `multiplier(rel)`; links whose multiplied
    /// weight is 0 are dropped (a multiplier of 0 removes the relation).
    pub fn reweighted(&self, multiplier: impl Fn(RelId) -> f64) -> CsrGraph {
        let n = self.node_count();
        let mut offsets = Vec::with_capacity(n + 1);
        let mut targets = Vec::with_capacity(self.targets.len());
        let mut rels = Vec::with_capacity(self.rels.len());
        let mut weights = Vec::with_capacity(self.weights.len());
        let mut weight_sums = Vec::with_capacity(n);
        offsets.push(0);
        for u in 0..n {
            let mut sum = 0.0;
            for i in self.offsets[u]..self.offsets[u + 1] {
                let w = self.weights[i] * multiplier(self.rels[i]);
                if w > 0.0 {
                    targets.push(self.targets[i]);
                    rels.push(self.rels[i]);
                    weights.push(w);
                    sum += w;
                }
            }
            offsets.push(targets.len());
            weight_sums.push(sum);
        }
        CsrGraph::from_columns(offsets, targets, rels, weights, weight_sums, self.symmetric)
    }

    /// True when every link leads to a node that has links (always so in an undirected graph).
    /// Then a leaky walk from a node with links never dies, so `|psi_v| = 1` for every such
    /// `v`: the total mass of a PPR estimate is known exactly instead of estimated.
    pub fn walks_never_die(&self) -> bool {
        self.no_dangling_targets
    }

    /// True when the links are symmetric (built from an undirected graph), see
    /// [`Adjacency::is_symmetric`].
    pub fn is_symmetric(&self) -> bool {
        self.symmetric
    }

    /// The largest weight sum of any node: bounds how much PPR mass a node can collect from
    /// residuals in a symmetric graph.
    pub fn max_weight_sum(&self) -> f64 {
        self.max_weight_sum
    }

    /// Every node's weight sum, by node id (see [`Adjacency::weight_sum`]).
    pub(crate) fn weight_sums(&self) -> &[f64] {
        &self.weight_sums
    }

    /// Total number of links.
    pub fn link_count(&self) -> usize {
        self.targets.len()
    }

    /// The targets and weights of `u`'s links as parallel slices: the hot-loop form.
    #[inline]
    pub fn link_slices(&self, u: NodeId) -> (&[NodeId], &[f64]) {
        let range = self.offsets[u as usize]..self.offsets[u as usize + 1];
        (&self.targets[range.clone()], &self.weights[range])
    }

    /// The relations of `u`'s links, parallel to [`CsrGraph::link_slices`].
    pub fn link_rels(&self, u: NodeId) -> &[RelId] {
        &self.rels[self.offsets[u as usize]..self.offsets[u as usize + 1]]
    }
}

/// The largest entry (0 for none).
/// Appends `u`'s links to the CSR columns and returns their weight sum.
fn push_links(
    graph: &impl Adjacency,
    u: NodeId,
    targets: &mut Vec<NodeId>,
    rels: &mut Vec<RelId>,
    weights: &mut Vec<f64>,
) -> f64 {
    let mut sum = 0.0;
    for link in graph.links(u) {
        targets.push(link.target);
        rels.push(link.rel);
        weights.push(link.weight);
        sum += link.weight;
    }
    sum
}

fn max_of(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

/// Whether every weight is exactly 1 (bitwise).
fn all_unit(weights: &[f64]) -> bool {
    weights.iter().all(|w| w.to_bits() == 1f64.to_bits())
}

/// Whether every link target has a positive weight sum (has links).
fn no_dangling_targets(targets: &[NodeId], weight_sums: &[f64]) -> bool {
    targets
        .iter()
        .all(|&t| weight_sums.get(t as usize).is_some_and(|&w| w > 0.0))
}

impl Adjacency for CsrGraph {
    fn node_count(&self) -> usize {
        self.weight_sums.len()
    }

    fn links(&self, u: NodeId) -> impl Iterator<Item = Link> + '_ {
        let range = self.offsets[u as usize]..self.offsets[u as usize + 1];
        range.map(move |i| Link {
            target: self.targets[i],
            rel: self.rels[i],
            weight: self.weights[i],
        })
    }

    #[inline]
    fn weight_sum(&self, u: NodeId) -> f64 {
        self.weight_sums[u as usize]
    }

    fn degree(&self, u: NodeId) -> usize {
        self.offsets[u as usize + 1] - self.offsets[u as usize]
    }

    fn is_symmetric(&self) -> bool {
        self.symmetric
    }

    #[inline]
    fn target_slice(&self, u: NodeId) -> Option<&[NodeId]> {
        let range = self.offsets[u as usize]..self.offsets[u as usize + 1];
        self.targets.get(range)
    }

    #[inline]
    fn unit_step(&self, u: NodeId, pick: impl FnOnce(usize) -> usize) -> Option<NodeId> {
        if !self.all_unit {
            return None;
        }
        let targets = self.target_slice(u)?;
        let d = targets.len();
        // Sums of ones are exact, so this holds; checked so a graph breaking it scans.
        if d == 0 || self.weight_sums[u as usize].to_bits() != (d as f64).to_bits() {
            return None;
        }
        targets.get(pick(d).min(d - 1)).copied()
    }
}

/// Most nodes a database holds: ids are `u32`, and `u32::MAX` is kept free as a sentinel.
pub const MAX_NODES: u32 = u32::MAX - 1;

/// Checks that a new node may take id `id` (the count of nodes before it): the one interning
/// limit, for transactions and bulk loads alike.
pub(crate) fn check_new_node(id: u32) -> crate::error::Result<()> {
    if id >= MAX_NODES {
        return Err(crate::error::InputError::LimitReached {
            what: "nodes",
            limit: MAX_NODES as u64,
        }
        .into());
    }
    Ok(())
}

/// Checks an edge weight: finite and > 0 (one rule for transactions and bulk loads).
pub(crate) fn check_weight(weight: f64) -> crate::error::Result<()> {
    if weight.is_finite() && weight > 0.0 {
        Ok(())
    } else {
        Err(crate::error::InputError::InvalidWeight { weight }.into())
    }
}

/// Checks an edge given by ids against the counts of nodes and relations that exist: the id
/// fast paths of transactions and bulk loads.
pub(crate) fn check_edge_ids(
    src: NodeId,
    rel: RelId,
    dst: NodeId,
    weight: f64,
    nodes: u32,
    relations: u32,
) -> crate::error::Result<()> {
    check_weight(weight)?;
    if src >= nodes || dst >= nodes {
        return Err(crate::error::InputError::UnknownNode {
            key: format!("#{}", src.max(dst)),
        }
        .into());
    }
    if rel >= relations {
        return Err(crate::error::InputError::UnknownRelation {
            name: format!("#{rel}"),
        }
        .into());
    }
    Ok(())
}

/// Longest node key or relation name, in bytes.
pub const MAX_KEY_LEN: usize = 65_535;

/// Checks a node key or relation name: non-empty, at most [`MAX_KEY_LEN`] bytes, no tab,
/// newline or carriage return (they would break the TSV interchange format).
pub(crate) fn validate_key(key: &str, what: &str) -> crate::error::Result<()> {
    let reason = if key.is_empty() {
        Some(format!("{what} is empty"))
    } else if key.len() > MAX_KEY_LEN {
        Some(format!(
            "{what} is {} bytes, longer than {}",
            key.len(),
            MAX_KEY_LEN
        ))
    } else if key.contains(['\t', '\n', '\r']) {
        Some(format!(
            "{what} '{}' contains a tab or newline",
            key.escape_debug()
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(crate::error::InputError::InvalidKey { reason }.into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(src: NodeId, rel: RelId, dst: NodeId, weight: f64) -> Edge {
        Edge {
            src,
            rel,
            dst,
            weight,
        }
    }

    /// The projection built in parallel pieces equals the one-pass build: a graph with enough
    /// links for several pieces, and a graph whose `degree` disagrees with its `links` (which
    /// the parallel build detects and builds by the one pass).
    #[test]
    fn the_parallel_projection_equals_the_one_pass_build() {
        let mut rng = crate::rng::Rng::new(8);
        let n = 30_000u32;
        let edges: Vec<Edge> = (0..400_000)
            .map(|i| {
                let src = if i % 3 == 0 {
                    i % 7
                } else {
                    rng.below(n as u64) as u32
                };
                e(src, i % 3, rng.below(n as u64) as u32, 0.5 + (i % 5) as f64)
            })
            .collect();
        for undirected in [false, true] {
            let graph = CsrGraph::from_edges(n as usize, &edges, undirected);
            let parallel = CsrGraph::from_adjacency(&graph);
            let one_pass = CsrGraph::from_links_in_order(&graph);
            for g in [&parallel, &one_pass] {
                assert_eq!(g.node_count(), graph.node_count());
                for u in 0..n {
                    assert!(g.links(u).eq(graph.links(u)), "node {u}");
                    assert_eq!(g.weight_sum(u), graph.weight_sum(u), "node {u}");
                }
                assert_eq!(g.walks_never_die(), graph.walks_never_die());
                assert_eq!(g.max_weight_sum(), graph.max_weight_sum());
            }
        }

        /// Claims one link fewer than it has at node 5.
        struct Miscounted(CsrGraph);
        impl Adjacency for Miscounted {
            fn node_count(&self) -> usize {
                self.0.node_count()
            }
            fn links(&self, u: NodeId) -> impl Iterator<Item = Link> + '_ {
                self.0.links(u)
            }
            fn weight_sum(&self, u: NodeId) -> f64 {
                self.0.weight_sum(u)
            }
            fn degree(&self, u: NodeId) -> usize {
                self.0.degree(u) - usize::from(u == 5)
            }
        }
        let graph = CsrGraph::from_edges(n as usize, &edges, false);
        let built = CsrGraph::from_adjacency(&Miscounted(graph.clone()));
        for u in 0..n {
            assert!(built.links(u).eq(graph.links(u)), "node {u}");
        }
    }

    /// `patched` equals a full rebuild: random graphs, random changes (edges added, removed,
    /// reweighted, nodes added), the changed nodes marked, every link and sum compared; every
    /// other round writes into the buffers of the previous round's projection.
    #[test]
    fn patched_projection_equals_a_full_rebuild() {
        let mut rng = crate::rng::Rng::new(31);
        let mut spare = CsrGraph::default();
        for round in 0..200 {
            let undirected = round % 2 == 0;
            let n = 2 + rng.below(40) as u32;
            let edges: Vec<Edge> = (0..rng.below(120))
                .map(|_| {
                    e(
                        rng.below(n as u64) as u32,
                        rng.below(3) as u32,
                        rng.below(n as u64) as u32,
                        1.0 + rng.below(4) as f64,
                    )
                })
                .collect();
            let base = CsrGraph::from_edges(n as usize, &edges, undirected);
            let grown = n + rng.below(3) as u32;
            let mut after = edges.clone();
            for _ in 0..rng.below(6) {
                match rng.below(3) {
                    0 if !after.is_empty() => {
                        after.remove(rng.below(after.len() as u64) as usize);
                    }
                    1 if !after.is_empty() => {
                        let i = rng.below(after.len() as u64) as usize;
                        after[i].weight += 0.5;
                    }
                    _ => after.push(e(
                        rng.below(grown as u64) as u32,
                        0,
                        rng.below(grown as u64) as u32,
                        2.0,
                    )),
                }
            }
            let graph = CsrGraph::from_edges(grown as usize, &after, undirected);
            let mut changed = vec![0u64; (grown as usize).div_ceil(64)];
            for u in 0..grown {
                let same = u < n
                    && base.links(u).collect::<Vec<_>>() == graph.links(u).collect::<Vec<_>>();
                if !same {
                    changed[u as usize / 64] |= 1 << (u % 64);
                }
            }
            let patched = if round % 2 == 1 {
                CsrGraph::patched_into(&base, &graph, &changed, std::mem::take(&mut spare))
            } else {
                CsrGraph::patched(&base, &graph, &changed)
            };
            assert_eq!(patched.node_count(), graph.node_count(), "round {round}");
            for u in 0..grown {
                assert_eq!(
                    patched.links(u).collect::<Vec<_>>(),
                    graph.links(u).collect::<Vec<_>>(),
                    "round {round}, node {u}"
                );
                assert_eq!(patched.weight_sum(u), graph.weight_sum(u));
            }
            // Conservative: never true where a full build finds dangling targets, and exact
            // in symmetric graphs.
            assert!(!patched.walks_never_die() || graph.walks_never_die());
            if undirected {
                assert!(patched.walks_never_die());
            }
            assert_eq!(patched.max_weight_sum(), graph.max_weight_sum());
            spare = patched;
        }
    }

    #[test]
    fn undirected_links_include_reversed_edges_and_parallel_edges_add() {
        let g = CsrGraph::from_edges(
            3,
            &[e(0, 0, 1, 1.0), e(0, 1, 1, 2.0), e(1, 0, 2, 4.0)],
            true,
        );
        assert_eq!(g.degree(1), 3);
        assert_eq!(g.weight_sum(1), 7.0);
        let targets: Vec<_> = g.links(1).map(|l| l.target).collect();
        assert_eq!(targets, vec![2, 0, 0]);
        assert_eq!(g.weight_sum(0), 3.0);
    }

    #[test]
    fn reweighting_by_zero_removes_a_relation() {
        let g = CsrGraph::from_edges(3, &[e(0, 0, 1, 1.0), e(0, 1, 2, 2.0)], false);
        let r = g.reweighted(|rel| if rel == 1 { 0.0 } else { 3.0 });
        assert_eq!(r.degree(0), 1);
        assert_eq!(r.weight_sum(0), 3.0);
        assert_eq!(r.weight_sum(2), 0.0);
    }
}
