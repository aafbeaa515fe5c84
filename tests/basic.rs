//! End-to-end basics through the public API on a real directory and on the simulated backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use walkdb::backend::{CrashMode, SimBackend, StorageBackend};
use walkdb::Database;

fn edges_of(db: &Database) -> Vec<(String, String, String, f64)> {
    let snap = db.begin_read().unwrap();
    let keys = snap.node_keys().unwrap();
    let rels = snap.relation_names();
    let mut out = Vec::new();
    for u in 0..snap.node_count() {
        for (v, r, w) in snap.out_edges(u) {
            out.push((
                keys[u as usize].clone(),
                rels[r as usize].clone(),
                keys[v as usize].clone(),
                w,
            ));
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

#[test]
fn create_write_reopen_checkpoint_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Database::builder(&path).undirected(true).create().unwrap();
        let mut txn = db.begin_write().unwrap();
        txn.add_edge("a", "likes", "b", 2.0).unwrap();
        txn.add_edge("b", "likes", "c", 1.0).unwrap();
        txn.add_edge("a", "likes", "b", 3.0).unwrap();
        let info = txn.commit().unwrap();
        assert_eq!(info.lsn, 1);
        let snap = db.begin_read().unwrap();
        assert_eq!((snap.node_count(), snap.edge_count()), (3, 2));
        let a = snap.node_id("a").unwrap().unwrap();
        assert_eq!(snap.out_edges(a).collect::<Vec<_>>(), vec![(1, 0, 3.0)]);
    }
    {
        let db = Database::builder(&path).open().unwrap();
        assert!(db.options().undirected);
        assert_eq!(edges_of(&db).len(), 2);
        let mut txn = db.begin_write().unwrap();
        assert!(txn.delete_edge("b", "likes", "c").unwrap());
        assert!(!txn.delete_edge("b", "likes", "c").unwrap());
        txn.add_edge("c", "hates", "a", 0.5).unwrap();
        txn.commit().unwrap();
        let before = edges_of(&db);
        let info = db.checkpoint().unwrap();
        assert!(info.wrote);
        assert_eq!(edges_of(&db), before);
        db.verify().unwrap();
    }
    let db = Database::builder(&path).open().unwrap();
    assert_eq!(
        edges_of(&db),
        vec![
            ("a".into(), "likes".into(), "b".into(), 3.0),
            ("c".into(), "hates".into(), "a".into(), 0.5)
        ]
    );
    let report = db.verify().unwrap();
    assert_eq!(report.edges, 2);
    assert!(matches!(
        Database::builder(&path).open(),
        Err(walkdb::OpenError::Locked(_))
    ));
}

#[test]
fn create_refuses_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    drop(Database::builder(dir.path()).create().unwrap());
    let err = Database::builder(dir.path()).create().unwrap_err();
    assert!(err.is_input(), "{err}");
}

#[test]
fn crash_after_commit_keeps_it_and_loses_the_uncommitted() {
    let sim = SimBackend::new();
    let db = Database::builder("sim")
        .backend(Arc::new(sim.clone()) as Arc<dyn StorageBackend>)
        .create()
        .unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("x", "r", "y", 1.0).unwrap();
    txn.commit().unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("y", "r", "z", 1.0).unwrap();
    drop(txn);
    let crashed = sim.crash(CrashMode::DropAll);
    let db2 = Database::builder("sim")
        .backend(Arc::new(crashed))
        .open()
        .unwrap();
    assert_eq!(
        edges_of(&db2),
        vec![("x".into(), "r".into(), "y".into(), 1.0)]
    );
    db2.verify().unwrap();
}

#[test]
fn bulk_import_then_streaming_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path()).create().unwrap();
    let mut loader = db.bulk_loader().unwrap();
    loader.add_edge("a", "r", "b", 1.0).unwrap();
    loader.add_edge("b", "r", "c", 1.0).unwrap();
    loader.add_edge("a", "r", "b", 4.0).unwrap();
    let info = loader.finish().unwrap();
    assert_eq!((info.nodes, info.edges, info.records), (3, 2, 3));
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("c", "s", "d", 2.0).unwrap();
    txn.commit().unwrap();
    let mut loader = db.bulk_loader().unwrap();
    loader.add_edge("d", "s", "a", 1.0).unwrap();
    loader.finish().unwrap();
    db.verify().unwrap();
    drop(db);
    let db = Database::builder(dir.path()).open().unwrap();
    assert_eq!(edges_of(&db).len(), 4);
    assert_eq!(edges_of(&db)[0], ("a".into(), "r".into(), "b".into(), 4.0));
    db.verify().unwrap();
}

/// A database that streams commits checkpoints by itself once the WAL passes the limit: the
/// WAL stays bounded, the generation advances, and nothing is lost across a reopen.
#[test]
fn auto_checkpoint_bounds_the_wal() {
    use walkdb::backend::{SimBackend, StorageBackend};
    let sim = SimBackend::new();
    let open = || {
        Database::builder("sim")
            .backend(std::sync::Arc::new(sim.clone()) as std::sync::Arc<dyn StorageBackend>)
            .auto_checkpoint(Some(4096))
            .open_or_create()
            .unwrap()
    };
    let db = open();
    for i in 0..200 {
        let mut txn = db.begin_write().unwrap();
        txn.add_edge(&format!("n{i}"), "next", &format!("n{}", i + 1), 1.0)
            .unwrap();
        txn.commit().unwrap();
    }
    let stats = db.stats().unwrap();
    // About 46 WAL bytes per transaction here: a checkpoint every ~88 commits.
    assert!(stats.generation >= 3, "generation {}", stats.generation);
    assert!(
        stats.checkpoint_lsn > 150,
        "checkpoint LSN {}",
        stats.checkpoint_lsn
    );
    let wal = stats.bytes_under("wal/");
    assert!(wal <= 4096 + 1024, "WAL holds {wal} bytes");
    drop(db);
    sim.release_lock();
    let db = open();
    assert_eq!(db.begin_read().unwrap().edge_count(), 200);
    db.verify().unwrap();
    // With auto-checkpoint off, the WAL keeps everything.
    let sim2 = SimBackend::new();
    let db = Database::builder("sim")
        .backend(std::sync::Arc::new(sim2.clone()) as std::sync::Arc<dyn StorageBackend>)
        .auto_checkpoint(None)
        .open_or_create()
        .unwrap();
    let initial = db.stats().unwrap().generation;
    for i in 0..200 {
        let mut txn = db.begin_write().unwrap();
        txn.add_edge(&format!("n{i}"), "next", &format!("n{}", i + 1), 1.0)
            .unwrap();
        txn.commit().unwrap();
    }
    let stats = db.stats().unwrap();
    assert_eq!((stats.generation, stats.checkpoint_lsn), (initial, 0));
}

/// The walk index's overlay (repairs since the last checkpoint, on the heap) counts toward
/// auto-checkpoint too: commits at a hub copy its long visit list into the overlay much faster
/// than they grow the WAL, and once the overlay outgrows both the limit and the walk file it
/// covers, a checkpoint folds it into the next walk file. (With lists counted at their length,
/// the overlay passes the walk file after about 520 commits, the WAL then at about 37 KiB.)
#[test]
fn auto_checkpoint_bounds_the_walk_index_overlay() {
    use walkdb::backend::{SimBackend, StorageBackend};
    let sim = SimBackend::new();
    let limit = 64 * 1024;
    let db = Database::builder("sim")
        .backend(std::sync::Arc::new(sim.clone()) as std::sync::Arc<dyn StorageBackend>)
        .undirected(true)
        .walks_per_node(4.0)
        .auto_checkpoint(Some(limit))
        .open_or_create()
        .unwrap();
    let mut loader = db.bulk_loader().unwrap();
    for i in 0..3000 {
        loader
            .add_edge("hub", "r", &format!("leaf{i}"), 1.0)
            .unwrap();
    }
    loader.finish().unwrap();
    let first = db.stats().unwrap().generation;
    let mut max_overlay = 0;
    for i in 0..800 {
        let mut txn = db.begin_write().unwrap();
        txn.add_edge("hub", "r", &format!("new{i}"), 1.0).unwrap();
        txn.commit().unwrap();
        let (index, _) = db.walk_index_copy().unwrap();
        max_overlay = max_overlay.max(index.overlay_live_bytes() as u64);
    }
    let stats = db.stats().unwrap();
    assert!(
        stats.bytes_under("wal/") < limit,
        "the WAL alone never reached the limit"
    );
    assert!(
        stats.generation > first,
        "generation {} after {first}: the overlay triggered no checkpoint",
        stats.generation
    );
    // The bound: the larger of the limit and the walk file the overlay covers, plus what one
    // commit adds before the check after it runs.
    let bound = limit.max(stats.bytes_under("walks/")) + 128 * 1024;
    assert!(
        max_overlay <= bound,
        "overlay reached {max_overlay} bytes, bound {bound}"
    );
    db.verify().unwrap();
}

/// The link projection of a new version is patched from the newest one built; an import
/// changes the graph without a new LSN, and a query after it must still see the imported
/// edges (the projection cache starts a new epoch), as must every commit after it.
#[test]
fn queries_see_the_graph_of_their_version_across_commits_and_imports() {
    use walkdb::ppr::{Method, PprWorkspace};
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db"))
        .undirected(true)
        .create()
        .unwrap();
    let ask = |db: &Database| {
        let snap = db.begin_read().unwrap();
        let mut request = walkdb::PprRequest::new(vec![("a".into(), 1.0)]);
        request.method = Method::Exact;
        request.top_k = 100;
        let answer = snap.ppr(&request, &mut PprWorkspace::new()).unwrap();
        let mut keys: Vec<String> = answer.results.into_iter().map(|(k, _)| k).collect();
        keys.sort();
        keys
    };
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("a", "r", "b", 1.0).unwrap();
    txn.commit().unwrap();
    assert_eq!(ask(&db), ["a", "b"]);
    for (i, node) in ["c", "d", "e"].iter().enumerate() {
        let mut txn = db.begin_write().unwrap();
        txn.add_edge(["a", "c", "d"][i], "r", node, 1.0).unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(ask(&db), ["a", "b", "c", "d", "e"]);
    let mut loader = db.bulk_loader().unwrap();
    loader.add_edge("e", "r", "f", 1.0).unwrap();
    loader.finish().unwrap();
    assert_eq!(ask(&db), ["a", "b", "c", "d", "e", "f"]);
    let mut txn = db.begin_write().unwrap();
    assert!(txn.delete_edge("a", "r", "b").unwrap());
    txn.commit().unwrap();
    assert_eq!(ask(&db), ["a", "c", "d", "e", "f"]);
    db.checkpoint().unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("f", "r", "g", 1.0).unwrap();
    txn.commit().unwrap();
    assert_eq!(ask(&db), ["a", "c", "d", "e", "f", "g"]);
}

#[test]
fn isolated_nodes_and_a_transactions_own_edges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Database::builder(&path).create().unwrap();
        let mut txn = db.begin_write().unwrap();
        let a = txn.add_node("a").unwrap();
        assert_eq!(
            txn.add_node("a").unwrap(),
            a,
            "add_node of an existing key is its id"
        );
        assert!(txn.add_node("bad\tkey").unwrap_err().is_input());
        txn.add_edge("a", "r", "b", 1.0).unwrap();
        txn.add_edge("a", "s", "b", 2.0).unwrap();
        let b = txn.node_id("b").unwrap().unwrap();
        let (r, s) = (txn.relation_id("r").unwrap(), txn.relation_id("s").unwrap());
        // The transaction sees its own edges, sorted by (dst, relation).
        assert_eq!(txn.out_edges(a), vec![(b, r, 1.0), (b, s, 2.0)]);
        assert!(txn.out_edges(b).is_empty());
        assert!(txn.out_edges(99).is_empty());
        txn.add_node("lonely").unwrap();
        txn.commit().unwrap();
        db.checkpoint().unwrap();
        let mut txn = db.begin_write().unwrap();
        // After a checkpoint the edges come from the segment, then from the delta.
        assert_eq!(txn.out_edges(a), vec![(b, r, 1.0), (b, s, 2.0)]);
        txn.delete_edge("a", "r", "b").unwrap();
        assert_eq!(txn.out_edges(a), vec![(b, s, 2.0)]);
        txn.commit().unwrap();
    }
    let db = Database::builder(&path).open().unwrap();
    let snap = db.begin_read().unwrap();
    assert_eq!(snap.node_count(), 3);
    assert!(snap.out_neighbors("lonely").unwrap().is_empty());
    assert_eq!(snap.edge_count(), 1);
    db.verify().unwrap();
}

#[test]
fn bulk_loader_creates_isolated_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db")).create().unwrap();
    let mut loader = db.bulk_loader().unwrap();
    let a = loader.add_node("a").unwrap();
    loader.add_edge("a", "r", "b", 1.0).unwrap();
    assert_eq!(loader.add_node("a").unwrap(), a);
    loader.add_node("lonely").unwrap();
    assert!(loader.add_node("").unwrap_err().is_input());
    loader.finish().unwrap();
    let snap = db.begin_read().unwrap();
    assert_eq!((snap.node_count(), snap.edge_count()), (3, 1));
    assert!(snap.out_neighbors("lonely").unwrap().is_empty());
    db.verify().unwrap();
}

/// `add_edges` equals `add_edge` called on each edge in turn: the same ids in the same order
/// (keys stored by an earlier import, keys new in the batch, keys repeated within a batch and
/// across batches), the same walks, and on a bad edge the same error with its index, the edges
/// before it added.
#[test]
fn batched_bulk_adds_equal_one_by_one() {
    let mut rng = walkdb::rng::Rng::new(17);
    let key = |i: u64| format!("k{}", i.wrapping_mul(0x9E37_79B9) % 100_000);
    let stored: Vec<(String, String)> = (0..300).map(|i| (key(i), key(i + 1))).collect();
    let mut edges: Vec<(String, String, String, f64)> = (0..2000)
        .map(|_| {
            (
                key(rng.below(1500)),
                ["r", "s"][rng.below(2) as usize].to_string(),
                key(rng.below(1500)),
                1.0 + rng.below(3) as f64,
            )
        })
        .collect();
    edges[1500].3 = f64::NAN;
    let mut results = Vec::new();
    for batched in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::builder(dir.path()).create().unwrap();
        let mut loader = db.bulk_loader().unwrap();
        for (a, b) in &stored {
            loader.add_edge(a, "r", b, 1.0).unwrap();
        }
        loader.finish().unwrap();
        let mut loader = db.bulk_loader().unwrap();
        let failed = if batched {
            let refs: Vec<(&str, &str, &str, f64)> = edges
                .iter()
                .map(|(a, r, b, w)| (a.as_str(), r.as_str(), b.as_str(), *w))
                .collect();
            let (at, e) = loader.add_edges(&refs).unwrap_err();
            (at, e.to_string())
        } else {
            let mut failed = None;
            for (i, (a, r, b, w)) in edges.iter().enumerate() {
                if let Err(e) = loader.add_edge(a, r, b, *w) {
                    failed = Some((i, e.to_string()));
                    break;
                }
            }
            failed.unwrap()
        };
        loader.finish().unwrap();
        db.verify().unwrap();
        let keys = db.begin_read().unwrap().node_keys().unwrap();
        let edges = edges_of(&db);
        drop(db);
        // The segment and walk files, byte for byte (the walks are seeded by node id).
        let mut files = Vec::new();
        for sub in ["adj", "walks"] {
            let mut names: Vec<_> = std::fs::read_dir(dir.path().join(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            for path in names {
                files.push(std::fs::read(&path).unwrap());
            }
        }
        results.push((failed, keys, edges, files));
    }
    assert_eq!(results[0].0 .0, 1500);
    assert!(results[0].1.len() > 500, "many keys");
    assert_eq!(results[0], results[1]);
}

#[test]
fn bulk_loader_fast_path_by_ids() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db")).create().unwrap();
    let mut loader = db.bulk_loader().unwrap();
    let (a, b) = (loader.add_node("a").unwrap(), loader.add_node("b").unwrap());
    let r = loader.add_relation("r").unwrap();
    assert_eq!(loader.add_relation("r").unwrap(), r);
    loader.add_edge_ids(a, r, b, 2.0).unwrap();
    assert!(loader.add_edge_ids(a, r, 7, 1.0).unwrap_err().is_input());
    assert!(loader
        .add_edge_ids(a, r + 1, b, 1.0)
        .unwrap_err()
        .is_input());
    assert!(loader
        .add_edge_ids(a, r, b, f64::NAN)
        .unwrap_err()
        .is_input());
    loader.finish().unwrap();
    let snap = db.begin_read().unwrap();
    assert_eq!(snap.edge_weight("a", "r", "b").unwrap(), Some(2.0));
    assert_eq!(snap.edge_count(), 1);
}

/// `Snapshot::ppr_batch` answers every request in place: certified-push requests (shared
/// sweeps) meet their target against the exact scores; requests that run alone (relation
/// weights, a node prefix, exact) get exactly `Snapshot::ppr`'s answer; an unknown key is its
/// own request's error.
#[test]
fn a_batch_answers_every_request_in_place() {
    use walkdb::ppr::{Accuracy, Method, PprWorkspace};
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db"))
        .undirected(true)
        .create()
        .unwrap();
    let synth = walkdb::synth::barabasi_albert(400, 4, 21);
    let mut loader = db.bulk_loader().unwrap();
    for (i, e) in synth.edges.iter().enumerate() {
        let rel = if i % 3 == 0 { "s" } else { "r" };
        let (src, dst) = (format!("n{}", e.src), format!("n{}", e.dst));
        loader.add_edge(&src, rel, &dst, 1.0).unwrap();
    }
    loader.finish().unwrap();
    let snap = db.begin_read().unwrap();
    let request = |seeds: &[&str], method: Method| {
        let mut r = walkdb::PprRequest::new(seeds.iter().map(|s| (s.to_string(), 1.0)).collect());
        r.method = method;
        r.alpha = Some(0.3);
        r
    };
    let mut requests: Vec<walkdb::PprRequest> = (0..24)
        .map(|i| {
            let a = format!("n{}", i * 13 % 400);
            let b = format!("n{}", i * 29 % 400);
            let seeds: Vec<&str> = if i % 2 == 0 { vec![&a] } else { vec![&a, &b] };
            let mut r = request(&seeds, Method::Push);
            if i % 4 == 1 {
                r.accuracy = Accuracy::with_max_error(1e-3);
            }
            r
        })
        .collect();
    let shared = requests.len();
    requests.push(request(&["nope"], Method::Push));
    let mut weighted = request(&["n5"], Method::Push);
    weighted.rel_weights = vec![("s".to_string(), 0.0)];
    requests.push(weighted);
    let mut prefixed = request(&["n7"], Method::Push);
    prefixed.node_prefix = Some("n1".to_string());
    requests.push(prefixed);
    requests.push(request(&["n9"], Method::Exact));
    let answers = snap.ppr_batch(&requests);
    assert_eq!(answers.len(), requests.len());
    let mut ws = PprWorkspace::new();
    for (i, (r, got)) in requests.iter().zip(&answers).enumerate() {
        let alone = snap.ppr(r, &mut ws);
        match (got, alone) {
            (Ok(a), Ok(b)) if i < shared => {
                assert_eq!(a.method, b.method);
                assert!(a.guarantee.meets(&r.accuracy), "{:?}", a.guarantee);
                let mut exact_request = r.clone();
                exact_request.method = Method::Exact;
                exact_request.top_k = 400;
                let exact: std::collections::HashMap<String, f64> = snap
                    .ppr(&exact_request, &mut ws)
                    .unwrap()
                    .results
                    .into_iter()
                    .collect();
                let kth = kth_score(&exact, a.results.len());
                for (key, score) in &a.results {
                    let e = exact[key];
                    assert!((score - e).abs() <= a.guarantee.max_error + 1e-9, "{key}");
                    assert!(
                        e >= kth - 1e-6 - 1e-9,
                        "request {i}: {key} is not in the top"
                    );
                }
            }
            (Ok(a), Ok(b)) => {
                assert_eq!(a.method, b.method);
                assert_eq!(a.results, b.results);
                assert_eq!(a.guarantee, b.guarantee);
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("request {i}: {a:?} vs {b:?}"),
        }
    }
    assert!(
        answers[shared].is_err(),
        "the unknown key fails its own request"
    );
}

/// The `k`-th largest exact score.
fn kth_score(exact: &std::collections::HashMap<String, f64>, k: usize) -> f64 {
    let mut scores: Vec<f64> = exact.values().copied().collect();
    scores.sort_unstable_by(|a, b| b.total_cmp(a));
    scores[k - 1]
}
