//! Corruption: flipping any single byte of a segment file or of the committed WAL makes
//! `open` or `verify` report a corruption error naming the file; never a panic, never data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{edge_set, import_small_graph, sim_db};
use walkdb::backend::SimBackend;
use walkdb::Error;

fn build(undirected: bool) -> SimBackend {
    let sim = SimBackend::new();
    let db = sim_db(&sim, undirected).unwrap();
    import_small_graph(&db);
    for t in 0..5u32 {
        let mut txn = db.begin_write().unwrap();
        txn.add_edge(&format!("m{t}"), "r", "n1", 0.5 + t as f64)
            .unwrap();
        if t == 2 {
            assert!(txn.delete_edge("n0", "r", "n3").unwrap());
        }
        txn.add_edge("n2", "s", &format!("m{t}"), 2.5).unwrap();
        txn.commit().unwrap();
    }
    drop(db);
    sim.release_lock();
    sim
}

/// Opens the damaged copy and reads everything; returns the error, if any.
fn check(sim: &SimBackend, undirected: bool) -> Option<Error> {
    let db = match sim_db(sim, undirected) {
        Ok(db) => db,
        Err(e) => return Some(e),
    };
    if let Err(e) = db.verify() {
        return Some(e.into());
    }
    None
}

fn sweep_file(undirected: bool, prefix: &str) -> (usize, usize) {
    let original = build(undirected);
    let expected = edge_set(
        &sim_db(
            &original.crash(walkdb::backend::CrashMode::KeepAll),
            undirected,
        )
        .unwrap(),
    );
    let name = original
        .file_names()
        .into_iter()
        .find(|n| n.starts_with(prefix))
        .expect("file exists");
    let bytes = original.file_bytes(&name).unwrap();
    let (mut flips, mut detected) = (0, 0);
    for at in 0..bytes.len() {
        let sim = original.crash(walkdb::backend::CrashMode::KeepAll);
        let mut damaged = bytes.clone();
        damaged[at] ^= 1 << (at % 8);
        sim.set_file_bytes(&name, damaged);
        flips += 1;
        match check(&sim, undirected) {
            Some(Error::Corrupt(c)) => {
                assert!(
                    c.file.starts_with(prefix.trim_end_matches('/')),
                    "flip at {at} of {name} blamed {}",
                    c.file
                );
                detected += 1;
            }
            Some(other) => panic!("flip at {at} of {name}: not a corruption error: {other}"),
            None => {
                // Undetected is only acceptable if nothing served differs, and it never is here.
                let db = sim_db(&sim, undirected).unwrap();
                assert_eq!(
                    edge_set(&db),
                    expected,
                    "flip at {at} of {name} served wrong data"
                );
                panic!("flip at {at} of {name} was not detected");
            }
        }
    }
    println!("{name}: {detected}/{flips} single-byte flips detected");
    (flips, detected)
}

#[test]
fn every_byte_of_the_segment_file_is_protected() {
    for undirected in [false, true] {
        let (flips, detected) = sweep_file(undirected, "adj/");
        assert_eq!(flips, detected);
    }
}

#[test]
fn every_byte_of_the_committed_wal_is_protected() {
    for undirected in [false, true] {
        let (flips, detected) = sweep_file(undirected, "wal/");
        assert_eq!(flips, detected);
    }
}

#[test]
fn truncating_the_segment_is_detected() {
    let original = build(false);
    let name = original
        .file_names()
        .into_iter()
        .find(|n| n.starts_with("adj/"))
        .unwrap();
    let bytes = original.file_bytes(&name).unwrap();
    for len in (0..bytes.len()).step_by(7) {
        let sim = original.crash(walkdb::backend::CrashMode::KeepAll);
        sim.set_file_bytes(&name, bytes[..len].to_vec());
        assert!(
            matches!(check(&sim, false), Some(Error::Corrupt(_))),
            "truncation to {len}"
        );
    }
}
