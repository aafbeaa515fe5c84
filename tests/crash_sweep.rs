//! Crash sweep: a deterministic workload is stopped at every write/sync boundary (every later
//! operation fails), the storage is crashed with each drop mode, and the database reopened.
//! Every crash state must open, equal a committed prefix of the workload and contain every
//! acknowledged commit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;

use common::{edge_set, sim_db, EdgeSet};
use walkdb::backend::{CrashMode, FailMode, SimBackend};

/// One step of the workload.
enum Action {
    Txn(Vec<(&'static str, &'static str, &'static str, f64, bool)>),
    Checkpoint,
    Import(Vec<(&'static str, &'static str, &'static str, f64)>),
}

fn workload() -> Vec<Action> {
    use Action::*;
    vec![
        Import(vec![
            ("a", "r", "b", 1.0),
            ("b", "r", "c", 2.0),
            ("c", "s", "a", 1.5),
        ]),
        Txn(vec![("a", "r", "c", 1.0, true), ("d", "s", "a", 3.0, true)]),
        Txn(vec![
            ("b", "r", "c", 0.0, false),
            ("e", "r", "f", 1.0, true),
        ]),
        Checkpoint,
        Txn(vec![("f", "s", "a", 2.0, true)]),
        Txn(vec![
            ("a", "r", "b", 5.0, true),
            ("c", "s", "a", 0.0, false),
        ]),
        Txn(vec![
            ("g", "t", "h", 1.0, true),
            ("h", "t", "a", 1.0, true),
            ("a", "t", "g", 0.25, true),
        ]),
        Checkpoint,
        Txn(vec![("e", "r", "f", 0.0, false)]),
        Txn(vec![("i", "r", "a", 1.0, true)]),
    ]
}

/// The model state after each acknowledged unit of work (import or commit).
fn expected_states() -> Vec<EdgeSet> {
    let mut states = vec![EdgeSet::new()];
    let mut model = EdgeSet::new();
    for action in workload() {
        match action {
            Action::Txn(ops) => {
                for (s, r, d, w, add) in ops {
                    let key = (s.to_string(), r.to_string(), d.to_string());
                    if add {
                        model.insert(key, w);
                    } else {
                        model.remove(&key);
                    }
                }
            }
            Action::Import(edges) => {
                for (s, r, d, w) in edges {
                    model.insert((s.to_string(), r.to_string(), d.to_string()), w);
                }
            }
            Action::Checkpoint => continue,
        }
        states.push(model.clone());
    }
    states
}

/// Runs the workload until an operation fails; returns how many units were acknowledged and
/// whether the database itself was created.
fn run_workload(sim: &SimBackend, undirected: bool) -> (usize, bool) {
    let Ok(db) = sim_db(sim, undirected) else {
        return (0, false);
    };
    let mut acked = 0;
    for action in workload() {
        let ok = match action {
            Action::Txn(ops) => db
                .begin_write()
                .and_then(|mut txn| {
                    for (s, r, d, w, add) in ops {
                        if add {
                            txn.add_edge(s, r, d, w)?;
                        } else {
                            assert!(txn.delete_edge(s, r, d)?);
                        }
                    }
                    txn.commit()
                })
                .is_ok(),
            Action::Import(edges) => db
                .bulk_loader()
                .and_then(|mut loader| {
                    for (s, r, d, w) in edges {
                        loader.add_edge(s, r, d, w)?;
                    }
                    loader.finish()
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
        acked += 1;
    }
    (acked, true)
}

fn sweep(undirected: bool) -> usize {
    let states = expected_states();
    let probe = SimBackend::new();
    let (all, created) = run_workload(&probe, undirected);
    assert!(
        created && all == states.len() - 1,
        "the workload runs clean without failures"
    );
    let total_ops = probe.op_count();
    let mut tried = 0;
    for boundary in 0..=total_ops {
        let sim = SimBackend::new();
        sim.fail_at(boundary + 1, FailMode::FromThenOn, ErrorKind::Other);
        let (acked, created) = run_workload(&sim, undirected);
        let mut modes = vec![CrashMode::DropAll, CrashMode::KeepAll];
        for seed in 0..20 {
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
            let db = match sim_db(&crashed, undirected) {
                Ok(db) => db,
                Err(e) => panic!("boundary {boundary} {mode:?}: crash state does not open: {e}"),
            };
            let got = edge_set(&db);
            // The state is the last acknowledged one, or the next if its commit record made it
            // to disk before the failure.
            let ok = got == states[acked] || (acked + 1 < states.len() && got == states[acked + 1]);
            assert!(ok, "boundary {boundary} {mode:?}: state is not a committed prefix containing the {acked} acknowledged units (created: {created})\n{got:?}");
            if let Err(e) = db.verify() {
                panic!("boundary {boundary} {mode:?}: verify failed: {e}");
            }
        }
    }
    tried
}

#[test]
fn every_crash_state_is_a_committed_prefix() {
    let directed = sweep(false);
    let undirected = sweep(true);
    println!(
        "crash sweep: {} crash states tried ({directed} directed, {undirected} undirected)",
        directed + undirected
    );
    assert!(
        directed + undirected >= 10_000,
        "the sweep must try at least 10,000 states, tried {}",
        directed + undirected
    );
}
