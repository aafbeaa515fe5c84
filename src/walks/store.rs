//! Walk storage: an arena of node sequences addressed by walk id, the per-node multiset of
//! visit records, and the per-node lists of walks started there.
//!
//! The *logical content* of an index is its parameters, its node count and, for every walk
//! slot id, either "free" or the walk's node sequence and end. Everything else here (arena
//! layout, record lists, start lists, the free-slot heap) is derived from it, which is why the
//! file format stores only the logical content and why two indexes compare equal when their
//! logical content does.

use crate::graph::NodeId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::WalkIndexError;

/// The smallest restart probability accepted: walks then average 1,000 nodes, and the length
/// cap [`MAX_WALK_NODES`] is reached with probability below `e^-1000`.
pub(crate) const MIN_ALPHA: f64 = 1e-3;
/// Walks are cut (as a stop) at this many nodes so a walk's length always fits a `u32`; with
/// `alpha >= MIN_ALPHA` the cap is never reached in practice.
pub(crate) const MAX_WALK_NODES: usize = 1 << 20;

/// How a stored walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WalkEnd {
    /// The walk stopped (probability `alpha` at each node). A graph change never resumes it.
    Stopped,
    /// The walk did not stop at a dangling node and died there. If that node gains links, the
    /// walk resumes from it.
    Died,
}

/// Build parameters. They are stored in the index file so a reloaded index repairs exactly as
/// the live one did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WalkIndexParams {
    /// Restart (stop) probability of the stored walks, in `[0.001, 1)`. Queries with a larger
    /// alpha are served by truncation; smaller ones cannot be served.
    pub alpha: f64,
    /// Walks stored per walkable link of the start node: a node of degree `d` owns
    /// `ceil(walks_per_link * d)` walks. Choose `r_max * omega` of the FORA configuration;
    /// the default 1.0 matches FORA's usual `r_max * omega ~ 1`.
    pub walks_per_link: f64,
    /// Seed of the build's random streams (repairs are seeded by the transaction's LSN).
    pub seed: u64,
}

impl Default for WalkIndexParams {
    fn default() -> WalkIndexParams {
        WalkIndexParams {
            alpha: 0.15,
            walks_per_link: 1.0,
            seed: 0x5741_4C4B,
        }
    }
}

impl WalkIndexParams {
    /// Checks the documented ranges, so a bad parameter fails loudly instead of producing an
    /// index that answers wrongly.
    pub fn validate(&self) -> Result<(), WalkIndexError> {
        if !(self.alpha >= MIN_ALPHA && self.alpha < 1.0) {
            return Err(WalkIndexError::InvalidParams(format!(
                "alpha {} is outside [{MIN_ALPHA}, 1)",
                self.alpha
            )));
        }
        if !(self.walks_per_link > 0.0 && self.walks_per_link <= 1e6) {
            return Err(WalkIndexError::InvalidParams(format!(
                "walks_per_link {} is outside (0, 1e6]",
                self.walks_per_link
            )));
        }
        Ok(())
    }

    /// The number of walks a node of `degree` walkable links owns.
    pub fn walks_for_degree(&self, degree: usize) -> usize {
        (self.walks_per_link * degree as f64).ceil() as usize
    }
}

/// A borrowed view of one stored walk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WalkRef<'a> {
    /// The walk's slot id (stable until the walk is dropped).
    pub id: u32,
    /// The visited nodes in order; `nodes[0]` is the start node. Never empty.
    pub nodes: &'a [NodeId],
    /// How the walk ended at its last node.
    pub end: WalkEnd,
}

/// The in-memory walk index. See the module documentation of [`crate::walks`].
#[derive(Clone, Debug)]
pub struct WalkIndex {
    pub(crate) params: WalkIndexParams,
    pub(crate) node_count: usize,
    /// Per walk slot: offset of its nodes in `arena`.
    pub(crate) offsets: Vec<u64>,
    /// Per walk slot: number of nodes (0 = free slot).
    pub(crate) lens: Vec<u32>,
    /// Per walk slot: reserved room in `arena` (a regrown walk that fits is rewritten in place).
    pub(crate) caps: Vec<u32>,
    /// Per walk slot: how it ended (meaningless for a free slot, kept `Stopped`).
    pub(crate) ends: Vec<WalkEnd>,
    pub(crate) arena: Vec<NodeId>,
    /// Arena entries no walk owns any more; compaction runs when they dominate.
    pub(crate) garbage: usize,
    /// Free slot ids; the smallest is reused first so id allocation depends on content only.
    pub(crate) free: BinaryHeap<Reverse<u32>>,
    /// Per node: ids of the walks started there, ascending.
    pub(crate) starts: Vec<Vec<u32>>,
    /// Per node: sorted multiset of walk ids, one entry per *recorded visit*: a position where
    /// the walk moved on, or its last position if it died there.
    pub(crate) visits: Vec<Vec<u32>>,
    #[cfg(test)]
    pub(crate) mode: super::RepairMode,
}

impl PartialEq for WalkIndex {
    /// Logical equality: same parameters, node count and walk slots (sequence and end).
    fn eq(&self, other: &WalkIndex) -> bool {
        self.params == other.params
            && self.node_count == other.node_count
            && self.lens.len() == other.lens.len()
            && (0..self.lens.len() as u32).all(|id| self.walk(id) == other.walk(id))
    }
}

impl WalkIndex {
    /// An index over `node_count` nodes without walks; `build` and `decode` start here.
    pub(crate) fn empty(params: WalkIndexParams, node_count: usize) -> WalkIndex {
        WalkIndex {
            params,
            node_count,
            offsets: Vec::new(),
            lens: Vec::new(),
            caps: Vec::new(),
            ends: Vec::new(),
            arena: Vec::new(),
            garbage: 0,
            free: BinaryHeap::new(),
            starts: vec![Vec::new(); node_count],
            visits: vec![Vec::new(); node_count],
            #[cfg(test)]
            mode: super::RepairMode::Correct,
        }
    }

    /// The parameters the index was built with.
    pub fn params(&self) -> WalkIndexParams {
        self.params
    }

    /// Number of node ids the index covers (`0..node_count`).
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Number of walk slots, used or free; walk ids are `0..slot_count`.
    pub fn slot_count(&self) -> usize {
        self.lens.len()
    }

    /// The walk in slot `id`, or `None` for a free or unknown slot.
    pub fn walk(&self, id: u32) -> Option<WalkRef<'_>> {
        let i = id as usize;
        let len = *self.lens.get(i)? as usize;
        if len == 0 {
            return None;
        }
        let start = self.offsets[i] as usize;
        Some(WalkRef {
            id,
            nodes: &self.arena[start..start + len],
            end: self.ends[i],
        })
    }

    /// The walks started at `node`, in ascending id order (empty for an unknown node).
    pub fn walks_from(&self, node: NodeId) -> impl Iterator<Item = WalkRef<'_>> + '_ {
        let ids: &[u32] = self
            .starts
            .get(node as usize)
            .map(|v| v.as_slice())
            .unwrap_or(&[]);
        ids.iter().filter_map(move |&id| self.walk(id))
    }

    /// Number of walks started at `node`.
    pub fn walk_count_from(&self, node: NodeId) -> usize {
        self.starts.get(node as usize).map_or(0, |v| v.len())
    }

    /// The recorded visits at `node` as walk ids, ascending, one entry per visit (a multiset).
    pub fn visit_records_at(&self, node: NodeId) -> &[u32] {
        self.visits.get(node as usize).map_or(&[], |v| v.as_slice())
    }

    /// Number of recorded visits at `node` (moves out of it, plus walks that died there).
    pub fn recorded_visits_at(&self, node: NodeId) -> usize {
        self.visits.get(node as usize).map_or(0, |v| v.len())
    }

    /// Grows the per-node tables to `node_count` nodes (nodes are never removed).
    pub(crate) fn grow_nodes(&mut self, node_count: usize) {
        if node_count > self.node_count {
            self.node_count = node_count;
            self.starts.resize(node_count, Vec::new());
            self.visits.resize(node_count, Vec::new());
        }
    }

    /// Positions of a walk that carry a visit record.
    #[inline]
    pub(crate) fn recorded_len(len: usize, end: WalkEnd) -> usize {
        match end {
            WalkEnd::Died => len,
            WalkEnd::Stopped => len - 1,
        }
    }

    pub(crate) fn add_record(&mut self, node: NodeId, walk: u32) {
        let list = &mut self.visits[node as usize];
        let at = list.partition_point(|&w| w <= walk);
        list.insert(at, walk);
    }

    pub(crate) fn remove_record(&mut self, node: NodeId, walk: u32) {
        let list = &mut self.visits[node as usize];
        let at = list.partition_point(|&w| w < walk);
        if list.get(at) == Some(&walk) {
            list.remove(at);
        } else {
            debug_assert!(false, "missing visit record of walk {walk} at node {node}");
        }
    }

    fn add_records_of(&mut self, id: u32, from: usize) {
        let i = id as usize;
        let (start, len, end) = (
            self.offsets[i] as usize,
            self.lens[i] as usize,
            self.ends[i],
        );
        for p in from..Self::recorded_len(len, end) {
            let node = self.arena[start + p];
            self.add_record(node, id);
        }
    }

    fn remove_records_of(&mut self, id: u32, from: usize) {
        let i = id as usize;
        let (start, len, end) = (
            self.offsets[i] as usize,
            self.lens[i] as usize,
            self.ends[i],
        );
        for p in from..Self::recorded_len(len, end) {
            let node = self.arena[start + p];
            self.remove_record(node, id);
        }
    }

    /// Stores a new walk (records included) in the smallest free slot and returns its id.
    pub(crate) fn insert_walk(&mut self, nodes: &[NodeId], end: WalkEnd) -> u32 {
        let id = match self.free.pop() {
            Some(Reverse(id)) => id,
            None => {
                self.offsets.push(0);
                self.lens.push(0);
                self.caps.push(0);
                self.ends.push(WalkEnd::Stopped);
                (self.lens.len() - 1) as u32
            }
        };
        self.write_walk(id, nodes, end);
        self.add_records_of(id, 0);
        let start = nodes[0] as usize;
        let list = &mut self.starts[start];
        let at = list.partition_point(|&w| w < id);
        list.insert(at, id);
        id
    }

    /// Frees a walk's slot and removes its records and start entry.
    pub(crate) fn remove_walk(&mut self, id: u32) {
        let i = id as usize;
        if self.lens[i] == 0 {
            return;
        }
        self.remove_records_of(id, 0);
        let start = self.arena[self.offsets[i] as usize] as usize;
        let list = &mut self.starts[start];
        if let Ok(at) = list.binary_search(&id) {
            list.remove(at);
        }
        self.garbage += self.caps[i] as usize;
        self.lens[i] = 0;
        self.caps[i] = 0;
        self.ends[i] = WalkEnd::Stopped;
        self.free.push(Reverse(id));
        self.maybe_compact();
    }

    /// Replaces the part of walk `id` after position `keep - 1` by `tail` and sets its end,
    /// keeping visit records exact. Position `keep - 1` stays recorded either way: it moved on
    /// before and moves on (or dies) now.
    pub(crate) fn replace_tail(&mut self, id: u32, keep: usize, tail: &[NodeId], end: WalkEnd) {
        let i = id as usize;
        // Records of positions >= keep go; position keep - 1 may have been the end of a walk
        // that died there and is now resumed (then it was recorded and stays recorded).
        self.remove_records_of(id, keep);
        let start = self.offsets[i] as usize;
        let mut nodes = Vec::with_capacity(keep + tail.len());
        nodes.extend_from_slice(&self.arena[start..start + keep]);
        nodes.extend_from_slice(tail);
        let old_recorded = Self::recorded_len(self.lens[i] as usize, self.ends[i]);
        self.write_walk(id, &nodes, end);
        // Position keep - 1 was recorded iff it was below old_recorded; it must be recorded
        // now (the walk moves on from it or dies there), so add it if it was not.
        if old_recorded < keep {
            let node = nodes[keep - 1];
            self.add_record(node, id);
        }
        self.add_records_of(id, keep);
        self.maybe_compact();
    }

    /// Writes a walk's nodes into its slot, reusing its arena room when the walk fits.
    fn write_walk(&mut self, id: u32, nodes: &[NodeId], end: WalkEnd) {
        let i = id as usize;
        if nodes.len() > self.caps[i] as usize {
            self.garbage += self.caps[i] as usize;
            self.offsets[i] = self.arena.len() as u64;
            self.caps[i] = nodes.len() as u32;
            self.arena.extend_from_slice(nodes);
        } else {
            let start = self.offsets[i] as usize;
            self.arena[start..start + nodes.len()].copy_from_slice(nodes);
        }
        self.lens[i] = nodes.len() as u32;
        self.ends[i] = end;
    }

    /// Rewrites the arena without garbage once garbage exceeds half of it, so memory stays
    /// proportional to the live walks. Physical layout only: logical content is unchanged.
    fn maybe_compact(&mut self) {
        if self.garbage < 1024 || self.garbage * 2 < self.arena.len() {
            return;
        }
        let live: usize = self.lens.iter().map(|&l| l as usize).sum();
        let mut arena = Vec::with_capacity(live + live / 8);
        for i in 0..self.lens.len() {
            let start = self.offsets[i] as usize;
            let len = self.lens[i] as usize;
            self.offsets[i] = arena.len() as u64;
            self.caps[i] = len as u32;
            arena.extend_from_slice(&self.arena[start..start + len]);
        }
        self.arena = arena;
        self.garbage = 0;
    }

    /// Bytes of memory the index holds (capacities of its tables).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let per_node: usize = self
            .starts
            .iter()
            .chain(self.visits.iter())
            .map(|v| v.capacity() * 4 + size_of::<Vec<u32>>())
            .sum();
        self.offsets.capacity() * 8
            + self.lens.capacity() * 4
            + self.caps.capacity() * 4
            + self.ends.capacity() * size_of::<WalkEnd>()
            + self.arena.capacity() * 4
            + self.free.len() * 4
            + per_node
    }
}
