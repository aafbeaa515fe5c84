//! Building an index from a graph snapshot, and the walk generator repairs share with it.

use crate::graph::{Adjacency, NodeId};
use crate::rng::Rng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::base::WalkBase;
use super::format::Columns;
use super::store::{WalkEnd, WalkIndex, WalkIndexParams, MAX_WALK_NODES};
use super::WalkIndexError;

/// Stream tags: each kind of random choice draws from its own family of streams, so adding a
/// kind of choice never shifts the draws of another (the streams are part of the format's
/// determinism contract).
pub(crate) const TAG_BUILD: u64 = 0x0042_5549_4C44; // "BUILD"
pub(crate) const TAG_NEW_WALK: u64 = 0x4E45_5757; // "NEWW"
pub(crate) const TAG_SELECT: u64 = 0x5345_4C45; // "SELE"
pub(crate) const TAG_TAIL: u64 = 0x5441_494C; // "TAIL"
pub(crate) const TAG_QUERY: u64 = 0x5155_4552; // "QUER"

/// Picks the target of one step out of `u` (whose weight sum is `weight_sum > 0`) with
/// probability `a(u, v) / W(u)`, by a linear scan of `u`'s links in their fixed order. `None`
/// only if `u` has no link although `weight_sum > 0` (an inconsistent adjacency).
pub(crate) fn sample_step<G: Adjacency>(
    graph: &G,
    u: NodeId,
    weight_sum: f64,
    rng: &mut Rng,
) -> Option<NodeId> {
    let x = rng.next_f64() * weight_sum;
    let mut acc = 0.0;
    let mut last = None;
    for link in graph.links(u) {
        acc += link.weight;
        last = Some(link.target);
        if x < acc {
            return last;
        }
    }
    // Rounding can leave x >= the final partial sum; the last link then takes the remainder.
    last
}

/// Continues a leaky walk whose last node is `nodes.last()` and which has not yet made its stop
/// decision there: at each node stop with probability `alpha`, else die at a dangling node,
/// else step. Returns how the walk ended.
pub(crate) fn grow<G: Adjacency>(
    graph: &G,
    alpha: f64,
    nodes: &mut Vec<NodeId>,
    rng: &mut Rng,
) -> WalkEnd {
    loop {
        let Some(&u) = nodes.last() else {
            return WalkEnd::Stopped;
        };
        if nodes.len() >= MAX_WALK_NODES || rng.bernoulli(alpha) {
            return WalkEnd::Stopped;
        }
        let weight_sum = graph.weight_sum(u);
        if weight_sum <= 0.0 {
            return WalkEnd::Died;
        }
        match sample_step(graph, u, weight_sum, rng) {
            Some(v) => nodes.push(v),
            None => return WalkEnd::Died,
        }
    }
}

/// Start nodes per unit of parallel work in the build.
const BUILD_CHUNK: usize = 512;

/// The walks of a chunk of consecutive start nodes, in (node, k) order; each walk generated
/// independently of every other.
struct NodeWalks {
    nodes: Vec<NodeId>,
    lens: Vec<u32>,
    ends: Vec<WalkEnd>,
}

impl WalkIndex {
    /// Builds the index of `graph`: `ceil(walks_per_node * degree(u))` walks from every node
    /// `u`. Same as [`WalkIndex::build_with_progress`] without progress reports.
    pub fn build<G: Adjacency>(
        graph: &G,
        params: WalkIndexParams,
    ) -> Result<WalkIndex, WalkIndexError> {
        WalkIndex::build_with_progress(graph, params, &|_, _| {})
    }

    /// Builds the index of `graph` in parallel, calling `progress(nodes_done, node_count)` now
    /// and then from worker threads (the CLI draws a bar with it).
    ///
    /// Walk `k` of node `u` draws from the stream `Rng::from_parts(&[TAG_BUILD, seed, u, k])`
    /// and walk ids are assigned in (node, k) order, so the result does not depend on the
    /// number of threads or on scheduling.
    pub fn build_with_progress<G: Adjacency>(
        graph: &G,
        params: WalkIndexParams,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<WalkIndex, WalkIndexError> {
        params.validate()?;
        let node_count = graph.node_count();
        if node_count > u32::MAX as usize {
            return Err(WalkIndexError::InvalidParams(format!(
                "{node_count} nodes exceed the u32 node id space"
            )));
        }
        let done = AtomicUsize::new(0);
        let report_every = (node_count / 200).max(1024);
        // Walks are generated per chunk of consecutive start nodes, into one set of lists per
        // chunk: per-node lists would cost three small allocations per node, which the
        // allocator keeps after they are freed (the build's peak is the import's).
        let chunks: Vec<NodeWalks> = (0..node_count.div_ceil(BUILD_CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let (lo, hi) = (
                    chunk * BUILD_CHUNK,
                    ((chunk + 1) * BUILD_CHUNK).min(node_count),
                );
                let mut walks = NodeWalks {
                    nodes: Vec::new(),
                    lens: Vec::new(),
                    ends: Vec::new(),
                };
                let mut seq = Vec::with_capacity(32);
                for u in lo as u32..hi as u32 {
                    let count = params.walks_for_degree(graph.degree(u));
                    for k in 0..count {
                        let mut rng =
                            Rng::from_parts(&[TAG_BUILD, params.seed, u as u64, k as u64]);
                        seq.clear();
                        seq.push(u);
                        let end = grow(graph, params.alpha, &mut seq, &mut rng);
                        walks.lens.push(seq.len() as u32);
                        walks.nodes.extend_from_slice(&seq);
                        walks.ends.push(end);
                    }
                }
                let before = done.fetch_add(hi - lo, Ordering::Relaxed);
                if before / report_every != (before + hi - lo) / report_every {
                    progress(before + hi - lo, node_count);
                }
                walks.nodes.shrink_to_fit();
                walks
            })
            .collect();
        let n_walks: usize = chunks.iter().map(|w| w.lens.len()).sum();
        if n_walks > u32::MAX as usize {
            return Err(WalkIndexError::InvalidParams(format!(
                "{n_walks} walks exceed the u32 walk id space"
            )));
        }
        // Walk ids in (node, k) order: a node's walks are consecutive slots. `from_walks` asks
        // for ids 0, 1, 2, ... in turn, so a cursor walks the chunks' lists alongside (no table
        // of spans: it would cost 32 bytes per walk at the build's peak).
        let (mut u, mut k, mut at, mut next) = (0usize, 0usize, 0usize, 0u32);
        let columns = Columns::from_walks(node_count, n_walks, |id| {
            if id != next {
                return Err(WalkIndexError::InvalidParams(format!(
                    "the walk builder was asked for walk {id} out of turn (expected {next})"
                )));
            }
            next += 1;
            while chunks.get(u).is_some_and(|w| k == w.lens.len()) {
                (u, k, at) = (u + 1, 0, 0);
            }
            let Some(walks) = chunks.get(u) else {
                return Err(WalkIndexError::InvalidParams(
                    "the walk builder asked for more walks than it built".into(),
                ));
            };
            let len = walks.lens[k] as usize;
            let walk = (&walks.nodes[at..at + len], walks.ends[k]);
            (k, at) = (k + 1, at + len);
            Ok(Some(walk))
        })?;
        drop(chunks);
        let base = WalkBase::from_columns(&params, node_count, columns)?;
        let index = WalkIndex::from_base(base)?;
        progress(node_count, node_count);
        Ok(index)
    }
}
