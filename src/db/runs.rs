//! Sorted runs of edge records that a bulk import spills to disk when its edge list outgrows
//! the memory budget, and their merge into the new segment's columns (an external merge sort).
//!
//! A run file is scratch: `adj/<generation>.seg.run<i>.tmp`, 20-byte little-endian records
//! `(src u32, dst u32, rel u32, weight f64 bits)`, sorted by `(src, dst, rel)` with equal keys
//! in the order they were added. It is never synced; the import removes it when done or
//! dropped, and an open after a crash removes it with every other file the manifest does not
//! name.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::Arc;

use rayon::slice::ParallelSliceMut;

use crate::backend::{StorageBackend, StorageFile};
use crate::graph::{NodeId, RelId};

/// One edge record of an import: `(src, dst, rel, weight)`.
pub(crate) type Record = (NodeId, NodeId, RelId, f64);

const RECORD_BYTES: usize = 20;
/// Bytes read or written per I/O call.
const IO_CHUNK: usize = 4 << 20;

/// A spilled run: its file and how many records it holds.
#[derive(Debug)]
pub(crate) struct RunFile {
    pub(crate) name: String,
    records: u64,
}

/// Sorts `run` by `(src, dst, rel)`, keeping the order of equal keys, writes it to `name` and
/// empties it. A failed write removes what it wrote of the file (best effort: an open removes
/// any left).
pub(crate) fn spill(
    backend: &dyn StorageBackend,
    name: String,
    run: &mut Vec<Record>,
) -> io::Result<RunFile> {
    run.par_sort_by_key(|&(s, d, r, _)| (s, d, r));
    write_run(backend, &name, run).inspect_err(|_| {
        let _ = backend.remove(&name);
    })?;
    let records = run.len() as u64;
    run.clear();
    Ok(RunFile { name, records })
}

/// Writes sorted records to run file `name`.
fn write_run(backend: &dyn StorageBackend, name: &str, run: &[Record]) -> io::Result<()> {
    let file = backend.open(name, true)?;
    file.set_len(0)?;
    let mut buf: Vec<u8> = Vec::with_capacity(IO_CHUNK + RECORD_BYTES);
    let mut at = 0u64;
    for &(s, d, r, w) in run.iter() {
        buf.extend_from_slice(&s.to_le_bytes());
        buf.extend_from_slice(&d.to_le_bytes());
        buf.extend_from_slice(&r.to_le_bytes());
        buf.extend_from_slice(&w.to_bits().to_le_bytes());
        if buf.len() >= IO_CHUNK {
            file.write_at(at, &buf)?;
            at += buf.len() as u64;
            buf.clear();
        }
    }
    file.write_at(at, &buf)
}

/// Reads a run front to back.
struct RunReader {
    file: Arc<dyn StorageFile>,
    at: u64,
    left: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl RunReader {
    fn open(backend: &dyn StorageBackend, run: &RunFile) -> io::Result<RunReader> {
        Ok(RunReader {
            file: backend.open(&run.name, false)?,
            at: 0,
            left: run.records,
            buf: Vec::new(),
            pos: 0,
        })
    }

    fn next(&mut self) -> io::Result<Option<Record>> {
        if self.pos == self.buf.len() {
            if self.left == 0 {
                return Ok(None);
            }
            let records = (self.left as usize).min(IO_CHUNK / RECORD_BYTES);
            self.buf.resize(records * RECORD_BYTES, 0);
            self.file.read_at(self.at, &mut self.buf)?;
            self.at += self.buf.len() as u64;
            self.left -= records as u64;
            self.pos = 0;
        }
        let b = &self.buf[self.pos..self.pos + RECORD_BYTES];
        self.pos += RECORD_BYTES;
        let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[12..20]);
        Ok(Some((
            u(0),
            u(4),
            u(8),
            f64::from_bits(u64::from_le_bytes(w)),
        )))
    }
}

/// A sorted source of records for the merge.
enum Source<'a> {
    Iter(Box<dyn Iterator<Item = Record> + 'a>),
    Run(RunReader),
}

impl Source<'_> {
    fn next(&mut self) -> io::Result<Option<Record>> {
        match self {
            Source::Iter(it) => Ok(it.next()),
            Source::Run(r) => r.next(),
        }
    }
}

/// The new segment's out-CSR columns (offsets, dst, rel, weight) of `node_count` nodes.
pub(crate) type Columns = (Vec<u32>, Vec<u32>, Vec<u32>, Vec<f64>);

/// Merges, by `(src, dst, rel)`: the `existing` edges (sorted, one per key), then the spilled
/// `runs` in the order they were spilled, then `last` (sorted); for a key present more than
/// once the last record wins (a later source, or later in its source), as a stable sort of
/// everything would give.
pub(crate) fn merge(
    backend: &dyn StorageBackend,
    existing: Box<dyn Iterator<Item = Record> + '_>,
    existing_count: usize,
    runs: &[RunFile],
    last: Vec<Record>,
    node_count: usize,
) -> io::Result<Columns> {
    let mut sources: Vec<Source<'_>> = Vec::with_capacity(runs.len() + 2);
    sources.push(Source::Iter(existing));
    for run in runs {
        sources.push(Source::Run(RunReader::open(backend, run)?));
    }
    let capacity =
        existing_count + last.len() + runs.iter().map(|r| r.records as usize).sum::<usize>();
    sources.push(Source::Iter(Box::new(last.into_iter())));
    // Few sources (a run per third of the budget) take the smallest head by a scan, cheaper
    // than a heap's pop and push per record; many (a tiny budget) keep the heap.
    let scan = sources.len() <= SCAN_SOURCES;
    let mut heads: Vec<Option<Record>> = Vec::with_capacity(sources.len());
    let mut heap = BinaryHeap::with_capacity(if scan { 0 } else { sources.len() });
    for (i, source) in sources.iter_mut().enumerate() {
        let head = source.next()?;
        if let (Some((s, d, r, _)), false) = (head, scan) {
            heap.push(Reverse(((s, d, r), i)));
        }
        heads.push(head);
    }
    let mut offsets = vec![0u32; node_count + 1];
    let (mut dst, mut rel, mut weight) = (
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
        Vec::with_capacity(capacity),
    );
    let mut emit = |(s, d, r, w): Record| {
        offsets[s as usize + 1] += 1;
        dst.push(d);
        rel.push(r);
        weight.push(w);
    };
    let mut pending: Option<Record> = None;
    loop {
        // Each source has one head, and the smallest `(key, source)` goes first, so equal keys
        // leave in source order, and a source's equal keys one after another: the last of a
        // key is the one to keep.
        let next_head = match scan {
            true => smallest_head(&heads),
            false => heap.pop().map(|Reverse(head)| head),
        };
        let Some((key, i)) = next_head else {
            break;
        };
        let Some(record) = heads[i].take() else {
            continue;
        };
        let next = sources[i].next()?;
        if let (Some((s, d, r, _)), false) = (next, scan) {
            heap.push(Reverse(((s, d, r), i)));
        }
        heads[i] = next;
        match pending {
            Some(p) if (p.0, p.1, p.2) == key => {}
            Some(p) => emit(p),
            None => {}
        }
        pending = Some(record);
    }
    if let Some(p) = pending {
        emit(p);
    }
    for i in 0..node_count {
        offsets[i + 1] += offsets[i];
    }
    Ok((offsets, dst, rel, weight))
}

/// Sources up to which [`merge`] finds the smallest head by a scan instead of a heap.
const SCAN_SOURCES: usize = 8;

/// The smallest `(key, source)` among the sources' heads.
fn smallest_head(heads: &[Option<Record>]) -> Option<((NodeId, NodeId, RelId), usize)> {
    let mut best: Option<((NodeId, NodeId, RelId), usize)> = None;
    for (i, head) in heads.iter().enumerate() {
        if let Some((s, d, r, _)) = *head {
            // Strictly smaller: of equal keys the first source stays.
            if best.is_none_or(|(key, _)| (s, d, r) < key) {
                best = Some(((s, d, r), i));
            }
        }
    }
    best
}

/// Removes run files, ignoring failures (they are scratch; an open removes leftovers).
pub(crate) fn remove(backend: &dyn StorageBackend, runs: &[RunFile]) {
    for run in runs {
        let _ = backend.remove(&run.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::SimBackend;

    /// The merge of spilled runs equals one stable sort of everything with the last record
    /// of each key kept: random records with many repeated keys, runs of random sizes.
    #[test]
    fn merge_equals_a_stable_sort_keeping_the_last_of_each_key() {
        let mut rng = crate::rng::Rng::new(12);
        for round in 0..40 {
            let sim = SimBackend::new();
            let backend: &dyn StorageBackend = &sim;
            let n = 1 + rng.below(30) as u32;
            let record = |rng: &mut crate::rng::Rng, i: usize| {
                (
                    rng.below(n as u64) as u32,
                    rng.below(n as u64) as u32,
                    rng.below(3) as u32,
                    1.0 + i as f64,
                )
            };
            // Existing edges: sorted, one per key.
            let mut existing: Vec<Record> = (0..rng.below(60) as usize)
                .map(|i| record(&mut rng, i))
                .collect();
            existing.sort_by_key(|&(s, d, r, _)| (s, d, r));
            existing.dedup_by_key(|&mut (s, d, r, _)| (s, d, r));
            let mut all: Vec<Record> = existing.clone();
            let mut runs = Vec::new();
            // Up to 13 sources: both the scan and the heap of `merge`.
            for k in 0..rng.below(12) {
                let mut run: Vec<Record> = (0..rng.below(200) as usize)
                    .map(|i| record(&mut rng, 1000 * (k as usize + 1) + i))
                    .collect();
                all.extend(&run);
                runs.push(spill(backend, format!("run{round}-{k}"), &mut run).unwrap());
                assert!(run.is_empty());
            }
            let mut last: Vec<Record> = (0..rng.below(100) as usize)
                .map(|i| record(&mut rng, 100_000 + i))
                .collect();
            all.extend(&last);
            last.sort_by_key(|&(s, d, r, _)| (s, d, r));
            let got = merge(
                backend,
                Box::new(existing.clone().into_iter()),
                existing.len(),
                &runs,
                last,
                n as usize,
            )
            .unwrap();
            // The model: a stable sort, the last of each key.
            all.sort_by_key(|&(s, d, r, _)| (s, d, r));
            let mut want: Vec<Record> = Vec::new();
            for rec in all {
                match want.last_mut() {
                    Some(p) if (p.0, p.1, p.2) == (rec.0, rec.1, rec.2) => *p = rec,
                    _ => want.push(rec),
                }
            }
            let (offsets, dst, rel, weight) = got;
            let mut flat = Vec::new();
            for u in 0..n as usize {
                for p in offsets[u] as usize..offsets[u + 1] as usize {
                    flat.push((u as u32, dst[p], rel[p], weight[p]));
                }
            }
            assert_eq!(flat, want, "round {round}");
            remove(backend, &runs);
        }
    }
}
