//! Group commit ([`Durability::Group`]): commits from several threads share syncs, and every
//! commit that returned is durable. Writer threads commit concurrently while the storage is
//! crashed under them at varying moments with every crash mode; the reopened database must
//! hold every acknowledged edge, and each thread's edges must form a prefix of what it sent.
//! A failed sync must fail the waiting commits and poison the database until reopened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use common::edge_set;
use parking_lot::Mutex;
use walkdb::backend::{CrashMode, FailMode, SimBackend, StorageBackend};
use walkdb::{Database, Durability, Error};

const THREADS: usize = 4;
const COMMITS: usize = 60;

fn group_db(sim: &SimBackend) -> walkdb::Result<Database> {
    Database::builder("sim")
        .backend(Arc::new(sim.clone()) as Arc<dyn StorageBackend>)
        .undirected(true)
        .durability(Durability::Group)
        .open_or_create()
}

fn key(thread: usize, i: usize) -> (String, String) {
    (format!("t{thread}"), format!("t{thread}-{i}"))
}

/// Runs the writers; returns the acknowledged (thread, i) pairs recorded up to the crash
/// and the crashed image.
fn run_and_crash(
    db: &Arc<Database>,
    sim: &SimBackend,
    delay: Duration,
    mode: CrashMode,
) -> (Vec<(usize, usize)>, SimBackend) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(db);
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                for i in 0..COMMITS {
                    let (src, dst) = key(t, i);
                    let mut txn = match db.begin_write() {
                        Ok(txn) => txn,
                        Err(_) => return,
                    };
                    txn.add_edge(&src, "next", &dst, 1.0 + i as f64).unwrap();
                    if txn.commit().is_err() {
                        return;
                    }
                    acked.lock().push((t, i));
                }
            })
        })
        .collect();
    std::thread::sleep(delay);
    // Acknowledgements read before the crash were durable before it.
    let before = acked.lock().clone();
    let image = sim.crash(mode);
    for h in handles {
        h.join().unwrap();
    }
    (before, image)
}

#[test]
fn acknowledged_group_commits_survive_crashes_at_any_moment() {
    let mut rounds = 0;
    for (round, mode) in [
        CrashMode::DropAll,
        CrashMode::RandomSubset { seed: 7 },
        CrashMode::TornTail { seed: 11 },
    ]
    .into_iter()
    .cycle()
    .take(12)
    .enumerate()
    {
        let sim = SimBackend::new();
        let db = Arc::new(group_db(&sim).unwrap());
        let delay = Duration::from_micros(200 * round as u64);
        let (acked, image) = run_and_crash(&db, &sim, delay, mode);
        eprintln!(
            "round {round}: {} of {} commits acknowledged before the crash",
            acked.len(),
            THREADS * COMMITS
        );
        drop(db);
        image.release_lock();
        let reopened = group_db(&image).unwrap();
        let edges = edge_set(&reopened);
        for &(t, i) in &acked {
            let (src, dst) = key(t, i);
            assert!(
                edges.contains_key(&(src.clone(), "next".into(), dst.clone())),
                "round {round} {mode:?}: acknowledged {src}->{dst} lost"
            );
        }
        // Per thread, the recovered edges are a prefix of what it sent, with its weights.
        for t in 0..THREADS {
            let mine: Vec<usize> = (0..COMMITS)
                .filter(|&i| {
                    let (src, dst) = key(t, i);
                    edges.contains_key(&(src, "next".into(), dst))
                })
                .collect();
            assert_eq!(
                mine,
                (0..mine.len()).collect::<Vec<_>>(),
                "round {round}: thread {t}"
            );
        }
        assert_eq!(
            edges.len(),
            (0..THREADS)
                .map(|t| edges.keys().filter(|k| k.0 == format!("t{t}")).count())
                .sum::<usize>(),
            "no edge that was never sent"
        );
        reopened.verify().unwrap();
        rounds += 1;
    }
    assert_eq!(rounds, 12);
}

#[test]
fn concurrent_group_commits_all_land_and_share_syncs() {
    let sim = SimBackend::new();
    let db = Arc::new(group_db(&sim).unwrap());
    let (acked, _) = run_and_crash(&db, &sim, Duration::from_secs(0), CrashMode::KeepAll);
    // Wait for the writers (run_and_crash joined them); every commit was acknowledged.
    let _ = acked;
    let edges = edge_set(&db);
    assert_eq!(edges.len(), THREADS * COMMITS);
    let syncs = db.group_sync_count();
    assert!(
        syncs >= 1 && syncs <= (THREADS * COMMITS) as u64,
        "{syncs} syncs"
    );
    eprintln!("{} group commits used {syncs} syncs", THREADS * COMMITS);
    // Everything acknowledged is durable: a crash that drops every unsynced write loses nothing.
    let image = sim.crash(CrashMode::DropAll);
    drop(db);
    image.release_lock();
    assert_eq!(
        edge_set(&group_db(&image).unwrap()).len(),
        THREADS * COMMITS
    );
}

#[test]
fn a_failed_group_sync_fails_the_waiters_and_poisons_until_reopen() {
    let sim = SimBackend::new();
    let db = group_db(&sim).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("a", "r", "b", 1.0).unwrap();
    txn.commit().unwrap();
    // The next commit's append succeeds, its sync fails.
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("b", "r", "c", 1.0).unwrap();
    sim.fail_at(sim.op_count() + 1, FailMode::Once, ErrorKind::StorageFull);
    let error = txn.commit().unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    match db.begin_write() {
        Err(Error::Poisoned { .. }) => {}
        other => panic!("expected poisoned, got {other:?}"),
    }
    drop(db);
    sim.clear_failures();
    let image = sim.crash(CrashMode::DropAll);
    image.release_lock();
    let reopened = group_db(&image).unwrap();
    let edges = edge_set(&reopened);
    assert!(edges.contains_key(&("a".into(), "r".into(), "b".into())));
    // After reopening, writes work again.
    let mut txn = reopened.begin_write().unwrap();
    txn.add_edge("c", "r", "d", 1.0).unwrap();
    txn.commit().unwrap();
}
