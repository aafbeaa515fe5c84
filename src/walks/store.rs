//! Walk storage: an arena of node sequences addressed by walk id, the per-node multiset of
//! visit records, and the per-node lists of walks started there.
//!
//! The *logical content* of an index is its parameters, its node count and, for every walk
//! slot id, either "free" or the walk's node sequence and end. Everything else (record lists,
//! start lists, the free-slot heap) is derived from it, which is why two indexes compare equal
//! when their logical content does.
//!
//! An index is a *base* (an immutable version 2 file, served in place from its map) plus an
//! *overlay* of what repairs changed since that file was written: replaced walks, and copies of
//! the start and visit lists they touched, sealed into one immutable block per commit, with
//! copy-on-write tables (chunks of 64 ids) pointing at the newest copies. A clone (one per
//! committed version) copies the block list and a table of chunk pointers; a later repair
//! copies only the chunks it changes. Readers of an older clone never see a newer repair and
//! never wait for one.

use crate::graph::NodeId;
use rayon::prelude::*;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasherDefault;

/// Maps keyed by internal node and walk ids (not user data), with a fast hasher.
type IdMap<V> = HashMap<u32, V, BuildHasherDefault<crate::hash::IdHasher>>;
use std::sync::Arc;

use super::base::WalkBase;
use super::format::Columns;
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
    /// `ceil(walks_per_node * d)` walks. Choose `r_max * omega` of the FORA configuration;
    /// the default 1.0 matches FORA's usual `r_max * omega ~ 1`.
    pub walks_per_node: f64,
    /// Seed of the build's random streams (repairs are seeded by the transaction's LSN).
    pub seed: u64,
}

impl Default for WalkIndexParams {
    fn default() -> WalkIndexParams {
        WalkIndexParams {
            alpha: 0.15,
            walks_per_node: 1.0,
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
        if !(self.walks_per_node > 0.0 && self.walks_per_node <= 1e6) {
            return Err(WalkIndexError::InvalidParams(format!(
                "walks_per_node {} is outside (0, 1e6]",
                self.walks_per_node
            )));
        }
        Ok(())
    }

    /// The number of walks a node of `degree` walkable links owns.
    pub fn walks_for_degree(&self, degree: usize) -> usize {
        (self.walks_per_node * degree as f64).ceil() as usize
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

/// Entries per copy-on-write chunk of an overlay table. Every commit clones each table once
/// for the version it publishes (a reference count per chunk) and drops the version before
/// it (another), while the entries it sets land in chunks scattered over the table (a copy
/// each). 512 entries (4 KiB chunks) balance the two: streaming add on WordNet (alpha 0.5)
/// and on the power-law graph (alpha 0.15) ran 6-11% faster than with chunks of 64; 256 was
/// as fast on WordNet and slower on the power-law graph (2026-11-30, `stream_add`).
const CHUNK: usize = 512;

/// Where an overlay entry lives: entry `index` of commit block `block` (its walks for the
/// slot table, its lists for the node tables). Plain data, so copying a table chunk is a
/// memcpy (no reference counts per entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    block: u32,
    index: u32,
}

impl Loc {
    const NONE: Loc = Loc {
        block: u32::MAX,
        index: u32::MAX,
    };
}

/// A sparse table of overlay locations keyed by node or walk id, copy-on-write in chunks of
/// [`CHUNK`]: cloning it copies one pointer per chunk; changing an entry copies that chunk
/// when a clone shares it.
#[derive(Clone, Debug, Default)]
pub(crate) struct CowTable {
    chunks: Vec<Option<Arc<[Loc; CHUNK]>>>,
    entries: usize,
}

impl CowTable {
    #[inline]
    fn get(&self, i: usize) -> Option<Loc> {
        let loc = self.chunks.get(i / CHUNK)?.as_ref()?[i % CHUNK];
        (loc != Loc::NONE).then_some(loc)
    }

    fn set(&mut self, i: usize, loc: Loc) {
        let c = i / CHUNK;
        if self.chunks.len() <= c {
            self.chunks.resize(c + 1, None);
        }
        let chunk = self.chunks[c].get_or_insert_with(|| Arc::new([Loc::NONE; CHUNK]));
        let slot = &mut Arc::make_mut(chunk)[i % CHUNK];
        if *slot == Loc::NONE {
            self.entries += 1;
        }
        *slot = loc;
    }

    /// Number of ids with an entry.
    fn len(&self) -> usize {
        self.entries
    }

    /// `(id, location)` of every entry, in id order.
    fn entries(&self) -> impl Iterator<Item = (usize, Loc)> + '_ {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().flat_map(move |locs| {
                locs.iter()
                    .enumerate()
                    .filter(|(_, &loc)| loc != Loc::NONE)
                    .map(move |(k, &loc)| (c * CHUNK + k, loc))
            })
        })
    }

    /// Bytes of the chunks (shared ones counted in full).
    fn bytes(&self) -> usize {
        8 * self.chunks.len()
            + self.chunks.iter().flatten().count() * std::mem::size_of::<[Loc; CHUNK]>()
    }
}

/// What one committed repair wrote: every walk and list it changed, whole. Immutable once
/// sealed; shared by every version that can see it.
#[derive(Debug, Default)]
struct Block {
    /// Every walk the block holds, end to end in one allocation (one allocation per walk
    /// made sealing, compacting and freeing a block cost a malloc and a free per walk):
    /// walk `i` is `walk_nodes[walks[i].0..][..walks[i].1]`, ended as `walks[i].2`.
    walks: Vec<(usize, u32, WalkEnd)>,
    walk_nodes: Vec<NodeId>,
    /// Every list the block holds (start lists and visit records), end to end in one
    /// allocation: list `i` is `ids[spans[i].0..][..spans[i].1]`.
    ids: Vec<u32>,
    spans: Vec<(usize, usize)>,
    /// Visit records kept as a patch of an older list (see [`Patch`]).
    patches: Vec<Patch>,
    /// The patches' net changes end to end: `(walk, records added minus removed)`, ascending
    /// by walk within a patch, never zero.
    deltas: Vec<(u32, i32)>,
}

/// A node's visit records as its full list at `full` (a list of an older block, or the base
/// file's list when `full` is [`Loc::NONE`]) with the net changes `deltas[start..][..len]`
/// since: a repair that changes a few records of a long list writes those, not the list.
/// A hub-heavy graph makes this the common case: a commit's rerouted walks pass through
/// nearly every node, a few records each. Once the walks whose count changed outnumber an
/// eighth of the list's records, the seal writes the list whole again.
#[derive(Clone, Copy, Debug)]
struct Patch {
    full: Loc,
    start: usize,
    len: u32,
    /// The patched list's length.
    records: u32,
}

/// Shortest full list the seal patches instead of rewriting.
const PATCH_MIN_RECORDS: usize = 64;

/// The tag of a patch's index in a [`Loc`] of the visit table.
const PATCH_TAG: u32 = 1 << 31;

/// Bytes a patch of `len` changes takes in a block (not counting its full list).
fn patch_bytes(len: usize) -> usize {
    32 + 8 * len
}

/// A node's visit records as stored: a whole list, or a patch of one.
enum Records<'a> {
    Whole(&'a [u32]),
    Patched {
        full: &'a [u32],
        full_loc: Loc,
        deltas: &'a [(u32, i32)],
        records: usize,
    },
}

impl<'a> Records<'a> {
    fn len(&self) -> usize {
        match self {
            Records::Whole(list) => list.len(),
            Records::Patched { records, .. } => *records,
        }
    }

    /// The records as one sorted list (borrowed when whole).
    fn into_list(self) -> std::borrow::Cow<'a, [u32]> {
        match self {
            Records::Whole(list) => std::borrow::Cow::Borrowed(list),
            Records::Patched {
                full,
                deltas,
                records,
                ..
            } => {
                let mut out = Vec::with_capacity(records);
                apply_deltas(full, deltas, &mut out);
                debug_assert_eq!(out.len(), records, "a patch's length");
                std::borrow::Cow::Owned(out)
            }
        }
    }
}

/// The first index at or after `from` whose entry of the sorted `list` is at least `walk`:
/// a galloping search from `from` (probes 1, 2, 4, ... entries ahead, then a binary search in
/// the last step), so a run of ascending lookups through one list costs about the log of each
/// gap instead of the log of the whole list (a hub's list holds hundreds of thousands of ids).
pub(super) fn lower_bound_from(list: &[u32], from: usize, walk: u32) -> usize {
    let rest = list.get(from..).unwrap_or(&[]);
    let mut step = 1;
    let mut lo = 0;
    while step <= rest.len() && rest[step - 1] < walk {
        lo = step;
        step *= 2;
    }
    let hi = step.min(rest.len());
    from + lo + rest[lo..hi].partition_point(|&w| w < walk)
}

/// How many times `walk` occurs in the sorted `list` from its index `at` on (`at` is where
/// its run starts, if it has one).
fn run_at(list: &[u32], at: usize, walk: u32) -> usize {
    list.get(at..)
        .map_or(0, |rest| rest.iter().take_while(|&&w| w == walk).count())
}

/// `full` (sorted) with the net changes `deltas` applied, appended to `out`; the stretches
/// between changed walks are copied whole. The seal checked every count stays >= 0.
fn apply_deltas(full: &[u32], deltas: &[(u32, i32)], out: &mut Vec<u32>) {
    let mut i = 0;
    for &(walk, delta) in deltas {
        let at = lower_bound_from(full, i, walk);
        out.extend_from_slice(&full[i..at]);
        i = at;
        let mut count = 0i64;
        while full.get(i) == Some(&walk) {
            count += 1;
            i += 1;
        }
        out.extend(std::iter::repeat_n(
            walk,
            (count + delta as i64).max(0) as usize,
        ));
    }
    out.extend_from_slice(&full[i..]);
}

/// The patch at a visit-table location tagged [`PATCH_TAG`], with its net changes.
fn sealed_patch(blocks: &[Arc<Block>], loc: Loc) -> Option<(Patch, &[(u32, i32)])> {
    let block = blocks.get(loc.block as usize)?;
    let patch = *block.patches.get((loc.index & !PATCH_TAG) as usize)?;
    let deltas = block
        .deltas
        .get(patch.start..patch.start + patch.len as usize)?;
    Some((patch, deltas))
}

/// A node's stored visit records: the visit table's entry, else the base file's list.
fn records_of<'a>(
    visits: &CowTable,
    blocks: &'a [Arc<Block>],
    base: &'a WalkBase,
    node: NodeId,
) -> Result<Records<'a>, WalkIndexError> {
    let Some(loc) = visits.get(node as usize) else {
        return Ok(Records::Whole(base.visits(node)?));
    };
    if loc.index & PATCH_TAG == 0 {
        return Ok(Records::Whole(sealed_list(blocks, loc).unwrap_or(&[])));
    }
    let Some((patch, deltas)) = sealed_patch(blocks, loc) else {
        return Ok(Records::Whole(&[]));
    };
    let full = if patch.full == Loc::NONE {
        base.visits(node)?
    } else {
        sealed_list(blocks, patch.full).unwrap_or(&[])
    };
    Ok(Records::Patched {
        full,
        full_loc: patch.full,
        deltas,
        records: patch.records as usize,
    })
}

/// Bytes a visit-table entry at `old` stops holding when a newer entry replaces it: its own
/// bytes, and its full list's unless the new entry is a patch of that same list.
fn superseded_records(blocks: &[Arc<Block>], old: Loc, new_full: Option<Loc>) -> usize {
    if old.index & PATCH_TAG == 0 {
        return match new_full == Some(old) {
            true => 0,
            false => entry_bytes(blocks, old, false),
        };
    }
    let Some((patch, _)) = sealed_patch(blocks, old) else {
        return 0;
    };
    let full = match patch.full == Loc::NONE || new_full == Some(patch.full) {
        true => 0,
        false => entry_bytes(blocks, patch.full, false),
    };
    patch_bytes(patch.len as usize) + full
}

/// Changed nodes with at least this many visit-record events in one repair are merged and
/// sorted on two threads.
const PARALLEL_RECORDS: usize = 1 << 12;

#[cfg(test)]
thread_local! {
    /// [`PARALLEL_RECORDS`] for seals on this thread, so a test can seal both ways.
    pub(crate) static TEST_PARALLEL_RECORDS: std::cell::Cell<usize> =
        const { std::cell::Cell::new(PARALLEL_RECORDS) };
}

/// See [`PARALLEL_RECORDS`].
fn parallel_records() -> usize {
    #[cfg(test)]
    return match super::may_split() {
        true => TEST_PARALLEL_RECORDS.with(|c| c.get()),
        false => usize::MAX,
    };
    #[cfg(not(test))]
    PARALLEL_RECORDS
}

/// The visit lists and patches of some changed nodes, merged apart from the block they go to
/// (see [`WalkIndex::seal`]): indexes are local to the part until it is appended.
#[derive(Default)]
struct VisitPart {
    ids: Vec<u32>,
    spans: Vec<(usize, usize)>,
    patches: Vec<Patch>,
    deltas: Vec<(u32, i32)>,
    /// Per node: its entry's index (a span, or a patch tagged [`PATCH_TAG`]), its bytes, and
    /// the full list a patch keeps using.
    merged: Vec<(NodeId, u32, usize, Option<Loc>)>,
}

impl VisitPart {
    /// Moves the part's lists and patches into `block` after what it holds, and its entries,
    /// indexes shifted to match, into `merged`.
    fn append_to(self, block: &mut Block, merged: &mut Vec<(NodeId, u32, usize, Option<Loc>)>) {
        let (ids, spans) = (block.ids.len(), block.spans.len() as u32);
        let (deltas, patches) = (block.deltas.len(), block.patches.len() as u32);
        block.ids.extend_from_slice(&self.ids);
        block
            .spans
            .extend(self.spans.iter().map(|&(start, len)| (start + ids, len)));
        block.deltas.extend_from_slice(&self.deltas);
        block.patches.extend(self.patches.iter().map(|p| Patch {
            start: p.start + deltas,
            ..*p
        }));
        merged.extend(self.merged.into_iter().map(|(node, index, bytes, full)| {
            let index = match index & PATCH_TAG {
                0 => index + spans,
                _ => ((index & !PATCH_TAG) + patches) | PATCH_TAG,
            };
            (node, index, bytes, full)
        }));
    }
}

/// Merges one node's record `events` of a repair into its stored records: a patch of its full
/// list while the net changes since that list (walks whose count changed) stay at most an
/// eighth of its records, else the merged list, written whole.
fn merge_node(
    visits: &CowTable,
    blocks: &[Arc<Block>],
    base: &WalkBase,
    node: NodeId,
    events: &[(u64, u32)],
    part: &mut VisitPart,
) -> Result<(), WalkIndexError> {
    let (full, full_loc, before) = match records_of(visits, blocks, base, node)? {
        Records::Whole(list) => {
            let loc = visits.get(node as usize).unwrap_or(Loc::NONE);
            (list, loc, &[][..])
        }
        Records::Patched {
            full,
            full_loc,
            deltas,
            ..
        } => (full, full_loc, deltas),
    };
    let start = part.deltas.len();
    let records = merge_deltas(full, before, events, node, &mut part.deltas)?;
    let changes = part.deltas.len() - start;
    if full.len() >= PATCH_MIN_RECORDS && 8 * changes <= full.len() {
        part.patches.push(Patch {
            full: full_loc,
            start,
            len: changes as u32,
            records: records as u32,
        });
        debug_assert!(part.patches.len() <= PATCH_TAG as usize, "patch index");
        let index = (part.patches.len() - 1) as u32 | PATCH_TAG;
        part.merged
            .push((node, index, patch_bytes(changes), Some(full_loc)));
    } else {
        let at = part.ids.len();
        apply_deltas(full, &part.deltas[start..], &mut part.ids);
        part.deltas.truncate(start);
        part.spans.push((at, part.ids.len() - at));
        let index = (part.spans.len() - 1) as u32;
        part.merged
            .push((node, index, list_bytes(part.ids.len() - at), None));
    }
    Ok(())
}

impl Block {
    fn list(&self, index: usize) -> Option<&[u32]> {
        let &(start, len) = self.spans.get(index)?;
        self.ids.get(start..start + len)
    }

    /// The walk at `index`: its nodes (empty: a freed slot) and how it ended.
    fn walk(&self, index: usize) -> Option<(&[NodeId], WalkEnd)> {
        let &(start, len, end) = self.walks.get(index)?;
        Some((self.walk_nodes.get(start..start + len as usize)?, end))
    }

    /// Appends a walk; its index.
    fn push_walk(&mut self, nodes: &[NodeId], end: WalkEnd) -> u32 {
        self.walks
            .push((self.walk_nodes.len(), nodes.len() as u32, end));
        self.walk_nodes.extend_from_slice(nodes);
        (self.walks.len() - 1) as u32
    }

    /// Appends a list; its index.
    fn push_list(&mut self, list: &[u32]) -> u32 {
        self.spans.push((self.ids.len(), list.len()));
        self.ids.extend_from_slice(list);
        (self.spans.len() - 1) as u32
    }
}

/// Bytes a walk of `len` nodes takes in a block (its span and its nodes).
fn walk_bytes(len: usize) -> usize {
    16 + 4 * len
}

/// Bytes a list of `len` ids takes in a block (its span and its ids).
fn list_bytes(len: usize) -> usize {
    16 + 4 * len
}

/// The sealed walk at `loc`.
fn sealed_walk(blocks: &[Arc<Block>], loc: Loc) -> Option<(&[NodeId], WalkEnd)> {
    blocks.get(loc.block as usize)?.walk(loc.index as usize)
}

/// The sealed list at `loc`.
fn sealed_list(blocks: &[Arc<Block>], loc: Loc) -> Option<&[u32]> {
    blocks.get(loc.block as usize)?.list(loc.index as usize)
}

/// Bytes of the sealed entry at `loc` (a walk when `walk`, else a list).
fn entry_bytes(blocks: &[Arc<Block>], loc: Loc, walk: bool) -> usize {
    if walk {
        sealed_walk(blocks, loc).map_or(0, |(nodes, _)| walk_bytes(nodes.len()))
    } else {
        sealed_list(blocks, loc).map_or(0, |list| list_bytes(list.len()))
    }
}

/// The visit records a repair added and removed, in the order it made them: one flat list of
/// events for the whole repair (no allocation per node), each a `node << 32 | walk` key and
/// its sequence number times two plus one for an addition. Sorted, the events of one record
/// come together in the order they were made, and each node's list is merged once when the
/// repair is sealed.
#[derive(Clone, Debug, Default)]
struct RecordChanges {
    events: Vec<(u64, u32)>,
}

/// The key of one visit record in [`RecordChanges`].
#[inline]
fn record_key(node: NodeId, walk: u32) -> u64 {
    (node as u64) << 32 | walk as u64
}

impl RecordChanges {
    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn clear(&mut self) {
        self.events.clear();
    }

    fn push(&mut self, node: NodeId, walk: u32, add: bool) {
        let seq = self.events.len() as u32;
        self.events
            .push((record_key(node, walk), seq << 1 | add as u32));
    }

    /// Bytes of the pending events.
    fn bytes(&self) -> usize {
        16 * self.events.len()
    }

    /// Sorts the events; the changed nodes in ascending order, each with the range of its
    /// events (by walk, then in the order they were made).
    fn node_runs(&mut self) -> Vec<(NodeId, std::ops::Range<usize>)> {
        if self.events.len() >= parallel_records() {
            self.events.par_sort_unstable();
        } else {
            self.events.sort_unstable();
        }
        let events = &self.events[..];
        let mut runs = Vec::new();
        let mut i = 0;
        while let Some(&(key, _)) = events.get(i) {
            let node = key >> 32;
            let end = i + events[i..].partition_point(|&(k, _)| k >> 32 == node);
            runs.push((node as NodeId, i..end));
            i = end;
        }
        runs
    }

    /// [`RecordChanges::node_runs`], calling `each(node, events)` per changed node.
    #[cfg(test)]
    fn per_node(
        &mut self,
        mut each: impl FnMut(NodeId, &[(u64, u32)]) -> Result<(), WalkIndexError>,
    ) -> Result<(), WalkIndexError> {
        for (node, range) in self.node_runs() {
            each(node, &self.events[range])?;
        }
        Ok(())
    }
}

/// The net changes of one node's records since its full list `full`: the earlier ones
/// (`before`, as [`Patch`] keeps them) and this repair's `events` (sorted by walk, each walk's
/// in the order they were made), appended to `out` ascending by walk without zeros. Returns
/// the records' count after. The events of each walk are replayed in the order they were
/// made: a removal that finds no record (counting the full list and every change before it;
/// whatever this repair adds later) fails.
fn merge_deltas(
    full: &[u32],
    before: &[(u32, i32)],
    events: &[(u64, u32)],
    node: NodeId,
    out: &mut Vec<(u32, i32)>,
) -> Result<usize, WalkIndexError> {
    let mut records = full.len() as i64 + before.iter().map(|d| d.1 as i64).sum::<i64>();
    // `f`: where the next walk's run in `full` can start (the walks come in ascending order).
    let (mut b, mut e, mut f) = (0, 0, 0);
    while let Some(&(key, _)) = events.get(e) {
        let walk = key as u32;
        let earlier = b + before[b..].partition_point(|d| d.0 < walk);
        out.extend_from_slice(&before[b..earlier]);
        b = earlier;
        f = lower_bound_from(full, f, walk);
        let in_full = run_at(full, f, walk) as i64;
        let mut count = in_full;
        if let Some(&(w, delta)) = before.get(b) {
            if w == walk {
                count += delta as i64;
                b += 1;
            }
        }
        let was = count;
        while let Some(&(_, seq)) = events.get(e).filter(|(k, _)| *k as u32 == walk) {
            if seq & 1 == 1 {
                count += 1;
            } else if count == 0 {
                return Err(missing_record(node, walk));
            } else {
                count -= 1;
            }
            e += 1;
        }
        records += count - was;
        if count != in_full {
            out.push((walk, (count - in_full) as i32));
        }
    }
    out.extend_from_slice(&before[b..]);
    Ok(records as usize)
}

/// The records are derived from the walks: a missing one means the index is no longer what its
/// walks say.
fn missing_record(node: NodeId, walk: u32) -> WalkIndexError {
    WalkIndexError::Inconsistent {
        walk: Some(walk),
        reason: format!("the visit record of the walk at node {node} is missing"),
    }
}

/// A walk a repair replaced, while its commit is in progress (empty `nodes`: freed).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OwnedWalk {
    pub(crate) nodes: Vec<NodeId>,
    pub(crate) end: WalkEnd,
}

/// The walk index: a base file plus an overlay. See the module documentation of
/// [`crate::walks`] and of this file.
///
/// The overlay has two parts. *Sealed*: one immutable block per committed transaction since
/// the base was written (the walks and lists it changed, each whole), and tables mapping walk
/// and node ids to their newest copy; published versions share
/// blocks and table chunks. *Pending*: the writer's changes in the transaction being repaired,
/// in hash maps, sealed into a new block when the repair ends (`WalkIndex::seal`). Reads
/// look at pending, then sealed, then the base.
#[derive(Debug)]
pub struct WalkIndex {
    pub(crate) params: WalkIndexParams,
    pub(crate) node_count: usize,
    pub(crate) slot_count: usize,
    pub(crate) base: Arc<WalkBase>,
    blocks: Vec<Arc<Block>>,
    /// Per walk slot changed since the base was written: its newest copy.
    slots: CowTable,
    /// Per node whose start list changed: the newest list (walk ids, ascending).
    starts: CowTable,
    /// Per node whose visit records changed: the newest sorted multiset of walk ids, one entry
    /// per *recorded visit* (a position where the walk moved on, or its last position if it
    /// died there).
    visits: CowTable,
    pending_walks: IdMap<OwnedWalk>,
    pending_starts: IdMap<Vec<u32>>,
    /// Visit records added and removed in this repair, in order, merged into each node's list
    /// once when the repair is sealed (a hub's list is then copied once per repair instead
    /// of shifted once per record).
    pending_visits: RecordChanges,
    /// Free slot ids; the smallest is reused first so id allocation depends on content only.
    pub(crate) free: BinaryHeap<Reverse<u32>>,
    /// Heap bytes of the sealed blocks, and how many of them are superseded copies.
    block_bytes: usize,
    garbage_bytes: usize,
    #[cfg(test)]
    pub(crate) mode: super::RepairMode,
}

impl Clone for WalkIndex {
    /// A clone shares the base, the sealed blocks and the table chunks (a version published
    /// after a commit costs one pointer per 64 ids); pending maps are copied only when not
    /// empty (their capacity is not).
    fn clone(&self) -> WalkIndex {
        let copy = |m: &IdMap<Vec<u32>>| {
            if m.is_empty() {
                IdMap::default()
            } else {
                m.clone()
            }
        };
        WalkIndex {
            params: self.params,
            node_count: self.node_count,
            slot_count: self.slot_count,
            base: Arc::clone(&self.base),
            blocks: self.blocks.clone(),
            slots: self.slots.clone(),
            starts: self.starts.clone(),
            visits: self.visits.clone(),
            pending_walks: if self.pending_walks.is_empty() {
                IdMap::default()
            } else {
                self.pending_walks.clone()
            },
            pending_starts: copy(&self.pending_starts),
            pending_visits: if self.pending_visits.is_empty() {
                RecordChanges::default()
            } else {
                self.pending_visits.clone()
            },
            free: self.free.clone(),
            block_bytes: self.block_bytes,
            garbage_bytes: self.garbage_bytes,
            #[cfg(test)]
            mode: self.mode,
        }
    }
}

impl PartialEq for WalkIndex {
    /// Logical equality: same parameters, node count and walk slots (sequence and end). An
    /// unreadable walk compares unequal.
    fn eq(&self, other: &WalkIndex) -> bool {
        self.params == other.params
            && self.node_count == other.node_count
            && self.slot_count == other.slot_count
            && (0..self.slot_count as u32).all(|id| match (self.walk(id), other.walk(id)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            })
    }
}

impl WalkIndex {
    /// Serves a base as an index with an empty overlay.
    pub(crate) fn from_base(base: WalkBase) -> Result<WalkIndex, WalkIndexError> {
        let free = base.free_ids()?.iter().map(|&id| Reverse(id)).collect();
        Ok(WalkIndex {
            params: base.params(),
            node_count: base.node_count(),
            slot_count: base.slot_count(),
            base: Arc::new(base),
            blocks: Vec::new(),
            slots: CowTable::default(),
            starts: CowTable::default(),
            visits: CowTable::default(),
            pending_walks: IdMap::default(),
            pending_starts: IdMap::default(),
            pending_visits: RecordChanges::default(),
            free,
            block_bytes: 0,
            garbage_bytes: 0,
            #[cfg(test)]
            mode: super::RepairMode::Correct,
        })
    }

    /// The index with its overlay folded into a new in-memory base: the same logical content,
    /// served without overlay lookups.
    pub fn folded(&self) -> Result<WalkIndex, WalkIndexError> {
        let columns = self.columns()?;
        let mut index = WalkIndex::from_base(WalkBase::from_columns(
            &self.params,
            self.node_count,
            columns,
        )?)?;
        #[cfg(test)]
        {
            index.mode = self.mode;
        }
        index.node_count = self.node_count;
        Ok(index)
    }

    /// Every column of the logical content and its derived tables.
    pub(crate) fn columns(&self) -> Result<Columns, WalkIndexError> {
        Columns::from_walks(self.node_count, self.slot_count, |id| {
            Ok(self.walk(id)?.map(|w| (w.nodes, w.end)))
        })
    }

    /// The base file's bytes (the whole encoding while [`WalkIndex::is_pristine`]).
    pub(crate) fn base_file_bytes(&self) -> &[u8] {
        self.base.bytes()
    }

    /// True when nothing changed since the base was written.
    pub(crate) fn is_pristine(&self) -> bool {
        self.slots.len() == 0
            && self.starts.len() == 0
            && self.visits.len() == 0
            && self.pending_walks.is_empty()
            && self.pending_starts.is_empty()
            && self.pending_visits.is_empty()
            && self.node_count == self.base.node_count()
            && self.slot_count == self.base.slot_count()
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
        self.slot_count
    }

    /// Bytes of the base file (mapped or in memory).
    pub fn base_bytes(&self) -> usize {
        self.base.bytes().len()
    }

    /// Walks replaced since the base file was written (the overlay's walk entries).
    pub fn overlay_walks(&self) -> usize {
        self.slots.len() + self.pending_walks.len()
    }

    /// Nodes whose visit records the overlay keeps as a patch of an older list.
    #[cfg(test)]
    pub(crate) fn overlay_patches(&self) -> usize {
        self.visits
            .entries()
            .filter(|(_, loc)| loc.index & PATCH_TAG != 0)
            .count()
    }

    /// Heap bytes of the overlay: the sealed blocks (every copy written since the base file,
    /// superseded ones included: they live until the next checkpoint folds the overlay), the
    /// tables and the pending changes.
    pub fn overlay_bytes(&self) -> usize {
        let pending: usize = self
            .pending_walks
            .values()
            .map(|w| 48 + 4 * w.nodes.len())
            .chain(self.pending_starts.values().map(|l| 48 + 4 * l.len()))
            .sum::<usize>()
            + self.pending_visits.bytes();
        self.block_bytes
            + 8 * self.blocks.len()
            + self.slots.bytes()
            + self.starts.bytes()
            + self.visits.bytes()
            + pending
    }

    /// [`WalkIndex::overlay_bytes`] without the superseded copies: what the overlay would hold
    /// after a compaction. Superseded copies never outweigh the live entries by more than
    /// 4 MiB (compaction), so the overlay's heap stays below twice this plus 4 MiB.
    pub fn overlay_live_bytes(&self) -> usize {
        self.overlay_bytes() - self.garbage_bytes.min(self.block_bytes)
    }

    #[inline]
    fn sealed_slice(&self, loc: Loc) -> &[u32] {
        sealed_list(&self.blocks, loc).unwrap_or(&[])
    }

    /// The walk in slot `id`, or `None` for a free or unknown slot. A damaged base file gives
    /// [`WalkIndexError::Corrupt`].
    #[inline]
    pub fn walk(&self, id: u32) -> Result<Option<WalkRef<'_>>, WalkIndexError> {
        if id as usize >= self.slot_count {
            return Ok(None);
        }
        if !self.pending_walks.is_empty() {
            if let Some(w) = self.pending_walks.get(&id) {
                return Ok((!w.nodes.is_empty()).then_some(WalkRef {
                    id,
                    nodes: &w.nodes,
                    end: w.end,
                }));
            }
        }
        if let Some(loc) = self.slots.get(id as usize) {
            let walk = sealed_walk(&self.blocks, loc);
            return Ok(walk
                .filter(|(nodes, _)| !nodes.is_empty())
                .map(|(nodes, end)| WalkRef { id, nodes, end }));
        }
        Ok(self
            .base
            .slot(id)?
            .map(|(nodes, end)| WalkRef { id, nodes, end }))
    }

    /// Ids of the walks started at `node`, ascending (empty for an unknown node).
    #[inline]
    pub fn walk_ids_from(&self, node: NodeId) -> Result<&[u32], WalkIndexError> {
        self.list_at(&self.pending_starts, &self.starts, node, WalkBase::starts)
    }

    /// A node's newest list: pending in this repair, else sealed, else the base file's.
    #[inline]
    fn list_at<'s>(
        &'s self,
        pending: &'s IdMap<Vec<u32>>,
        sealed: &CowTable,
        node: NodeId,
        base: fn(&'s WalkBase, NodeId) -> Result<&'s [u32], WalkIndexError>,
    ) -> Result<&'s [u32], WalkIndexError> {
        if !pending.is_empty() {
            if let Some(list) = pending.get(&node) {
                return Ok(list);
            }
        }
        match sealed.get(node as usize) {
            Some(loc) => Ok(self.sealed_slice(loc)),
            None => base(&self.base, node),
        }
    }

    /// The walks started at `node`, in ascending id order (empty for an unknown node).
    pub fn walks_from(&self, node: NodeId) -> Result<Vec<WalkRef<'_>>, WalkIndexError> {
        let mut out = Vec::new();
        for &id in self.walk_ids_from(node)? {
            out.extend(self.walk(id)?);
        }
        Ok(out)
    }

    /// Number of walks started at `node`.
    pub fn walk_count_from(&self, node: NodeId) -> Result<usize, WalkIndexError> {
        Ok(self.walk_ids_from(node)?.len())
    }

    /// The recorded visits at `node` as walk ids, ascending, one entry per visit (a multiset).
    #[inline]
    pub fn visit_records_at(
        &self,
        node: NodeId,
    ) -> Result<std::borrow::Cow<'_, [u32]>, WalkIndexError> {
        if !self.pending_visits.is_empty() {
            // A repair reads visit lists only before it changes any (its decisions are taken
            // on the index as it was); the changed lists exist once the repair is sealed.
            return Err(WalkIndexError::Inconsistent {
                walk: None,
                reason: format!("the visit records of node {node} were read during a repair"),
            });
        }
        Ok(records_of(&self.visits, &self.blocks, &self.base, node)?.into_list())
    }

    /// Number of recorded visits at `node` (moves out of it, plus walks that died there).
    pub fn recorded_visits_at(&self, node: NodeId) -> Result<usize, WalkIndexError> {
        if !self.pending_visits.is_empty() {
            // As `visit_records_at`: the changed lists exist once the repair is sealed.
            return Err(WalkIndexError::Inconsistent {
                walk: None,
                reason: format!("the visit records of node {node} were read during a repair"),
            });
        }
        Ok(records_of(&self.visits, &self.blocks, &self.base, node)?.len())
    }

    /// Grows the index to `node_count` nodes (nodes are never removed); new nodes have no
    /// walks and no records until a repair gives them some.
    pub(crate) fn grow_nodes(&mut self, node_count: usize) {
        self.node_count = self.node_count.max(node_count);
    }

    /// Positions of a walk that carry a visit record.
    #[inline]
    pub(crate) fn recorded_len(len: usize, end: WalkEnd) -> usize {
        match end {
            WalkEnd::Died => len,
            WalkEnd::Stopped => len - 1,
        }
    }

    /// The pending copy of a node's list (`visits` or `starts`), made from the sealed or base
    /// list on first change in this repair. One hash lookup when it exists.
    fn list_mut<'s>(
        pending: &'s mut IdMap<Vec<u32>>,
        sealed: &CowTable,
        blocks: &[Arc<Block>],
        base: impl FnOnce() -> Result<&'s [u32], WalkIndexError>,
        node: NodeId,
    ) -> Result<&'s mut Vec<u32>, WalkIndexError> {
        use std::collections::hash_map::Entry;
        match pending.entry(node) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let list = match sealed.get(node as usize) {
                    Some(loc) => sealed_list(blocks, loc)
                        .map(<[u32]>::to_vec)
                        .unwrap_or_default(),
                    None => base()?.to_vec(),
                };
                Ok(e.insert(list))
            }
        }
    }

    fn starts_mut(&mut self, node: NodeId) -> Result<&mut Vec<u32>, WalkIndexError> {
        let base = &self.base;
        WalkIndex::list_mut(
            &mut self.pending_starts,
            &self.starts,
            &self.blocks,
            || base.starts(node),
            node,
        )
    }

    pub(crate) fn add_record(&mut self, node: NodeId, walk: u32) {
        self.pending_visits.push(node, walk, true);
    }

    /// Removes one visit record of `walk` at `node`; checked when the repair is sealed (a
    /// record that is not there fails the seal).
    pub(crate) fn remove_record(&mut self, node: NodeId, walk: u32) {
        self.pending_visits.push(node, walk, false);
    }

    /// The nodes and end of walk `id` as owned values (a repair reads a walk and then changes
    /// the tables it borrows from).
    fn walk_owned(&self, id: u32) -> Result<Option<(Vec<NodeId>, WalkEnd)>, WalkIndexError> {
        Ok(self.walk(id)?.map(|w| (w.nodes.to_vec(), w.end)))
    }

    #[cfg(test)]
    pub(crate) fn set_walk_raw(&mut self, id: u32, nodes: Vec<NodeId>, end: WalkEnd) {
        self.set_walk(id, nodes, end);
    }

    fn set_walk(&mut self, id: u32, nodes: Vec<NodeId>, end: WalkEnd) {
        self.pending_walks.insert(id, OwnedWalk { nodes, end });
    }

    /// Ends a repair: merges the visit-record changes into the nodes' lists, writes the
    /// pending walks and lists into one new immutable block and points the tables at it.
    /// Clones taken afterwards (published versions) share the block and the table chunks; the
    /// next repair copies only the chunks it changes. A record removed while it was not there
    /// (replayed in the order the repair made its changes) means the index is no longer what
    /// its walks say: the seal fails with
    /// [`WalkIndexError::Inconsistent`] (the commit fails and poisons the writer) rather than
    /// go on from a wrong index.
    pub(crate) fn seal(&mut self) -> Result<(), WalkIndexError> {
        if self.pending_walks.is_empty()
            && self.pending_starts.is_empty()
            && self.pending_visits.is_empty()
        {
            return Ok(());
        }
        let block = self.blocks.len() as u32;
        let mut sealed = Block {
            walks: Vec::with_capacity(self.pending_walks.len()),
            walk_nodes: Vec::with_capacity(
                self.pending_walks.values().map(|w| w.nodes.len()).sum(),
            ),
            ids: Vec::new(),
            spans: Vec::new(),
            patches: Vec::new(),
            deltas: Vec::new(),
        };
        // Each changed node's records (`merge_node`): a patch of its full list while the net
        // changes since that list stay at most an eighth of its records, else the merged list.
        let runs = self.pending_visits.node_runs();
        let events = &self.pending_visits.events[..];
        let (visits, blocks, base) = (&self.visits, &self.blocks, &self.base);
        let merge = |runs: &[(NodeId, std::ops::Range<usize>)]| {
            let mut part = VisitPart::default();
            for (node, range) in runs {
                let events = events.get(range.clone()).unwrap_or(&[]);
                merge_node(visits, blocks, base, *node, events, &mut part)?;
            }
            Ok::<_, WalkIndexError>(part)
        };
        // Nodes merge independently: with many records, in two halves on two threads, the
        // second half's entries appended after the first's.
        let parts = match events.len() >= parallel_records() && runs.len() >= 2 {
            true => {
                let mut half = 0;
                let mut seen = 0;
                while half < runs.len() && 2 * seen < events.len() {
                    seen += runs[half].1.len();
                    half += 1;
                }
                let (first, second) = runs.split_at(half);
                let (a, b) = rayon::join(|| merge(first), || merge(second));
                vec![a?, b?]
            }
            false => vec![merge(&runs)?],
        };
        let mut merged_visits: Vec<(NodeId, u32, usize, Option<Loc>)> = Vec::new();
        for part in parts {
            part.append_to(&mut sealed, &mut merged_visits);
        }
        self.pending_visits.clear();
        let (mut bytes, mut superseded) = (0, 0);
        for (id, w) in self.pending_walks.drain() {
            if let Some(old) = self.slots.get(id as usize) {
                superseded += entry_bytes(&self.blocks, old, true);
            }
            bytes += walk_bytes(w.nodes.len());
            let index = sealed.push_walk(&w.nodes, w.end);
            self.slots.set(id as usize, Loc { block, index });
        }
        let starts: Vec<(NodeId, u32)> = self
            .pending_starts
            .drain()
            .map(|(node, list)| (node, sealed.push_list(&list)))
            .collect();
        sealed.ids.shrink_to_fit();
        for (node, index) in starts {
            if let Some(old) = self.starts.get(node as usize) {
                superseded += entry_bytes(&self.blocks, old, false);
            }
            bytes += list_bytes(sealed.spans[index as usize].1);
            self.starts.set(node as usize, Loc { block, index });
        }
        for (node, index, entry, full) in merged_visits {
            if let Some(old) = self.visits.get(node as usize) {
                superseded += superseded_records(&self.blocks, old, full);
            }
            bytes += entry;
            self.visits.set(node as usize, Loc { block, index });
        }
        self.block_bytes += bytes;
        self.garbage_bytes += superseded;
        self.blocks.push(Arc::new(sealed));
        // Superseded copies stay in their blocks (older versions may read them). Once they
        // outweigh the live entries, copy the live ones into two new blocks (walks, lists):
        // O(overlay), and the old blocks go when the last version holding them does.
        if self.garbage_bytes > (self.block_bytes - self.garbage_bytes).max(4 << 20) {
            self.compact();
        }
        Ok(())
    }

    /// Rewrites the overlay's live entries into two blocks, the walks into block 0 and the
    /// lists into block 1, each on a thread of its own (see [`WalkIndex::seal`]).
    pub(crate) fn compact(&mut self) {
        let blocks = std::mem::take(&mut self.blocks);
        let at = |block: u32, index: usize| Loc {
            block,
            index: index as u32,
        };
        let walks = || {
            let (mut fresh, mut slots, mut bytes) = (Block::default(), CowTable::default(), 0);
            for (id, loc) in self.slots.entries() {
                if let Some((nodes, end)) = sealed_walk(&blocks, loc) {
                    bytes += walk_bytes(nodes.len());
                    slots.set(id, at(0, fresh.push_walk(nodes, end) as usize));
                }
            }
            (fresh, slots, bytes)
        };
        let lists = || {
            let (mut fresh, mut bytes) = (Block::default(), 0);
            let mut starts = CowTable::default();
            for (node, loc) in self.starts.entries() {
                if let Some(list) = sealed_list(&blocks, loc) {
                    bytes += list_bytes(list.len());
                    starts.set(node, at(1, fresh.push_list(list) as usize));
                }
            }
            // Visit records: a patch keeps being one, its full list copied beside it (a base
            // file list stays where it is: a patch of one is copied without reading the base).
            let mut visits = CowTable::default();
            for (node, loc) in self.visits.entries() {
                if loc.index & PATCH_TAG == 0 {
                    if let Some(list) = sealed_list(&blocks, loc) {
                        bytes += list_bytes(list.len());
                        visits.set(node, at(1, fresh.push_list(list) as usize));
                    }
                    continue;
                }
                let Some((patch, deltas)) = sealed_patch(&blocks, loc) else {
                    continue;
                };
                let full = match patch.full == Loc::NONE {
                    true => Loc::NONE,
                    false => {
                        let list = sealed_list(&blocks, patch.full).unwrap_or(&[]);
                        bytes += list_bytes(list.len());
                        at(1, fresh.push_list(list) as usize)
                    }
                };
                bytes += patch_bytes(deltas.len());
                fresh.patches.push(Patch {
                    full,
                    start: fresh.deltas.len(),
                    len: patch.len,
                    records: patch.records,
                });
                fresh.deltas.extend_from_slice(deltas);
                let index = (fresh.patches.len() - 1) as u32 | PATCH_TAG;
                visits.set(node, Loc { block: 1, index });
            }
            (fresh, starts, visits, bytes)
        };
        let ((walk_block, slots, walks_size), (list_block, starts, visits, lists_size)) =
            rayon::join(walks, lists);
        self.slots = slots;
        self.starts = starts;
        self.visits = visits;
        self.blocks = vec![Arc::new(walk_block), Arc::new(list_block)];
        self.block_bytes = walks_size + lists_size;
        self.garbage_bytes = 0;
    }

    /// Takes the smallest free slot (or a new one) for a walk [`WalkIndex::insert_walk_as`]
    /// then stores. Until it does, the slot is in neither the free list nor any start list.
    pub(crate) fn reserve_walk_id(&mut self) -> u32 {
        match self.free.pop() {
            Some(Reverse(id)) => id,
            None => {
                self.slot_count += 1;
                (self.slot_count - 1) as u32
            }
        }
    }

    /// Stores a new walk (records included) in slot `id`, taken by
    /// [`WalkIndex::reserve_walk_id`].
    pub(crate) fn insert_walk_as(
        &mut self,
        id: u32,
        nodes: Vec<NodeId>,
        end: WalkEnd,
    ) -> Result<(), WalkIndexError> {
        let start = nodes[0];
        for &node in &nodes[..Self::recorded_len(nodes.len(), end)] {
            self.add_record(node, id);
        }
        self.set_walk(id, nodes, end);
        let list = self.starts_mut(start)?;
        let at = list.partition_point(|&w| w < id);
        list.insert(at, id);
        Ok(())
    }

    /// Frees a walk's slot and removes its records and start entry.
    pub(crate) fn remove_walk(&mut self, id: u32) -> Result<(), WalkIndexError> {
        let Some((nodes, end)) = self.walk_owned(id)? else {
            return Ok(());
        };
        for &node in &nodes[..Self::recorded_len(nodes.len(), end)] {
            self.remove_record(node, id);
        }
        let list = self.starts_mut(nodes[0])?;
        if let Ok(at) = list.binary_search(&id) {
            list.remove(at);
        }
        self.set_walk(id, Vec::new(), WalkEnd::Stopped);
        self.free.push(Reverse(id));
        Ok(())
    }

    /// Replaces the part of walk `id` after position `keep - 1` by `tail` and sets its end,
    /// keeping visit records exact. Position `keep - 1` stays recorded either way: it moved on
    /// before and moves on (or dies) now.
    pub(crate) fn replace_tail(
        &mut self,
        id: u32,
        keep: usize,
        tail: &[NodeId],
        end: WalkEnd,
    ) -> Result<(), WalkIndexError> {
        let Some((mut nodes, old_end)) = self.walk_owned(id)? else {
            return Ok(());
        };
        let old_recorded = Self::recorded_len(nodes.len(), old_end);
        // Records of positions >= keep go; position keep - 1 may have been the end of a walk
        // that died there and is now resumed (then it was recorded and stays recorded).
        for &node in nodes.get(keep..old_recorded).unwrap_or(&[]) {
            self.remove_record(node, id);
        }
        nodes.truncate(keep);
        nodes.extend_from_slice(tail);
        // Position keep - 1 was recorded iff it was below old_recorded; it must be recorded
        // now (the walk moves on from it or dies there), so add it if it was not.
        if old_recorded < keep {
            self.add_record(nodes[keep - 1], id);
        }
        let recorded = Self::recorded_len(nodes.len(), end);
        for &node in nodes.get(keep..recorded).unwrap_or(&[]) {
            self.add_record(node, id);
        }
        self.set_walk(id, nodes, end);
        Ok(())
    }

    /// Stored walks (slots in use), without reading any.
    pub fn walk_count(&self) -> usize {
        self.slot_count - self.free.len()
    }

    /// Bytes of heap memory the index holds: the overlay, plus the base when it is encoded in
    /// memory rather than mapped from its file.
    pub fn memory_bytes(&self) -> usize {
        let base = if self.base.in_memory() {
            self.base.bytes().len()
        } else {
            0
        };
        base + self.overlay_bytes() + 4 * self.free.len()
    }

    /// Bytes of the base file mapped (0 when the base is in memory).
    pub fn mapped_bytes(&self) -> usize {
        if self.base.in_memory() {
            0
        } else {
            self.base.bytes().len()
        }
    }

    /// Format version of the file the base was read from (1: migrated in memory on open).
    pub fn base_source_version(&self) -> u32 {
        self.base.source_version()
    }

    /// Checksummed blocks of the base read and checked so far, and in all.
    pub fn base_blocks_checked(&self) -> (usize, usize) {
        self.base.blocks_checked()
    }

    /// Checks every block of the base file (checksums and id ranges).
    pub fn check_base(&self) -> Result<(), WalkIndexError> {
        self.base.check_all()
    }
}

impl WalkIndex {
    /// Writes the index as a version 2 file (format-spec/walk-index.md): the base's bytes
    /// when nothing changed since it was written, otherwise the overlay folded into a new
    /// encoding. `decode` of the bytes compares equal to `self` and repairs identically.
    pub fn encode_to<W: std::io::Write>(&self, w: &mut W) -> Result<(), WalkIndexError> {
        if self.is_pristine() {
            w.write_all(self.base.bytes())?;
        } else {
            w.write_all(self.folded()?.base.bytes())?;
        }
        Ok(())
    }

    /// Size in bytes of the encoded index (computed from the logical content when the overlay
    /// is not empty: O(index)).
    pub fn encoded_len(&self) -> Result<usize, WalkIndexError> {
        if self.is_pristine() {
            return Ok(self.base.bytes().len());
        }
        Ok(self.columns()?.encoded_len())
    }

    /// Reads and checks the header and section directory of an encoded index of either
    /// version, without reading the sections.
    pub fn read_header(bytes: &[u8]) -> Result<super::FileHeader, WalkIndexError> {
        super::format::read_header(bytes)
    }

    /// Reads an index written by [`WalkIndex::encode_to`] (or a version 1 file) and checks
    /// every checksum, id range and derived table: damaged bytes give
    /// [`WalkIndexError::Corrupt`] naming the byte offset, never a panic. O(index) time and
    /// memory: the database serves files with [`WalkIndex::open_bytes`] instead.
    pub fn decode(bytes: &[u8]) -> Result<WalkIndex, WalkIndexError> {
        WalkIndex::decode_with_node_limit(bytes, u32::MAX as u64 + 1)
    }

    /// [`WalkIndex::decode`] for a file whose index can cover at most `max_nodes` node ids
    /// (the graph it belongs to).
    pub fn decode_with_node_limit(
        bytes: &[u8],
        max_nodes: u64,
    ) -> Result<WalkIndex, WalkIndexError> {
        let index = WalkIndex::open_bytes(
            crate::backend::FileBytes::from_vec(bytes.to_vec()),
            max_nodes,
        )?;
        index.base.check_all()?;
        // The derived tables must be exactly what the walks give (a file whose checksums
        // were recomputed over inconsistent tables is still refused).
        if index.folded()?.base.bytes() != index.base.bytes() {
            return Err(super::format::corrupt(
                "walk index",
                super::format::V2_DATA_START,
                "start lists, visit records or free slots do not match the walks",
            ));
        }
        Ok(index)
    }

    /// Serves an encoded index in place (a file's map): only the header and the block
    /// checksums are read now; every other block is checked when first read. A version 1
    /// file is decoded and migrated into memory.
    pub fn open_bytes(
        bytes: crate::backend::FileBytes,
        max_nodes: u64,
    ) -> Result<WalkIndex, WalkIndexError> {
        WalkIndex::from_base(WalkBase::open(bytes, max_nodes)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::{
        apply_deltas, lower_bound_from, merge_deltas, run_at, CowTable, Loc, RecordChanges, CHUNK,
    };
    use crate::graph::NodeId;
    use crate::rng::Rng;
    use crate::walks::WalkIndexError;

    /// The galloping search finds what a binary search over the rest of the list finds, from
    /// any start, for walks before, inside, between and after the list's runs.
    #[test]
    fn galloping_lower_bound_is_the_binary_search() {
        let mut rng = Rng::new(5);
        for len in [0usize, 1, 2, 3, 7, 64, 1000] {
            let mut list: Vec<u32> = (0..len).map(|_| rng.below(300) as u32).collect();
            list.sort_unstable();
            for from in [0, 1, len / 3, len / 2, len.saturating_sub(1), len, len + 2] {
                for walk in 0..305u32 {
                    let rest = list.get(from..).unwrap_or(&[]);
                    let want = from.min(len) + rest.partition_point(|&w| w < walk);
                    let want = if from > len { from } else { want };
                    assert_eq!(
                        lower_bound_from(&list, from, walk),
                        want,
                        "{len} {from} {walk}"
                    );
                    let at = lower_bound_from(&list, from, walk);
                    let count = rest.iter().filter(|&&w| w == walk).count();
                    assert_eq!(run_at(&list, at, walk), count, "{len} {from} {walk}");
                }
            }
        }
    }

    /// Net changes per walk, as [`super::Patch`] keeps them.
    type Deltas = Vec<(u32, i32)>;

    /// `full` with the changes `before` and `events` applied through [`merge_deltas`] and
    /// [`apply_deltas`], checking the net changes' shape (ascending, no zeros) and count.
    fn merged(
        full: &[u32],
        before: &[(u32, i32)],
        events: &[(u64, u32)],
        node: NodeId,
    ) -> Result<(Vec<u32>, Deltas), WalkIndexError> {
        let mut deltas = Vec::new();
        let records = merge_deltas(full, before, events, node, &mut deltas)?;
        assert!(deltas.windows(2).all(|w| w[0].0 < w[1].0), "{deltas:?}");
        assert!(deltas.iter().all(|d| d.1 != 0), "{deltas:?}");
        let mut out = Vec::new();
        apply_deltas(full, &deltas, &mut out);
        assert_eq!(out.len(), records);
        Ok((out, deltas))
    }

    /// Merged events equal a sequential model: records added and removed at two nodes in a
    /// random order (interleaved, so per-node grouping is exercised), a removal valid only if
    /// the walk has a record at that moment; a removal of a missing record fails even when
    /// the same record is added back later in the repair. Half the rounds start from a patch
    /// (net changes of an earlier repair on top of the full list), as sealed lists do.
    #[test]
    fn record_changes_merge_like_a_sequential_multiset() {
        let mut rng = Rng::new(77);
        let mut patched_rounds = 0;
        for round in 0..2000 {
            let mut olds = Vec::new();
            let mut befores = Vec::new();
            let mut models = Vec::new();
            for _ in 0..2 {
                let mut old: Vec<u32> = (0..rng.below(30)).map(|_| rng.below(20) as u32).collect();
                old.sort_unstable();
                let mut model = std::collections::BTreeMap::<u32, i64>::new();
                for &w in &old {
                    *model.entry(w).or_default() += 1;
                }
                // An earlier repair's valid changes, kept as net changes.
                let mut earlier = RecordChanges::default();
                if round % 2 == 1 {
                    for _ in 0..rng.below(12) {
                        let w = rng.below(22) as u32;
                        let count = model.entry(w).or_default();
                        let add = *count == 0 || rng.below(2) == 0;
                        earlier.push(1, w, add);
                        *count += if add { 1 } else { -1 };
                    }
                }
                let mut before = Vec::new();
                earlier
                    .per_node(|node, events| {
                        before = merged(&old, &[], events, node)?.1;
                        Ok(())
                    })
                    .expect("valid earlier changes");
                olds.push(old);
                befores.push(before);
                models.push(model);
            }
            patched_rounds += usize::from(befores.iter().any(|b| !b.is_empty()));
            let nodes = [3, 5];
            let mut changes = RecordChanges::default();
            let mut first_missing: [Option<u32>; 2] = [None, None];
            for _ in 0..rng.below(30) {
                let n = rng.below(2) as usize;
                let w = rng.below(22) as u32;
                let count = models[n].entry(w).or_default();
                if rng.below(2) == 0 {
                    changes.push(nodes[n], w, true);
                    *count += 1;
                } else {
                    changes.push(nodes[n], w, false);
                    if *count == 0 && first_missing[n].is_none() {
                        first_missing[n] = Some(w);
                    }
                    *count = (*count - 1).max(0);
                }
            }
            let mut seen = Vec::new();
            let result = changes.per_node(|node, events| {
                let n = nodes
                    .iter()
                    .position(|&x| x == node)
                    .expect("a changed node");
                seen.push(node);
                match merged(&olds[n], &befores[n], events, node) {
                    Ok((merged, _)) => {
                        assert!(
                            first_missing[n].is_none(),
                            "round {round}: accepted a missing record"
                        );
                        let expected: Vec<u32> = models[n]
                            .iter()
                            .flat_map(|(&w, &c)| std::iter::repeat_n(w, c as usize))
                            .collect();
                        assert_eq!(merged, expected, "round {round}, node {node}");
                        Ok(())
                    }
                    Err(e) => {
                        assert!(
                            first_missing[n].is_some(),
                            "round {round}: refused a valid change: {e}"
                        );
                        assert!(e.to_string().contains(&format!("node {node}")), "{e}");
                        Err(e)
                    }
                }
            });
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "nodes once each, in order"
            );
            let expected_error =
                first_missing[0].is_some() || (first_missing[1].is_some() && seen.contains(&5));
            assert_eq!(result.is_err(), expected_error, "round {round}");
        }
        assert!(
            patched_rounds > 500,
            "{patched_rounds} rounds started from a patch"
        );
    }

    /// The case an order-blind merge would miss: the record is removed while missing, then
    /// added back by the same repair.
    #[test]
    fn a_removal_of_a_missing_record_fails_even_if_it_is_added_back() {
        let mut changes = RecordChanges::default();
        changes.push(4, 9, false);
        changes.push(4, 9, true);
        let result =
            changes.per_node(|node, events| merged(&[1, 2], &[], events, node).map(|_| ()));
        assert!(matches!(
            result,
            Err(WalkIndexError::Inconsistent { walk: Some(9), .. })
        ));
        let mut changes = RecordChanges::default();
        changes.push(4, 9, true);
        changes.push(4, 9, false);
        let mut list = Vec::new();
        changes
            .per_node(|node, events| {
                list = merged(&[1, 2], &[], events, node)?.0;
                Ok(())
            })
            .expect("added, then removed");
        assert_eq!(list, vec![1, 2]);
        // A removal the full list cannot cover but an earlier patch's addition does.
        let mut changes = RecordChanges::default();
        changes.push(4, 9, false);
        changes
            .per_node(|node, events| {
                list = merged(&[1, 2], &[(9, 1)], events, node)?.0;
                Ok(())
            })
            .expect("the patch added it");
        assert_eq!(list, vec![1, 2]);
    }

    /// A table's clone keeps its entries while the original changes chunks it shares, across
    /// chunk boundaries; `entries` lists them in id order and `len` counts them.
    #[test]
    fn a_table_clone_keeps_its_entries() {
        let at = |i: usize| Loc {
            block: i as u32 % 7,
            index: i as u32,
        };
        let ids = [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 5, 10 * CHUNK];
        let mut table = CowTable::default();
        for &i in &ids {
            table.set(i, at(i));
        }
        let snapshot = table.clone();
        for &i in &ids {
            table.set(i, at(i + 1));
        }
        table.set(2 * CHUNK, at(1));
        let listed = |t: &CowTable| t.entries().collect::<Vec<_>>();
        assert_eq!(listed(&snapshot), ids.map(|i| (i, at(i))).to_vec());
        assert_eq!(snapshot.len(), ids.len());
        assert_eq!(table.len(), ids.len() + 1);
        assert_eq!(table.get(2 * CHUNK), Some(at(1)));
        assert_eq!(snapshot.get(2 * CHUNK), None);
        for &i in &ids {
            assert_eq!(table.get(i), Some(at(i + 1)));
            assert_eq!(snapshot.get(i), Some(at(i)));
        }
        assert_eq!(table.get(100 * CHUNK), None);
    }
}
