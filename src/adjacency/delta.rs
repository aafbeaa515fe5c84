//! The in-memory delta: full adjacency lists of the nodes changed since the last checkpoint.
//!
//! A changed node's lists are copied from the segment on first touch and edited in place
//! afterwards, so a reader never merges segment and delta per edge: a node is read wholly
//! from one or the other.
//!
//! A transaction edits its own copies (`pending`, owned, no sharing); [`Delta::seal`] moves
//! them into one immutable block and points the node table at them. The table maps a node to
//! `(block, index)`, a plain copyable location: 4096 hash shards in a two-level table of
//! `Arc`s (64 groups of 64 shards), copy-on-write at every level. Cloning a sealed delta (a
//! snapshot, a transaction's base) is three reference counts; sealing copies the top table
//! (64 pointers), each touched group (64 pointers) and each touched shard (its entries, copied
//! bytewise: no per-node reference count to touch). Readers holding an older version keep
//! their table and the blocks it points into. Superseded copies stay in their blocks until
//! they outweigh the live lists; then the live lists of the blocks that are more than half
//! garbage are copied into a new block (amortized by the copies that made the garbage), and
//! at 4096 blocks every live list into one.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use rayon::prelude::*;

use super::Segment;
use crate::graph::{NodeId, RelId};
use crate::hash::IdHasher;

const GROUPS: usize = 64;
const SHARDS_PER_GROUP: usize = 64;
const SHARDS: usize = GROUPS * SHARDS_PER_GROUP;
/// Blocks per second-level chunk of the block list.
const BLOCKS_PER_CHUNK: usize = 64;
/// Blocks a delta holds at most: the next seal compacts them all into one (a stream of tiny
/// commits would otherwise grow the block list by one per commit until the checkpoint).
const MAX_BLOCKS: u32 = (BLOCKS_PER_CHUNK * BLOCKS_PER_CHUNK) as u32;
/// Lists sealed at once from which the touched shards are copied on two threads (in tests,
/// nearly every seal, so the model test runs both paths).
#[cfg(not(test))]
const PARALLEL_SEAL: usize = 512;
#[cfg(test)]
const PARALLEL_SEAL: usize = 2;
/// Superseded bytes below which a delta is never compacted.
const MIN_GARBAGE: usize = 4 << 20;

/// Where a node's lists live: `index` in the block numbered `block`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Loc {
    block: u32,
    index: u32,
}

/// Keyed by `u / SHARDS`: every node of a shard has the same `u % SHARDS`, and a
/// multiplicative hash of `u` itself would give them all the same low bits, the bits that pick
/// a hash table's bucket (one probe chain per shard).
type Shard = HashMap<u32, Loc, BuildHasherDefault<IdHasher>>;
type Group = Vec<Arc<Shard>>;

/// A transaction's copy of a node's lists, and the block and bytes of the sealed copy it
/// supersedes.
type Pending = (NodeAdj, Option<(u32, usize)>);

/// The lists one seal wrote, each with its node. Immutable once sealed; shared by every
/// version that sees it.
#[derive(Debug, Default)]
struct Block {
    adjs: Vec<(NodeId, NodeAdj)>,
}
/// A node's complete adjacency: out-list sorted by (dst, rel), in-list by (src, rel), and the
/// weight sums of both, each summed in list order (as a walk sums its links).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NodeAdj {
    pub(crate) out: Vec<(NodeId, RelId, f64)>,
    pub(crate) inn: Vec<(NodeId, RelId, f64)>,
    out_sum: f64,
    all_sum: f64,
    /// Every out-edge (`out_unit`) or in-edge (`inn_unit`) weighs exactly 1.
    out_unit: bool,
    inn_unit: bool,
}

impl NodeAdj {
    fn new(out: Vec<(NodeId, RelId, f64)>, inn: Vec<(NodeId, RelId, f64)>) -> NodeAdj {
        let mut adj = NodeAdj {
            out,
            inn,
            out_sum: 0.0,
            all_sum: 0.0,
            out_unit: true,
            inn_unit: true,
        };
        adj.resum();
        adj
    }

    /// Recomputes the sums exactly as `Adjacency::weight_sum` defines them: the links' weights
    /// added in link order (out-edges, then in-edges).
    fn resum(&mut self) {
        let (mut sum, mut unit) = (0.0, true);
        for e in &self.out {
            sum += e.2;
            unit &= e.2.to_bits() == 1f64.to_bits();
        }
        (self.out_sum, self.out_unit) = (sum, unit);
        unit = true;
        for e in &self.inn {
            sum += e.2;
            unit &= e.2.to_bits() == 1f64.to_bits();
        }
        (self.all_sum, self.inn_unit) = (sum, unit);
    }

    /// [`crate::graph::Adjacency::unit_step`] on this node's links (out-edges, then in-edges
    /// when `undirected`).
    #[inline]
    pub(crate) fn unit_step(
        &self,
        undirected: bool,
        pick: impl FnOnce(usize) -> usize,
    ) -> Option<NodeId> {
        let inn: &[(NodeId, RelId, f64)] = if undirected { &self.inn } else { &[] };
        let d = self.out.len() + inn.len();
        if d == 0
            || !self.out_unit
            || (undirected && !self.inn_unit)
            || self.link_weight_sum(undirected).to_bits() != (d as f64).to_bits()
        {
            return None;
        }
        let i = pick(d).min(d - 1);
        match self.out.get(i) {
            Some(e) => Some(e.0),
            None => inn.get(i - self.out.len()).map(|e| e.0),
        }
    }

    /// The sum of the node's link weights.
    #[inline]
    pub(crate) fn link_weight_sum(&self, undirected: bool) -> f64 {
        if undirected {
            self.all_sum
        } else {
            self.out_sum
        }
    }

    /// The node's link count: its out-edges, then (undirected) its in-edges too.
    #[inline]
    pub(crate) fn link_count(&self, undirected: bool) -> usize {
        self.out.len() + if undirected { self.inn.len() } else { 0 }
    }
}

/// Changed nodes' adjacency since the last checkpoint.
#[derive(Debug)]
pub(crate) struct Delta {
    groups: Arc<Vec<Arc<Group>>>,
    /// Sealed blocks in chunks of [`BLOCKS_PER_CHUNK`]: appending one copies the chunk
    /// pointers, not one pointer per block.
    blocks: Arc<Vec<Arc<Vec<Arc<Block>>>>>,
    block_count: u32,
    /// Per block: bytes of its lists the table points at, and of all its lists.
    block_bytes: Arc<Vec<(usize, usize)>>,
    /// This transaction's lists, not yet sealed, each with the block and bytes of the sealed
    /// copy it supersedes (none when it came from the segment).
    pending: HashMap<NodeId, Pending, BuildHasherDefault<IdHasher>>,
    /// Nodes with lists in the table or pending.
    touched: usize,
    /// Bytes of the sealed lists the table points at, and of the superseded ones.
    live_bytes: usize,
    garbage_bytes: usize,
}

impl Clone for Delta {
    /// Shares the table and the blocks; the pending lists are copied only when there are
    /// some (a staged delta is sealed before it is viewed or published, so a version's clones
    /// copy nothing).
    fn clone(&self) -> Delta {
        Delta {
            groups: Arc::clone(&self.groups),
            blocks: Arc::clone(&self.blocks),
            block_count: self.block_count,
            block_bytes: Arc::clone(&self.block_bytes),
            pending: match self.pending.is_empty() {
                true => HashMap::default(),
                false => self.pending.clone(),
            },
            touched: self.touched,
            live_bytes: self.live_bytes,
            garbage_bytes: self.garbage_bytes,
        }
    }
}

impl Default for Delta {
    fn default() -> Delta {
        // Every slot starts as the same empty shard and group; the first seal copies them.
        let empty = Arc::new(Shard::default());
        let group: Arc<Group> = Arc::new(vec![empty; SHARDS_PER_GROUP]);
        Delta {
            groups: Arc::new(vec![group; GROUPS]),
            blocks: Arc::default(),
            block_count: 0,
            block_bytes: Arc::default(),
            pending: HashMap::default(),
            touched: 0,
            live_bytes: 0,
            garbage_bytes: 0,
        }
    }
}

/// (group, shard in group) of node `u`.
#[inline]
fn slot_of(u: NodeId) -> (usize, usize) {
    let shard = (u as usize) % SHARDS;
    (shard / SHARDS_PER_GROUP, shard % SHARDS_PER_GROUP)
}

/// `u`'s key in its shard.
#[inline]
fn key_of(u: NodeId) -> u32 {
    u / SHARDS as u32
}

/// `u`'s lists as the segment has them; the in-list from the link projection when it holds
/// it (see [`super::view::projected_in_edges`]).
fn segment_lists(seg: &Segment, u: NodeId) -> NodeAdj {
    let inn = match super::view::projected_in_edges(seg, u) {
        Some(edges) => edges.collect(),
        None => seg.in_edges(u).collect(),
    };
    NodeAdj::new(seg.out_edges(u).collect(), inn)
}

/// Heap and inline bytes of a node's lists (what a superseded copy keeps holding).
fn adj_bytes(adj: &NodeAdj) -> usize {
    std::mem::size_of::<NodeAdj>()
        + std::mem::size_of::<(NodeId, RelId, f64)>() * (adj.out.capacity() + adj.inn.capacity())
}

fn upsert(
    list: &mut Vec<(NodeId, RelId, f64)>,
    other: NodeId,
    rel: RelId,
    weight: f64,
) -> Option<f64> {
    match list.binary_search_by(|&(n, r, _)| (n, r).cmp(&(other, rel))) {
        Ok(i) => Some(std::mem::replace(&mut list[i].2, weight)),
        Err(i) => {
            list.insert(i, (other, rel, weight));
            None
        }
    }
}

fn remove(list: &mut Vec<(NodeId, RelId, f64)>, other: NodeId, rel: RelId) -> Option<f64> {
    let i = list
        .binary_search_by(|&(n, r, _)| (n, r).cmp(&(other, rel)))
        .ok()?;
    Some(list.remove(i).2)
}

impl Delta {
    /// The delta's lists for `u`, if `u` changed since the checkpoint.
    #[inline]
    pub(crate) fn get(&self, u: NodeId) -> Option<&NodeAdj> {
        if !self.pending.is_empty() {
            if let Some((adj, _)) = self.pending.get(&u) {
                return Some(adj);
            }
        }
        self.sealed(u)
    }

    /// The sealed lists of `u`, if any.
    #[inline]
    fn sealed(&self, u: NodeId) -> Option<&NodeAdj> {
        let (g, i) = slot_of(u);
        let shard = &self.groups[g][i];
        if shard.is_empty() {
            return None;
        }
        let loc = *shard.get(&key_of(u))?;
        self.at(loc)
    }

    /// The sealed lists at `loc` (always present: the table points only at sealed blocks).
    #[inline]
    fn at(&self, loc: Loc) -> Option<&NodeAdj> {
        let b = loc.block as usize;
        self.blocks
            .get(b / BLOCKS_PER_CHUNK)?
            .get(b % BLOCKS_PER_CHUNK)?
            .adjs
            .get(loc.index as usize)
            .map(|(_, adj)| adj)
    }

    /// Where `u`'s sealed lists are.
    #[inline]
    fn loc_of(&self, u: NodeId) -> Option<Loc> {
        let (g, i) = slot_of(u);
        self.groups[g][i].get(&key_of(u)).copied()
    }

    /// Number of changed nodes.
    pub(crate) fn touched_nodes(&self) -> usize {
        self.touched
    }

    /// The changed nodes as a bitmap over `0..node_count` (bit `u % 64` of word `u / 64`).
    pub(crate) fn node_bitmap(&self, node_count: u32) -> Vec<u64> {
        let mut bits = vec![0u64; (node_count as usize).div_ceil(64)];
        let sealed = self.groups.iter().flat_map(|g| g.iter()).enumerate();
        let sealed =
            sealed.flat_map(|(s, shard)| shard.keys().map(move |&k| k * SHARDS as u32 + s as u32));
        for u in sealed.chain(self.pending.keys().copied()) {
            if let Some(word) = bits.get_mut(u as usize / 64) {
                *word |= 1 << (u % 64);
            }
        }
        bits
    }

    /// True when nothing changed since the checkpoint.
    pub(crate) fn is_empty(&self) -> bool {
        self.touched == 0
    }

    fn node_mut(&mut self, u: NodeId, seg: &Segment) -> &mut NodeAdj {
        if !self.pending.contains_key(&u) {
            let sealed = self.loc_of(u).and_then(|loc| Some((loc, self.at(loc)?)));
            let copy = match sealed {
                Some((loc, adj)) => (adj.clone(), Some((loc.block, adj_bytes(adj)))),
                None => {
                    self.touched += 1;
                    (segment_lists(seg, u), None)
                }
            };
            self.pending.insert(u, copy);
        }
        match self.pending.get_mut(&u) {
            Some((adj, _)) => adj,
            // Inserted just above when absent.
            None => unreachable!("pending lists of node {u}"),
        }
    }

    /// Moves this transaction's lists into a new block and points the table at them, so
    /// clones share them instead of copying them. Called before a staged delta is viewed or
    /// published; a no-op when nothing is pending.
    pub(crate) fn seal(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let block = self.block_count;
        let mut sealed = Block {
            adjs: Vec::with_capacity(self.pending.len()),
        };
        let block_bytes = Arc::make_mut(&mut self.block_bytes);
        // Sorted by node, so the block's order does not depend on the hash map's.
        // Taken, not drained: an emptied map keeps its buckets, and every clone of the
        // published version would copy them.
        let mut pending: Vec<_> = std::mem::take(&mut self.pending).into_iter().collect();
        pending.sort_unstable_by_key(|&(u, _)| u);
        let mut bytes = 0;
        let mut per_group: Vec<Vec<(NodeId, Loc)>> = vec![Vec::new(); GROUPS];
        for (u, (adj, superseded)) in pending {
            // The superseded copy is in a block of this delta (pending copies are made from
            // it): its bytes move from live to garbage, in its block and in total.
            if let Some((old, old_bytes)) = superseded {
                if let Some(entry) = block_bytes.get_mut(old as usize) {
                    debug_assert!(entry.0 >= old_bytes, "live bytes of block {old}");
                    entry.0 = entry.0.saturating_sub(old_bytes);
                    self.garbage_bytes += old_bytes;
                    self.live_bytes = self.live_bytes.saturating_sub(old_bytes);
                }
            }
            bytes += adj_bytes(&adj);
            let index = sealed.adjs.len() as u32;
            sealed.adjs.push((u, adj));
            per_group[slot_of(u).0].push((u, Loc { block, index }));
        }
        // Each touched shard is copied (its old copy is the published version's) and
        // changed; groups are disjoint, so they go in parallel when there are many.
        let point = |(group, entries): (&mut Arc<Group>, Vec<(NodeId, Loc)>)| {
            if entries.is_empty() {
                return;
            }
            let group = Arc::make_mut(group);
            for (u, loc) in entries {
                Arc::make_mut(&mut group[slot_of(u).1]).insert(key_of(u), loc);
            }
        };
        let groups = Arc::make_mut(&mut self.groups);
        if sealed.adjs.len() >= PARALLEL_SEAL {
            groups.par_iter_mut().zip(per_group).for_each(point);
        } else {
            groups.iter_mut().zip(per_group).for_each(point);
        }
        self.live_bytes += bytes;
        self.push_block(sealed, bytes);
        if self.block_count >= MAX_BLOCKS {
            self.compact_all();
        } else if self.garbage_bytes > self.live_bytes.max(MIN_GARBAGE) {
            self.compact_sparse();
        }
    }

    fn push_block(&mut self, block: Block, bytes: usize) {
        let blocks = Arc::make_mut(&mut self.blocks);
        if (self.block_count as usize).is_multiple_of(BLOCKS_PER_CHUNK) {
            blocks.push(Arc::new(Vec::with_capacity(BLOCKS_PER_CHUNK)));
        }
        if let Some(chunk) = blocks.last_mut() {
            Arc::make_mut(chunk).push(Arc::new(block));
        }
        Arc::make_mut(&mut self.block_bytes).push((bytes, bytes));
        self.block_count += 1;
    }

    /// Copies the live lists of the blocks that are more than half garbage into one new
    /// block and drops those blocks (older versions keep theirs). Every block left is at
    /// least half live, so afterwards the garbage is at most the live bytes; the cost is the
    /// live bytes of the sparse blocks, not of the whole delta: lists a stream rewrites every
    /// commit (hubs) leave their old blocks sparse, lists touched once stay where they are.
    fn compact_sparse(&mut self) {
        let sparse: Vec<u32> = (0..self.block_count)
            .filter(|&b| {
                let (live, total) = self.block_bytes[b as usize];
                total > 0 && 2 * live < total
            })
            .collect();
        let block = self.block_count;
        let mut fresh = Block::default();
        let mut moves: Vec<(NodeId, Loc)> = Vec::new();
        let mut bytes = 0;
        for &b in &sparse {
            let chunk = &self.blocks[b as usize / BLOCKS_PER_CHUNK];
            for (i, (u, adj)) in chunk[b as usize % BLOCKS_PER_CHUNK].adjs.iter().enumerate() {
                let here = Loc {
                    block: b,
                    index: i as u32,
                };
                if self.loc_of(*u) == Some(here) {
                    let index = fresh.adjs.len() as u32;
                    moves.push((*u, Loc { block, index }));
                    let copy = adj.clone();
                    bytes += adj_bytes(&copy);
                    // A clone's capacity is its length: the live bytes shrink to the copy's.
                    self.live_bytes =
                        (self.live_bytes + adj_bytes(&copy)).saturating_sub(adj_bytes(adj));
                    fresh.adjs.push((*u, copy));
                }
            }
        }
        let groups = Arc::make_mut(&mut self.groups);
        for (u, loc) in moves {
            let (g, i) = slot_of(u);
            Arc::make_mut(&mut Arc::make_mut(&mut groups[g])[i]).insert(key_of(u), loc);
        }
        let empty = Arc::new(Block::default());
        let blocks = Arc::make_mut(&mut self.blocks);
        let block_bytes = Arc::make_mut(&mut self.block_bytes);
        for &b in &sparse {
            let (live, total) = block_bytes[b as usize];
            self.garbage_bytes = self.garbage_bytes.saturating_sub(total - live);
            block_bytes[b as usize] = (0, 0);
            let chunk = Arc::make_mut(&mut blocks[b as usize / BLOCKS_PER_CHUNK]);
            chunk[b as usize % BLOCKS_PER_CHUNK] = Arc::clone(&empty);
        }
        self.push_block(fresh, bytes);
    }

    /// Copies every live list into one block numbered 0 and drops the references to the
    /// old ones (older versions keep theirs). O(delta).
    fn compact_all(&mut self) {
        let mut fresh = Block::default();
        let mut groups: Vec<Arc<Group>> = Vec::with_capacity(GROUPS);
        let mut live = 0;
        for group in self.groups.iter() {
            let mut copied: Group = Vec::with_capacity(SHARDS_PER_GROUP);
            for (s, shard) in group.iter().enumerate() {
                let mut entries: Vec<(u32, Loc)> =
                    shard.iter().map(|(&k, &loc)| (k, loc)).collect();
                entries.sort_unstable_by_key(|&(k, _)| k);
                let mut out = Shard::with_capacity_and_hasher(entries.len(), Default::default());
                for (k, loc) in entries {
                    let Some(adj) = self.at(loc) else { continue };
                    let adj = adj.clone();
                    live += adj_bytes(&adj);
                    out.insert(
                        k,
                        Loc {
                            block: 0,
                            index: fresh.adjs.len() as u32,
                        },
                    );
                    let u = k * SHARDS as u32 + (groups.len() * SHARDS_PER_GROUP + s) as u32;
                    fresh.adjs.push((u, adj));
                }
                copied.push(Arc::new(out));
            }
            groups.push(Arc::new(copied));
        }
        self.groups = Arc::new(groups);
        self.blocks = Arc::default();
        self.block_bytes = Arc::default();
        self.block_count = 0;
        self.live_bytes = live;
        self.garbage_bytes = 0;
        self.push_block(fresh, live);
    }

    /// Changes `u`'s lists (copying them from the segment on first touch) and keeps its sums.
    fn edit<T>(&mut self, u: NodeId, seg: &Segment, f: impl FnOnce(&mut NodeAdj) -> T) -> T {
        let adj = self.node_mut(u, seg);
        let out = f(adj);
        adj.resum();
        out
    }

    /// Adds the edge or replaces its weight; returns the previous weight.
    pub(crate) fn put_edge(
        &mut self,
        seg: &Segment,
        src: NodeId,
        rel: RelId,
        dst: NodeId,
        weight: f64,
    ) -> Option<f64> {
        let previous = self.edit(src, seg, |adj| upsert(&mut adj.out, dst, rel, weight));
        self.edit(dst, seg, |adj| upsert(&mut adj.inn, src, rel, weight));
        previous
    }

    /// Deletes the edge; returns its weight, or None when it did not exist.
    pub(crate) fn del_edge(
        &mut self,
        seg: &Segment,
        src: NodeId,
        rel: RelId,
        dst: NodeId,
    ) -> Option<f64> {
        let exists = match self.get(src) {
            Some(adj) => adj
                .out
                .binary_search_by(|&(n, r, _)| (n, r).cmp(&(dst, rel)))
                .is_ok(),
            None => seg.out_edges(src).any(|(n, r, _)| (n, r) == (dst, rel)),
        };
        if !exists {
            return None;
        }
        let weight = self.edit(src, seg, |adj| remove(&mut adj.out, dst, rel));
        self.edit(dst, seg, |adj| remove(&mut adj.inn, src, rel));
        weight
    }

    /// Deletes every edge incident to `u`; returns them as (src, rel, dst, weight).
    pub(crate) fn del_node(
        &mut self,
        seg: &Segment,
        u: NodeId,
    ) -> Vec<(NodeId, RelId, NodeId, f64)> {
        let (out, inn) = self.edit(u, seg, |adj| {
            (std::mem::take(&mut adj.out), std::mem::take(&mut adj.inn))
        });
        let mut removed = Vec::with_capacity(out.len() + inn.len());
        for (dst, rel, w) in out {
            if dst != u {
                self.edit(dst, seg, |adj| remove(&mut adj.inn, u, rel));
            }
            removed.push((u, rel, dst, w));
        }
        for (src, rel, w) in inn {
            if src != u {
                self.edit(src, seg, |adj| remove(&mut adj.out, u, rel));
                removed.push((src, rel, u, w));
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adjacency::segment::encode_segment;
    use crate::backend::FileBytes;

    fn seg() -> Segment {
        let lists = vec![vec![(1, 0, 1.0)], vec![(2, 0, 2.0)], vec![]];
        Segment::open(
            "s",
            FileBytes::from_vec(encode_segment(1, 0, 3, &mut lists.into_iter())),
        )
        .unwrap()
    }

    /// Five nodes: parallel relations, a self-loop, weights other than 1.
    fn seg5() -> Segment {
        let lists = vec![
            vec![(1, 0, 1.0), (1, 1, 2.5), (3, 0, 1.0)],
            vec![(1, 1, 1.0), (2, 0, 2.0)],
            vec![(0, 0, 0.5)],
            vec![],
            vec![(0, 1, 1.0), (3, 0, 4.0)],
        ];
        Segment::open(
            "s",
            FileBytes::from_vec(encode_segment(1, 0, 5, &mut lists.into_iter())),
        )
        .unwrap()
    }

    #[test]
    fn edits_copy_the_segment_lists_then_change_them() {
        let seg = seg();
        let mut d = Delta::default();
        assert_eq!(d.put_edge(&seg, 0, 1, 2, 5.0), None);
        assert_eq!(d.put_edge(&seg, 0, 1, 2, 6.0), Some(5.0));
        assert_eq!(d.get(0).unwrap().out, vec![(1, 0, 1.0), (2, 1, 6.0)]);
        assert_eq!(d.get(2).unwrap().inn, vec![(0, 1, 6.0), (1, 0, 2.0)]);
        assert_eq!(d.del_edge(&seg, 1, 0, 2), Some(2.0));
        assert_eq!(d.del_edge(&seg, 1, 0, 2), None);
        assert_eq!(d.get(1).unwrap().out, vec![]);
    }

    #[test]
    fn a_reader_clone_does_not_see_later_edits() {
        let seg = seg();
        let mut d = Delta::default();
        d.put_edge(&seg, 0, 0, 2, 1.0);
        let reader = d.clone();
        d.put_edge(&seg, 0, 0, 2, 9.0);
        assert_eq!(reader.get(0).unwrap().out[1], (2, 0, 1.0));
        assert_eq!(d.get(0).unwrap().out[1], (2, 0, 9.0));
    }

    /// The unit step picks the link the scan picks (the first whose running sum exceeds the
    /// draw times the weight sum), in both modes, and steps aside for any weight not 1.
    #[test]
    fn unit_steps_pick_what_the_scan_picks() {
        let seg = seg();
        let mut d = Delta::default();
        for (src, dst) in [(0, 0), (0, 2), (2, 0), (1, 0), (0, 1)] {
            d.put_edge(&seg, src, 1, dst, 1.0);
        }
        let scan = |adj: &NodeAdj, undirected: bool, x: f64| {
            let links = adj.out.iter().chain(adj.inn.iter().filter(|_| undirected));
            let mut acc = 0.0;
            let mut last = None;
            for e in links {
                acc += e.2;
                last = Some(e.0);
                if x * adj.link_weight_sum(undirected) < acc {
                    break;
                }
            }
            last
        };
        let mut picks = 0;
        for undirected in [false, true] {
            for u in 0..3 {
                let adj = d.get(u).unwrap();
                for k in 0..64 {
                    let x = k as f64 / 64.0;
                    let unit = adj.unit_step(undirected, |deg| (x * deg as f64) as usize);
                    // The segment's edge 1 -> 2 weighs 2: node 1 never steps by unit, node 2
                    // only directed (where its in-list is not among its links).
                    if u == 1 || (u == 2 && undirected) {
                        assert_eq!(unit, None, "node {u}, undirected {undirected}");
                        continue;
                    }
                    assert_eq!(unit, scan(adj, undirected, x), "node {u}, draw {x}");
                    picks += 1;
                }
            }
        }
        assert_eq!(picks, 3 * 64);
        // A weight of 3 in node 0's in-list: directed it still steps by unit, undirected not.
        d.put_edge(&seg, 2, 2, 0, 3.0);
        let adj = d.get(0).unwrap();
        assert!(adj.unit_step(false, |_| 0).is_some());
        assert_eq!(adj.unit_step(true, |_| 0), None);
    }

    /// Random edits, seals, compactions and clones against a plain map of lists: every
    /// version reads what the model said when it was taken, also after later seals and
    /// compactions of the delta it was cloned from.
    mod model {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        type Lists = BTreeMap<NodeId, (Vec<(NodeId, RelId, f64)>, Vec<(NodeId, RelId, f64)>)>;

        fn read(d: &Delta, seg: &Segment, nodes: u32) -> Lists {
            (0..nodes)
                .map(|u| match d.get(u) {
                    Some(adj) => (u, (adj.out.clone(), adj.inn.clone())),
                    None => (u, (seg.out_edges(u).collect(), seg.in_edges(u).collect())),
                })
                .collect()
        }

        proptest! {
            #[test]
            fn versions_read_what_the_model_says(
                ops in proptest::collection::vec((0u8..7, 0u32..5, 0u32..2, 0u32..5, 1u8..4), 1..80),
                projection in 0u8..3,
            ) {
                let seg = seg5();
                // First touches copy from the decoded lists, or from a projection of the
                // out-lists only (directed) or of both (undirected).
                if projection > 0 {
                    seg.link_projection(projection == 2);
                }
                let nodes = 5;
                let mut d = Delta::default();
                let mut model = read(&d, &seg, nodes);
                let mut versions: Vec<(Delta, Lists)> = Vec::new();
                for (kind, src, rel, dst, w) in ops {
                    let w = w as f64;
                    match kind {
                        0 | 1 => {
                            d.put_edge(&seg, src, rel, dst, w);
                            let out = &mut model.get_mut(&src).unwrap().0;
                            match out.binary_search_by(|e| (e.0, e.1).cmp(&(dst, rel))) {
                                Ok(i) => out[i].2 = w,
                                Err(i) => out.insert(i, (dst, rel, w)),
                            }
                            let inn = &mut model.get_mut(&dst).unwrap().1;
                            match inn.binary_search_by(|e| (e.0, e.1).cmp(&(src, rel))) {
                                Ok(i) => inn[i].2 = w,
                                Err(i) => inn.insert(i, (src, rel, w)),
                            }
                        }
                        2 => {
                            let gone = d.del_edge(&seg, src, rel, dst);
                            let out = &mut model.get_mut(&src).unwrap().0;
                            let was = out.iter().position(|e| (e.0, e.1) == (dst, rel));
                            prop_assert_eq!(gone, was.map(|i| out.remove(i).2));
                            let inn = &mut model.get_mut(&dst).unwrap().1;
                            inn.retain(|e| (e.0, e.1) != (src, rel) || gone.is_none());
                        }
                        3 => {
                            d.seal();
                            // Sealed, nothing pending is left to copy, not even buckets.
                            prop_assert_eq!(d.pending.capacity(), 0);
                            prop_assert_eq!(d.clone().pending.capacity(), 0);
                            versions.push((d.clone(), model.clone()));
                        }
                        4 => {
                            d.seal();
                            d.compact_all();
                        }
                        5 => {
                            d.seal();
                            d.compact_sparse();
                        }
                        _ => versions.push((d.clone(), model.clone())),
                    }
                    prop_assert_eq!(&read(&d, &seg, nodes), &model);
                    let changed = model
                        .iter()
                        .filter(|(&u, lists)| {
                            d.get(u).is_some() || **lists != (seg.out_edges(u).collect(), seg.in_edges(u).collect())
                        })
                        .count();
                    prop_assert!(d.touched_nodes() >= changed);
                }
                d.seal();
                d.compact_sparse();
                prop_assert_eq!(&read(&d, &seg, nodes), &model);
                prop_assert!(d.garbage_bytes <= d.live_bytes);
                d.compact_all();
                prop_assert_eq!(&read(&d, &seg, nodes), &model);
                prop_assert_eq!(d.garbage_bytes, 0);
                for (version, lists) in &versions {
                    prop_assert_eq!(&read(version, &seg, nodes), lists);
                }
            }
        }
    }

    #[test]
    fn deleting_a_node_removes_both_directions_and_self_loops() {
        let seg = seg();
        let mut d = Delta::default();
        d.put_edge(&seg, 1, 0, 1, 1.0);
        let removed = d.del_node(&seg, 1);
        assert_eq!(removed.len(), 3);
        assert!(d.get(0).unwrap().out.is_empty());
        assert!(d.get(2).unwrap().inn.is_empty());
    }
}
