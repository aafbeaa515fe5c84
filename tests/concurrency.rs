//! Concurrency stress: reader threads take snapshots and run PPR on them while one writer
//! commits transactions (each adds a pair of mirrored edges and retires an older pair),
//! deletes nodes, and checkpoints (which retire and delete segment files) on the real file
//! system backend, with memory-mapped segments.
//!
//! Readers must never see half a transaction (every pair whole, the edge count even and
//! equal to what the snapshot's LSN implies), never see a snapshot change under them (the
//! edge list read before and after a PPR query is identical, also across checkpoints that
//! delete the snapshot's segment file), and always resolve keys and ids consistently.
//!
//! `WALKDB_STRESS_TXNS` (default 400) sets the number of write transactions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use walkdb::ppr::{Method, PprWorkspace};
use walkdb::{Database, PprRequest, Snapshot};

/// Pairs alive after transaction `t` (0-based): pair `t` is added, pair `t - 4` retired.
const LIVE_PAIRS: u64 = 4;

/// Edges by (src, relation, dst) keys, with their weights.
type EdgeMap = BTreeMap<(String, String, String), f64>;

/// Every edge of the snapshot by keys, checking the pair invariant on the way.
fn read_all(snap: &Snapshot) -> EdgeMap {
    let keys = snap.node_keys().unwrap();
    assert_eq!(
        keys.len(),
        snap.node_count() as usize,
        "one key per node id"
    );
    for (id, key) in keys.iter().enumerate() {
        // Keys and ids resolve both ways, whatever checkpoint moved them to the catalog.
        assert_eq!(
            snap.node_id(key).unwrap(),
            Some(id as u32),
            "node_id({key})"
        );
        assert_eq!(
            snap.node_key(id as u32).unwrap().as_deref(),
            Some(key.as_str())
        );
    }
    let rels = snap.relation_names();
    let mut edges = BTreeMap::new();
    for u in 0..snap.node_count() {
        for (v, r, w) in snap.out_edges(u) {
            edges.insert(
                (
                    keys[u as usize].clone(),
                    rels[r as usize].clone(),
                    keys[v as usize].clone(),
                ),
                w,
            );
        }
    }
    assert_eq!(edges.len() as u64, snap.edge_count());
    for ((src, rel, dst), w) in &edges {
        if let Some(t) = src.strip_prefix('a') {
            let mirror = (format!("b{t}"), rel.clone(), format!("a{t}"));
            assert_eq!(
                edges.get(&mirror),
                Some(w),
                "half a transaction: {src} -> {dst} without its mirror"
            );
        }
    }
    edges
}

#[test]
fn readers_never_see_half_a_transaction_or_a_freed_segment() {
    let txns: u64 = std::env::var("WALKDB_STRESS_TXNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db")).create().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let snapshots_checked = Arc::new(AtomicU64::new(0));
    let queries_run = Arc::new(AtomicU64::new(0));
    let first_lsn = db.begin_read().unwrap().lsn();

    let readers: Vec<_> = (0..3)
        .map(|reader| {
            let db = db.clone();
            let done = Arc::clone(&done);
            let snapshots_checked = Arc::clone(&snapshots_checked);
            let queries_run = Arc::clone(&queries_run);
            std::thread::spawn(move || {
                let mut workspace = PprWorkspace::new();
                let mut held: Vec<(Snapshot, EdgeMap)> = Vec::new();
                let mut round = 0u64;
                while !done.load(Ordering::Acquire) {
                    round += 1;
                    let snap = db.begin_read().unwrap();
                    let edges = read_all(&snap);
                    // Each transaction is one LSN; its pairs are known from the LSN alone.
                    let t = snap.lsn() - first_lsn;
                    let pairs = t.min(LIVE_PAIRS);
                    assert_eq!(
                        edges.len() as u64,
                        2 * pairs + extra_edges(t),
                        "snapshot at LSN {} holds {} edges",
                        snap.lsn(),
                        edges.len()
                    );
                    if let Some(((src, _, _), _)) = edges.iter().find(|(k, _)| k.0.starts_with('a'))
                    {
                        let methods = [Method::Exact, Method::Push, Method::Walks, Method::Auto];
                        let mut request = PprRequest::new(vec![(src.clone(), 1.0)]);
                        request.method = methods[(round + reader) as usize % methods.len()];
                        let answer = snap.ppr(&request, &mut workspace).unwrap();
                        let total: f64 = answer.results.iter().map(|(_, s)| s).sum();
                        // Certified scores are interval midpoints, each within the reported
                        // error of the exact score.
                        let slack = match answer.guarantee.max_error {
                            e if e.is_finite() => answer.results.len() as f64 * e,
                            _ => 0.0,
                        };
                        assert!(total <= 1.0 + slack + 1e-6, "scores sum to {total}");
                        for (key, _) in &answer.results {
                            assert!(
                                snap.node_id(key).unwrap().is_some(),
                                "PPR served unknown key {key}"
                            );
                        }
                        queries_run.fetch_add(1, Ordering::Relaxed);
                    }
                    // The snapshot does not change while it is used.
                    assert_eq!(read_all(&snap), edges, "snapshot changed during a query");
                    // Hold some snapshots across checkpoints (their segment files are retired)
                    // and re-read them later.
                    if round.is_multiple_of(7) {
                        held.push((snap, edges));
                    }
                    if held.len() > 4 {
                        let (old, old_edges) = held.remove(0);
                        assert_eq!(read_all(&old), old_edges, "a held snapshot changed");
                    }
                    snapshots_checked.fetch_add(1, Ordering::Relaxed);
                }
                for (old, old_edges) in held {
                    assert_eq!(read_all(&old), old_edges, "a held snapshot changed");
                }
            })
        })
        .collect();

    for t in 0..txns {
        let mut txn = db.begin_write().unwrap();
        let w = 1.0 + (t % 9) as f64;
        txn.add_edge(&format!("a{t}"), "pair", &format!("b{t}"), w)
            .unwrap();
        txn.add_edge(&format!("b{t}"), "pair", &format!("a{t}"), w)
            .unwrap();
        if t >= LIVE_PAIRS {
            let old = t - LIVE_PAIRS;
            if old.is_multiple_of(5) {
                // Retire the pair by deleting a node (all its edges go in this transaction).
                assert!(txn.delete_node(&format!("a{old}")).unwrap());
            } else {
                assert!(txn
                    .delete_edge(&format!("a{old}"), "pair", &format!("b{old}"))
                    .unwrap());
                assert!(txn
                    .delete_edge(&format!("b{old}"), "pair", &format!("a{old}"))
                    .unwrap());
            }
        }
        // A self-contained extra edge every third transaction, removed by the next one.
        if t % 3 == 0 {
            txn.add_edge(&format!("x{t}"), "extra", &format!("x{t}"), 1.0)
                .unwrap();
        } else if t % 3 == 1 {
            assert!(txn
                .delete_edge(&format!("x{}", t - 1), "extra", &format!("x{}", t - 1))
                .unwrap());
        }
        txn.commit().unwrap();
        if t % 13 == 12 {
            db.checkpoint().unwrap();
        }
    }
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().expect("a reader failed");
    }
    db.verify().unwrap();
    println!(
        "concurrency: {txns} transactions, {} snapshots checked, {} PPR queries",
        snapshots_checked.load(Ordering::Relaxed),
        queries_run.load(Ordering::Relaxed)
    );
    assert!(snapshots_checked.load(Ordering::Relaxed) > 0);
}

/// Extra edges alive after `t` transactions: one after transactions 1, 4, 7, ...
fn extra_edges(t: u64) -> u64 {
    u64::from(t % 3 == 1)
}

/// Index queries while a writer streams commits (issue: the walk index served per version).
/// Two reader threads answer `Method::Index` queries on fresh and held snapshots while the
/// writer adds and deletes edges (repairing the index in every commit) and checkpoints
/// (replacing the index file). Every answer must come from the index (no fallback, also for
/// snapshots several commits old), and must be bit for bit the answer its snapshot gives when
/// asked again alone after the writer stopped: each snapshot reads its own version's index,
/// which no later repair changes.
#[test]
fn index_queries_on_every_snapshot_use_that_versions_index_while_a_writer_streams() {
    let txns: u64 = std::env::var("WALKDB_STRESS_TXNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400)
        / 2;
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db"))
        .undirected(true)
        .create()
        .unwrap();
    let graph = walkdb::synth::barabasi_albert(1500, 4, 7);
    {
        let mut loader = db.bulk_loader().unwrap();
        for e in &graph.edges {
            loader
                .add_edge(
                    &graph.keys[e.src as usize],
                    "link",
                    &graph.keys[e.dst as usize],
                    e.weight,
                )
                .unwrap();
        }
        loader.finish().unwrap();
    }
    let keys = Arc::new(graph.keys.clone());
    let done = Arc::new(AtomicBool::new(false));
    type Record = (Snapshot, PprRequest, Vec<(String, f64)>);
    let readers: Vec<std::thread::JoinHandle<Vec<Record>>> = (0..2u64)
        .map(|reader| {
            let (db, done, keys) = (db.clone(), Arc::clone(&done), Arc::clone(&keys));
            std::thread::spawn(move || {
                let mut workspace = PprWorkspace::new();
                let mut held: Vec<Snapshot> = Vec::new();
                let mut records = Vec::new();
                let mut round = 0u64;
                while !done.load(Ordering::Acquire) || round < 20 {
                    round += 1;
                    // Alternate a fresh snapshot with one held for a while (older versions).
                    let snap = if round.is_multiple_of(2) && !held.is_empty() {
                        held[(round as usize / 2) % held.len()].clone()
                    } else {
                        db.begin_read().unwrap()
                    };
                    let seed =
                        &keys[((round * 7919 + reader * 104_729) % keys.len() as u64) as usize];
                    let mut request = PprRequest::new(vec![(seed.clone(), 1.0)]);
                    request.method = Method::Index;
                    request.top_k = 10;
                    let answer = snap.ppr(&request, &mut workspace).unwrap();
                    assert_eq!(
                        answer.method,
                        Method::Index,
                        "snapshot at LSN {} fell back from the index",
                        snap.lsn()
                    );
                    if round.is_multiple_of(5) {
                        records.push((snap.clone(), request, answer.results));
                    }
                    if round.is_multiple_of(9) {
                        held.push(snap);
                        if held.len() > 6 {
                            held.remove(0);
                        }
                    }
                }
                records
            })
        })
        .collect();
    let mut rng = walkdb::rng::Rng::new(99);
    let n = keys.len() as u64;
    for t in 0..txns {
        let mut txn = db.begin_write().unwrap();
        for _ in 0..5 {
            let (a, b) = (rng.below(n) as usize, rng.below(n) as usize);
            txn.add_edge(&keys[a], "link", &keys[b], 1.0 + (t % 3) as f64)
                .unwrap();
        }
        if t % 4 == 3 {
            let e = &graph.edges[rng.below(graph.edges.len() as u64) as usize];
            txn.delete_edge(&keys[e.src as usize], "link", &keys[e.dst as usize])
                .unwrap();
        }
        txn.commit().unwrap();
        if t % 60 == 59 {
            db.checkpoint().unwrap();
        }
    }
    done.store(true, Ordering::Release);
    let mut records = Vec::new();
    for r in readers {
        records.extend(r.join().expect("a reader failed"));
    }
    let mut lsns = std::collections::BTreeSet::new();
    let mut workspace = PprWorkspace::new();
    for (snap, request, results) in &records {
        let again = snap.ppr(request, &mut workspace).unwrap();
        assert_eq!(
            &again.results,
            results,
            "LSN {}: answer changed",
            snap.lsn()
        );
        lsns.insert(snap.lsn());
    }
    println!(
        "index concurrency: {txns} commits, {} answers re-checked over {} versions",
        records.len(),
        lsns.len()
    );
    assert!(lsns.len() > 3, "answers from several versions: {lsns:?}");
    db.verify().unwrap();
}
