//! Segment files: one generation of the whole adjacency as a little-endian CSR.
//!
//! ```text
//! header (256 bytes):
//!   0 magic "WALKSEG\0" | 8 version u32 | 12 flags u32 | 16 generation u64 | 24 checkpoint_lsn u64
//!   32 node_count u64 | 40 edge_count u64 | 48 relation_count u64 | 56 rel_width u8
//!   57 weight_width u8 | 58 reserved [6] | 64 section table: 8 x (offset u64, length u64,
//!   crc32 u32, reserved u32) | 252 header crc32 u32 (over bytes 0..252)
//! sections (each 8-byte aligned, in this order):
//!   0 out_offsets u32[n+1] | 1 out_dst u32[m] | 2 out_rel uW[m] | 3 out_weight f32|f64[m]
//!   4 in_offsets u32[n+1]  | 5 in_src u32[m]
//! ```
//!
//! Out-lists are sorted by (dst, rel); in-lists by (src, rel). An in-edge's relation and
//! weight are read from the out-list it mirrors: the `k`-th of a run of equal sources `s` in
//! `v`'s in-list is the `k`-th edge to `v` in `s`'s out-list (found by binary search), which
//! saves the 4-byte position column version 1 stored per edge. Relation ids take 1, 2 or 4
//! bytes and weights 4 bytes (f32, only when every weight is exactly an f32) or 8 (f64): the
//! narrowest width that loses nothing. Opening checks the header only (O(1)); the first read
//! of the data checks every section's CRC and the structure once ([`Segment::check`]).

use crate::format::le;
use std::sync::OnceLock;

use crate::backend::FileBytes;
use crate::error::{CorruptionError, Error, Result};
use crate::format::crc32;
use std::sync::Arc;

use crate::graph::{Adjacency, CsrGraph, Link, NodeId, RelId};
use crate::memory::{prefer_huge_pages, zeroed_table};

pub(crate) use crate::layout::SEGMENT_DIR;
const MAGIC: &[u8; 8] = b"WALKSEG\0";
const VERSION: u32 = 2;
pub(crate) const HEADER_LEN: usize = 256;
const SECTION_COUNT: usize = 6;
const SECTION_NAMES: [&str; SECTION_COUNT] = [
    "out_offsets",
    "out_dst",
    "out_rel",
    "out_weight",
    "in_offsets",
    "in_src",
];

/// The decoded fixed header of a segment file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SegmentHeader {
    pub(crate) version: u32,
    pub(crate) flags: u32,
    pub(crate) generation: u64,
    pub(crate) checkpoint_lsn: u64,
    pub(crate) node_count: u64,
    pub(crate) edge_count: u64,
    pub(crate) relation_count: u64,
    pub(crate) rel_width: u8,
    pub(crate) weight_width: u8,
    /// (name, offset, length, crc32) of each section.
    pub(crate) sections: Vec<(&'static str, u64, u64, u32)>,
}

/// A memory-mapped segment.
pub(crate) struct Segment {
    name: String,
    bytes: FileBytes,
    header: SegmentHeader,
    checked: OnceLock<std::result::Result<(), CorruptionError>>,
    /// The segment's walkable links as an in-memory CSR, built on demand (walk repairs and
    /// query projections read it instead of decoding columns step by step).
    links: OnceLock<Arc<CsrGraph>>,
    /// Runs after the map is released, when the last reference goes: deletes a retired
    /// generation's file.
    on_drop: parking_lot::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Drop for Segment {
    fn drop(&mut self) {
        if let Some(action) = self.on_drop.get_mut().take() {
            // Unmap first: the file is deleted only once nothing maps it.
            self.bytes = FileBytes::from_vec(Vec::new());
            action();
        }
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Element `index` of a `u32` column. Every column is sliced to its section, whose bounds
/// `Segment::open` checked against the header's counts, and every index a caller passes is
/// below those counts (offsets are checked monotonic and at most the edge count by `check`
/// before any edge is read): the read is always in range, and the 0 for one past the end is
/// never produced.
#[inline]
fn le_u32(bytes: &[u8], index: usize) -> u32 {
    crate::format::le::u32_col(bytes, index).unwrap_or(0)
}

impl Segment {
    /// Validates the header (magic, version, checksum, section bounds) without reading data.
    pub(crate) fn open(name: &str, bytes: FileBytes) -> Result<Segment> {
        let header = parse_header(name, &bytes)?;
        Ok(Segment {
            name: name.to_string(),
            bytes,
            header,
            checked: OnceLock::new(),
            links: OnceLock::new(),
            on_drop: parking_lot::Mutex::new(None),
        })
    }

    /// An empty segment held in memory (generation 0 of a new database).
    pub(crate) fn empty() -> Segment {
        let bytes = encode_segment(0, 0, 0, &mut std::iter::empty());
        // An encoder output always parses; fall back to an impossible-to-serve state otherwise.
        match Segment::open("(empty)", FileBytes::from_vec(bytes)) {
            Ok(seg) => seg,
            Err(_) => unreachable!("the encoder's own empty segment parses"),
        }
    }

    /// The link projection, building it on first use. The caller has checked the segment.
    pub(crate) fn link_projection(&self, undirected: bool) -> Arc<CsrGraph> {
        Arc::clone(
            self.links
                .get_or_init(|| Arc::new(self.build_projection(undirected))),
        )
    }

    /// The link projection of this segment's graph: the CSR [`CsrGraph::from_adjacency`]
    /// builds from its out-lists and (undirected) in-lists, column for column.
    ///
    /// Undirected, a node's in-list is the counting sort of every out-edge by destination,
    /// sources in order (what [`Segment::check`] verifies), so the in-part is filled by one
    /// scan of the out-lists that places each edge at its destination's next slot with the
    /// relation and weight beside it: sequential reads and one scattered write per edge,
    /// where decoding the in-lists finds each edge's relation and weight by a binary search
    /// in another node's out-list (a chain of cache misses per edge: 3.0 s of a 30M-edge
    /// import). One node range per thread, each scanning every out-edge for the ones that
    /// land in it. Offsets that do not add up (an unchecked, damaged segment) fall back to
    /// decoding the lists.
    pub(crate) fn build_projection(&self, undirected: bool) -> CsrGraph {
        let view = SegmentLinks {
            segment: self,
            undirected,
        };
        if !undirected {
            // Out-lists alone: already a sequential decode.
            return CsrGraph::from_adjacency(&view);
        }
        self.transposed_projection()
            .unwrap_or_else(|| CsrGraph::from_adjacency(&view))
    }

    /// [`Segment::build_projection`] of an undirected graph by transposing the out-lists;
    /// `None` when the offsets or destinations are inconsistent.
    fn transposed_projection(&self) -> Option<CsrGraph> {
        use rayon::prelude::*;
        let n = self.header.node_count as usize;
        let m = usize::try_from(self.header.edge_count).ok()?;
        let (out_off, dst, in_off) = (self.section(0), self.section(1), self.section(4));
        let (rel_col, weight_col) = (self.section(2), self.section(3));
        let (rw, ww) = (self.header.rel_width, self.header.weight_width);
        let out_at = |u: usize| le_u32(out_off, u) as usize;
        let in_at = |u: usize| le_u32(in_off, u) as usize;
        if out_at(0) != 0 || in_at(0) != 0 || out_at(n) != m || in_at(n) != m {
            return None;
        }
        let mut offsets = Vec::with_capacity(n + 1);
        prefer_huge_pages(&mut offsets);
        offsets.push(0usize);
        for u in 0..n {
            let out = out_at(u + 1).checked_sub(out_at(u))?;
            let inn = in_at(u + 1).checked_sub(in_at(u))?;
            offsets.push(offsets[u] + out + inn);
        }
        let total = offsets[n];
        let mut targets: Vec<NodeId> = zeroed_table(total);
        let mut rels: Vec<RelId> = zeroed_table(total);
        let mut weights: Vec<f64> = zeroed_table(total);
        // One node range per thread, of about equal links; each owns its stretch of columns.
        // Every part scans all out-edges, so parts are capped: past 8 the scans cost more
        // than the extra threads give.
        let threads = rayon::current_num_threads().clamp(1, 8);
        let per_part = total.div_ceil(threads).max(1);
        let mut parts = Vec::with_capacity(threads);
        {
            let (mut t, mut r, mut w) = (&mut targets[..], &mut rels[..], &mut weights[..]);
            let mut lo = 0usize;
            while lo < n {
                let mut hi = lo + 1;
                while hi < n && offsets[hi] - offsets[lo] < per_part {
                    hi += 1;
                }
                let links = offsets[hi] - offsets[lo];
                let (t0, t1) = std::mem::take(&mut t).split_at_mut(links);
                let (r0, r1) = std::mem::take(&mut r).split_at_mut(links);
                let (w0, w1) = std::mem::take(&mut w).split_at_mut(links);
                (t, r, w) = (t1, r1, w1);
                parts.push((lo, hi, t0, r0, w0));
                lo = hi;
            }
        }
        let offsets_ref = &offsets;
        let filled = parts.into_par_iter().all(|(lo, hi, t, r, w)| {
            let base = offsets_ref[lo];
            // Out-parts: each node's out-list, in order, at the start of its links.
            for (u, &start) in offsets_ref.iter().enumerate().take(hi).skip(lo) {
                let at = start - base;
                for (k, p) in (out_at(u)..out_at(u + 1)).enumerate() {
                    t[at + k] = le_u32(dst, p);
                    r[at + k] = rel_in(rel_col, rw, p);
                    w[at + k] = weight_in(weight_col, ww, p);
                }
            }
            // In-parts: every out-edge into the range, in (source, position) order, at its
            // destination's next free slot after the out-part.
            let mut cursor: Vec<usize> = (lo..hi)
                .map(|v| offsets_ref[v] - base + (out_at(v + 1) - out_at(v)))
                .collect();
            for u in 0..n {
                for p in out_at(u)..out_at(u + 1) {
                    let v = le_u32(dst, p) as usize;
                    if !(lo..hi).contains(&v) {
                        continue;
                    }
                    let slot = cursor[v - lo];
                    if slot >= offsets_ref[v + 1] - base {
                        return false;
                    }
                    t[slot] = u as NodeId;
                    r[slot] = rel_in(rel_col, rw, p);
                    w[slot] = weight_in(weight_col, ww, p);
                    cursor[v - lo] = slot + 1;
                }
            }
            (lo..hi).all(|v| cursor[v - lo] == offsets_ref[v + 1] - base)
        });
        if !filled {
            return None;
        }
        // Each node's weight sum in link order, as the list decode adds them.
        let weight_sums: Vec<f64> = (0..n)
            .into_par_iter()
            .with_min_len(1 << 12)
            .map(|u| {
                weights[offsets[u]..offsets[u + 1]]
                    .iter()
                    .fold(0.0, |a, &b| a + b)
            })
            .collect();
        Some(CsrGraph::from_columns(
            offsets,
            targets,
            rels,
            weights,
            weight_sums,
            true,
        ))
    }

    /// The link projection if it was built.
    #[inline]
    pub(crate) fn link_projection_if_built(&self) -> Option<&CsrGraph> {
        self.links.get().map(|g| &**g)
    }

    /// Arranges for `action` to run when the last reference to this segment is dropped.
    pub(crate) fn on_last_drop(&self, action: Box<dyn FnOnce() + Send>) {
        *self.on_drop.lock() = Some(action);
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn header(&self) -> &SegmentHeader {
        &self.header
    }

    pub(crate) fn file_len(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub(crate) fn node_count(&self) -> u32 {
        self.header.node_count as u32
    }

    pub(crate) fn edge_count(&self) -> u64 {
        self.header.edge_count
    }

    fn section(&self, index: usize) -> &[u8] {
        let (_, offset, length, _) = self.header.sections[index];
        &self.bytes[offset as usize..(offset + length) as usize]
    }

    /// Checks every section's CRC and the CSR structure, once; later calls return the cached
    /// outcome. Every read path calls this before serving data from the segment.
    pub(crate) fn check(&self) -> Result<()> {
        self.checked
            .get_or_init(|| self.check_now())
            .clone()
            .map_err(Error::Corrupt)
    }

    fn check_now(&self) -> std::result::Result<(), CorruptionError> {
        for (index, &(section, offset, length, crc)) in self.header.sections.iter().enumerate() {
            if crc32(&[self.section(index)]) != crc {
                return Err(CorruptionError::new(
                    &self.name,
                    offset,
                    format!("section {section} ({length} bytes) checksum mismatch"),
                ));
            }
        }
        // Padding between sections must be zero and nothing may follow the last section, so
        // that every byte of the file is covered by a check.
        let mut covered = HEADER_LEN as u64;
        for &(section, offset, length, _) in &self.header.sections {
            match self.bytes.get(covered as usize..offset as usize) {
                Some(gap) if gap.iter().all(|&b| b == 0) => {}
                Some(_) => {
                    return Err(CorruptionError::new(
                        &self.name,
                        covered,
                        format!("non-zero padding before section {section}"),
                    ))
                }
                None => {
                    return Err(CorruptionError::new(
                        &self.name,
                        offset,
                        format!("section {section} overlaps the one before"),
                    ))
                }
            }
            covered = covered.max(offset + length);
        }
        if covered != self.bytes.len() as u64 {
            return Err(CorruptionError::new(
                &self.name,
                covered,
                "bytes after the last section",
            ));
        }
        let n = self.header.node_count as usize;
        let m = self.header.edge_count as usize;
        let err = |section: usize, index: usize, width: usize, what: String| {
            CorruptionError::new(
                &self.name,
                self.header.sections[section].1 + (index * width) as u64,
                what,
            )
        };
        let off = self.section(0);
        if le_u32(off, 0) != 0 || le_u32(off, n) as usize != m {
            return Err(err(0, 0, 4, "offsets do not span the edges".into()));
        }
        let ids = self.section(1);
        for u in 0..n {
            let (a, b) = (le_u32(off, u), le_u32(off, u + 1));
            if a > b {
                return Err(err(0, u + 1, 4, format!("offsets decrease at node {u}")));
            }
            let mut prev: Option<(u32, u32)> = None;
            for i in a as usize..b as usize {
                let id = le_u32(ids, i);
                if id as usize >= n {
                    return Err(err(1, i, 4, format!("node id {id} out of range")));
                }
                let rel = self.rel_at(i);
                if prev.is_some_and(|p| p >= (id, rel)) {
                    return Err(err(1, i, 4, format!("list of node {u} is not sorted")));
                }
                prev = Some((id, rel));
            }
        }
        for i in 0..m {
            let rel = self.rel_at(i);
            if u64::from(rel) >= self.header.relation_count {
                return Err(err(
                    2,
                    i,
                    self.header.rel_width as usize,
                    format!("relation id {rel} out of range"),
                ));
            }
            let w = self.weight_at(i);
            if !(w.is_finite() && w > 0.0) {
                return Err(err(
                    3,
                    i,
                    self.header.weight_width as usize,
                    format!("weight {w} is not finite and > 0"),
                ));
            }
        }
        // The in-CSR must be exactly the one the out-CSR determines (a counting sort over
        // destinations, sources in order), so every out-edge is mirrored once, in order.
        let mut expected = vec![0u32; n + 1];
        for i in 0..m {
            expected[le_u32(ids, i) as usize + 1] += 1;
        }
        for v in 0..n {
            expected[v + 1] += expected[v];
        }
        let in_off = self.section(4);
        for (v, &want) in expected.iter().enumerate() {
            if le_u32(in_off, v) != want {
                return Err(err(4, v, 4, format!("in-offset of node {v} is not {want}")));
            }
        }
        let in_src = self.section(5);
        let mut cursor = expected;
        for u in 0..n {
            for i in le_u32(off, u) as usize..le_u32(off, u + 1) as usize {
                let v = le_u32(ids, i) as usize;
                let slot = cursor[v] as usize;
                cursor[v] += 1;
                if le_u32(in_src, slot) != u as u32 {
                    return Err(err(
                        5,
                        slot,
                        4,
                        format!("in-edge {slot} of node {v} does not mirror an out-edge"),
                    ));
                }
            }
        }
        Ok(())
    }

    #[inline]
    fn rel_at(&self, i: usize) -> RelId {
        let s = self.section(2);
        match self.header.rel_width {
            1 => s.get(i).copied().unwrap_or(0) as RelId,
            2 => le::u16_col(s, i).map_or(0, RelId::from),
            _ => le_u32(s, i),
        }
    }

    #[inline]
    fn weight_at(&self, i: usize) -> f64 {
        let s = self.section(3);
        if self.header.weight_width == 4 {
            f32::from_bits(le_u32(s, i)) as f64
        } else {
            le::f64_col(s, i).unwrap_or(0.0)
        }
    }

    fn range(&self, offsets: usize, u: NodeId) -> std::ops::Range<usize> {
        if u as u64 >= self.header.node_count {
            return 0..0;
        }
        let off = self.section(offsets);
        let (a, b) = (
            le_u32(off, u as usize) as usize,
            le_u32(off, u as usize + 1) as usize,
        );
        // Damaged offsets give an empty list; `check` reports them before data is served.
        if a <= b && b as u64 <= self.header.edge_count {
            a..b
        } else {
            0..0
        }
    }

    /// Out-edges of `u` as (dst, rel, weight), sorted by (dst, rel).
    pub(crate) fn out_edges(&self, u: NodeId) -> SegEdges<'_> {
        SegEdges::new(self, u, self.range(0, u), false)
    }

    /// Number of out-edges of `u` (and, when `with_in`, in-edges too), from the offsets alone.
    pub(crate) fn edge_count_of(&self, u: NodeId, with_in: bool) -> usize {
        self.range(0, u).len() + if with_in { self.range(4, u).len() } else { 0 }
    }

    /// In-edges of `v` as (src, rel, weight), sorted by (src, rel).
    pub(crate) fn in_edges(&self, v: NodeId) -> SegEdges<'_> {
        SegEdges::new(self, v, self.range(4, v), true)
    }
}

impl Segment {
    /// Calls `f(src, dst, rel, weight)` for every out-edge of every node `u` for which
    /// `skip(u)` is false, by source then (dst, rel), decoding the columns in one sequential
    /// pass: the fast path for whole-graph scans. Damaged offsets end the scan early (`check`
    /// reports them before data is served).
    pub(crate) fn for_each_out_edge(
        &self,
        mut skip: impl FnMut(NodeId) -> bool,
        mut f: impl FnMut(NodeId, NodeId, RelId, f64),
    ) {
        let rels = self.section(2);
        let weights = self.section(3);
        match (self.header.rel_width, self.header.weight_width) {
            (1, 4) => self.scan_columns(
                rels.iter().map(|&r| r as RelId),
                f32s(weights),
                &mut skip,
                &mut f,
            ),
            (1, _) => self.scan_columns(
                rels.iter().map(|&r| r as RelId),
                f64s(weights),
                &mut skip,
                &mut f,
            ),
            (2, 4) => self.scan_columns(u16s(rels), f32s(weights), &mut skip, &mut f),
            (2, _) => self.scan_columns(u16s(rels), f64s(weights), &mut skip, &mut f),
            (_, 4) => self.scan_columns(u32s(rels), f32s(weights), &mut skip, &mut f),
            (_, _) => self.scan_columns(u32s(rels), f64s(weights), &mut skip, &mut f),
        }
    }

    fn scan_columns(
        &self,
        rels: impl Iterator<Item = RelId>,
        weights: impl Iterator<Item = f64>,
        skip: &mut impl FnMut(NodeId) -> bool,
        f: &mut impl FnMut(NodeId, NodeId, RelId, f64),
    ) {
        let mut edges = u32s(self.section(1)).zip(rels).zip(weights);
        let mut offsets = u32s(self.section(0));
        let Some(mut start) = offsets.next() else {
            return;
        };
        for (u, end) in offsets.enumerate().take(self.header.node_count as usize) {
            let Some(degree) = end.checked_sub(start) else {
                return;
            };
            start = end;
            let u = u as NodeId;
            if skip(u) {
                if degree > 0 && edges.nth(degree as usize - 1).is_none() {
                    return;
                }
                continue;
            }
            for _ in 0..degree {
                let Some(((dst, rel), weight)) = edges.next() else {
                    return;
                };
                f(u, dst, rel, weight);
            }
        }
    }
}

fn u32s(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    crate::format::le::u32s(bytes)
}

fn u16s(bytes: &[u8]) -> impl Iterator<Item = RelId> + '_ {
    crate::format::le::u16s(bytes).map(RelId::from)
}

fn f32s(bytes: &[u8]) -> impl Iterator<Item = f64> + '_ {
    u32s(bytes).map(|b| f32::from_bits(b) as f64)
}

fn f64s(bytes: &[u8]) -> impl Iterator<Item = f64> + '_ {
    crate::format::le::f64s(bytes)
}

/// The segment alone as an adjacency, for building its link projection.
struct SegmentLinks<'a> {
    segment: &'a Segment,
    undirected: bool,
}

impl Adjacency for SegmentLinks<'_> {
    fn node_count(&self) -> usize {
        self.segment.node_count() as usize
    }

    fn links(&self, u: NodeId) -> impl Iterator<Item = Link> + '_ {
        let inn = if self.undirected {
            Some(self.segment.in_edges(u))
        } else {
            None
        };
        self.segment
            .out_edges(u)
            .chain(inn.into_iter().flatten())
            .map(|(target, rel, weight)| Link {
                target,
                rel,
                weight,
            })
    }

    fn weight_sum(&self, u: NodeId) -> f64 {
        self.links(u).map(|l| l.weight).sum()
    }

    /// From the offsets alone: `links(u)` yields the out-list then (undirected) the in-list.
    fn degree(&self, u: NodeId) -> usize {
        self.segment.edge_count_of(u, self.undirected)
    }

    fn is_symmetric(&self) -> bool {
        self.undirected
    }
}

/// One node's edge list, decoded lazily from the segment's columns.
#[derive(Clone, Debug)]
pub(crate) struct SegEdges<'a> {
    /// Destinations (out) or sources (in) of the list, 4 bytes each.
    ids: &'a [u8],
    /// Relation column: the list's part (out) or the whole column (in).
    rels: &'a [u8],
    /// Weight column: the list's part (out) or the whole column (in).
    weights: &'a [u8],
    rel_width: u8,
    weight_width: u8,
    next: usize,
    len: usize,
    /// In-lists only: how to find each in-edge's out-edge.
    mirror: Option<Mirror<'a>>,
}

/// Locates the out-edges an in-list mirrors: the `k`-th entry of a run of equal sources `s`
/// is the `k`-th edge to `target` in `s`'s out-list.
#[derive(Clone, Debug)]
struct Mirror<'a> {
    target: NodeId,
    out_offsets: &'a [u8],
    out_dst: &'a [u8],
    /// Source of the current run and the out-position of its next edge.
    run: Option<(NodeId, usize)>,
}

impl Mirror<'_> {
    /// The out-position of the next in-edge, whose source is `src`.
    #[inline]
    fn position(&mut self, src: NodeId) -> usize {
        if let Some((s, p)) = &mut self.run {
            if *s == src {
                *p += 1;
                return *p;
            }
        }
        // Binary search for the first edge to `target` in `src`'s out-list (sorted by dst).
        let (mut lo, mut hi) = (
            le_u32(self.out_offsets, src as usize) as usize,
            le_u32(self.out_offsets, src as usize + 1) as usize,
        );
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if le_u32(self.out_dst, mid) < self.target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        self.run = Some((src, lo));
        lo
    }
}

#[inline]
fn rel_in(bytes: &[u8], width: u8, i: usize) -> RelId {
    match width {
        1 => bytes.get(i).map_or(0, |&b| b as RelId),
        2 => le::u16_col(bytes, i).map_or(0, RelId::from),
        _ => le_u32(bytes, i),
    }
}

#[inline]
fn weight_in(bytes: &[u8], width: u8, i: usize) -> f64 {
    if width == 4 {
        f32::from_bits(le_u32(bytes, i)) as f64
    } else {
        le::f64_col(bytes, i).unwrap_or(0.0)
    }
}

impl<'a> SegEdges<'a> {
    fn new(
        seg: &'a Segment,
        node: NodeId,
        range: std::ops::Range<usize>,
        incoming: bool,
    ) -> SegEdges<'a> {
        let (rw, ww) = (
            seg.header.rel_width as usize,
            seg.header.weight_width as usize,
        );
        let sub = |section: usize, width: usize| {
            seg.section(section)
                .get(range.start * width..range.end * width)
                .unwrap_or(&[])
        };
        let len = range.len();
        if incoming {
            SegEdges {
                ids: sub(5, 4),
                rels: seg.section(2),
                weights: seg.section(3),
                rel_width: rw as u8,
                weight_width: ww as u8,
                next: 0,
                len,
                mirror: Some(Mirror {
                    target: node,
                    out_offsets: seg.section(0),
                    out_dst: seg.section(1),
                    run: None,
                }),
            }
        } else {
            SegEdges {
                ids: sub(1, 4),
                rels: sub(2, rw),
                weights: sub(3, ww),
                rel_width: rw as u8,
                weight_width: ww as u8,
                next: 0,
                len,
                mirror: None,
            }
        }
    }
}

impl Iterator for SegEdges<'_> {
    type Item = (NodeId, RelId, f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.len {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let id = le_u32(self.ids, i);
        let at = match &mut self.mirror {
            None => i,
            Some(mirror) => mirror.position(id),
        };
        Some((
            id,
            rel_in(self.rels, self.rel_width, at),
            weight_in(self.weights, self.weight_width, at),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for SegEdges<'_> {}

fn parse_header(name: &str, bytes: &[u8]) -> Result<SegmentHeader> {
    let bad = |offset: u64, what: String| Error::corrupt(name, offset, what);
    if bytes.len() < HEADER_LEN {
        return Err(bad(
            0,
            format!(
                "file is {} bytes, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            ),
        ));
    }
    if &bytes[0..8] != MAGIC {
        return Err(bad(0, "bad magic: not a walkdb segment file".into()));
    }
    // Every read below lies inside the 256-byte header, whose presence was checked above, so
    // the 0 fallback of these reads is never taken.
    let header_u32 = |at: usize| le::u32(bytes, at).unwrap_or(0);
    let header_u64 = |at: usize| le::u64(bytes, at).unwrap_or(0);
    let stored = header_u32(252);
    if stored != crc32(&[&bytes[0..252]]) {
        return Err(bad(252, "header checksum mismatch".into()));
    }
    let version = header_u32(8);
    if version != VERSION {
        return Err(bad(8, format!("unsupported segment version {version}")));
    }
    let (node_count, edge_count) = (header_u64(32), header_u64(40));
    let (rel_width, weight_width) = (bytes[56], bytes[57]);
    if !matches!(rel_width, 1 | 2 | 4) {
        return Err(bad(
            56,
            format!("relation width {rel_width} is not 1, 2 or 4"),
        ));
    }
    if !matches!(weight_width, 4 | 8) {
        return Err(bad(
            57,
            format!("weight width {weight_width} is not 4 or 8"),
        ));
    }
    if node_count >= u32::MAX as u64 || edge_count >= u32::MAX as u64 {
        return Err(bad(32, "node or edge count beyond the u32 limit".into()));
    }
    let (n, m) = (node_count, edge_count);
    let expected = [
        (n + 1) * 4,
        m * 4,
        m * rel_width as u64,
        m * weight_width as u64,
        (n + 1) * 4,
        m * 4,
    ];
    let mut sections = Vec::with_capacity(SECTION_COUNT);
    for (index, &want) in expected.iter().enumerate() {
        let at = 64 + index * 24;
        let (offset, length) = (header_u64(at), header_u64(at + 8));
        let crc = header_u32(at + 16);
        if length != want {
            return Err(bad(
                at as u64 + 8,
                format!(
                    "section {} has length {length}, expected {want}",
                    SECTION_NAMES[index]
                ),
            ));
        }
        if offset < HEADER_LEN as u64
            || offset
                .checked_add(length)
                .is_none_or(|end| end > bytes.len() as u64)
        {
            return Err(bad(
                at as u64,
                format!("section {} lies outside the file", SECTION_NAMES[index]),
            ));
        }
        sections.push((SECTION_NAMES[index], offset, length, crc));
    }
    Ok(SegmentHeader {
        version,
        flags: header_u32(12),
        generation: header_u64(16),
        checkpoint_lsn: header_u64(24),
        node_count,
        edge_count,
        relation_count: header_u64(48),
        rel_width,
        weight_width,
        sections,
    })
}

/// Encodes a segment of `node_count` nodes from their sorted out-lists (`out_lists` yields the
/// out-list of node 0, 1, ... in order; each sorted by (dst, rel)).
pub(crate) fn encode_segment(
    generation: u64,
    checkpoint_lsn: u64,
    node_count: u32,
    out_lists: &mut dyn Iterator<Item = Vec<(NodeId, RelId, f64)>>,
) -> Vec<u8> {
    let n = node_count as usize;
    let mut out_offsets = Vec::with_capacity(n + 1);
    let mut out_dst: Vec<u32> = Vec::new();
    let mut out_rel: Vec<u32> = Vec::new();
    let mut out_weight: Vec<f64> = Vec::new();
    out_offsets.push(0u32);
    for list in out_lists.take(n) {
        for (dst, rel, w) in list {
            out_dst.push(dst);
            out_rel.push(rel);
            out_weight.push(w);
        }
        out_offsets.push(out_dst.len() as u32);
    }
    while out_offsets.len() < n + 1 {
        out_offsets.push(out_dst.len() as u32);
    }
    encode_columns(
        generation,
        checkpoint_lsn,
        n,
        &out_offsets,
        &out_dst,
        &out_rel,
        &out_weight,
    )
}

/// Encodes a segment from its out-CSR columns (lists sorted by (dst, rel)).
///
/// The file is laid out before any byte is written (every section's length follows from `n`,
/// the edge count and the two widths), allocated once and filled in place, the in-CSR on one
/// thread while the out-columns are converted on the others, then each section's checksum in
/// parallel. At 100M edges this was 5-6 s on one thread, with every section built in a buffer
/// of its own and then copied into the file's (twice the file in memory at the peak).
pub(crate) fn encode_columns(
    generation: u64,
    checkpoint_lsn: u64,
    n: usize,
    out_offsets: &[u32],
    out_dst: &[u32],
    out_rel: &[u32],
    out_weight: &[f64],
) -> Vec<u8> {
    use rayon::prelude::*;
    let m = out_dst.len();
    let relation_count = out_rel
        .par_iter()
        .with_min_len(1 << 16)
        .map(|&r| r as u64 + 1)
        .max()
        .unwrap_or(0);
    let rel_width: u8 = match relation_count {
        0..=256 => 1,
        257..=65536 => 2,
        _ => 4,
    };
    let weight_width: u8 = if out_weight
        .par_iter()
        .with_min_len(1 << 16)
        .all(|&w| (w as f32) as f64 == w)
    {
        4
    } else {
        8
    };
    let lengths: [usize; SECTION_COUNT] = [
        4 * out_offsets.len(),
        4 * m,
        rel_width as usize * m,
        weight_width as usize * m,
        4 * (n + 1),
        4 * m,
    ];
    // Each section starts 8-aligned; the padding before it is zeros.
    let mut places = [(0usize, 0usize); SECTION_COUNT];
    let mut end = HEADER_LEN;
    for (place, &length) in places.iter_mut().zip(&lengths) {
        let at = end.next_multiple_of(8);
        *place = (at, length);
        end = at + length;
    }
    let mut out: Vec<u8> = zeroed_table(end);
    {
        let mut parts: [&mut [u8]; SECTION_COUNT] = Default::default();
        let mut rest = &mut out[..];
        let mut consumed = 0;
        for (part, &(at, length)) in parts.iter_mut().zip(&places) {
            let (_, after) = std::mem::take(&mut rest).split_at_mut(at - consumed);
            let (section, after) = after.split_at_mut(length);
            *part = section;
            rest = after;
            consumed = at + length;
        }
        let [offsets_s, dst_s, rel_s, weight_s, in_offsets_s, in_src_s] = parts;
        rayon::join(
            || encode_in_columns(n, out_offsets, out_dst, in_offsets_s, in_src_s),
            || {
                rayon::join(
                    || {
                        put_u32s(offsets_s, out_offsets);
                        put_u32s(dst_s, out_dst);
                    },
                    || {
                        match rel_width {
                            1 => put_le(rel_s, out_rel, |r| [r as u8]),
                            2 => put_le(rel_s, out_rel, |r| (r as u16).to_le_bytes()),
                            _ => put_u32s(rel_s, out_rel),
                        }
                        if weight_width == 4 {
                            put_le(weight_s, out_weight, |w| (w as f32).to_le_bytes());
                        } else {
                            put_le(weight_s, out_weight, |w| w.to_le_bytes());
                        }
                    },
                )
            },
        );
    }
    let crcs: Vec<u32> = places
        .par_iter()
        .map(|&(at, length)| crc32(&[&out[at..at + length]]))
        .collect();
    out[0..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[16..24].copy_from_slice(&generation.to_le_bytes());
    out[24..32].copy_from_slice(&checkpoint_lsn.to_le_bytes());
    out[32..40].copy_from_slice(&(n as u64).to_le_bytes());
    out[40..48].copy_from_slice(&(m as u64).to_le_bytes());
    out[48..56].copy_from_slice(&relation_count.to_le_bytes());
    out[56] = rel_width;
    out[57] = weight_width;
    for (index, (&(offset, length), crc)) in places.iter().zip(crcs).enumerate() {
        let at = 64 + index * 24;
        out[at..at + 8].copy_from_slice(&(offset as u64).to_le_bytes());
        out[at + 8..at + 16].copy_from_slice(&(length as u64).to_le_bytes());
        out[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32(&[&out[0..252]]);
    out[252..256].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The in-CSR of the out-columns, as the segment's in-offsets and in-sources sections: a
/// counting sort over destinations, scanning sources in order so each in-list comes out sorted
/// by (src, rel). Sources are written straight into their bytes.
fn encode_in_columns(
    n: usize,
    out_offsets: &[u32],
    out_dst: &[u32],
    in_offsets_s: &mut [u8],
    in_src_s: &mut [u8],
) {
    let mut in_offsets = vec![0u32; n + 1];
    for &d in out_dst {
        in_offsets[d as usize + 1] += 1;
    }
    for i in 0..n {
        in_offsets[i + 1] += in_offsets[i];
    }
    put_u32s(in_offsets_s, &in_offsets);
    let mut cursor = in_offsets;
    for u in 0..n {
        let (start, end) = (out_offsets[u] as usize, out_offsets[u + 1] as usize);
        for &dst in &out_dst[start..end] {
            let slot = &mut cursor[dst as usize];
            let at = *slot as usize * 4;
            *slot += 1;
            in_src_s[at..at + 4].copy_from_slice(&(u as u32).to_le_bytes());
        }
    }
}

/// Writes `values` little-endian into `bytes` (4 bytes each), in parallel pieces.
fn put_u32s(bytes: &mut [u8], values: &[u32]) {
    put_le(bytes, values, u32::to_le_bytes);
}

/// Writes each value's `encode` into `bytes` (`W` bytes each), in parallel pieces.
fn put_le<T: Copy + Sync, const W: usize>(
    bytes: &mut [u8],
    values: &[T],
    encode: impl Fn(T) -> [u8; W] + Sync,
) {
    use rayon::prelude::*;
    const PIECE: usize = 1 << 16;
    bytes
        .par_chunks_mut(PIECE * W)
        .zip(values.par_chunks(PIECE))
        .for_each(|(bytes, values)| {
            for (slot, &value) in bytes.chunks_exact_mut(W).zip(values) {
                slot.copy_from_slice(&encode(value));
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoder before the in-place layout, kept as the reference the new one must match
    /// byte for byte.
    fn encode_columns_reference(
        generation: u64,
        checkpoint_lsn: u64,
        n: usize,
        out_offsets: &[u32],
        out_dst: &[u32],
        out_rel: &[u32],
        out_weight: &[f64],
    ) -> Vec<u8> {
        let m = out_dst.len();
        // In-CSR by counting sort over destinations; scanning sources in order keeps each in-list
        // sorted by (src, rel).
        let mut in_offsets = vec![0u32; n + 1];
        for &d in out_dst {
            in_offsets[d as usize + 1] += 1;
        }
        for i in 0..n {
            in_offsets[i + 1] += in_offsets[i];
        }
        let mut cursor = in_offsets.clone();
        let mut in_src = vec![0u32; m];
        for u in 0..n {
            let (start, end) = (out_offsets[u] as usize, out_offsets[u + 1] as usize);
            for &dst in out_dst.iter().take(end).skip(start) {
                let d = dst as usize;
                let slot = cursor[d] as usize;
                cursor[d] += 1;
                in_src[slot] = u as u32;
            }
        }
        let relation_count = out_rel.iter().map(|&r| r as u64 + 1).max().unwrap_or(0);
        let rel_width: u8 = match relation_count {
            0..=256 => 1,
            257..=65536 => 2,
            _ => 4,
        };
        let weight_width: u8 = if out_weight.iter().all(|&w| (w as f32) as f64 == w) {
            4
        } else {
            8
        };

        let u32s = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let rels: Vec<u8> = match rel_width {
            1 => out_rel.iter().map(|&r| r as u8).collect(),
            2 => out_rel
                .iter()
                .flat_map(|&r| (r as u16).to_le_bytes())
                .collect(),
            _ => u32s(out_rel),
        };
        let weights: Vec<u8> = if weight_width == 4 {
            out_weight
                .iter()
                .flat_map(|&w| (w as f32).to_le_bytes())
                .collect()
        } else {
            out_weight.iter().flat_map(|&w| w.to_le_bytes()).collect()
        };
        let sections: [Vec<u8>; SECTION_COUNT] = [
            u32s(out_offsets),
            u32s(out_dst),
            rels,
            weights,
            u32s(&in_offsets),
            u32s(&in_src),
        ];

        let mut out = vec![0u8; HEADER_LEN];
        out[0..8].copy_from_slice(MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[16..24].copy_from_slice(&generation.to_le_bytes());
        out[24..32].copy_from_slice(&checkpoint_lsn.to_le_bytes());
        out[32..40].copy_from_slice(&(n as u64).to_le_bytes());
        out[40..48].copy_from_slice(&(m as u64).to_le_bytes());
        out[48..56].copy_from_slice(&relation_count.to_le_bytes());
        out[56] = rel_width;
        out[57] = weight_width;
        for (index, section) in sections.iter().enumerate() {
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            let at = 64 + index * 24;
            let offset = out.len() as u64;
            out[at..at + 8].copy_from_slice(&offset.to_le_bytes());
            out[at + 8..at + 16].copy_from_slice(&(section.len() as u64).to_le_bytes());
            out[at + 16..at + 20].copy_from_slice(&crc32(&[section]).to_le_bytes());
            out.extend_from_slice(section);
        }
        let crc = crc32(&[&out[0..252]]);
        out[252..256].copy_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn in_place_encoding_matches_the_reference() {
        let mut rng = crate::rng::Rng::new(17);
        // Relation counts for each width, weights that fit an f32 and some that do not,
        // nodes without edges, no edges at all; large enough for several parallel pieces.
        for (n, m, relations, wide_weights) in [
            (1usize, 0usize, 1u32, false),
            (7, 40, 3, false),
            (50, 3000, 300, true),
            (2000, 300_000, 70_000, false),
            (3000, 200_000, 200, true),
        ] {
            let mut lists: Vec<Vec<(u32, u32, f64)>> = vec![Vec::new(); n];
            for _ in 0..m {
                let weight = if wide_weights && rng.below(3) == 0 {
                    0.1 + rng.below(1000) as f64 * 1e-7
                } else {
                    1.0 + rng.below(4) as f64
                };
                let src = rng.below(n as u64) as usize;
                lists[src].push((
                    rng.below(n as u64) as u32,
                    rng.below(relations as u64) as u32,
                    weight,
                ));
            }
            let (mut out_offsets, mut out_dst, mut out_rel, mut out_weight) =
                (vec![0u32], Vec::new(), Vec::new(), Vec::new());
            for list in &mut lists {
                list.sort_by_key(|&(d, r, _)| (d, r));
                for &(d, r, w) in list.iter() {
                    out_dst.push(d);
                    out_rel.push(r);
                    out_weight.push(w);
                }
                out_offsets.push(out_dst.len() as u32);
            }
            let args = (
                &out_offsets[..],
                &out_dst[..],
                &out_rel[..],
                &out_weight[..],
            );
            assert_eq!(
                encode_columns(3, 11, n, args.0, args.1, args.2, args.3),
                encode_columns_reference(3, 11, n, args.0, args.1, args.2, args.3),
                "n {n}, m {m}, relations {relations}"
            );
        }
    }

    fn sample() -> Vec<u8> {
        // 0 -> 1 (r0, 1.0), 0 -> 2 (r1, 0.1), 2 -> 0 (r0, 3.0)
        let lists = vec![vec![(1, 0, 1.0), (2, 1, 0.1)], vec![], vec![(0, 0, 3.0)]];
        encode_segment(1, 9, 3, &mut lists.into_iter())
    }

    #[test]
    fn round_trip_both_directions() {
        let seg = Segment::open("s", FileBytes::from_vec(sample())).unwrap();
        seg.check().unwrap();
        assert_eq!(
            seg.out_edges(0).collect::<Vec<_>>(),
            vec![(1, 0, 1.0), (2, 1, 0.1)]
        );
        assert_eq!(seg.in_edges(0).collect::<Vec<_>>(), vec![(2, 0, 3.0)]);
        assert_eq!(seg.in_edges(2).collect::<Vec<_>>(), vec![(0, 1, 0.1)]);
        assert_eq!(
            seg.header().weight_width,
            8,
            "0.1 is not an f32: weights stay f64"
        );
        assert_eq!(seg.out_edges(7).count(), 0);
    }

    /// The projection built by transposing the out-lists is the one decoding every list
    /// gives, column for column and bit for bit (parallel relations, self loops, isolated
    /// nodes, f32 and f64 weights), in both modes; offsets that do not add up are refused.
    #[test]
    fn transposed_projection_equals_the_list_decode() {
        use crate::rng::Rng;
        for seed in 0..24u64 {
            let mut rng = Rng::new(seed);
            let n = 2 + (rng.next_u64() % 60) as usize;
            // The last node is isolated: no list of its own, never a destination.
            let lists: Vec<Vec<(NodeId, RelId, f64)>> = (0..n)
                .map(|u| {
                    let degree = if u + 1 == n { 0 } else { rng.next_u64() % 7 };
                    let mut list: Vec<(NodeId, RelId, f64)> = (0..degree)
                        .map(|_| {
                            let weight = match seed % 2 {
                                0 => 0.1 + rng.next_f64(),
                                _ => (1 + rng.next_u64() % 4) as f64,
                            };
                            let dst = (rng.next_u64() % (n as u64 - 1)) as NodeId;
                            (dst, (rng.next_u64() % 3) as RelId, weight)
                        })
                        .collect();
                    list.sort_by_key(|&(d, r, _)| (d, r));
                    list.dedup_by_key(|e| (e.0, e.1));
                    list
                })
                .collect();
            let bytes = encode_segment(1, 0, n as u32, &mut lists.into_iter());
            let seg = Segment::open("s", FileBytes::from_vec(bytes.clone())).unwrap();
            seg.check().unwrap();
            assert!(seg.transposed_projection().is_some(), "seed {seed}");
            for undirected in [false, true] {
                let built = seg.build_projection(undirected);
                let decoded = CsrGraph::from_adjacency(&SegmentLinks {
                    segment: &seg,
                    undirected,
                });
                // Per node: degree, weight sum and links, floats as bits.
                type Node = (usize, u64, Vec<(NodeId, RelId, u64)>);
                let columns = |g: &CsrGraph| -> Vec<Node> {
                    (0..g.node_count() as NodeId)
                        .map(|u| {
                            let links = g.links(u).map(|l| (l.target, l.rel, l.weight.to_bits()));
                            (g.degree(u), g.weight_sum(u).to_bits(), links.collect())
                        })
                        .collect()
                };
                assert_eq!(
                    columns(&built),
                    columns(&decoded),
                    "seed {seed} {undirected}"
                );
                assert_eq!(built.walks_never_die(), decoded.walks_never_die());
            }
            // Damage the unchecked segment three ways; each is refused, and the projection
            // falls back to decoding the lists without a panic.
            let header = seg.header().clone();
            let put = |bytes: &mut Vec<u8>, section: usize, index: usize, value: u32| {
                let at = header.sections[section].1 as usize + 4 * index;
                bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
            };
            let read = |bytes: &[u8], section: usize, index: usize| {
                le_u32(&bytes[header.sections[section].1 as usize..], index)
            };
            let m = header.edge_count as usize;
            let mut damaged = Vec::new();
            // In-offsets that no longer add up.
            let mut b = bytes.clone();
            put(&mut b, 4, 1, u32::MAX);
            damaged.push(b);
            if m > 0 {
                // A destination past the last node.
                let mut b = bytes.clone();
                put(&mut b, 1, 0, n as u32 + 5);
                damaged.push(b);
                // In-offsets that still never decrease but disagree with the destinations:
                // one node's in-list start moved by one within its neighbours.
                let movable = (1..n).find(|&v| read(&bytes, 4, v) < read(&bytes, 4, v + 1));
                if let Some(v) = movable {
                    let mut b = bytes.clone();
                    put(&mut b, 4, v, read(&bytes, 4, v) + 1);
                    damaged.push(b);
                }
            }
            for b in damaged {
                let seg = Segment::open("s", FileBytes::from_vec(b)).unwrap();
                assert!(seg.transposed_projection().is_none(), "seed {seed}");
                let _ = seg.build_projection(true);
            }
        }
    }

    /// In-lists find their relation and weight through the out-list they mirror, also when
    /// several relations join the same pair and other edges sit between them in the lists.
    #[test]
    fn in_edges_mirror_parallel_relations() {
        // out lists (sorted by dst, rel): 0 -> 1 (r0, r2, r5), 0 -> 3 (r1); 2 -> 1 (r1, r4);
        // 3 -> 1 (r0); 1 -> 0 (r3)
        let out_offsets = [0u32, 4, 5, 7, 8];
        let out_dst = [1u32, 1, 1, 3, 0, 1, 1, 1];
        let out_rel = [0u32, 2, 5, 1, 3, 1, 4, 0];
        let out_weight = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let bytes = encode_columns(1, 0, 4, &out_offsets, &out_dst, &out_rel, &out_weight);
        let seg = Segment::open("s", FileBytes::from_vec(bytes)).unwrap();
        seg.check().unwrap();
        assert_eq!(
            seg.in_edges(1).collect::<Vec<_>>(),
            vec![
                (0, 0, 1.0),
                (0, 2, 2.0),
                (0, 5, 3.0),
                (2, 1, 6.0),
                (2, 4, 7.0),
                (3, 0, 8.0)
            ]
        );
        assert_eq!(seg.in_edges(3).collect::<Vec<_>>(), vec![(0, 1, 4.0)]);
        assert_eq!(seg.in_edges(0).collect::<Vec<_>>(), vec![(1, 3, 5.0)]);
        assert_eq!(seg.in_edges(2).count(), 0);
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let bytes = sample();
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            let outcome = Segment::open("s", FileBytes::from_vec(damaged)).and_then(|s| s.check());
            let expected = matches!(outcome, Err(Error::Corrupt(_)));
            assert!(expected, "flip at {at} not detected");
        }
    }

    #[test]
    fn truncation_is_detected() {
        let bytes = sample();
        for len in 0..bytes.len() {
            assert!(
                Segment::open("s", FileBytes::from_vec(bytes[..len].to_vec())).is_err(),
                "len {len}"
            );
        }
    }
}
