//! The checkpointed walk index served in place: a version 2 file (mapped, or encoded in memory
//! by a build or a migration) whose columns are read without a decode pass or a heap copy.
//!
//! Opening checks the header, the directory, the padding and the block-checksum section (one
//! CRC32 per 64 KiB block of every other section: 1/16384 of the file). Each data block is
//! checked the first time a reader touches it, together with the range rules of its section
//! (node ids below the node count, walk ids below the slot count, no died free slot), and is
//! marked in a bitmap so the check runs once per process. `verify` touches every block. Reads
//! then bounds-check every offset they follow, so even a file whose checksums were forged
//! gives a typed error, never a panic or an out-of-range id.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::backend::FileBytes;
use crate::graph::NodeId;

use super::format::{
    self, align8, blocks_of, corrupt, sec, slot_entry, Columns, FileHeader, V2_NAMES, V2_SECTIONS,
};
use super::store::{WalkEnd, MAX_WALK_NODES};
use super::{WalkIndexError, WalkIndexParams};

// Columns are read in place as native integers, which the format defines as little-endian.
#[cfg(target_endian = "big")]
compile_error!("walkdb serves walk-index columns in place and needs a little-endian target");

/// Bytes held in memory at an 8-byte-aligned address, so columns can be read in place.
struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    fn zeroed(len: usize) -> AlignedBytes {
        AlignedBytes {
            words: vec![0u64; len.div_ceil(8)],
            len,
        }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}

impl Deref for AlignedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
}

/// An immutable version 2 walk index file. See the module documentation.
pub(crate) struct WalkBase {
    bytes: FileBytes,
    header: FileHeader,
    /// Version of the file this base was opened from (1: migrated into memory).
    source_version: u32,
    /// True when the bytes were encoded in this process (a build, a migration, a fold); false
    /// when they are a file's map.
    in_memory: bool,
    ranges: [(usize, usize); V2_SECTIONS],
    shift: u32,
    /// Global index (in the checksum section) of each section's first block.
    first_block: [usize; V2_SECTIONS],
    total_blocks: usize,
    verified: Vec<AtomicU64>,
    verified_count: AtomicUsize,
    all_verified: AtomicBool,
}

impl std::fmt::Debug for WalkBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalkBase")
            .field("bytes", &self.bytes.len())
            .field("version", &self.source_version)
            .field("in_memory", &self.in_memory)
            .finish()
    }
}

impl WalkBase {
    /// Opens a walk index file of either version. Version 2 is served in place (copied once
    /// only if the buffer is not 8-byte aligned, which a map always is); version 1 is decoded
    /// and migrated into an in-memory version 2 encoding. `max_nodes` bounds the header's node
    /// count (the graph the index belongs to).
    pub(crate) fn open(bytes: FileBytes, max_nodes: u64) -> Result<WalkBase, WalkIndexError> {
        let header = format::read_header(&bytes)?;
        format::check_header_fields(&header, max_nodes)?;
        if header.version == 1 {
            let columns = format::decode_v1(&bytes, &header)?;
            let mut base =
                WalkBase::from_columns(&header.params(), header.node_count as usize, columns)?;
            base.source_version = 1;
            return Ok(base);
        }
        let bytes = if (bytes.as_ptr() as usize).is_multiple_of(8) {
            bytes
        } else {
            let mut copy = AlignedBytes::zeroed(bytes.len());
            copy.bytes_mut().copy_from_slice(&bytes);
            FileBytes::new(Arc::new(copy))
        };
        WalkBase::open_v2(bytes, header, false)
    }

    /// Encodes `columns` as a version 2 file in memory and serves it.
    pub(crate) fn from_columns(
        params: &WalkIndexParams,
        node_count: usize,
        columns: Columns,
    ) -> Result<WalkBase, WalkIndexError> {
        let mut buf = AlignedBytes::zeroed(columns.encoded_len());
        columns.encode_into(params, node_count, buf.bytes_mut());
        let bytes = FileBytes::new(Arc::new(buf));
        let header = format::read_header(&bytes)?;
        let base = WalkBase::open_v2(bytes, header, true)?;
        // Encoded by this process from checked columns: nothing to check on first touch.
        base.all_verified.store(true, Ordering::Release);
        Ok(base)
    }

    fn open_v2(
        bytes: FileBytes,
        header: FileHeader,
        in_memory: bool,
    ) -> Result<WalkBase, WalkIndexError> {
        let h = &header;
        let slots = h.walk_slots;
        let n1 = h.node_count + 1;
        let expect = |s: usize, want: Option<u64>| -> Result<(), WalkIndexError> {
            let got = h.sections[s].length;
            if want != Some(got) {
                return Err(corrupt(
                    "header",
                    72 + 24 * s + 16,
                    format!(
                        "section {} is {got} bytes, the header's counts ask for {want:?}",
                        V2_NAMES[s]
                    ),
                ));
            }
            Ok(())
        };
        expect(sec::SLOT_TABLE, slots.checked_mul(4))?;
        expect(sec::SLOT_OFFSETS, slots.checked_mul(8))?;
        expect(sec::WALK_NODES, h.walk_nodes.checked_mul(4))?;
        expect(sec::START_OFFSETS, n1.checked_mul(8))?;
        expect(sec::VISIT_OFFSETS, n1.checked_mul(8))?;
        for (s, limit) in [
            (sec::START_IDS, slots),
            (sec::VISIT_IDS, h.walk_nodes),
            (sec::FREE_IDS, slots),
        ] {
            let len = h.sections[s].length;
            if !len.is_multiple_of(4) || len / 4 > limit {
                return Err(corrupt(
                    "header",
                    72 + 24 * s + 16,
                    format!("section {} has a bad length {len}", V2_NAMES[s]),
                ));
            }
        }
        let shift = h.block_size.trailing_zeros();
        let mut first_block = [0usize; V2_SECTIONS];
        let mut total = 0u64;
        let mut ranges = [(0usize, 0usize); V2_SECTIONS];
        for s in 0..V2_SECTIONS {
            let info = &h.sections[s];
            ranges[s] = (info.offset as usize, (info.offset + info.length) as usize);
            if s < sec::CHECKSUMS {
                first_block[s] = total as usize;
                total += blocks_of(info.length, shift);
                // Padding up to the next section is zero.
                let pad_end = align8(info.offset + info.length) as usize;
                if bytes[ranges[s].1..pad_end].iter().any(|&b| b != 0) {
                    return Err(corrupt(V2_NAMES[s], ranges[s].1, "padding is not zero"));
                }
            }
        }
        let sums = &h.sections[sec::CHECKSUMS];
        if Some(sums.length) != total.checked_mul(4) {
            return Err(corrupt(
                "header",
                72 + 24 * sec::CHECKSUMS + 16,
                format!(
                    "block checksum section is {} bytes, {total} blocks need {}",
                    sums.length,
                    total * 4
                ),
            ));
        }
        let (lo, hi) = ranges[sec::CHECKSUMS];
        if crc32fast::hash(&bytes[lo..hi]) != sums.crc32 {
            return Err(corrupt("block checksums", lo, "section checksum mismatch"));
        }
        let total = total as usize;
        Ok(WalkBase {
            bytes,
            header,
            source_version: 2,
            in_memory,
            ranges,
            shift,
            first_block,
            total_blocks: total,
            verified: (0..total.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            verified_count: AtomicUsize::new(0),
            all_verified: AtomicBool::new(total == 0),
        })
    }

    /// The encoded bytes (a version 2 file).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The format version the base was read from (1 means migrated in memory).
    pub(crate) fn source_version(&self) -> u32 {
        self.source_version
    }

    /// True when the bytes live on the heap rather than in a file's map.
    pub(crate) fn in_memory(&self) -> bool {
        self.in_memory
    }

    pub(crate) fn params(&self) -> WalkIndexParams {
        self.header.params()
    }

    pub(crate) fn node_count(&self) -> usize {
        self.header.node_count as usize
    }

    pub(crate) fn slot_count(&self) -> usize {
        self.header.walk_slots as usize
    }

    /// Blocks checked so far and in all.
    pub(crate) fn blocks_checked(&self) -> (usize, usize) {
        if self.all_verified.load(Ordering::Acquire) {
            return (self.total_blocks, self.total_blocks);
        }
        (
            self.verified_count.load(Ordering::Acquire),
            self.total_blocks,
        )
    }

    fn section(&self, s: usize) -> &[u8] {
        let (lo, hi) = self.ranges[s];
        &self.bytes[lo..hi]
    }

    fn u32s(&self, s: usize) -> &[u32] {
        // Sections start 8-aligned in an 8-aligned buffer and their lengths are multiples of
        // 4 (checked at open), so the cast succeeds; an empty slice would only hide a bug.
        bytemuck::try_cast_slice(self.section(s)).unwrap_or(&[])
    }

    fn u64s(&self, s: usize) -> &[u64] {
        bytemuck::try_cast_slice(self.section(s)).unwrap_or(&[])
    }

    /// Checks the blocks of section `s` overlapping its bytes `lo..hi` that no reader has
    /// checked yet.
    #[inline]
    fn touch(&self, s: usize, lo: usize, hi: usize) -> Result<(), WalkIndexError> {
        if lo >= hi || self.all_verified.load(Ordering::Acquire) {
            return Ok(());
        }
        self.touch_blocks(s, lo, hi)
    }

    #[cold]
    fn touch_blocks(&self, s: usize, lo: usize, hi: usize) -> Result<(), WalkIndexError> {
        for b in lo >> self.shift..=(hi - 1) >> self.shift {
            let g = self.first_block[s] + b;
            let (word, bit) = (g / 64, 1u64 << (g % 64));
            let Some(cell) = self.verified.get(word) else {
                return Err(corrupt(V2_NAMES[s], self.ranges[s].0, "block out of range"));
            };
            if cell.load(Ordering::Acquire) & bit != 0 {
                continue;
            }
            self.check_block(s, b, g)?;
            if cell.fetch_or(bit, Ordering::AcqRel) & bit == 0
                && self.verified_count.fetch_add(1, Ordering::AcqRel) + 1 == self.total_blocks
            {
                self.all_verified.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    fn check_block(&self, s: usize, b: usize, g: usize) -> Result<(), WalkIndexError> {
        let (start, end) = self.ranges[s];
        let lo = start + (b << self.shift);
        let hi = (lo + (1 << self.shift)).min(end);
        let name = V2_NAMES[s];
        let Some(data) = self.bytes.get(lo..hi) else {
            return Err(corrupt(name, lo, "block out of range"));
        };
        let stored = self.u32s(sec::CHECKSUMS).get(g).copied();
        if stored != Some(crc32fast::hash(data)) {
            return Err(corrupt(name, lo, "block checksum mismatch"));
        }
        let words: &[u32] = bytemuck::try_cast_slice(data).unwrap_or(&[]);
        let bad = |i: usize, what: String| Err(corrupt(name, lo + 4 * i, what));
        match s {
            sec::SLOT_TABLE => {
                for (i, &e) in words.iter().enumerate() {
                    let len = (e & !format::DIED_BIT) as usize;
                    if len == 0 && e != 0 {
                        return bad(i, "a free slot is marked died".into());
                    }
                    if len > MAX_WALK_NODES {
                        return bad(i, format!("walk of {len} nodes is longer than the cap"));
                    }
                }
            }
            sec::WALK_NODES => {
                let n = self.header.node_count;
                if let Some(i) = words.iter().position(|&v| v as u64 >= n) {
                    return bad(
                        i,
                        format!("node id {} is out of range ({n} nodes)", words[i]),
                    );
                }
            }
            sec::START_IDS | sec::VISIT_IDS | sec::FREE_IDS => {
                let slots = self.header.walk_slots;
                if let Some(i) = words.iter().position(|&v| v as u64 >= slots) {
                    return bad(
                        i,
                        format!("walk id {} is out of range ({slots} slots)", words[i]),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks every block (what `verify` and `dump` run).
    pub(crate) fn check_all(&self) -> Result<(), WalkIndexError> {
        for s in 0..sec::CHECKSUMS {
            let len = self.ranges[s].1 - self.ranges[s].0;
            self.touch(s, 0, len)?;
        }
        Ok(())
    }

    /// The walk in slot `id`: its nodes and end, `None` for a free or unknown slot.
    pub(crate) fn slot(&self, id: u32) -> Result<Option<(&[NodeId], WalkEnd)>, WalkIndexError> {
        let i = id as usize;
        if i >= self.slot_count() {
            return Ok(None);
        }
        self.touch(sec::SLOT_TABLE, 4 * i, 4 * i + 4)?;
        let entry = self.u32s(sec::SLOT_TABLE).get(i).copied().unwrap_or(0);
        let Some((len, end)) = slot_entry(entry) else {
            return Ok(None);
        };
        self.touch(sec::SLOT_OFFSETS, 8 * i, 8 * i + 8)?;
        let offset = self
            .u64s(sec::SLOT_OFFSETS)
            .get(i)
            .copied()
            .unwrap_or(u64::MAX);
        let nodes = self.u32s(sec::WALK_NODES);
        let span = usize::try_from(offset)
            .ok()
            .and_then(|o| Some(o..o.checked_add(len)?))
            .filter(|r| r.end <= nodes.len());
        let Some(span) = span else {
            return Err(corrupt(
                "slot offsets",
                self.ranges[sec::SLOT_OFFSETS].0 + 8 * i,
                format!("walk {id} at node offset {offset} overruns the walk nodes"),
            ));
        };
        self.touch(sec::WALK_NODES, 4 * span.start, 4 * span.end)?;
        Ok(Some((&nodes[span], end)))
    }

    fn list(&self, offsets: usize, ids: usize, node: NodeId) -> Result<&[u32], WalkIndexError> {
        let v = node as usize;
        if v >= self.node_count() {
            return Ok(&[]);
        }
        self.touch(offsets, 8 * v, 8 * v + 16)?;
        let o = self.u64s(offsets);
        let all = self.u32s(ids);
        let (lo, hi) = (o.get(v).copied(), o.get(v + 1).copied());
        let range = match (lo, hi) {
            (Some(lo), Some(hi)) if lo <= hi && hi <= all.len() as u64 => lo as usize..hi as usize,
            _ => {
                return Err(corrupt(
                    V2_NAMES[offsets],
                    self.ranges[offsets].0 + 8 * v,
                    format!("list of node {node} is out of range ({lo:?}..{hi:?})"),
                ))
            }
        };
        self.touch(ids, 4 * range.start, 4 * range.end)?;
        Ok(&all[range])
    }

    /// Ids of the walks started at `node`, ascending.
    pub(crate) fn starts(&self, node: NodeId) -> Result<&[u32], WalkIndexError> {
        self.list(sec::START_OFFSETS, sec::START_IDS, node)
    }

    /// Visit records at `node`: walk ids, one per recorded visit, ascending.
    pub(crate) fn visits(&self, node: NodeId) -> Result<&[u32], WalkIndexError> {
        self.list(sec::VISIT_OFFSETS, sec::VISIT_IDS, node)
    }

    /// The free slot ids, ascending.
    pub(crate) fn free_ids(&self) -> Result<&[u32], WalkIndexError> {
        let len = self.ranges[sec::FREE_IDS].1 - self.ranges[sec::FREE_IDS].0;
        self.touch(sec::FREE_IDS, 0, len)?;
        Ok(self.u32s(sec::FREE_IDS))
    }
}
