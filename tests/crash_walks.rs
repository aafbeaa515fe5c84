#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash sweep over workloads whose commits repair the walk index: a hub gains and loses edges
//! (rerouting many visits), a dangling node gains its first edge (resuming walks that died
//! there), a node is deleted, weights are raised and lowered, and checkpoints write the index.
//!
//! The workload is stopped at every write/sync boundary (every later storage operation fails),
//! the storage is crashed with several drop modes and the database reopened. The recovered
//! walk index must equal, walk for walk, the index the live process had after the last
//! acknowledged unit of work (or after the next one, when its commit record reached the disk
//! before the failure): recovery replays the WAL's repairs exactly, it never rebuilds.

mod common;

use std::io::ErrorKind;
use std::sync::Arc;

use common::{edge_set, EdgeSet};
use walkdb::backend::{CrashMode, FailMode, SimBackend, StorageBackend};
use walkdb::walks::WalkIndex;
use walkdb::{Database, Durability};

enum Action {
    Import(Vec<(&'static str, &'static str, f64)>),
    /// (src, dst, weight, add): all edges use relation "r"; weight 0 with add=false deletes.
    Txn(Vec<(&'static str, &'static str, f64, bool)>),
    DeleteNode(&'static str),
    Checkpoint,
}

fn workload() -> Vec<Action> {
    use Action::*;
    vec![
        Import(vec![
            ("hub", "a", 1.0),
            ("hub", "b", 2.0),
            ("hub", "c", 1.0),
            ("a", "b", 1.0),
            ("c", "d", 3.0),
            ("d", "hub", 1.0),
            ("e", "sink", 1.0),
        ]),
        // A new edge at the hub reroutes a binomial share of its visits.
        Txn(vec![("hub", "e", 2.0, true), ("b", "c", 1.0, true)]),
        // The dangling sink (directed mode) gains an edge: walks that died there resume.
        Txn(vec![("sink", "hub", 1.0, true)]),
        // Raise and lower weights, delete an edge of the hub.
        Txn(vec![
            ("hub", "a", 4.0, true),
            ("c", "d", 0.5, true),
            ("hub", "b", 0.0, false),
        ]),
        Checkpoint,
        Txn(vec![("f", "hub", 1.0, true), ("f", "a", 1.0, true)]),
        DeleteNode("c"),
        Txn(vec![("a", "b", 0.0, false), ("g", "d", 2.0, true)]),
        Checkpoint,
        Txn(vec![("hub", "b", 1.5, true), ("d", "g", 1.0, true)]),
    ]
}

fn open(sim: &SimBackend, undirected: bool) -> Result<Database, walkdb::OpenError> {
    Database::builder("sim")
        .backend(Arc::new(sim.clone()) as Arc<dyn StorageBackend>)
        .undirected(undirected)
        .walks_per_node(6.0)
        .alpha(0.3)
        .durability(Durability::Immediate)
        .open_or_create()
}

/// Runs the workload until a storage operation fails. Returns, for each acknowledged unit
/// of work (the empty database first), the edge set and the live walk index copied right after
/// it was acknowledged, and whether the database was created at all.
fn run(sim: &SimBackend, undirected: bool) -> (Vec<(EdgeSet, WalkIndex)>, bool) {
    let Ok(db) = open(sim, undirected) else {
        return (Vec::new(), false);
    };
    let snapshot = |db: &Database| (edge_set(db), db.walk_index_copy().unwrap().0);
    let mut acked = vec![snapshot(&db)];
    for action in workload() {
        let ok = match action {
            Action::Import(edges) => db
                .bulk_loader()
                .and_then(|mut loader| {
                    for (s, d, w) in edges {
                        loader.add_edge(s, "r", d, w)?;
                    }
                    loader.finish()
                })
                .is_ok(),
            Action::Txn(ops) => db
                .begin_write()
                .and_then(|mut txn| {
                    for (s, d, w, add) in ops {
                        if add {
                            txn.add_edge(s, "r", d, w)?;
                        } else {
                            assert!(txn.delete_edge(s, "r", d)?, "{s} -> {d} exists");
                        }
                    }
                    txn.commit()
                })
                .is_ok(),
            Action::DeleteNode(key) => db
                .begin_write()
                .and_then(|mut txn| {
                    assert!(txn.delete_node(key)?);
                    txn.commit()
                })
                .is_ok(),
            Action::Checkpoint => {
                if db.checkpoint().is_err() {
                    return (acked, true);
                }
                continue;
            }
        };
        if !ok {
            return (acked, true);
        }
        acked.push(snapshot(&db));
    }
    (acked, true)
}

fn sweep(undirected: bool) -> usize {
    let probe = SimBackend::new();
    let (clean, created) = run(&probe, undirected);
    let units = workload()
        .iter()
        .filter(|a| !matches!(a, Action::Checkpoint))
        .count();
    assert!(
        created && clean.len() == units + 1,
        "the workload runs clean"
    );
    // The workload must exercise repairs: the index changes at every unit of work.
    for pair in clean.windows(2) {
        assert!(
            pair[0].1 != pair[1].1,
            "a unit of work left the index unchanged"
        );
    }
    let total_ops = probe.op_count();
    let mut tried = 0;
    for boundary in 0..=total_ops {
        let sim = SimBackend::new();
        sim.fail_at(boundary + 1, FailMode::FromThenOn, ErrorKind::Other);
        let (live, _) = run(&sim, undirected);
        // Up to the failure, the live process had exactly the clean run's states.
        for (k, (edges, index)) in live.iter().enumerate() {
            assert!(
                *edges == clean[k].0 && *index == clean[k].1,
                "boundary {boundary}: live state {k} differs from the clean run"
            );
        }
        let acked = live.len().saturating_sub(1);
        let mut modes = vec![CrashMode::DropAll, CrashMode::KeepAll];
        for seed in 0..8 {
            modes.push(CrashMode::RandomSubset {
                seed: boundary * 31 + seed,
            });
            modes.push(CrashMode::TornTail {
                seed: boundary * 37 + seed,
            });
        }
        for mode in modes {
            tried += 1;
            let crashed = sim.crash(mode);
            let db = open(&crashed, undirected).unwrap_or_else(|e| {
                panic!("boundary {boundary} {mode:?}: crash state does not open: {e}")
            });
            let edges = edge_set(&db);
            let (index, index_lsn) = db.walk_index_copy().unwrap();
            assert_eq!(
                index_lsn,
                db.begin_read().unwrap().lsn(),
                "boundary {boundary} {mode:?}: index LSN differs from the graph's"
            );
            let k = if live.is_empty() || edges == clean[acked].0 {
                acked
            } else {
                acked + 1
            };
            assert!(
                k < clean.len() && edges == clean[k].0,
                "boundary {boundary} {mode:?}: state is not a committed prefix with the {acked} acknowledged units"
            );
            if index != clean[k].1 {
                let want = clean[k].1.stats().unwrap();
                let got = index.stats().unwrap();
                panic!(
                    "boundary {boundary} {mode:?}: recovered index differs from the live index of unit {k} (walks {} vs {}, steps {} vs {})",
                    got.walks, want.walks, got.steps, want.steps
                );
            }
            if let Err(e) = db.verify() {
                panic!("boundary {boundary} {mode:?}: verify failed: {e}");
            }
        }
    }
    tried
}

#[test]
fn recovered_walk_index_equals_the_live_index_of_the_last_acknowledged_commit() {
    let directed = sweep(false);
    let undirected = sweep(true);
    println!(
        "walk-index crash sweep: {directed} directed and {undirected} undirected crash states"
    );
    assert!(directed + undirected >= 4_000, "too few crash states tried");
}
