//! The walk index file format (format-spec/walk-index.md describes every byte).
//!
//! Version 2 (written and served in place from the map):
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 8 | bytes | magic `WALKIDX\0` |
//! | 8 | 4 | u32 | format version (2) |
//! | 12 | 4 | u32 | section count (9) |
//! | 16 | 8 | f64 | alpha |
//! | 24 | 8 | f64 | walks per link |
//! | 32 | 8 | u64 | build seed |
//! | 40 | 8 | u64 | node count `n` |
//! | 48 | 8 | u64 | walk slot count `S` |
//! | 56 | 8 | u64 | total nodes in walks `N` |
//! | 64 | 4 | u32 | log2 of the checksum block size |
//! | 68 | 4 | u32 | reserved, 0 |
//! | 72 | 24 * 9 | dir | per section: kind u32, CRC32 u32, offset u64, length u64 |
//! | 288 | 4 | u32 | CRC32 of bytes `0 .. 288` |
//! | 292 | 4 | | zero padding |
//! | 296 | .. | | sections, each at an 8-aligned offset, zero padding between |
//!
//! Sections: 1 slot table `u32[S]` (length, bit 31 = died), 2 slot offsets `u64[S]` (index of
//! the walk's first node in section 3), 3 walk nodes `u32[N]`, 4 start offsets `u64[n+1]`,
//! 5 start ids `u32`, 6 visit offsets `u64[n+1]`, 7 visit ids `u32`, 8 free slot ids `u32`
//! (ascending), 9 block checksums: the CRC32 of every block of sections 1..8, in order. The
//! derived tables (4..8) are stored so that a reader serves them from the map without a pass
//! over the file; each block is checked the first time it is read.
//!
//! Version 1 (read only, for databases written before version 2): a 116-byte header and two
//! sections, the slot table and the walk nodes, each with one whole-section CRC32.

use crate::graph::NodeId;

use super::store::{WalkEnd, WalkIndexParams, MAX_WALK_NODES};
use super::WalkIndexError;

/// The 8 bytes every walk index file starts with.
pub const MAGIC: [u8; 8] = *b"WALKIDX\0";
/// The format version this build writes. Version 1 files are still read.
pub const FORMAT_VERSION: u32 = 2;

/// Bytes before the first section of a version 2 file.
pub(crate) const V2_DATA_START: usize = 296;
const V2_DIR_AT: usize = 72;
const V2_CRC_AT: usize = 288;
pub(crate) const V2_SECTIONS: usize = 9;
const DIR_ENTRY: usize = 24;
/// Block size exponent this build writes: 64 KiB blocks, one CRC32 each.
pub(crate) const BLOCK_SHIFT: u32 = 16;
const MIN_BLOCK_SHIFT: u32 = 12;
const MAX_BLOCK_SHIFT: u32 = 24;
pub(crate) const DIED_BIT: u32 = 1 << 31;

const V1_FIXED_HEADER: usize = 64;
const V1_SECTIONS: usize = 2;

/// Section indices (kind - 1) of version 2.
pub(crate) mod sec {
    pub(crate) const SLOT_TABLE: usize = 0;
    pub(crate) const SLOT_OFFSETS: usize = 1;
    pub(crate) const WALK_NODES: usize = 2;
    pub(crate) const START_OFFSETS: usize = 3;
    pub(crate) const START_IDS: usize = 4;
    pub(crate) const VISIT_OFFSETS: usize = 5;
    pub(crate) const VISIT_IDS: usize = 6;
    pub(crate) const FREE_IDS: usize = 7;
    pub(crate) const CHECKSUMS: usize = 8;
}

/// Names of the version 2 sections, by kind - 1.
pub(crate) const V2_NAMES: [&str; V2_SECTIONS] = [
    "slot table",
    "slot offsets",
    "walk nodes",
    "start offsets",
    "start ids",
    "visit offsets",
    "visit ids",
    "free ids",
    "block checksums",
];

/// One entry of the section directory, as stored (for `dump` tools and error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// Section kind (1-based; names in format-spec/walk-index.md).
    pub kind: u32,
    /// Human-readable name of the kind.
    pub name: &'static str,
    /// Byte offset of the section in the file.
    pub offset: u64,
    /// Length of the section in bytes.
    pub length: u64,
    /// Version 1: CRC32 of the section. Version 2: the block-checksum section's CRC32, 0 for
    /// the data sections (their blocks are checksummed in the block-checksum section).
    pub crc32: u32,
}

/// The header fields of a walk index file, validated by its header checksum.
#[derive(Clone, Debug, PartialEq)]
pub struct FileHeader {
    /// Format version.
    pub version: u32,
    /// Restart probability the walks were generated with.
    pub alpha: f64,
    /// Walks per walkable link of the start node.
    pub walks_per_node: f64,
    /// Build seed.
    pub seed: u64,
    /// Number of node ids covered.
    pub node_count: u64,
    /// Number of walk slots (used or free).
    pub walk_slots: u64,
    /// Total number of node entries over all walks.
    pub walk_nodes: u64,
    /// Bytes per checksummed block (version 2; 0 in version 1).
    pub block_size: u64,
    /// The stored CRC32 of header and directory.
    pub header_crc32: u32,
    /// The section directory, in file order.
    pub sections: Vec<SectionInfo>,
}

impl FileHeader {
    /// The build parameters the header states (not yet validated).
    pub fn params(&self) -> WalkIndexParams {
        WalkIndexParams {
            alpha: self.alpha,
            walks_per_node: self.walks_per_node,
            seed: self.seed,
        }
    }
}

pub(crate) fn corrupt(
    section: &'static str,
    offset: usize,
    reason: impl Into<String>,
) -> WalkIndexError {
    WalkIndexError::Corrupt {
        section,
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// Reads little-endian fields with bounds checks; a short read is a `Corrupt` error.
struct Reader<'a> {
    bytes: &'a [u8],
    section: &'static str,
}

impl Reader<'_> {
    fn array<const N: usize>(&self, at: usize) -> Result<[u8; N], WalkIndexError> {
        crate::format::le::bytes(self.bytes, at).ok_or_else(|| {
            corrupt(
                self.section,
                at,
                format!("file ends before byte {}", at + N),
            )
        })
    }
    fn u32(&self, at: usize) -> Result<u32, WalkIndexError> {
        Ok(u32::from_le_bytes(self.array(at)?))
    }
    fn u64(&self, at: usize) -> Result<u64, WalkIndexError> {
        Ok(u64::from_le_bytes(self.array(at)?))
    }
    fn f64(&self, at: usize) -> Result<f64, WalkIndexError> {
        Ok(f64::from_le_bytes(self.array(at)?))
    }
}

pub(crate) fn align8(x: u64) -> u64 {
    x.div_ceil(8) * 8
}

/// Number of checksum blocks of a section of `length` bytes.
pub(crate) fn blocks_of(length: u64, shift: u32) -> u64 {
    length.div_ceil(1 << shift)
}

/// Reads and checks the header and section directory of a walk index file of either version
/// (magic, version, header CRC, section kinds and bounds), without reading the sections.
pub fn read_header(bytes: &[u8]) -> Result<FileHeader, WalkIndexError> {
    let r = Reader {
        bytes,
        section: "header",
    };
    let magic: [u8; 8] = r.array(0)?;
    if magic != MAGIC {
        return Err(corrupt("header", 0, "bad magic: not a walk index file"));
    }
    let version = r.u32(8)?;
    let (count, dir_at, crc_at, first, names): (usize, usize, usize, u64, &[&'static str]) =
        match version {
            1 => (
                V1_SECTIONS,
                V1_FIXED_HEADER,
                V1_FIXED_HEADER + DIR_ENTRY * V1_SECTIONS,
                (V1_FIXED_HEADER + DIR_ENTRY * V1_SECTIONS + 4) as u64,
                &["walk table", "walk nodes"],
            ),
            2 => (
                V2_SECTIONS,
                V2_DIR_AT,
                V2_CRC_AT,
                V2_DATA_START as u64,
                &V2_NAMES,
            ),
            v => {
                return Err(corrupt(
                    "header",
                    8,
                    format!("unsupported format version {v}"),
                ))
            }
        };
    let section_count = r.u32(12)? as usize;
    if section_count != count {
        return Err(corrupt(
            "header",
            12,
            format!("version {version} has {count} sections, header says {section_count}"),
        ));
    }
    let stored_crc = r.u32(crc_at)?;
    if crc32fast::hash(&bytes[..crc_at]) != stored_crc {
        return Err(corrupt("header", crc_at, "header checksum mismatch"));
    }
    if version == 2 && r.u32(V2_CRC_AT + 4)? != 0 {
        return Err(corrupt("header", 292, "header padding is not zero"));
    }
    let block_size = if version == 2 {
        let shift = r.u32(64)?;
        if !(MIN_BLOCK_SHIFT..=MAX_BLOCK_SHIFT).contains(&shift) || r.u32(68)? != 0 {
            return Err(corrupt(
                "header",
                64,
                format!("block size 2^{shift} is outside 2^{MIN_BLOCK_SHIFT}..2^{MAX_BLOCK_SHIFT} or reserved bytes are set"),
            ));
        }
        1u64 << shift
    } else {
        0
    };
    let mut sections = Vec::with_capacity(count);
    let mut expected = first;
    for (s, &name) in names.iter().enumerate() {
        let at = dir_at + DIR_ENTRY * s;
        let kind = r.u32(at)?;
        let info = SectionInfo {
            kind,
            name,
            crc32: r.u32(at + 4)?,
            offset: r.u64(at + 8)?,
            length: r.u64(at + 16)?,
        };
        if kind != s as u32 + 1 {
            return Err(corrupt(
                "header",
                at,
                format!("section {s} has kind {kind}, expected {}", s + 1),
            ));
        }
        if info.offset != expected {
            return Err(corrupt(
                "header",
                at + 8,
                format!(
                    "section {name} starts at {}, expected {expected}",
                    info.offset
                ),
            ));
        }
        let end = info
            .offset
            .checked_add(info.length)
            .ok_or_else(|| corrupt("header", at + 16, "section length overflows"))?;
        if version == 2 && info.kind as usize != sec::CHECKSUMS + 1 && info.crc32 != 0 {
            return Err(corrupt(
                "header",
                at + 4,
                "a data section's checksum field is not 0",
            ));
        }
        // Version 2 sections start 8-aligned; the last one ends the file.
        expected = if version == 2 && s + 1 < count {
            align8(end)
        } else {
            end
        };
        if end > bytes.len() as u64 {
            return Err(corrupt(
                "header",
                at + 16,
                format!(
                    "section {name} ends at {end}, beyond the file's {} bytes",
                    bytes.len()
                ),
            ));
        }
        sections.push(info);
    }
    if expected != bytes.len() as u64 {
        return Err(corrupt(
            "header",
            bytes.len(),
            format!("file is {} bytes, sections end at {expected}", bytes.len()),
        ));
    }
    Ok(FileHeader {
        version,
        alpha: r.f64(16)?,
        walks_per_node: r.f64(24)?,
        seed: r.u64(32)?,
        node_count: r.u64(40)?,
        walk_slots: r.u64(48)?,
        walk_nodes: r.u64(56)?,
        block_size,
        header_crc32: stored_crc,
        sections,
    })
}

/// Checks the header fields every version shares against their ranges and the caller's node
/// limit (the graph the index belongs to).
pub(crate) fn check_header_fields(h: &FileHeader, max_nodes: u64) -> Result<(), WalkIndexError> {
    if h.node_count > max_nodes {
        return Err(corrupt(
            "header",
            40,
            format!(
                "node count {} exceeds the graph's {max_nodes} nodes",
                h.node_count
            ),
        ));
    }
    h.params()
        .validate()
        .map_err(|e| corrupt("header", 16, format!("bad parameters: {e}")))?;
    if h.node_count > u32::MAX as u64 + 1 {
        return Err(corrupt("header", 40, "node count exceeds the u32 id space"));
    }
    if h.walk_slots > u32::MAX as u64 {
        return Err(corrupt(
            "header",
            48,
            "walk slot count exceeds the u32 id space",
        ));
    }
    Ok(())
}

/// The full content of a version 2 file as owned columns: the logical content (slot table
/// and walk nodes) and the tables derived from it. The encoder writes them; a version 1 file
/// is migrated through them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Columns {
    pub(crate) slot_table: Vec<u32>,
    pub(crate) slot_offsets: Vec<u64>,
    pub(crate) walk_nodes: Vec<u32>,
    pub(crate) start_offsets: Vec<u64>,
    pub(crate) start_ids: Vec<u32>,
    pub(crate) visit_offsets: Vec<u64>,
    pub(crate) visit_ids: Vec<u32>,
    pub(crate) free_ids: Vec<u32>,
}

/// Length in nodes and end of a slot table entry (`None`: a free slot).
pub(crate) fn slot_entry(entry: u32) -> Option<(usize, WalkEnd)> {
    let len = (entry & !DIED_BIT) as usize;
    (len > 0).then_some((
        len,
        if entry & DIED_BIT != 0 {
            WalkEnd::Died
        } else {
            WalkEnd::Stopped
        },
    ))
}

pub(crate) fn encode_entry(len: usize, end: WalkEnd) -> u32 {
    len as u32
        | match end {
            WalkEnd::Died if len > 0 => DIED_BIT,
            _ => 0,
        }
}

/// A counting sort of `(node, walk id)` pairs given in ascending walk id: per-node id lists
/// come out ascending. Returns (offsets `u64[n+1]`, ids).
/// Groups `(node, id)` pairs by node (a counting sort): per-node offsets and the ids in pair
/// order. `pairs` is called twice (count, then fill) instead of the pairs being held: at the
/// index build's peak a held list would cost 8 bytes per visit.
fn group_by_node<I: Iterator<Item = (NodeId, u32)>>(
    node_count: usize,
    pairs: impl Fn() -> I,
) -> (Vec<u64>, Vec<u32>) {
    let mut offsets = vec![0u64; node_count + 1];
    for (n, _) in pairs() {
        offsets[n as usize + 1] += 1;
    }
    for i in 0..node_count {
        offsets[i + 1] += offsets[i];
    }
    let mut fill: Vec<u64> = offsets[..node_count].to_vec();
    let mut ids = vec![0u32; offsets[node_count] as usize];
    for (n, id) in pairs() {
        ids[fill[n as usize] as usize] = id;
        fill[n as usize] += 1;
    }
    (offsets, ids)
}

impl Columns {
    /// Builds every column from the logical content: `walk(id)` for each slot id below
    /// `slots`, every node below `node_count`.
    pub(crate) fn from_walks<'a>(
        node_count: usize,
        slots: usize,
        mut walk: impl FnMut(u32) -> Result<Option<(&'a [NodeId], WalkEnd)>, WalkIndexError>,
    ) -> Result<Columns, WalkIndexError> {
        let mut c = Columns {
            slot_table: Vec::with_capacity(slots),
            slot_offsets: Vec::with_capacity(slots),
            ..Columns::default()
        };
        // Per slot, the walk's recorded length (its visits), `FREE` for a free slot: 4 bytes
        // per walk, from which starts and visits are grouped without a list of pairs.
        const FREE: u32 = u32::MAX;
        let mut recorded: Vec<u32> = Vec::with_capacity(slots);
        for id in 0..slots as u32 {
            c.slot_offsets.push(c.walk_nodes.len() as u64);
            match walk(id)? {
                None => {
                    c.slot_table.push(0);
                    c.free_ids.push(id);
                    recorded.push(FREE);
                }
                Some((nodes, end)) => {
                    c.slot_table.push(encode_entry(nodes.len(), end));
                    c.walk_nodes.extend_from_slice(nodes);
                    recorded.push(super::WalkIndex::recorded_len(nodes.len(), end) as u32);
                }
            }
        }
        let walks = || {
            recorded
                .iter()
                .enumerate()
                .filter(|&(_, &r)| r != FREE)
                .map(|(id, &r)| (id as u32, c.slot_offsets[id] as usize, r as usize))
        };
        let starts = group_by_node(node_count, || {
            walks().map(|(id, at, _)| (c.walk_nodes[at], id))
        });
        let visits = group_by_node(node_count, || {
            walks().flat_map(|(id, at, r)| c.walk_nodes[at..at + r].iter().map(move |&n| (n, id)))
        });
        (c.start_offsets, c.start_ids) = starts;
        (c.visit_offsets, c.visit_ids) = visits;
        Ok(c)
    }

    /// Frees the column of section `s`.
    fn release(&mut self, s: usize) {
        match s {
            sec::SLOT_TABLE => self.slot_table = Vec::new(),
            sec::SLOT_OFFSETS => self.slot_offsets = Vec::new(),
            sec::WALK_NODES => self.walk_nodes = Vec::new(),
            sec::START_OFFSETS => self.start_offsets = Vec::new(),
            sec::START_IDS => self.start_ids = Vec::new(),
            sec::VISIT_OFFSETS => self.visit_offsets = Vec::new(),
            sec::VISIT_IDS => self.visit_ids = Vec::new(),
            sec::FREE_IDS => self.free_ids = Vec::new(),
            _ => {}
        }
    }

    fn section_bytes(&self, s: usize) -> &[u8] {
        use bytemuck::cast_slice;
        match s {
            sec::SLOT_TABLE => cast_slice(&self.slot_table),
            sec::SLOT_OFFSETS => cast_slice(&self.slot_offsets),
            sec::WALK_NODES => cast_slice(&self.walk_nodes),
            sec::START_OFFSETS => cast_slice(&self.start_offsets),
            sec::START_IDS => cast_slice(&self.start_ids),
            sec::VISIT_OFFSETS => cast_slice(&self.visit_offsets),
            sec::VISIT_IDS => cast_slice(&self.visit_ids),
            sec::FREE_IDS => cast_slice(&self.free_ids),
            _ => &[],
        }
    }

    /// Encodes a version 2 file into `out`, which must be zeroed and exactly
    /// [`Columns::encoded_len`] bytes; the caller allocates it (8-aligned, to be served in
    /// place). Column values are written little-endian.
    /// Writes the version 2 encoding into `out` (of [`Columns::encoded_len`] bytes), freeing
    /// each column once it is copied: the index build's peak holds the columns and the file
    /// side by side for one column at a time, not for all of them.
    pub(crate) fn encode_into(
        mut self,
        params: &WalkIndexParams,
        node_count: usize,
        out: &mut [u8],
    ) {
        let (slots, walk_nodes) = (self.slot_table.len(), self.walk_nodes.len());
        let shift = BLOCK_SHIFT;
        let block = 1usize << shift;
        let mut dir: Vec<(u64, u64)> = Vec::with_capacity(V2_SECTIONS);
        let mut at = V2_DATA_START as u64;
        let mut checksums: Vec<u32> = Vec::new();
        for s in 0..V2_SECTIONS - 1 {
            let body = self.section_bytes(s);
            dir.push((at, body.len() as u64));
            let dst = &mut out[at as usize..at as usize + body.len()];
            copy_le(body, dst, s);
            for chunk in dst.chunks(block) {
                checksums.push(crc32fast::hash(chunk));
            }
            at = align8(at + body.len() as u64);
            self.release(s);
        }
        let sums: Vec<u8> = checksums.iter().flat_map(|c| c.to_le_bytes()).collect();
        dir.push((at, sums.len() as u64));
        out[at as usize..at as usize + sums.len()].copy_from_slice(&sums);
        let h = encode_header(params, node_count, slots, walk_nodes, &dir, &sums);
        out[..h.len()].copy_from_slice(&h);
    }

    /// Size in bytes of the version 2 encoding.
    pub(crate) fn encoded_len(&self) -> usize {
        let mut at = V2_DATA_START as u64;
        let mut blocks = 0;
        for s in 0..V2_SECTIONS - 1 {
            let len = self.section_bytes(s).len() as u64;
            blocks += blocks_of(len, BLOCK_SHIFT);
            at = align8(at + len);
        }
        (at + 4 * blocks) as usize
    }
}

/// The version 2 header (with its CRC): `dir` holds each section's (offset, length), `sums`
/// the bytes of the block-checksum section.
pub(crate) fn encode_header(
    params: &WalkIndexParams,
    node_count: usize,
    slots: usize,
    walk_nodes: usize,
    dir: &[(u64, u64)],
    sums: &[u8],
) -> Vec<u8> {
    let mut h: Vec<u8> = Vec::with_capacity(V2_DATA_START);
    h.extend_from_slice(&MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&(V2_SECTIONS as u32).to_le_bytes());
    h.extend_from_slice(&params.alpha.to_le_bytes());
    h.extend_from_slice(&params.walks_per_node.to_le_bytes());
    h.extend_from_slice(&params.seed.to_le_bytes());
    h.extend_from_slice(&(node_count as u64).to_le_bytes());
    h.extend_from_slice(&(slots as u64).to_le_bytes());
    h.extend_from_slice(&(walk_nodes as u64).to_le_bytes());
    h.extend_from_slice(&BLOCK_SHIFT.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    for (s, &(offset, length)) in dir.iter().enumerate() {
        let crc = if s == sec::CHECKSUMS {
            crc32fast::hash(sums)
        } else {
            0
        };
        h.extend_from_slice(&(s as u32 + 1).to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&offset.to_le_bytes());
        h.extend_from_slice(&length.to_le_bytes());
    }
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Copies a column's bytes to the file little-endian (elements are 4 bytes for every section
/// but the offset columns, which are 8).
fn copy_le(body: &[u8], dst: &mut [u8], s: usize) {
    if cfg!(target_endian = "little") {
        dst.copy_from_slice(body);
    } else {
        let width = match s {
            sec::SLOT_OFFSETS | sec::START_OFFSETS | sec::VISIT_OFFSETS => 8,
            _ => 4,
        };
        for (d, b) in dst.chunks_mut(width).zip(body.chunks(width)) {
            for (i, x) in b.iter().rev().enumerate() {
                d[i] = *x;
            }
        }
    }
}

/// Decodes a version 1 file into version 2 columns, checking every checksum, length and id:
/// damaged bytes give [`WalkIndexError::Corrupt`] naming the byte offset.
pub(crate) fn decode_v1(bytes: &[u8], header: &FileHeader) -> Result<Columns, WalkIndexError> {
    let (table, nodes) = (&header.sections[0], &header.sections[1]);
    if Some(table.length) != header.walk_slots.checked_mul(4) {
        return Err(corrupt(
            "header",
            V1_FIXED_HEADER + 16,
            "walk table length does not match the slot count",
        ));
    }
    if Some(nodes.length) != header.walk_nodes.checked_mul(4) {
        return Err(corrupt(
            "header",
            V1_FIXED_HEADER + DIR_ENTRY + 16,
            "walk nodes length does not match the node total",
        ));
    }
    for s in &header.sections {
        // read_header checked that every section lies within `bytes`.
        let body = &bytes[s.offset as usize..(s.offset + s.length) as usize];
        if crc32fast::hash(body) != s.crc32 {
            return Err(corrupt(
                s.name,
                s.offset as usize,
                "section checksum mismatch",
            ));
        }
    }
    let node_count = header.node_count as usize;
    let slots = header.walk_slots as usize;
    let table_reader = Reader {
        bytes,
        section: "walk table",
    };
    let nodes_reader = Reader {
        bytes,
        section: "walk nodes",
    };
    let mut walks: Vec<u32> = Vec::with_capacity(header.walk_nodes as usize);
    let mut spans: Vec<Option<(usize, usize, WalkEnd)>> = Vec::with_capacity(slots);
    let mut node_at = nodes.offset as usize;
    let nodes_end = (nodes.offset + nodes.length) as usize;
    for i in 0..slots {
        let at = table.offset as usize + 4 * i;
        let entry = table_reader.u32(at)?;
        let len = (entry & !DIED_BIT) as usize;
        if len == 0 && entry & DIED_BIT != 0 {
            return Err(corrupt(
                "walk table",
                at,
                format!("free slot {i} is marked died"),
            ));
        }
        if len > (nodes_end - node_at) / 4 || len > MAX_WALK_NODES {
            return Err(corrupt(
                "walk table",
                at,
                format!("walk {i} of {len} nodes overruns the walk nodes section"),
            ));
        }
        let Some((len, end)) = slot_entry(entry) else {
            spans.push(None);
            continue;
        };
        spans.push(Some((walks.len(), len, end)));
        for _ in 0..len {
            let node: NodeId = nodes_reader.u32(node_at)?;
            if node as usize >= node_count {
                return Err(corrupt(
                    "walk nodes",
                    node_at,
                    format!("node id {node} of walk {i} is out of range ({node_count} nodes)"),
                ));
            }
            walks.push(node);
            node_at += 4;
        }
    }
    if node_at != nodes_end {
        return Err(corrupt(
            "walk nodes",
            node_at,
            "walk nodes section is longer than the walks in the table",
        ));
    }
    Columns::from_walks(node_count, slots, |id| {
        Ok(spans[id as usize].map(|(at, len, end)| (&walks[at..at + len], end)))
    })
}

/// Per section of a file whose header parsed: `None` when its checksums match, else what is
/// wrong (version 1: the section CRC; version 2: every block of a data section against the
/// block-checksum section, and that section's own CRC). For `dump`.
pub fn section_status(bytes: &[u8], h: &FileHeader) -> Vec<Option<String>> {
    let body = |s: &SectionInfo| bytes.get(s.offset as usize..(s.offset + s.length) as usize);
    if h.version == 1 {
        return h
            .sections
            .iter()
            .map(|s| {
                (body(s).map(crc32fast::hash) != Some(s.crc32))
                    .then(|| format!("offset {}: section {} checksum mismatch", s.offset, s.name))
            })
            .collect();
    }
    let shift = h.block_size.trailing_zeros();
    let sums_info = &h.sections[sec::CHECKSUMS];
    let sums: Vec<u32> = crate::format::le::u32s(body(sums_info).unwrap_or(&[])).collect();
    let mut next = 0usize;
    let mut out = Vec::with_capacity(h.sections.len());
    for (i, s) in h.sections.iter().enumerate() {
        if i == sec::CHECKSUMS {
            out.push(
                (body(s).map(crc32fast::hash) != Some(s.crc32))
                    .then(|| format!("offset {}: section {} checksum mismatch", s.offset, s.name)),
            );
            continue;
        }
        let data = body(s).unwrap_or(&[]);
        let mut bad = Vec::new();
        for (b, chunk) in data.chunks(1 << shift).enumerate() {
            if sums.get(next) != Some(&crc32fast::hash(chunk)) {
                bad.push(s.offset + (b as u64) * h.block_size);
            }
            next += 1;
        }
        out.push((!bad.is_empty()).then(|| {
            format!(
                "section {}: {} block checksum mismatch(es), first at offset {}",
                s.name,
                bad.len(),
                bad[0]
            )
        }));
    }
    out
}
