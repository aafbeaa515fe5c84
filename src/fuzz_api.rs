//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing` only).
//!
//! The decoders are crate-private; these wrappers drive each one over arbitrary bytes the way
//! the database does, and panic only when a decoder breaks one of its own promises (a decode
//! that succeeds must re-encode to the same bytes, a checked segment must serve only in-range
//! ids). Any other panic, hang or out-of-memory is a bug the fuzzer reports.
// Panicking on a broken promise is how these harnesses report a finding.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use crate::adjacency::Segment;
use crate::backend::{FileBytes, SimBackend, StorageBackend};
use crate::error::Error;
use crate::wal::{decode_ops, encode_ops, inspect_file, read_wal_dir, ScanMode};

/// Decodes one WAL file: its header, every frame (as `dump --wal` does, resynchronising past
/// damage), every payload, and recovery over a directory holding just this file (and the
/// same file split in two, to exercise the cross-file rules).
pub fn wal_file(bytes: &[u8]) {
    let (_header, records) = inspect_file(bytes);
    for record in records {
        if let Some(ops) = record.ops {
            // A payload that decodes must be exactly the encoding of what it decoded to.
            let again = decode_ops(&encode_ops(&ops)).expect("re-encoded ops decode");
            assert_eq!(again, ops, "ops do not round-trip");
        }
    }
    let sim = SimBackend::new();
    sim.set_file_bytes("wal/00000000000000000001.log", bytes.to_vec());
    let backend: Arc<dyn StorageBackend> = Arc::new(sim.clone());
    for checkpoint_lsn in [0, 1, 3] {
        for mode in [ScanMode::Recover, ScanMode::Follow] {
            check_scan(read_wal_dir(&backend, checkpoint_lsn, mode));
        }
    }
    if bytes.len() > 64 {
        let (a, b) = bytes.split_at(bytes.len() / 2);
        sim.set_file_bytes("wal/00000000000000000001.log", a.to_vec());
        sim.set_file_bytes("wal/00000000000000000002.log", b.to_vec());
        check_scan(read_wal_dir(&backend, 0, ScanMode::Recover));
        check_scan(read_wal_dir(&backend, 0, ScanMode::Follow));
    }
}

fn check_scan(scan: crate::Result<crate::wal::WalScan>) {
    match scan {
        Ok(scan) => {
            let mut prev = None;
            for txn in &scan.txns {
                assert!(
                    prev.is_none_or(|p| txn.lsn > p),
                    "recovered LSNs must increase"
                );
                prev = Some(txn.lsn);
            }
            assert!(prev.is_none_or(|p| p <= scan.last_lsn));
        }
        Err(Error::Corrupt(_)) => {}
        Err(e) => panic!("WAL recovery gave a non-corruption error: {e}"),
    }
}

/// Decodes a transaction payload; a success must round-trip.
pub fn wal_ops(bytes: &[u8]) {
    if let Ok(ops) = decode_ops(bytes) {
        assert_eq!(
            encode_ops(&ops),
            bytes,
            "a decoded payload must re-encode to itself"
        );
    }
}

/// Opens a segment file, checks it, and when the check passes reads every list both ways
/// and builds its link projections: served ids must be in range and weights valid.
pub fn segment(bytes: &[u8]) {
    let seg = match Segment::open("adj/fuzz.seg", FileBytes::from_vec(bytes.to_vec())) {
        Ok(seg) => seg,
        Err(Error::Corrupt(_)) => return,
        Err(e) => panic!("segment open gave a non-corruption error: {e}"),
    };
    // Reads before the check must not panic either (they may return garbage).
    for u in 0..seg.node_count().min(64) {
        let _ = seg.out_edges(u).count();
        let _ = seg.in_edges(u).count();
    }
    match seg.check() {
        Ok(()) => {}
        Err(Error::Corrupt(_)) => return,
        Err(e) => panic!("segment check gave a non-corruption error: {e}"),
    }
    let n = seg.node_count();
    let mut out_total = 0u64;
    let mut in_total = 0u64;
    for u in 0..n {
        for (v, _, w) in seg.out_edges(u) {
            assert!(
                v < n && w.is_finite() && w > 0.0,
                "checked segment served a bad out-edge"
            );
            out_total += 1;
        }
        for (s, _, w) in seg.in_edges(u) {
            assert!(
                s < n && w.is_finite() && w > 0.0,
                "checked segment served a bad in-edge"
            );
            in_total += 1;
        }
    }
    assert_eq!(out_total, seg.edge_count());
    assert_eq!(in_total, seg.edge_count());
    let _ = seg.link_projection(false);
    let undirected =
        Segment::open("adj/fuzz.seg", FileBytes::from_vec(bytes.to_vec())).expect("opened above");
    undirected.check().expect("checked above");
    let _ = undirected.link_projection(true);
}
