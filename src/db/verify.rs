//! `verify`: read everything, check every checksum and invariant.

use super::{Database, ScanMode};
use rayon::prelude::*;

use crate::catalog::Manifest;
use crate::catalog::CATALOG_FILE;
use crate::error::ReadError;
use crate::error::{Error, Result};
use crate::graph::NodeId;
use crate::wal::read_wal_dir;

/// What `verify` checked.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyReport {
    /// Nodes checked.
    pub nodes: u32,
    /// Edges checked (each in both directions).
    pub edges: u64,
    /// Stored walks checked against the graph.
    pub walks: u64,
    /// Committed WAL transactions after the checkpoint, re-read and checked.
    pub wal_transactions: usize,
    /// Files read.
    pub files: Vec<String>,
}

impl Database {
    /// Reads every file and checks every checksum and structural invariant; the first problem
    /// is returned as an error naming file and offset.
    ///
    /// On a read-only handle it first refreshes, and checks the newest state; a checkpoint by
    /// a writer in another process during the check (which deletes the files being checked)
    /// makes it start again.
    pub fn verify(&self) -> Result<VerifyReport, ReadError> {
        if let Some(writer) = &self.inner.writer {
            // Hold the writer lock: the files must not change under the check.
            let writer = writer.lock();
            return self
                .verify_files(&writer.manifest, ScanMode::Recover)
                .map_err(Into::into);
        }
        /// Checkpoints by another process a check tolerates before reporting its failure.
        const ATTEMPTS: usize = 16;
        let mut attempt = 0;
        loop {
            let lsn = self.refresh()?;
            let Some(follower) = &self.inner.follower else {
                unreachable!("a handle without a writer has a follower (see `assemble`)");
            };
            let manifest = follower.lock().manifest.clone();
            // With no writer live, no append is under way: a damaged WAL tail is damage.
            let mode = match self.inner.backend.writer_active() {
                Ok(false) => ScanMode::Check,
                Ok(true) => ScanMode::Follow,
                Err(e) => return Err(Error::io("probing the directory lock", e).into()),
            };
            let error = match self.verify_files(&manifest, mode) {
                Ok(report) => return Ok(report),
                Err(e) => e,
            };
            // A writer that committed or checkpointed meanwhile (or started after the probe)
            // explains a mismatch: check again. The same failure on an unchanged database is
            // the answer.
            let (_, now) = self.inner.catalog.options_and_manifest()?;
            let moved = now != manifest || self.refresh()? != lsn;
            attempt += 1;
            if !moved || attempt == ATTEMPTS {
                return Err(error.into());
            }
        }
    }

    /// Checks the newest version against the files of `manifest`, which it must be built on.
    fn verify_files(&self, manifest: &Manifest, mode: ScanMode) -> Result<VerifyReport> {
        let snapshot = self.begin_read()?;
        if snapshot.version().generation != manifest.generation {
            return Err(Error::conflict(format!(
                "a checkpoint moved the database to generation {} during the check",
                snapshot.version().generation
            )));
        }
        let view = snapshot.view();
        let segment = &view.segment;
        segment.check()?;
        self.inner.catalog.check_integrity(&self.inner.backend)?;
        self.inner
            .catalog
            .verify(manifest.node_count, manifest.relation_count)?;
        if segment.node_count() != manifest.node_count
            || segment.edge_count() != manifest.edge_count
        {
            return Err(Error::corrupt(
                segment.name(),
                32,
                format!(
                    "segment counts ({} nodes, {} edges) differ from the manifest",
                    segment.node_count(),
                    segment.edge_count()
                ),
            ));
        }
        let scan = read_wal_dir(&self.inner.backend, manifest.checkpoint_lsn, mode)?;
        // A writer in another process may have committed since the snapshot: its WAL holds at
        // least the snapshot's commits.
        let short = match mode {
            ScanMode::Recover | ScanMode::Check => scan.last_lsn != snapshot.lsn(),
            ScanMode::Follow => scan.last_lsn < snapshot.lsn(),
        };
        if short {
            return Err(Error::corrupt(
                scan.files
                    .last()
                    .map_or(crate::wal::WAL_DIR, |(name, _)| name.as_str()),
                0,
                format!(
                    "WAL ends at LSN {}, the database is at LSN {}",
                    scan.last_lsn,
                    snapshot.lsn()
                ),
            ));
        }
        // Delta: lists sorted, ids in range, weights valid, every out-edge mirrored by an
        // in-edge and the other way round. The mirror check compares the multisets of edges
        // seen from both sides by a 128-bit sum of per-edge hashes, in one pass: searching
        // each out-edge in its target's in-list costs the square of a hub's degree (a
        // 1M-edge R-MAT graph took 9 s). Only when the sums differ does the search run, to
        // name the node.
        let n = view.node_count;
        let relation_count = snapshot.relation_count();
        let add = |sum: &mut (u64, u64), (s, d, r, w): (NodeId, NodeId, u32, f64)| {
            let (a, b) = edge_hash(s, d, r, w);
            *sum = (sum.0.wrapping_add(a), sum.1.wrapping_add(b));
        };
        // Node ranges in parallel (64 per thread, so ranges holding hubs balance out); the
        // sums add up in any order, and the first invalid edge in node order is reported.
        let per_range = (n as usize)
            .div_ceil(64 * rayon::current_num_threads().max(1))
            .max(1);
        let ranges: Vec<(NodeId, NodeId)> = (0..n as usize)
            .step_by(per_range)
            .map(|lo| (lo as NodeId, (lo + per_range).min(n as usize) as NodeId))
            .collect();
        // Per range: edges, and the 128-bit sums of the out- and in-edges' hashes.
        type Sums = (u64, (u64, u64), (u64, u64));
        let parts: Vec<Result<Sums>> = ranges
            .into_par_iter()
            .map(|(lo, hi)| {
                let mut edges = 0u64;
                let (mut out_sum, mut in_sum) = ((0u64, 0u64), (0u64, 0u64));
                for u in lo..hi {
                    let mut prev = None;
                    for (v, r, w) in view.out_edges(u) {
                        edges += 1;
                        let bad = v >= n
                            || r >= relation_count
                            || !(w.is_finite() && w > 0.0)
                            || prev.is_some_and(|p| p >= (v, r));
                        prev = Some((v, r));
                        if bad {
                            return Err(Error::corrupt(
                                "(delta)",
                                u as u64,
                                format!("out-edge {u} -[{r}]-> {v} is invalid"),
                            ));
                        }
                        add(&mut out_sum, (u, v, r, w));
                    }
                    for (s, r, w) in view.in_edges(u) {
                        add(&mut in_sum, (s, u, r, w));
                    }
                }
                Ok((edges, out_sum, in_sum))
            })
            .collect();
        let mut edges = 0u64;
        let (mut out_sum, mut in_sum) = ((0u64, 0u64), (0u64, 0u64));
        for part in parts {
            let (e, o, i) = part?;
            edges += e;
            out_sum = (out_sum.0.wrapping_add(o.0), out_sum.1.wrapping_add(o.1));
            in_sum = (in_sum.0.wrapping_add(i.0), in_sum.1.wrapping_add(i.1));
        }
        if out_sum != in_sum {
            return Err(unmirrored_edge(view, n));
        }
        if edges != snapshot.edge_count() {
            return Err(Error::corrupt(
                "(delta)",
                0,
                format!("{edges} edges found, {} counted", snapshot.edge_count()),
            ));
        }
        let (walks, walk_file) = {
            // The snapshot's own index: repaired to exactly its LSN.
            let state = &snapshot.version().walks;
            let index = &state.index;
            index
                .verify(view)
                .map_err(|e| Error::corrupt(&*state.file, 0, e.to_string()))?;
            let stats = index.stats().map_err(|e| state.error(e))?;
            (stats.walks, state.file.to_string())
        };
        let mut files = vec![
            CATALOG_FILE.to_string(),
            segment.name().to_string(),
            walk_file,
        ];
        files.extend(scan.files.iter().map(|(name, _)| name.clone()));
        Ok(VerifyReport {
            nodes: n,
            edges,
            walks,
            wal_transactions: scan.txns.iter().filter(|t| t.lsn <= snapshot.lsn()).count(),
            files,
        })
    }
}

/// Two independent 64-bit hashes of an edge, for the multiset comparison in `verify`.
fn edge_hash(s: NodeId, d: NodeId, r: u32, w: f64) -> (u64, u64) {
    use crate::rng::counter_u64;
    let pair = (s as u64) << 32 | d as u64;
    let a = counter_u64(counter_u64(0x5EED_0001 ^ pair, r as u64), w.to_bits());
    let b = counter_u64(
        counter_u64(0x5EED_0002 ^ pair.rotate_left(17), w.to_bits()),
        r as u64,
    );
    (a, b)
}

/// The first edge seen from one side only (the search `verify` runs once the hashes of both
/// sides differ), as a corruption error naming its node.
fn unmirrored_edge(view: &crate::adjacency::GraphView, n: u32) -> Error {
    for u in 0..n as NodeId {
        for (v, r, w) in view.out_edges(u) {
            if !view
                .in_edges(v)
                .any(|(s, r2, w2)| s == u && r2 == r && w2 == w)
            {
                return Error::corrupt(
                    "(delta)",
                    u as u64,
                    format!("out-edge {u} -[{r}]-> {v} is not mirrored by an in-edge"),
                );
            }
        }
        for (s, r, w) in view.in_edges(u) {
            if s >= n
                || !view
                    .out_edges(s)
                    .any(|(d, r2, w2)| d == u && r2 == r && w2 == w)
            {
                return Error::corrupt(
                    "(delta)",
                    u as u64,
                    format!("in-edges of node {u} are not mirrored by out-edges"),
                );
            }
        }
    }
    Error::corrupt(
        "(delta)",
        0,
        "out-edges and in-edges differ (as multisets: an edge listed twice on one side)",
    )
}
