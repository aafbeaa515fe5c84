//! The walk index file format, version 1 (format-spec/walk-index.md describes every byte).
//!
//! Layout, all integers and floats little-endian:
//!
//! | offset | size | type | meaning |
//! |---|---|---|---|
//! | 0 | 8 | bytes | magic `WALKIDX\0` |
//! | 8 | 4 | u32 | format version (1) |
//! | 12 | 4 | u32 | section count (2) |
//! | 16 | 8 | f64 | alpha |
//! | 24 | 8 | f64 | walks per link |
//! | 32 | 8 | u64 | build seed |
//! | 40 | 8 | u64 | node count |
//! | 48 | 8 | u64 | walk slot count |
//! | 56 | 8 | u64 | total nodes in walks |
//! | 64 | 24 * n | dir | per section: kind u32, CRC32 u32, offset u64, length u64 |
//! | 64 + 24n | 4 | u32 | CRC32 of bytes `0 .. 64 + 24n` |
//! | 68 + 24n | .. | | sections: walk table (kind 1), walk nodes (kind 2) |
//!
//! Walk table entry (u32 per slot): bits 0..31 the walk's node count (0 = free slot), bit 31
//! set when the walk died. Walk nodes: the node ids (u32) of all walks, in slot order.
//! Only the logical content is stored; visit records, start lists and the free-slot heap are
//! derived on load, so they can never disagree with the walks.

use crate::graph::NodeId;
use std::cmp::Reverse;
use std::io::Write;

use super::store::{WalkEnd, WalkIndex, WalkIndexParams};
use super::WalkIndexError;

/// The 8 bytes every walk index file starts with.
pub const MAGIC: [u8; 8] = *b"WALKIDX\0";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

const FIXED_HEADER: usize = 64;
const DIR_ENTRY: usize = 24;
const SECTION_COUNT: usize = 2;
const KIND_WALK_TABLE: u32 = 1;
const KIND_WALK_NODES: u32 = 2;
const DIED_BIT: u32 = 1 << 31;

/// One entry of the section directory, as stored (for `dump` tools and error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// Section kind: 1 = walk table, 2 = walk nodes.
    pub kind: u32,
    /// Human-readable name of the kind.
    pub name: &'static str,
    /// Byte offset of the section in the file.
    pub offset: u64,
    /// Length of the section in bytes.
    pub length: u64,
    /// CRC32 (IEEE, crc32fast) of the section's bytes.
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
    pub walks_per_link: f64,
    /// Build seed.
    pub seed: u64,
    /// Number of node ids covered.
    pub node_count: u64,
    /// Number of walk slots (used or free).
    pub walk_slots: u64,
    /// Total number of node entries over all walks.
    pub walk_nodes: u64,
    /// The stored CRC32 of header and directory.
    pub header_crc32: u32,
    /// The section directory, in file order.
    pub sections: Vec<SectionInfo>,
}

fn section_name(kind: u32) -> &'static str {
    match kind {
        KIND_WALK_TABLE => "walk table",
        KIND_WALK_NODES => "walk nodes",
        _ => "unknown",
    }
}

fn corrupt(section: &'static str, offset: usize, reason: impl Into<String>) -> WalkIndexError {
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
        self.bytes
            .get(at..at.saturating_add(N))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| {
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

/// Buffers little-endian words, feeding a CRC and (optionally) a writer.
struct Sink<'w, W: Write> {
    out: Option<&'w mut W>,
    crc: crc32fast::Hasher,
    buf: Vec<u8>,
}

impl<W: Write> Sink<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.crc.update(&self.buf);
        if let Some(out) = self.out.as_mut() {
            out.write_all(&self.buf)?;
        }
        self.buf.clear();
        Ok(())
    }
}

impl WalkIndex {
    fn table_entry(&self, i: usize) -> u32 {
        let died = if self.lens[i] > 0 && self.ends[i] == WalkEnd::Died {
            DIED_BIT
        } else {
            0
        };
        self.lens[i] | died
    }

    fn walk_node_total(&self) -> u64 {
        self.lens.iter().map(|&l| l as u64).sum()
    }

    /// Streams one section through `sink`: the walk table or the walk nodes.
    fn write_section<W: Write>(&self, kind: u32, sink: &mut Sink<'_, W>) -> std::io::Result<()> {
        for i in 0..self.lens.len() {
            if kind == KIND_WALK_TABLE {
                sink.put(&self.table_entry(i).to_le_bytes())?;
            } else {
                let start = self.offsets[i] as usize;
                for &n in &self.arena[start..start + self.lens[i] as usize] {
                    sink.put(&n.to_le_bytes())?;
                }
            }
        }
        sink.flush()
    }

    fn section_crc(&self, kind: u32) -> u32 {
        let mut sink: Sink<'_, Vec<u8>> = Sink {
            out: None,
            crc: crc32fast::Hasher::new(),
            buf: Vec::with_capacity(1 << 16),
        };
        // Without a writer the sink cannot fail.
        let _ = self.write_section(kind, &mut sink);
        sink.crc.finalize()
    }

    /// Size in bytes of the encoded index.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER
            + DIR_ENTRY * SECTION_COUNT
            + 4
            + 4 * self.lens.len()
            + 4 * self.walk_node_total() as usize
    }

    /// Writes the index in the version-1 format (layout in the module comment and in
    /// format-spec/walk-index.md). Only logical content is written, so `decode` of the bytes
    /// compares equal to `self` and repairs identically.
    pub fn encode_to<W: Write>(&self, w: &mut W) -> Result<(), WalkIndexError> {
        let table_len = 4 * self.lens.len() as u64;
        let nodes_len = 4 * self.walk_node_total();
        let first = (FIXED_HEADER + DIR_ENTRY * SECTION_COUNT + 4) as u64;
        let mut header = Vec::with_capacity(first as usize);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&(SECTION_COUNT as u32).to_le_bytes());
        header.extend_from_slice(&self.params.alpha.to_le_bytes());
        header.extend_from_slice(&self.params.walks_per_link.to_le_bytes());
        header.extend_from_slice(&self.params.seed.to_le_bytes());
        header.extend_from_slice(&(self.node_count as u64).to_le_bytes());
        header.extend_from_slice(&(self.lens.len() as u64).to_le_bytes());
        header.extend_from_slice(&self.walk_node_total().to_le_bytes());
        for (kind, offset, length) in [
            (KIND_WALK_TABLE, first, table_len),
            (KIND_WALK_NODES, first + table_len, nodes_len),
        ] {
            header.extend_from_slice(&kind.to_le_bytes());
            header.extend_from_slice(&self.section_crc(kind).to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            header.extend_from_slice(&length.to_le_bytes());
        }
        let crc = crc32fast::hash(&header);
        header.extend_from_slice(&crc.to_le_bytes());
        w.write_all(&header)?;
        let mut sink = Sink {
            out: Some(w),
            crc: crc32fast::Hasher::new(),
            buf: Vec::with_capacity(1 << 16),
        };
        self.write_section(KIND_WALK_TABLE, &mut sink)?;
        self.write_section(KIND_WALK_NODES, &mut sink)?;
        Ok(())
    }

    /// Reads and checks the header and section directory of an encoded index (magic,
    /// version, header CRC, section bounds), without reading the sections.
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
        if version != FORMAT_VERSION {
            return Err(corrupt(
                "header",
                8,
                format!("unsupported format version {version}"),
            ));
        }
        let section_count = r.u32(12)? as usize;
        if section_count != SECTION_COUNT {
            return Err(corrupt(
                "header",
                12,
                format!("version 1 has {SECTION_COUNT} sections, header says {section_count}"),
            ));
        }
        let crc_at = FIXED_HEADER + DIR_ENTRY * SECTION_COUNT;
        let stored_crc = r.u32(crc_at)?;
        if crc32fast::hash(&bytes[..crc_at]) != stored_crc {
            return Err(corrupt("header", crc_at, "header checksum mismatch"));
        }
        let mut sections = Vec::with_capacity(SECTION_COUNT);
        let mut expected_offset = (crc_at + 4) as u64;
        for s in 0..SECTION_COUNT {
            let at = FIXED_HEADER + DIR_ENTRY * s;
            let kind = r.u32(at)?;
            let info = SectionInfo {
                kind,
                name: section_name(kind),
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
            if info.offset != expected_offset {
                return Err(corrupt(
                    "header",
                    at + 8,
                    format!(
                        "section {} starts at {}, expected {expected_offset}",
                        info.name, info.offset
                    ),
                ));
            }
            expected_offset = info
                .offset
                .checked_add(info.length)
                .ok_or_else(|| corrupt("header", at + 16, "section length overflows"))?;
            sections.push(info);
        }
        if expected_offset != bytes.len() as u64 {
            return Err(corrupt(
                "header",
                bytes.len(),
                format!(
                    "file is {} bytes, sections end at {expected_offset}",
                    bytes.len()
                ),
            ));
        }
        Ok(FileHeader {
            version,
            alpha: r.f64(16)?,
            walks_per_link: r.f64(24)?,
            seed: r.u64(32)?,
            node_count: r.u64(40)?,
            walk_slots: r.u64(48)?,
            walk_nodes: r.u64(56)?,
            header_crc32: stored_crc,
            sections,
        })
    }

    /// Decodes an index written by [`WalkIndex::encode_to`], checking every checksum, length
    /// and id: damaged bytes give [`WalkIndexError::Corrupt`] naming the byte offset, never a
    /// panic and never an index with wrong content.
    pub fn decode(bytes: &[u8]) -> Result<WalkIndex, WalkIndexError> {
        WalkIndex::decode_with_node_limit(bytes, u32::MAX as u64 + 1)
    }

    /// [`WalkIndex::decode`] for a file whose index can cover at most `max_nodes` node ids
    /// (the graph it belongs to). Decoding allocates per-node tables for the header's node
    /// count before reading any walk, so a caller that knows the graph must pass its size: a
    /// damaged (or hostile) header with a valid checksum could otherwise ask for billions.
    pub fn decode_with_node_limit(
        bytes: &[u8],
        max_nodes: u64,
    ) -> Result<WalkIndex, WalkIndexError> {
        let header = WalkIndex::read_header(bytes)?;
        if header.node_count > max_nodes {
            return Err(corrupt(
                "header",
                40,
                format!(
                    "node count {} exceeds the graph's {max_nodes} nodes",
                    header.node_count
                ),
            ));
        }
        let params = WalkIndexParams {
            alpha: header.alpha,
            walks_per_link: header.walks_per_link,
            seed: header.seed,
        };
        params
            .validate()
            .map_err(|e| corrupt("header", 16, format!("bad parameters: {e}")))?;
        if header.node_count > u32::MAX as u64 + 1 {
            return Err(corrupt("header", 40, "node count exceeds the u32 id space"));
        }
        if header.walk_slots > u32::MAX as u64 {
            return Err(corrupt(
                "header",
                48,
                "walk slot count exceeds the u32 id space",
            ));
        }
        let (table, nodes) = (&header.sections[0], &header.sections[1]);
        if Some(table.length) != header.walk_slots.checked_mul(4) {
            return Err(corrupt(
                "header",
                FIXED_HEADER + 16,
                "walk table length does not match the slot count",
            ));
        }
        if Some(nodes.length) != header.walk_nodes.checked_mul(4) {
            return Err(corrupt(
                "header",
                FIXED_HEADER + DIR_ENTRY + 16,
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
        let mut index = WalkIndex::empty(params, node_count);
        index.offsets.reserve_exact(slots);
        index.lens.reserve_exact(slots);
        index.caps.reserve_exact(slots);
        index.ends.reserve_exact(slots);
        index.arena.reserve_exact(header.walk_nodes as usize);
        let table_reader = Reader {
            bytes,
            section: "walk table",
        };
        let nodes_reader = Reader {
            bytes,
            section: "walk nodes",
        };
        let mut node_at = nodes.offset as usize;
        let nodes_end = (nodes.offset + nodes.length) as usize;
        for i in 0..slots {
            let at = table.offset as usize + 4 * i;
            let entry = table_reader.u32(at)?;
            let len = (entry & !DIED_BIT) as usize;
            let died = entry & DIED_BIT != 0;
            if len == 0 && died {
                return Err(corrupt(
                    "walk table",
                    at,
                    format!("free slot {i} is marked died"),
                ));
            }
            if len > (nodes_end - node_at) / 4 {
                return Err(corrupt(
                    "walk table",
                    at,
                    format!("walk {i} of {len} nodes overruns the walk nodes section"),
                ));
            }
            index.offsets.push(index.arena.len() as u64);
            index.lens.push(len as u32);
            index.caps.push(len as u32);
            index.ends.push(if died {
                WalkEnd::Died
            } else {
                WalkEnd::Stopped
            });
            if len == 0 {
                index.free.push(Reverse(i as u32));
                continue;
            }
            for p in 0..len {
                let node: NodeId = nodes_reader.u32(node_at)?;
                if node as usize >= node_count {
                    return Err(corrupt(
                        "walk nodes",
                        node_at,
                        format!("node id {node} of walk {i} is out of range ({node_count} nodes)"),
                    ));
                }
                if p == 0 {
                    index.starts[node as usize].push(i as u32);
                }
                index.arena.push(node);
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
        index.rebuild_records();
        Ok(index)
    }
}
