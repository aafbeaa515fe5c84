//! Seed corpora of the cargo-fuzz targets (fuzz/corpus/<target>/): real files of small
//! databases, so the fuzzers start past the magic numbers and checksums. Run with
//! `WALKDB_WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds` to regenerate them; without the
//! variable the test only checks that the generator still works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::sim_db;
use walkdb::backend::SimBackend;

fn database(undirected: bool, fractional: bool) -> SimBackend {
    let sim = SimBackend::new();
    let db = sim_db(&sim, undirected).unwrap();
    let mut loader = db.bulk_loader().unwrap();
    for i in 0..12u32 {
        let w = if fractional {
            1.0 + i as f64 / 10.0
        } else {
            1.0 + i as f64
        };
        loader
            .add_edge(
                &format!("n{i}"),
                ["r", "s"][i as usize % 2],
                &format!("n{}", (i * 5 + 3) % 12),
                w,
            )
            .unwrap();
    }
    loader.finish().unwrap();
    for t in 0..3u32 {
        let mut txn = db.begin_write().unwrap();
        txn.add_edge(&format!("m{t}"), "r", "n1", 0.5 + t as f64)
            .unwrap();
        if t == 1 {
            assert!(txn.delete_edge("n0", "r", "n3").unwrap());
            txn.delete_node("n4").unwrap();
        }
        txn.commit().unwrap();
    }
    drop(db);
    sim.release_lock();
    sim
}

fn file(sim: &SimBackend, prefix: &str) -> Vec<u8> {
    let name = sim
        .file_names()
        .into_iter()
        .find(|n| n.starts_with(prefix))
        .unwrap();
    sim.file_bytes(&name).unwrap()
}

fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, (undirected, fractional)) in [(false, false), (true, true)].into_iter().enumerate() {
        let sim = database(undirected, fractional);
        let wal = file(&sim, "wal/");
        let mut tagged = vec![1u8];
        tagged.extend_from_slice(&wal);
        out.push(("wal_decode", format!("wal-{i}"), tagged));
        // The first record's payload alone, for the op decoder (selector byte 0).
        let len = u32::from_le_bytes([wal[32], wal[33], wal[34], wal[35]]) as usize;
        let mut payload = vec![0u8];
        payload.extend_from_slice(&wal[64..64 + len]);
        out.push(("wal_decode", format!("ops-{i}"), payload));
        out.push(("segment", format!("segment-{i}"), file(&sim, "adj/")));
        out.push(("walk_index", format!("walks-{i}"), file(&sim, "walks/")));
    }
    // open_dir: commands over the base image (see fuzz/fuzz_targets/open_dir.rs).
    out.push(("open_dir", "as-is".into(), vec![]));
    for f in 0..4u8 {
        out.push(("open_dir", format!("flip-{f}"), vec![4, f, 100, 0, 0, 0, 3]));
        out.push((
            "open_dir",
            format!("truncate-{f}"),
            vec![1, f, 200, 0, 0, 0],
        ));
    }
    // model: add, add, commit, checkpoint, arm a failure, add, commit, crash, commit.
    out.push((
        "model",
        "basic".into(),
        vec![
            0, 0, 1, 0, 2, 3, 1, 2, 0, 3, 6, 8, 10, 2, 0, 1, 3, 1, 5, 6, 9, 1, 6,
        ],
    ));
    out.push((
        "model",
        "undirected".into(),
        vec![
            1, 0, 1, 0, 2, 3, 4, 1, 0, 2, 6, 8, 5, 1, 6, 10, 0, 3, 6, 9, 3,
        ],
    ));
    out.push((
        "model",
        "enospc".into(),
        vec![0, 0, 1, 1, 1, 1, 6, 10, 3, 2, 0, 2, 2, 2, 2, 6, 8, 6],
    ));
    out
}

#[test]
fn fuzz_seed_corpora() {
    let seeds = seeds();
    assert!(seeds.len() >= 15);
    if std::env::var_os("WALKDB_WRITE_FUZZ_SEEDS").is_none() {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, name, bytes) in seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
