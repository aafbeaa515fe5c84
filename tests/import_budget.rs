//! Import under a memory budget: the walk index is written to its file as it is built, and a
//! budget too small to hold the per-node visit lists at once (so they are filled in several
//! passes over the written walks) gives the same files, byte for byte, as an import with the
//! default budget, and the database verifies and answers the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use walkdb::ppr::{Method, PprWorkspace};
use walkdb::{Database, PprRequest};

/// A graph with hubs and dangling nodes: `n` nodes, a power-law-ish fan-in to low ids.
fn edges(n: u32, salt: u32) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    let mut x = 0x9E37_79B9u32 ^ salt;
    for i in 0..n {
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // Squaring a uniform draw concentrates targets on low ids (hubs).
            let t = ((x % 1000) as u64 * (x % 1000) as u64 * n as u64 / 1_000_000) as u32;
            out.push((format!("k{i}"), format!("k{t}"), 1.0 + (x % 4) as f64));
        }
    }
    out
}

fn import(
    dir: &Path,
    name: &str,
    undirected: bool,
    budget: Option<usize>,
) -> (Database, (u32, u32)) {
    // Four walks per link: the visit ids are then several times the graph projection, whose
    // memory the fill may take besides the budget.
    let db = Database::builder(dir.join(name))
        .undirected(undirected)
        .alpha(0.15)
        .walks_per_node(4.0)
        .create()
        .unwrap();
    let mut passes = (0, 0);
    for round in 0..2 {
        let mut loader = db.bulk_loader().unwrap();
        if let Some(b) = budget {
            loader.set_memory_budget(b);
        }
        for (s, d, w) in edges(1500 + 500 * round, round) {
            loader.add_edge(&s, "r", &d, w).unwrap();
        }
        let info = loader.finish().unwrap();
        passes = (info.index_visit_passes, info.spilled_runs);
        // Between the imports, commits: the second import folds them in.
        let mut txn = db.begin_write().unwrap();
        txn.add_edge("k1", "s", "fresh", 2.0).unwrap();
        txn.commit().unwrap();
    }
    (db, passes)
}

fn file_bytes(dir: &Path, sub: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_tiny_budget_writes_the_same_files_as_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    for undirected in [true, false] {
        let (a, default_passes) = import(
            tmp.path(),
            &format!("default-{undirected}"),
            undirected,
            None,
        );
        let (b, tiny_passes) = import(
            tmp.path(),
            &format!("tiny-{undirected}"),
            undirected,
            Some(4096),
        );
        assert_eq!(default_passes, (1, 0), "the default budget holds it all");
        assert!(
            tiny_passes.0 >= 4,
            "4 KiB: several visit passes, {tiny_passes:?}"
        );
        assert!(
            tiny_passes.1 >= 2,
            "and sorted runs on disk, {tiny_passes:?}"
        );
        for sub in ["walks", "adj"] {
            let (fa, fb) = (
                file_bytes(&tmp.path().join(format!("default-{undirected}")), sub),
                file_bytes(&tmp.path().join(format!("tiny-{undirected}")), sub),
            );
            assert_eq!(fa.len(), fb.len());
            for ((na, ba), (nb, bb)) in fa.iter().zip(&fb) {
                assert_eq!(na, nb);
                assert!(ba == bb, "{sub}/{na} differs (undirected {undirected})");
            }
        }
        b.verify().unwrap();
        let q = |db: &Database| {
            let mut request = PprRequest::new(vec![("k3".to_string(), 1.0)]);
            request.method = Method::Index;
            let answer = db
                .begin_read()
                .unwrap()
                .ppr(&request, &mut PprWorkspace::new())
                .unwrap();
            assert_eq!(answer.method, Method::Index);
            answer.results
        };
        if undirected {
            assert_eq!(q(&a), q(&b));
        }
    }
}

/// A loader over its budget that is dropped (or fails) leaves no run file behind, and
/// imports nothing.
#[test]
fn a_dropped_loader_removes_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::builder(tmp.path().join("db"))
        .undirected(true)
        .create()
        .unwrap();
    let mut loader = db.bulk_loader().unwrap();
    loader.set_memory_budget(0);
    for (s, d, w) in edges(2000, 3) {
        loader.add_edge(&s, "r", &d, w).unwrap();
    }
    let adj = tmp.path().join("db").join("adj");
    let runs = || {
        std::fs::read_dir(&adj)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .contains(".run")
                })
                .count()
            })
            .unwrap_or(0)
    };
    assert!(runs() >= 2, "the loader spilled");
    drop(loader);
    assert_eq!(runs(), 0);
    assert_eq!(db.begin_read().unwrap().edge_count(), 0);
}

/// A spill that fails (its runs are sorted and written on a helper thread while the loader
/// goes on) fails the import, wherever the error surfaces (a later `add_edge` or `finish`):
/// the error names the file, nothing of the import is published, the edges committed before
/// stay, and no run file is left once the loader is gone.
#[test]
fn a_failing_spill_fails_the_import_and_leaves_nothing() {
    use std::sync::Arc;
    use walkdb::backend::{FailMode, SimBackend, StorageBackend};
    let edges = edges(2000, 5);
    for k in 1..=9 {
        let sim = SimBackend::new();
        let db = Database::builder("sim")
            .backend(Arc::new(sim.clone()) as Arc<dyn StorageBackend>)
            .undirected(true)
            .create()
            .unwrap();
        let mut txn = db.begin_write().unwrap();
        txn.add_edge("before", "r", "import", 1.0).unwrap();
        txn.commit().unwrap();
        let mut loader = db.bulk_loader().unwrap();
        loader.set_memory_budget(0);
        // Operation k after this point: the first spills' file creations and writes.
        sim.fail_at(
            sim.op_count() + k,
            FailMode::Once,
            std::io::ErrorKind::Other,
        );
        // A caller that carries on after the error cannot finish an import that lost records.
        let mut first_error = None;
        for (s, d, w) in &edges {
            if let Err(e) = loader.add_edge(s, "r", d, *w) {
                first_error.get_or_insert(e.to_string());
            }
        }
        let finished = loader.finish();
        assert!(
            finished.is_err(),
            "operation {k} failed, yet the import finished: {finished:?}"
        );
        let error = first_error.unwrap_or_else(|| finished.unwrap_err().to_string());
        assert!(error.contains(".run"), "operation {k}: {error}");
        sim.clear_failures();
        let names = sim.file_names();
        assert!(
            names.iter().all(|n| !n.contains(".run")),
            "operation {k}: run files left: {names:?}"
        );
        let snapshot = db.begin_read().unwrap();
        assert_eq!(snapshot.edge_count(), 1, "operation {k}");
    }
}

/// Copies of one edge in different runs (and among the records still in memory at the end):
/// the last one added wins, as when everything fits in memory.
#[test]
fn the_last_copy_of_an_edge_wins_across_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::builder(tmp.path().join("db")).create().unwrap();
    let mut loader = db.bulk_loader().unwrap();
    loader.set_memory_budget(0);
    let mut last = std::collections::HashMap::new();
    for i in 0..7000u32 {
        let (s, d) = match i {
            i if i % 1500 == 7 => ("hub".to_string(), "spoke".to_string()),
            i if i % 1100 == 3 => ("x".to_string(), "y".to_string()),
            i => (format!("k{}", i % 3000), format!("k{}", (i * 7) % 3000)),
        };
        let weight = 1.0 + i as f64;
        loader.add_edge(&s, "r", &d, weight).unwrap();
        last.insert((s, d), weight);
    }
    let info = loader.finish().unwrap();
    assert!(info.spilled_runs >= 4, "{info:?}");
    assert_eq!(info.edges, last.len() as u64);
    let snapshot = db.begin_read().unwrap();
    for ((s, d), weight) in &last {
        assert_eq!(
            snapshot.edge_weight(s, "r", d).unwrap(),
            Some(*weight),
            "{s} -> {d}"
        );
    }
}

/// The scale path at CI size: a 1M-edge R-MAT power-law graph (hubs of tens of thousands of
/// links) imported with a 2 MiB budget (sorted runs on disk; the visit ids, ~15 MB, in one
/// pass in the memory the ~30 MB graph projection held) verifies, holds every distinct edge,
/// answers a default query, takes a commit with repair, and checkpoints and reopens to the
/// same content.
#[test]
fn a_million_edge_power_law_import_within_a_small_budget() {
    use walkdb::rng::Rng;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("db");
    let db = Database::builder(&path)
        .undirected(true)
        .alpha(0.5)
        .create()
        .unwrap();
    let mut loader = db.bulk_loader().unwrap();
    loader.set_memory_budget(2 << 20);
    let mut rng = Rng::new(2026);
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..1_000_000 {
        let (u, v) = walkdb::synth::rmat_edge(&mut rng, 17);
        distinct.insert((u, v));
        loader
            .add_edge(&format!("n{u}"), "r", &format!("n{v}"), 1.0)
            .unwrap();
    }
    let info = loader.finish().unwrap();
    assert!(info.spilled_runs >= 4, "{info:?}");
    assert_eq!(info.index_visit_passes, 1, "{info:?}");
    assert_eq!(info.edges, distinct.len() as u64);
    db.verify().unwrap();
    let snapshot = db.begin_read().unwrap();
    let hub_degree = snapshot.link_count(snapshot.node_id("n0").unwrap().unwrap());
    assert!(hub_degree > 10_000, "R-MAT node 0 is a hub: {hub_degree}");
    let request = PprRequest::new(vec![("n0".to_string(), 1.0)]);
    let answer = snapshot.ppr(&request, &mut PprWorkspace::new()).unwrap();
    assert_eq!(answer.results.len(), 10);
    drop(snapshot);
    let mut txn = db.begin_write().unwrap();
    for i in 0..200 {
        txn.add_edge(&format!("n{i}"), "r", "fresh", 1.0).unwrap();
    }
    txn.commit().unwrap();
    db.checkpoint().unwrap();
    db.verify().unwrap();
    let edges = db.begin_read().unwrap().edge_count();
    db.close().unwrap();
    let db = Database::builder(&path).open().unwrap();
    assert_eq!(db.begin_read().unwrap().edge_count(), edges);
    db.verify().unwrap();
}
