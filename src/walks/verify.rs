//! Consistency checks against a graph, and statistics.

use crate::graph::{Adjacency, NodeId};

use super::store::{WalkEnd, WalkIndex};
use super::WalkIndexError;

/// Size and shape figures of an index, for the CLI, logs and benchmarks.
#[derive(Clone, Debug, PartialEq)]
pub struct WalkIndexStats {
    /// Stored walks.
    pub walks: u64,
    /// Free walk slots awaiting reuse.
    pub free_slots: u64,
    /// Steps taken (nodes minus walks).
    pub steps: u64,
    /// Visit records (steps plus walks that died).
    pub visit_records: u64,
    /// Walks that ended by stopping.
    pub stopped: u64,
    /// Walks that died at a dangling node.
    pub died: u64,
    /// Bytes of heap the index holds: the overlay, plus the base when it is not mapped.
    pub memory_bytes: u64,
    /// Bytes of the base file served from its map (0 when the base is in memory).
    pub mapped_bytes: u64,
    /// Walks replaced by repairs since the base file was written.
    pub overlay_walks: u64,
    /// Heap bytes of the overlay (replaced walks, copied lists, chunk tables).
    pub overlay_bytes: u64,
    /// Bytes of the encoded file ([`WalkIndex::encode_to`]).
    pub encoded_bytes: u64,
    /// `length_histogram[k]` = walks of `k` nodes for `k < 64`; entry 64 counts longer walks.
    pub length_histogram: Vec<u64>,
}

impl WalkIndex {
    /// Computes [`WalkIndexStats`] in one pass over the walks (reading every walk, so a
    /// damaged base gives an error).
    pub fn stats(&self) -> Result<WalkIndexStats, WalkIndexError> {
        let mut s = WalkIndexStats {
            walks: 0,
            free_slots: 0,
            steps: 0,
            visit_records: 0,
            stopped: 0,
            died: 0,
            memory_bytes: self.memory_bytes() as u64,
            mapped_bytes: self.mapped_bytes() as u64,
            overlay_walks: self.overlay_walks() as u64,
            overlay_bytes: self.overlay_bytes() as u64,
            encoded_bytes: 0,
            length_histogram: vec![0; 65],
        };
        let mut node_entries = 0u64;
        for id in 0..self.slot_count as u32 {
            let Some(w) = self.walk(id)? else {
                s.free_slots += 1;
                continue;
            };
            let len = w.nodes.len() as u64;
            node_entries += len;
            s.walks += 1;
            s.steps += len - 1;
            s.visit_records += WalkIndex::recorded_len(w.nodes.len(), w.end) as u64;
            match w.end {
                WalkEnd::Stopped => s.stopped += 1,
                WalkEnd::Died => s.died += 1,
            }
            s.length_histogram[(len as usize).min(64)] += 1;
        }
        s.encoded_bytes = if self.is_pristine() {
            self.base.bytes().len() as u64
        } else {
            // The layout of format-spec/walk-index.md for these counts.
            let cols = [
                4 * self.slot_count as u64,
                8 * self.slot_count as u64,
                4 * node_entries,
                8 * (self.node_count as u64 + 1),
                4 * s.walks,
                8 * (self.node_count as u64 + 1),
                4 * s.visit_records,
                4 * s.free_slots,
            ];
            let shift = super::format::BLOCK_SHIFT;
            let blocks: u64 = cols
                .iter()
                .map(|&c| super::format::blocks_of(c, shift))
                .sum();
            super::format::V2_DATA_START as u64
                + cols.iter().map(|&c| super::format::align8(c)).sum::<u64>()
                + 4 * blocks
        };
        Ok(s)
    }

    /// Checks the walks themselves against `graph`: every stored step follows a link (pair
    /// weight > 0), a walk dies only at a dangling node, and every node owns
    /// `ceil(walks_per_node * degree)` walks. It does not re-derive the start lists and visit
    /// records: use it on an index whose tables this process derived from its walks (a build,
    /// [`WalkIndex::from_walks`]), where they agree by construction; [`WalkIndex::verify`]
    /// checks everything. O(walks + steps + graph), with no random access per visit.
    pub fn verify_walks<G: Adjacency + Sync>(&self, graph: &G) -> Result<(), WalkIndexError> {
        let counts = self.check_walks(graph, false)?;
        for u in 0..self.node_count {
            if counts.starts[u] != self.walk_count_from(u as NodeId)? {
                return Err(WalkIndexError::Inconsistent {
                    walk: None,
                    reason: format!("start list of node {u} does not match the walks"),
                });
            }
        }
        Ok(())
    }

    /// Whether the derived tables were computed by this process from the walks (an in-memory
    /// encoding without an overlay), so [`WalkIndex::verify_walks`] suffices.
    pub fn tables_derived_here(&self) -> bool {
        self.base.in_memory() && self.is_pristine()
    }

    /// The walk checks shared by [`WalkIndex::verify`] and [`WalkIndex::verify_walks`], and
    /// each node's start count (and, with `visits`, recorded-visit count).
    fn check_walks<G: Adjacency + Sync>(
        &self,
        graph: &G,
        visits: bool,
    ) -> Result<WalkCounts, WalkIndexError> {
        let fail =
            |walk: Option<u32>, reason: String| Err(WalkIndexError::Inconsistent { walk, reason });
        if graph.node_count() != self.node_count {
            return fail(
                None,
                format!(
                    "index has {} nodes, graph {}",
                    self.node_count,
                    graph.node_count()
                ),
            );
        }
        // Every node's link targets, sorted and deduplicated, in one flat array (per-node
        // lists cost an allocation per node: most of verify's time on WordNet), built in node
        // ranges in parallel (decoding a node's in-links searches each source's out-list).
        let n = self.node_count;
        let per_range = n.div_ceil(64 * rayon::current_num_threads().max(1)).max(1);
        let ranges: Vec<(usize, usize)> = (0..n)
            .step_by(per_range)
            .map(|lo| (lo, (lo + per_range).min(n)))
            .collect();
        let pieces: Vec<(Vec<usize>, Vec<NodeId>)> = {
            use rayon::prelude::*;
            ranges
                .into_par_iter()
                .map(|(lo, hi)| {
                    let mut lens = Vec::with_capacity(hi - lo);
                    let mut targets: Vec<NodeId> = Vec::new();
                    for u in lo as NodeId..hi as NodeId {
                        let from = targets.len();
                        targets.extend(graph.links(u).filter(|l| l.weight > 0.0).map(|l| l.target));
                        targets[from..].sort_unstable();
                        let mut kept = from;
                        for i in from..targets.len() {
                            if kept == from || targets[i] != targets[kept - 1] {
                                targets[kept] = targets[i];
                                kept += 1;
                            }
                        }
                        targets.truncate(kept);
                        lens.push(kept - from);
                    }
                    (lens, targets)
                })
                .collect()
        };
        let mut target_offsets = Vec::with_capacity(n + 1);
        let mut targets: Vec<NodeId> =
            Vec::with_capacity(pieces.iter().map(|(_, t)| t.len()).sum());
        target_offsets.push(0usize);
        for (lens, piece) in pieces {
            for len in lens {
                target_offsets.push(target_offsets[target_offsets.len() - 1] + len);
            }
            targets.extend_from_slice(&piece);
        }
        let links_of =
            |u: NodeId| &targets[target_offsets[u as usize]..target_offsets[u as usize + 1]];
        // The walks in chunks of slots, in parallel: counts are atomic, free slots and the
        // first failure are taken chunk by chunk in slot order, so the report is the one a
        // sequential pass gives.
        use rayon::prelude::*;
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        // Walks per parallel task, up to 256k: the steps of a chunk, about 2M at alpha 0.15
        // (16 MB per task), are checked together (`steps_follow_links`), and more walks per
        // chunk make each node's steps denser (10M-edge R-MAT, alpha 0.15: verify 12-13 s
        // with 32k walks per chunk, 9.2-9.5 s with 256k, 9.0-9.7 s with 1M); at least four
        // tasks per thread while chunks stay above 32k walks.
        let threads = rayon::current_num_threads().max(1);
        let chunk_walks = (self.slot_count / (4 * threads)).clamp(1 << 15, 1 << 18);
        let starts: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
        let visit_counts: Vec<AtomicU64> = if visits {
            (0..n).map(|_| AtomicU64::new(0)).collect()
        } else {
            Vec::new()
        };
        let inconsistent =
            |walk: Option<u32>, reason: String| WalkIndexError::Inconsistent { walk, reason };
        // The first step of walks `from..=to` without a link, in walk order (the report a
        // sequential pass gives); `None` if there is none.
        let first_bad_step = |from: u32, to: u32| -> Option<WalkIndexError> {
            for id in from..=to {
                let Ok(Some(walk)) = self.walk(id) else {
                    continue;
                };
                if walk.nodes.iter().any(|&v| v as usize >= n) {
                    return None;
                }
                for (pos, pair) in walk.nodes.windows(2).enumerate() {
                    if links_of(pair[0]).binary_search(&pair[1]).is_err() {
                        return Some(inconsistent(
                            Some(id),
                            format!("step {pos} goes {} -> {} without a link", pair[0], pair[1]),
                        ));
                    }
                }
            }
            None
        };
        let chunks: Vec<Result<Vec<u32>, WalkIndexError>> =
            (0..self.slot_count.div_ceil(chunk_walks))
                .into_par_iter()
                .map(|c| {
                    let mut free = Vec::new();
                    let (first, end) = (
                        (c * chunk_walks) as u32,
                        ((c + 1) * chunk_walks).min(self.slot_count),
                    );
                    // The chunk's steps as `from << 32 | to`, checked together below; the walks'
                    // other checks stop at their first failure (`failed`, at walk `last`).
                    let mut steps: Vec<u64> = Vec::new();
                    let mut failed = None;
                    let mut last = first;
                    for id in first..end as u32 {
                        last = id;
                        let walk = match self.walk(id) {
                            Ok(Some(walk)) => walk,
                            Ok(None) => {
                                free.push(id);
                                continue;
                            }
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        };
                        if let Some(&bad) = walk.nodes.iter().find(|&&v| v as usize >= n) {
                            failed = Some(inconsistent(
                                Some(id),
                                format!("node {bad} is out of range"),
                            ));
                            break;
                        }
                        steps.extend(
                            walk.nodes
                                .windows(2)
                                .map(|pair| u64::from(pair[0]) << 32 | u64::from(pair[1])),
                        );
                        let last_node = walk.nodes[walk.nodes.len() - 1];
                        if walk.end == WalkEnd::Died && graph.weight_sum(last_node) > 0.0 {
                            failed = Some(inconsistent(
                                Some(id),
                                format!("walk died at node {last_node}, which has links"),
                            ));
                            break;
                        }
                        starts[walk.nodes[0] as usize].fetch_add(1, Relaxed);
                        if visits {
                            let recorded = WalkIndex::recorded_len(walk.nodes.len(), walk.end);
                            for &v in &walk.nodes[..recorded] {
                                visit_counts[v as usize].fetch_add(1, Relaxed);
                            }
                        }
                    }
                    if !steps_follow_links(&mut steps, &targets, &target_offsets) {
                        // Some step has no link: find the first, as a walk-by-walk pass reports
                        // it (a step comes before the failure that stopped the loop, if any).
                        return Err(first_bad_step(first, last).unwrap_or_else(|| {
                            // The walks read differently the second time: still a failure.
                            inconsistent(
                                None,
                                format!("a step of walks {first}..={last} has no link"),
                            )
                        }));
                    }
                    match failed {
                        Some(e) => Err(e),
                        None => Ok(free),
                    }
                })
                .collect();
        let mut free_slots = Vec::new();
        for chunk in chunks {
            free_slots.extend(chunk?);
        }
        let counts = WalkCounts {
            starts: starts
                .into_iter()
                .map(|c| c.into_inner() as usize)
                .collect(),
            visits: visit_counts
                .into_iter()
                .map(|c| c.into_inner() as usize)
                .collect(),
            free_slots,
        };
        for u in 0..n {
            let want = self.params.walks_for_degree(graph.degree(u as NodeId));
            if counts.starts[u] != want {
                return fail(
                    None,
                    format!(
                        "node {u} owns {} walks, its degree asks for {want}",
                        counts.starts[u]
                    ),
                );
            }
        }
        Ok(counts)
    }

    /// Checks the index against `graph` and against itself: every block of the base file
    /// (checksums, id ranges), every stored step follows a link of the graph (pair weight >
    /// 0), a walk dies only at a dangling node, visit records and start lists match the walks
    /// exactly, the free-slot heap holds exactly the free slots, and every node owns
    /// `ceil(walks_per_node * degree)` walks. Costs O(index + graph).
    pub fn verify<G: Adjacency + Sync>(&self, graph: &G) -> Result<(), WalkIndexError> {
        let fail =
            |walk: Option<u32>, reason: String| Err(WalkIndexError::Inconsistent { walk, reason });
        self.base.check_all()?;
        let n = self.node_count;
        let counts = self.check_walks(graph, true)?;
        let (start_count, visit_count, want_free) =
            (counts.starts, counts.visits, counts.free_slots);
        // Pass 2: the lists the walks ask for, filled in walk-id order (so each ascending) into
        // flat arrays, compared with the stored tables.
        let offsets_of = |counts: &[usize]| {
            let mut offsets = Vec::with_capacity(counts.len() + 1);
            let mut acc = 0usize;
            offsets.push(0);
            for &c in counts {
                acc += c;
                offsets.push(acc);
            }
            offsets
        };
        let (start_offsets, visit_offsets) = (offsets_of(&start_count), offsets_of(&visit_count));
        let mut starts = vec![0u32; start_offsets[n]];
        let mut visits = vec![0u32; visit_offsets[n]];
        let (mut start_fill, mut visit_fill) = (start_offsets.clone(), visit_offsets.clone());
        for id in 0..self.slot_count as u32 {
            let Some(walk) = self.walk(id)? else {
                continue;
            };
            let s = &mut start_fill[walk.nodes[0] as usize];
            starts[*s] = id;
            *s += 1;
            for &v in &walk.nodes[..WalkIndex::recorded_len(walk.nodes.len(), walk.end)] {
                let f = &mut visit_fill[v as usize];
                visits[*f] = id;
                *f += 1;
            }
        }
        for u in 0..n {
            if starts[start_offsets[u]..start_offsets[u + 1]] != *self.walk_ids_from(u as NodeId)? {
                return fail(
                    None,
                    format!("start list of node {u} does not match the walks"),
                );
            }
            if visits[visit_offsets[u]..visit_offsets[u + 1]]
                != *self.visit_records_at(u as NodeId)?
            {
                return fail(
                    None,
                    format!("visit records of node {u} do not match the walks"),
                );
            }
        }
        let mut free: Vec<u32> = self.free.iter().map(|r| r.0).collect();
        free.sort_unstable();
        if free != want_free {
            return fail(
                None,
                "free-slot heap does not match the free slots".to_string(),
            );
        }
        Ok(())
    }

    /// Test hook: overwrites one stored node (records untouched) so `verify` has something to
    /// catch.
    #[cfg(test)]
    pub(crate) fn inject_node(&mut self, walk: u32, pos: usize, node: NodeId) {
        if let Ok(Some((mut nodes, end))) = self
            .walk(walk)
            .map(|w| w.map(|w| (w.nodes.to_vec(), w.end)))
        {
            nodes[pos] = node;
            self.set_walk_raw(walk, nodes, end);
        }
    }

    /// Test hook: overwrites how a walk ended (records untouched).
    #[cfg(test)]
    pub(crate) fn inject_end(&mut self, walk: u32, end: WalkEnd) {
        if let Ok(Some(nodes)) = self.walk(walk).map(|w| w.map(|w| w.nodes.to_vec())) {
            self.set_walk_raw(walk, nodes, end);
        }
    }
}

/// Per-node counts from [`WalkIndex::check_walks`].
struct WalkCounts {
    starts: Vec<usize>,
    visits: Vec<usize>,
    free_slots: Vec<u32>,
}

/// Whether every step `from << 32 | to` in `steps` follows a link: `to` is in `from`'s sorted,
/// deduplicated targets (`targets[offsets[from]..offsets[from + 1]]`). The steps are sorted
/// (and deduplicated) first, so each node's targets are searched once, in ascending order, by
/// galloping from the last match: on a graph with hubs, where a walk's steps mostly leave
/// hubs, a binary search per step over a hub's list was two thirds of `verify` (10M-edge
/// R-MAT, alpha 0.15), each probe a cache miss.
fn steps_follow_links(steps: &mut Vec<u64>, targets: &[NodeId], offsets: &[usize]) -> bool {
    steps.sort_unstable();
    steps.dedup();
    let mut i = 0;
    while let Some(&step) = steps.get(i) {
        let from = (step >> 32) as usize;
        let (Some(&lo), Some(&hi)) = (offsets.get(from), offsets.get(from + 1)) else {
            return false;
        };
        let Some(links) = targets.get(lo..hi) else {
            return false;
        };
        let mut at = 0;
        while let Some(&step) = steps.get(i).filter(|&&s| (s >> 32) as usize == from) {
            let to = step as u32;
            at = super::store::lower_bound_from(links, at, to);
            if links.get(at) != Some(&to) {
                return false;
            }
            i += 1;
        }
    }
    true
}
