//! Building the index straight into its file, in bounded memory.
//!
//! [`WalkIndex::build`] holds every walk, then every column, then the encoded file in the
//! heap: about the file's size twice over at its peak (a 5M-edge power-law graph at alpha
//! 0.15: 1.8 GB), which puts a 100M-edge graph out of reach of one machine. [`write_built`]
//! writes the same bytes (the same build stream, the same layout) section by section through
//! an [`IndexSink`] instead:
//!
//! 1. walks are generated in windows of start-node chunks (in parallel within a window) and
//!    appended to the slot table, slot offsets and walk nodes sections as they come; a count
//!    of recorded visits per node is kept (8 bytes per node);
//! 2. start offsets and start ids follow from the degrees (a node's walks are consecutive
//!    slots), visit offsets from the counts;
//! 3. visit ids (per node, the ids of the walks that visit it, ascending) are a transpose of
//!    the walk nodes: node ranges whose visits fit the memory budget are filled one at a time,
//!    each from a sequential read of the walks written in step 1.
//!
//! Held in memory: the graph and its step tables (steps 1 and 2 only: they are dropped before
//! step 3), the per-node counts, two windows of walks (one being written while the next is
//! generated), the write buffers and one range of visit ids (at most the budget, or one
//! node's visits if that is larger) with two batches of visits being placed.

use super::build::{BuildTables, NodeWalks, BUILD_CHUNK};
use super::error::WalkIndexError;
use super::format::{
    align8, encode_entry, encode_header, sec, slot_entry, BLOCK_SHIFT, V2_DATA_START,
};
use super::store::{WalkIndex, WalkIndexParams};
use crate::graph::{Adjacency, NodeId};
use rayon::prelude::*;
use std::borrow::Cow;
use std::io;

/// Positioned reads and writes of the file being built (the storage backend's file in the
/// database, a `Vec` in tests). Bytes never written read as zero.
pub(crate) trait IndexSink: Sync {
    /// Writes `data` at `offset`, extending the file as needed.
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// What [`write_built`] wrote.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct StreamSummary {
    /// Walks (slots) in the file.
    pub(crate) walks: u64,
    /// Node entries over all walks.
    pub(crate) walk_nodes: u64,
    /// The file's length in bytes.
    pub(crate) file_len: u64,
    /// Sequential reads of the walks that filled the visit ids (one per node range).
    pub(crate) visit_passes: u32,
}

/// Bytes buffered per section before a write.
const FLUSH_BYTES: usize = 4 << 20;

/// One section being appended to: its place in the file, a write buffer, and the CRC32 of
/// each `2^BLOCK_SHIFT`-byte block as the bytes go out.
struct SectionWriter {
    offset: u64,
    len: u64,
    buf: Vec<u8>,
    block: crc32fast::Hasher,
    in_block: usize,
    sums: Vec<u32>,
}

impl SectionWriter {
    fn new(offset: u64) -> SectionWriter {
        SectionWriter {
            offset,
            len: 0,
            buf: Vec::new(),
            block: crc32fast::Hasher::new(),
            in_block: 0,
            sums: Vec::new(),
        }
    }

    #[inline]
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    #[inline]
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u32s(&mut self, values: &[u32]) {
        if cfg!(target_endian = "little") {
            self.buf.extend_from_slice(bytemuck::cast_slice(values));
        } else {
            values.iter().for_each(|&v| self.u32(v));
        }
    }

    /// Writes the buffer out when it is full.
    fn maybe_flush(&mut self, sink: &dyn IndexSink) -> io::Result<()> {
        if self.buf.len() >= FLUSH_BYTES {
            self.flush(sink)?;
        }
        Ok(())
    }

    fn flush(&mut self, sink: &dyn IndexSink) -> io::Result<()> {
        let block = 1usize << BLOCK_SHIFT;
        let mut rest = &self.buf[..];
        while !rest.is_empty() {
            let take = rest.len().min(block - self.in_block);
            self.block.update(&rest[..take]);
            self.in_block += take;
            if self.in_block == block {
                let done = std::mem::replace(&mut self.block, crc32fast::Hasher::new());
                self.sums.push(done.finalize());
                self.in_block = 0;
            }
            rest = &rest[take..];
        }
        sink.write_at(self.offset + self.len, &self.buf)?;
        self.len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Flushes, closes the last (short) block and returns (offset, length) and the block
    /// checksums.
    fn finish(mut self, sink: &dyn IndexSink) -> io::Result<((u64, u64), Vec<u32>)> {
        self.flush(sink)?;
        if self.in_block > 0 {
            self.sums.push(self.block.finalize());
        }
        Ok(((self.offset, self.len), self.sums))
    }
}

/// Reads a section of `u32`s front to back in large chunks.
struct U32Reader<'a> {
    sink: &'a dyn IndexSink,
    at: u64,
    end: u64,
    buf: Vec<u32>,
    bytes: Vec<u8>,
    pos: usize,
}

impl<'a> U32Reader<'a> {
    fn new(sink: &'a dyn IndexSink, (offset, length): (u64, u64)) -> U32Reader<'a> {
        U32Reader {
            sink,
            at: offset,
            end: offset + length,
            buf: Vec::new(),
            bytes: Vec::new(),
            pos: 0,
        }
    }

    /// The next `count` values (fewer only at the section's end, which the caller's counts
    /// rule out for a file it wrote).
    fn take(&mut self, count: usize) -> io::Result<&[u32]> {
        if self.buf.len() - self.pos < count {
            self.buf.drain(..self.pos);
            self.pos = 0;
            let want = (FLUSH_BYTES as u64)
                .max(4 * count as u64)
                .min(self.end - self.at) as usize;
            self.bytes.resize(want, 0);
            self.sink.read_at(self.at, &mut self.bytes)?;
            self.at += want as u64;
            self.buf.extend(
                self.bytes
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        let n = count.min(self.buf.len() - self.pos);
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
}

/// Builds the index of `graph` with `params` (the walks [`WalkIndex::build`] makes, bit for
/// bit) and writes its version 2 file into `sink`, which must be empty, holding at most about
/// `budget` bytes of visit ids at a time. Reports `(nodes done, nodes)` to `progress` while
/// the walks are generated.
///
/// `graph` is dropped once the walks and start lists are written, before the visit ids are
/// filled: a caller that hands over its graph (a `Box`) may count the graph's heap in
/// `budget` without raising its peak.
pub(crate) fn write_built<A, G>(
    graph: G,
    params: WalkIndexParams,
    sink: &dyn IndexSink,
    budget: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<StreamSummary, WalkIndexError>
where
    A: Adjacency,
    G: std::ops::Deref<Target = A>,
{
    let owned = graph;
    let graph: &A = &owned;
    params.validate()?;
    let n = graph.node_count();
    if n > u32::MAX as usize {
        return Err(WalkIndexError::InvalidParams(format!(
            "{n} nodes exceed the u32 node id space"
        )));
    }
    // Slots: a node's walks are consecutive, so the slot count is known before any walk is.
    let slots: usize = (0..n as NodeId)
        .map(|u| params.walks_for_degree(graph.degree(u)))
        .sum();
    if slots > u32::MAX as usize {
        return Err(WalkIndexError::InvalidParams(format!(
            "{slots} walks exceed the u32 walk id space"
        )));
    }
    let slot_table_at = V2_DATA_START as u64;
    let slot_offsets_at = align8(slot_table_at + 4 * slots as u64);
    let walk_nodes_at = align8(slot_offsets_at + 8 * slots as u64);
    let mut slot_table = SectionWriter::new(slot_table_at);
    let mut slot_offsets = SectionWriter::new(slot_offsets_at);
    let mut walk_nodes = SectionWriter::new(walk_nodes_at);
    // Step 1: the walks, a window of chunks at a time.
    let tables = BuildTables::new(graph);
    let mut counter = VisitCounter::new(n);
    let mut nodes_written = 0u64;
    let chunks = n.div_ceil(BUILD_CHUNK);
    let window = 8 * rayon::current_num_threads().max(1);
    let report_every = (n / 200).max(1024);
    // A window's walks are written while the next window's are generated: the writing is one
    // task and the generation's chunks are others, which idle threads take.
    let generate = |first: usize| -> Option<(usize, Vec<NodeWalks>)> {
        if first >= chunks {
            return None;
        }
        let last = (first + window).min(chunks);
        let generated = (first..last)
            .into_par_iter()
            .map(|c| {
                let (lo, hi) = (c * BUILD_CHUNK, ((c + 1) * BUILD_CHUNK).min(n));
                NodeWalks::generate(graph, &tables, &params, lo, hi)
            })
            .collect();
        Some((last, generated))
    };
    let mut write = |generated: &[NodeWalks]| -> Result<(), WalkIndexError> {
        for walks in generated {
            let mut at = 0;
            for (&len, &end) in walks.lens.iter().zip(&walks.ends) {
                let nodes = &walks.nodes[at..at + len as usize];
                at += len as usize;
                slot_table.u32(encode_entry(nodes.len(), end));
                slot_offsets.u64(nodes_written);
                walk_nodes.u32s(nodes);
                nodes_written += nodes.len() as u64;
                counter.add(&nodes[..WalkIndex::recorded_len(nodes.len(), end)]);
            }
            slot_table.maybe_flush(sink)?;
            slot_offsets.maybe_flush(sink)?;
            walk_nodes.maybe_flush(sink)?;
        }
        Ok(())
    };
    let mut pending = generate(0);
    while let Some((last, generated)) = pending.take() {
        let (next, wrote) = rayon::join(|| generate(last), || write(&generated));
        wrote?;
        let done = (last * BUILD_CHUNK).min(n);
        let before = (last.saturating_sub(window) * BUILD_CHUNK).min(n);
        if before / report_every != done / report_every {
            progress(done, n);
        }
        pending = next;
    }
    let visit_counts = counter.into_counts();
    let mut sections = Sections::default();
    for writer in [slot_table, slot_offsets, walk_nodes] {
        sections.close(writer, sink)?;
    }
    let walks_section = sections.dir[sec::WALK_NODES];
    let table_section = sections.dir[sec::SLOT_TABLE];
    // Step 2: start lists (slot ids in node order are 0, 1, 2, ...) and visit offsets.
    let mut start_offsets = SectionWriter::new(sections.next_offset());
    let mut total = 0u64;
    start_offsets.u64(0);
    for u in 0..n as NodeId {
        total += params.walks_for_degree(graph.degree(u)) as u64;
        start_offsets.u64(total);
        start_offsets.maybe_flush(sink)?;
    }
    sections.close(start_offsets, sink)?;
    // The graph and its step tables are not read again: their memory goes back before the
    // visit ids take theirs.
    drop(tables);
    drop(owned);
    let mut start_ids = SectionWriter::new(sections.next_offset());
    for id in 0..slots as u32 {
        start_ids.u32(id);
        start_ids.maybe_flush(sink)?;
    }
    sections.close(start_ids, sink)?;
    let mut visit_offsets = SectionWriter::new(sections.next_offset());
    let mut total = 0u64;
    visit_offsets.u64(0);
    for &c in &visit_counts {
        total += c;
        visit_offsets.u64(total);
        visit_offsets.maybe_flush(sink)?;
    }
    sections.close(visit_offsets, sink)?;
    // Step 3: visit ids, one node range per sequential read of the walks.
    let mut visit_ids = SectionWriter::new(sections.next_offset());
    let cap = (budget / 4).max(1) as u64;
    let mut passes = 0u32;
    let mut lo = 0usize;
    while lo < n {
        let mut hi = lo;
        let mut in_range = 0u64;
        while hi < n && (hi == lo || in_range + visit_counts[hi] <= cap) {
            in_range += visit_counts[hi];
            hi += 1;
        }
        if in_range > 0 {
            passes += 1;
            fill_visit_range(
                sink,
                table_section,
                walks_section,
                slots,
                (lo, hi),
                &visit_counts,
                in_range as usize,
                &mut visit_ids,
            )?;
        }
        lo = hi;
    }
    sections.close(visit_ids, sink)?;
    // Free ids: none in a new build.
    let free_ids = SectionWriter::new(sections.next_offset());
    sections.close(free_ids, sink)?;
    let file_len = sections.finish(sink, &params, n, slots, nodes_written as usize)?;
    progress(n, n);
    Ok(StreamSummary {
        walks: slots as u64,
        walk_nodes: nodes_written,
        file_len,
        visit_passes: passes,
    })
}

/// Writes the version 2 file of `index` (base and overlay folded) into `sink`, which must be
/// empty: the bytes [`WalkIndex::encode_to`] writes, section by section from the index's own
/// walks and per-node lists, so a checkpoint holds write buffers instead of the columns and
/// the encoded file (about three times the file). Returns the file's length.
pub(crate) fn write_index(index: &WalkIndex, sink: &dyn IndexSink) -> Result<u64, WalkIndexError> {
    if index.is_pristine() {
        let bytes = index.base_file_bytes();
        for (i, chunk) in bytes.chunks(FLUSH_BYTES).enumerate() {
            sink.write_at((i * FLUSH_BYTES) as u64, chunk)?;
        }
        return Ok(bytes.len() as u64);
    }
    let (n, slots) = (index.node_count(), index.slot_count());
    let slot_table_at = V2_DATA_START as u64;
    let slot_offsets_at = align8(slot_table_at + 4 * slots as u64);
    let walk_nodes_at = align8(slot_offsets_at + 8 * slots as u64);
    let mut slot_table = SectionWriter::new(slot_table_at);
    let mut slot_offsets = SectionWriter::new(slot_offsets_at);
    let mut walk_nodes = SectionWriter::new(walk_nodes_at);
    let mut free = Vec::new();
    let mut nodes_written = 0u64;
    for id in 0..slots as u32 {
        slot_offsets.u64(nodes_written);
        match index.walk(id)? {
            None => {
                slot_table.u32(0);
                free.push(id);
            }
            Some(walk) => {
                slot_table.u32(encode_entry(walk.nodes.len(), walk.end));
                walk_nodes.u32s(walk.nodes);
                nodes_written += walk.nodes.len() as u64;
            }
        }
        slot_table.maybe_flush(sink)?;
        slot_offsets.maybe_flush(sink)?;
        walk_nodes.maybe_flush(sink)?;
    }
    let mut sections = Sections::default();
    for writer in [slot_table, slot_offsets, walk_nodes] {
        sections.close(writer, sink)?;
    }
    // Start lists and visit records: each an offsets section, then the ids, in node order.
    type List = for<'i> fn(&'i WalkIndex, NodeId) -> Result<Cow<'i, [u32]>, WalkIndexError>;
    let lists: [List; 2] = [
        |index, v| index.walk_ids_from(v).map(Cow::Borrowed),
        WalkIndex::visit_records_at,
    ];
    // The offsets need only the lengths: a patched visit list knows its own without a merge.
    type Len = fn(&WalkIndex, NodeId) -> Result<usize, WalkIndexError>;
    let lens: [Len; 2] = [
        |index, v| Ok(index.walk_ids_from(v)?.len()),
        WalkIndex::recorded_visits_at,
    ];
    for (list, len) in lists.into_iter().zip(lens) {
        let mut offsets = SectionWriter::new(sections.next_offset());
        let mut total = 0u64;
        offsets.u64(0);
        for v in 0..n as NodeId {
            total += len(index, v)? as u64;
            offsets.u64(total);
            offsets.maybe_flush(sink)?;
        }
        sections.close(offsets, sink)?;
        let mut ids = SectionWriter::new(sections.next_offset());
        for v in 0..n as NodeId {
            ids.u32s(&list(index, v)?);
            ids.maybe_flush(sink)?;
        }
        sections.close(ids, sink)?;
    }
    let mut free_ids = SectionWriter::new(sections.next_offset());
    free_ids.u32s(&free);
    sections.close(free_ids, sink)?;
    sections.finish(sink, &index.params(), n, slots, nodes_written as usize)
}

/// The sections written so far: their places and block checksums.
#[derive(Default)]
struct Sections {
    dir: Vec<(u64, u64)>,
    sums: Vec<u32>,
}

impl Sections {
    fn close(&mut self, writer: SectionWriter, sink: &dyn IndexSink) -> io::Result<()> {
        let (place, sums) = writer.finish(sink)?;
        self.dir.push(place);
        self.sums.extend(sums);
        Ok(())
    }

    /// Where the next section starts (8-aligned after the last; the data start for the first).
    fn next_offset(&self) -> u64 {
        self.dir
            .last()
            .map_or(V2_DATA_START as u64, |&(at, len)| align8(at + len))
    }

    /// Writes the block checksums and the header; returns the file's length.
    fn finish(
        mut self,
        sink: &dyn IndexSink,
        params: &WalkIndexParams,
        node_count: usize,
        slots: usize,
        walk_nodes: usize,
    ) -> Result<u64, WalkIndexError> {
        let at = self.next_offset();
        let sum_bytes: Vec<u8> = self.sums.iter().flat_map(|c| c.to_le_bytes()).collect();
        sink.write_at(at, &sum_bytes)?;
        self.dir.push((at, sum_bytes.len() as u64));
        let header = encode_header(params, node_count, slots, walk_nodes, &self.dir, &sum_bytes);
        sink.write_at(0, &header)?;
        Ok(at + sum_bytes.len() as u64)
    }
}

/// Recorded visits per node, counted as the walks are written: one increment per visit at a
/// random node, so the table's size decides how many of them miss the caches. Counts are
/// 32-bit (a 100M-edge graph's 6.8M nodes: 27 MB, about a last-level cache, where 64-bit
/// counts took twice that and the writer thread 12 s of misses); the rare node past
/// `u32::MAX` visits carries its overflow in a side map.
struct VisitCounter {
    low: Vec<u32>,
    /// Multiples of 2^32 per node whose low count wrapped.
    high: std::collections::HashMap<
        NodeId,
        u64,
        std::hash::BuildHasherDefault<crate::hash::IdHasher>,
    >,
}

impl VisitCounter {
    fn new(n: usize) -> VisitCounter {
        VisitCounter {
            low: crate::memory::zeroed_table(n),
            high: Default::default(),
        }
    }

    /// Counts one visit of each node in `visits`.
    #[inline]
    fn add(&mut self, visits: &[NodeId]) {
        for &v in visits {
            let count = &mut self.low[v as usize];
            match count.checked_add(1) {
                Some(next) => *count = next,
                None => {
                    *count = 0;
                    *self.high.entry(v).or_insert(0) += 1 << 32;
                }
            }
        }
    }

    /// The full counts, node by node.
    fn into_counts(self) -> Vec<u64> {
        let mut counts: Vec<u64> = self.low.iter().map(|&c| c as u64).collect();
        for (v, high) in self.high {
            counts[v as usize] += high;
        }
        counts
    }
}

/// The nodes `lo..` of one part of a visit range and the stretch of visit ids they fill.
struct VisitPart<'a> {
    lo: NodeId,
    /// Per node of the part, where its next visit id goes in `ids`.
    next: Vec<u64>,
    ids: &'a mut [u32],
}

impl VisitPart<'_> {
    /// Places visits `(node, walk id)` of this part's nodes, given in ascending walk id.
    fn place(&mut self, visits: &[(NodeId, u32)]) {
        for &(v, id) in visits {
            let slot = &mut self.next[(v - self.lo) as usize];
            self.ids[*slot as usize] = id;
            *slot += 1;
        }
    }
}

/// Appends the visit ids of nodes `lo..hi` (`count` of them) to `out`: one sequential read of
/// the slot table and walk nodes, each recorded visit of a node in range placed at its
/// node's next free entry (walks come in ascending id, so each node's ids come out ascending).
/// The range is split into one part per thread, which place their visits in parallel.
#[allow(clippy::too_many_arguments)]
fn fill_visit_range(
    sink: &dyn IndexSink,
    table: (u64, u64),
    walk_nodes: (u64, u64),
    slots: usize,
    (lo, hi): (usize, usize),
    visit_counts: &[u64],
    count: usize,
    out: &mut SectionWriter,
) -> Result<(), WalkIndexError> {
    let mut ids: Vec<u32> = crate::memory::zeroed_table(count);
    // Parts: node sub-ranges of about equal visits, one per thread, each filling its own
    // stretch of `ids` (a node's visit ids are contiguous, and nodes come in order).
    let threads = rayon::current_num_threads().max(1);
    let per_part = count.div_ceil(threads).max(1) as u64;
    let mut parts: Vec<VisitPart<'_>> = Vec::with_capacity(threads);
    let mut bounds: Vec<NodeId> = Vec::with_capacity(threads);
    let mut rest: &mut [u32] = &mut ids;
    let mut v = lo;
    while v < hi {
        let from = v;
        let mut total = 0u64;
        while v < hi && (v == from || total < per_part) {
            total += visit_counts[v];
            v += 1;
        }
        // Each node's first entry: the running sum of the counts before it. Sized first, so
        // the table (written at random by `place`) gets huge pages before its first touch.
        let mut next = Vec::with_capacity(v - from);
        crate::memory::prefer_huge_pages(&mut next);
        next.extend(visit_counts[from..v].iter().scan(0u64, |sum, &c| {
            let at = *sum;
            *sum += c;
            Some(at)
        }));
        let (mine, others) = std::mem::take(&mut rest).split_at_mut(total as usize);
        rest = others;
        bounds.push(from as NodeId);
        parts.push(VisitPart {
            lo: from as NodeId,
            next,
            ids: mine,
        });
    }
    // Walks are read in batches on one thread and their recorded visits sorted into one
    // bucket per part; meanwhile the parts place the previous batch's visits in parallel.
    let mut entries = U32Reader::new(sink, table);
    let mut nodes = U32Reader::new(sink, walk_nodes);
    let range = (lo as NodeId, hi as NodeId);
    let mut read = |first: u32, buckets: &mut Vec<Vec<(NodeId, u32)>>| -> io::Result<u32> {
        buckets.resize_with(bounds.len(), Vec::new);
        for bucket in buckets.iter_mut() {
            bucket.clear();
        }
        let batch = (slots - first as usize).min(1 << 16);
        let mut id = first;
        let entries_now: Vec<u32> = entries.take(batch)?.to_vec();
        for entry in entries_now {
            if let Some((len, end)) = slot_entry(entry) {
                let walk = nodes.take(len)?;
                for &v in &walk[..WalkIndex::recorded_len(walk.len(), end).min(walk.len())] {
                    if v >= range.0 && v < range.1 {
                        let part = bounds.partition_point(|&b| b <= v) - 1;
                        buckets[part].push((v, id));
                    }
                }
            }
            id += 1;
        }
        Ok(id)
    };
    let mut current: Vec<Vec<(NodeId, u32)>> = Vec::new();
    let mut upcoming: Vec<Vec<(NodeId, u32)>> = Vec::new();
    let mut id = if slots > 0 { read(0, &mut current)? } else { 0 };
    while !current.is_empty() {
        let more = (id as usize) < slots;
        let (got, ()) = rayon::join(
            || more.then(|| read(id, &mut upcoming)).transpose(),
            || {
                parts
                    .par_iter_mut()
                    .zip(current.par_iter())
                    .for_each(|(part, bucket)| part.place(bucket))
            },
        );
        match got? {
            Some(next_id) => {
                id = next_id;
                std::mem::swap(&mut current, &mut upcoming);
            }
            None => current.clear(),
        }
    }
    drop(parts);
    // In pieces: a copy of the whole range in the write buffer would double the budget.
    for piece in ids.chunks(FLUSH_BYTES / 4) {
        out.u32s(piece);
        out.maybe_flush(sink)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{CsrGraph, Edge};
    use crate::walks::build::grow_build;
    use parking_lot::Mutex;

    #[test]
    fn visit_counts_carry_past_32_bits() {
        let mut counter = VisitCounter::new(4);
        counter.low[1] = u32::MAX - 1;
        counter.low[3] = u32::MAX;
        counter.add(&[1, 1, 1, 0, 3, 1, 2, 2]);
        assert_eq!(
            counter.into_counts(),
            vec![1, u32::MAX as u64 + 3, 2, u32::MAX as u64 + 1]
        );
    }

    /// A file in memory.
    #[derive(Default)]
    struct VecSink(Mutex<Vec<u8>>);

    impl IndexSink for VecSink {
        fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            let mut v = self.0.lock();
            let end = offset as usize + data.len();
            if v.len() < end {
                v.resize(end, 0);
            }
            v[offset as usize..end].copy_from_slice(data);
            Ok(())
        }

        fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            let v = self.0.lock();
            let src = v
                .get(offset as usize..offset as usize + buf.len())
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "short read"))?;
            buf.copy_from_slice(src);
            Ok(())
        }
    }

    /// A streamed checkpoint file equals `encode_to`'s bytes: fresh (pristine) indexes and
    /// indexes after random repairs (rerouted walks, freed and reused slots), directed and
    /// undirected.
    #[test]
    fn write_index_equals_encode_to() {
        use crate::walks::testkit::{run_random_ops, GraphModel};
        for seed in 0..6u64 {
            let mut rng = crate::rng::Rng::new(seed);
            let mut model = GraphModel::random(40, 90, seed % 2 == 0, &mut rng);
            let params = WalkIndexParams {
                alpha: 0.2,
                walks_per_node: 1.5,
                seed,
            };
            let mut index = WalkIndex::build(&model.csr(), params).unwrap();
            let check = |index: &WalkIndex| {
                let mut want = Vec::new();
                index.encode_to(&mut want).unwrap();
                let sink = VecSink::default();
                let len = write_index(index, &sink).unwrap();
                let got = sink.0.into_inner();
                assert_eq!(len, got.len() as u64);
                assert!(got == want, "seed {seed}");
            };
            check(&index);
            let mut step = 0;
            run_random_ops(&mut index, &mut model, 60, seed + 100, |index, _| {
                step += 1;
                if step % 7 == 0 {
                    check(index);
                }
            });
            check(&index);
        }
    }

    /// The guided step at hubs makes the scan's walks: a graph with hubs of every weight
    /// pattern, its walks generated with and without guide tables.
    #[test]
    fn guide_tables_make_the_scans_walks() {
        let mut rng = crate::rng::Rng::new(5);
        let n = 400u32;
        let edges: Vec<Edge> = (0..6000)
            .map(|i| Edge {
                // A fifth of the edges leave one of four hubs.
                src: if i % 5 == 0 {
                    rng.below(4) as u32
                } else {
                    rng.below(n as u64) as u32
                },
                rel: 0,
                dst: rng.below(n as u64) as u32,
                weight: [1.0, 0.1, 3.7, 1e-9, 250.0][rng.below(5) as usize],
            })
            .collect();
        for undirected in [false, true] {
            let graph = CsrGraph::from_edges(n as usize, &edges, undirected);
            let hubs = BuildTables::new(&graph);
            assert!(hubs.hub_count() >= 4, "the hubs have tables");
            let params = WalkIndexParams {
                alpha: 0.1,
                walks_per_node: 1.0,
                seed: 9,
            };
            let a = NodeWalks::generate(&graph, &hubs, &params, 0, n as usize);
            let b = one_at_a_time(&graph, &params, 0, n);
            let c = NodeWalks::generate(&graph, &BuildTables::none(), &params, 7, 311);
            let d = one_at_a_time(&graph, &params, 7, 311);
            assert_eq!(c.nodes, d.nodes);
            assert_eq!(c.lens, d.lens);
            assert_eq!(c.ends, d.ends);
            assert_eq!(a.nodes, b.nodes);
            assert_eq!(a.lens, b.lens);
            assert_eq!(a.ends, b.ends);
        }
    }

    /// The walks of start nodes `lo..hi` grown one at a time by the scan, in (node, k) order.
    fn one_at_a_time(graph: &CsrGraph, params: &WalkIndexParams, lo: u32, hi: u32) -> NodeWalks {
        let mut walks = NodeWalks {
            nodes: Vec::new(),
            lens: Vec::new(),
            ends: Vec::new(),
        };
        let none = BuildTables::none();
        for u in lo..hi {
            for k in 0..params.walks_for_degree(graph.degree(u)) as u32 {
                let draws = super::super::build::BuildDraws::new(params.seed, u, k);
                let mut seq = vec![u];
                let end = grow_build(graph, params.alpha, &draws, &mut seq, &none);
                walks.lens.push(seq.len() as u32);
                walks.nodes.extend_from_slice(&seq);
                walks.ends.push(end);
            }
        }
        walks
    }

    /// The unit step makes the scan's walks: on a graph whose links mostly have weight 1
    /// (with a few weighted ones, duplicates merged into weight 2, and dangling nodes), the
    /// nodes of unit links take the unit step and every walk equals the scan's.
    #[test]
    fn unit_steps_make_the_scans_walks() {
        let mut rng = crate::rng::Rng::new(6);
        let n = 500u32;
        let edges: Vec<Edge> = (0..5000)
            .map(|i| Edge {
                src: if i % 4 == 0 {
                    rng.below(3) as u32
                } else {
                    rng.below(n as u64 - 20) as u32
                },
                rel: 0,
                dst: rng.below(n as u64) as u32,
                weight: if i % 97 == 0 { 0.3 } else { 1.0 },
            })
            .collect();
        for undirected in [false, true] {
            let graph = CsrGraph::from_edges(n as usize, &edges, undirected);
            let tables = BuildTables::new(&graph);
            assert!(tables.unit_count() > 100, "unit nodes take the unit step");
            assert!(tables.unit_count() < n as usize, "weighted nodes do not");
            for alpha in [0.05, 0.15, 0.5] {
                let params = WalkIndexParams {
                    alpha,
                    walks_per_node: 1.5,
                    seed: 3,
                };
                let a = NodeWalks::generate(&graph, &tables, &params, 0, n as usize);
                let b = one_at_a_time(&graph, &params, 0, n);
                assert!(a.lens.iter().any(|&l| l > 3), "walks step");
                assert_eq!(a.nodes, b.nodes);
                assert_eq!(a.lens, b.lens);
                assert_eq!(a.ends, b.ends);
            }
        }
    }

    /// The streamed file equals the in-memory build's encoding byte for byte, for budgets
    /// from one visit per pass to everything at once, on directed graphs with dangling nodes
    /// (walks that die) and undirected ones.
    #[test]
    fn streamed_file_equals_the_in_memory_build() {
        let mut rng = crate::rng::Rng::new(77);
        for round in 0..24 {
            let n = 1 + rng.below(if round % 4 == 0 { 3000 } else { 60 }) as u32;
            let edges: Vec<Edge> = (0..rng.below(3 * n as u64 + 1))
                .map(|_| Edge {
                    src: rng.below(n as u64) as u32,
                    rel: 0,
                    dst: rng.below(n as u64) as u32,
                    weight: 0.5 + rng.below(4) as f64,
                })
                .collect();
            let graph = CsrGraph::from_edges(n as usize, &edges, round % 2 == 0);
            let params = WalkIndexParams {
                alpha: [0.15, 0.5, 0.05][round % 3],
                walks_per_node: [1.0, 0.3, 2.5][round % 3],
                seed: round as u64,
            };
            let mut expected = Vec::new();
            let built = WalkIndex::build(&graph, params).unwrap();
            built.encode_to(&mut expected).unwrap();
            for budget in [0, 64, 1 << 30] {
                let sink = VecSink::default();
                let summary = write_built(&graph, params, &sink, budget, &|_, _| {}).unwrap();
                let got = sink.0.into_inner();
                assert_eq!(got.len() as u64, summary.file_len);
                assert!(got == expected, "round {round}, budget {budget}");
                if budget == 1 << 30 {
                    assert!(summary.visit_passes <= 1);
                }
            }
        }
    }
}
