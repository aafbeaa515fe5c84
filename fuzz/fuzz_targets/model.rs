//! Model-based fuzzing in the manner of redb's `fuzz_redb`: the input is a sequence of
//! operations - add, delete edge, delete node, commit, abort, checkpoint, crash (every drop
//! mode) and reopen - run against the database on a simulated backend and against a plain
//! in-memory model, with an I/O error (EIO or ENOSPC, once or from then on) armed on a
//! countdown. Properties: no panic; every error is typed; after a failed commit the database
//! is poisoned; a crash and reopen after any failure gives the model's state (or, for a
//! commit that failed after its record was written, the state with that commit), and the
//! database then equals the model again and verifies.
#![no_main]

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use walkdb::backend::{CrashMode, FailMode, SimBackend, StorageBackend};
use walkdb::{Database, Durability};

type EdgeSet = BTreeMap<(String, String, String), f64>;

#[derive(Clone, Debug)]
enum Pending {
    Add(String, String, String, f64),
    Delete(String, String, String),
    DeleteNode(String),
}

fn apply(model: &mut EdgeSet, op: &Pending) {
    match op {
        Pending::Add(s, r, d, w) => {
            model.insert((s.clone(), r.clone(), d.clone()), *w);
        }
        Pending::Delete(s, r, d) => {
            model.remove(&(s.clone(), r.clone(), d.clone()));
        }
        Pending::DeleteNode(k) => model.retain(|(s, _, d), _| s != k && d != k),
    }
}

fn open(sim: &SimBackend, undirected: bool) -> Result<Database, walkdb::OpenError> {
    Database::builder("model")
        .backend(Arc::new(sim.clone()) as Arc<dyn StorageBackend>)
        .undirected(undirected)
        .durability(Durability::Immediate)
        .open_or_create()
}

fn edge_set(db: &Database) -> EdgeSet {
    let snap = db.begin_read().expect("snapshot of a healthy database");
    let keys = snap.node_keys().expect("keys");
    let rels = snap.relation_names();
    let mut out = EdgeSet::new();
    for u in 0..snap.node_count() {
        for (v, r, w) in snap.out_edges(u) {
            out.insert(
                (
                    keys[u as usize].clone(),
                    rels[r as usize].clone(),
                    keys[v as usize].clone(),
                ),
                w,
            );
        }
    }
    assert_eq!(out.len() as u64, snap.edge_count());
    out
}

fn typed(kind: walkdb::ErrorKind) {
    assert!(
        matches!(kind, walkdb::ErrorKind::Io | walkdb::ErrorKind::Poisoned),
        "an injected I/O failure gave another kind of error: {kind:?}"
    );
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let undirected = input.u8().is_some_and(|b| b & 1 == 1);
    let mut sim = SimBackend::new();
    let mut db = open(&sim, undirected).expect("create");
    let mut model = EdgeSet::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut steps = 0;
    while let Some(op) = input.u8() {
        steps += 1;
        if steps > 200 {
            break;
        }
        // `Some(extra)` when the step failed: `extra` is the commit that may have landed.
        let mut failed: Option<Option<Vec<Pending>>> = None;
        match op % 11 {
            0..=3 => {
                let (Some(s), Some(r), Some(d), Some(w)) =
                    (input.u8(), input.u8(), input.u8(), input.u8())
                else {
                    break;
                };
                pending.push(Pending::Add(
                    format!("n{}", s % 12),
                    format!("r{}", r % 3),
                    format!("n{}", d % 12),
                    0.25 + (w % 16) as f64 * 0.5,
                ));
            }
            4 => {
                let (Some(s), Some(r), Some(d)) = (input.u8(), input.u8(), input.u8()) else {
                    break;
                };
                pending.push(Pending::Delete(
                    format!("n{}", s % 12),
                    format!("r{}", r % 3),
                    format!("n{}", d % 12),
                ));
            }
            5 => {
                let Some(k) = input.u8() else { break };
                pending.push(Pending::DeleteNode(format!("n{}", k % 12)));
            }
            6 => {
                let ops = std::mem::take(&mut pending);
                let outcome = db.begin_write().and_then(|mut txn| {
                    let mut staged = model.clone();
                    for op in &ops {
                        match op {
                            Pending::Add(s, r, d, w) => txn.add_edge(s, r, d, *w)?,
                            Pending::Delete(s, r, d) => {
                                let existed = txn.delete_edge(s, r, d)?;
                                assert_eq!(
                                    existed,
                                    staged.contains_key(&(s.clone(), r.clone(), d.clone()))
                                );
                            }
                            Pending::DeleteNode(k) => {
                                txn.delete_node(k)?;
                            }
                        }
                        apply(&mut staged, op);
                    }
                    txn.commit()
                });
                match outcome {
                    Ok(_) => {
                        for op in &ops {
                            apply(&mut model, op);
                        }
                    }
                    Err(e) => {
                        typed(e.kind());
                        if !e.is_poisoned() {
                            // A commit that failed poisons the database until it is reopened.
                            assert!(
                                matches!(db.begin_write().map(|_| ()), Err(e) if e.is_poisoned()),
                                "not poisoned after {e}"
                            );
                        }
                        failed = Some(Some(ops));
                    }
                }
            }
            7 => {
                pending.clear();
            }
            8 => {
                if let Err(e) = db.checkpoint() {
                    typed(e.kind());
                    failed = Some(None);
                }
            }
            9 => {
                let Some(m) = input.u8() else { break };
                let mode = match m % 4 {
                    0 => CrashMode::DropAll,
                    1 => CrashMode::RandomSubset { seed: m as u64 },
                    2 => CrashMode::TornTail { seed: m as u64 },
                    _ => CrashMode::KeepAll,
                };
                drop(db);
                pending.clear();
                sim = sim.crash(mode);
                db = open(&sim, undirected)
                    .unwrap_or_else(|e| panic!("crash state {mode:?} does not open: {e}"));
                assert_eq!(edge_set(&db), model, "after crash {mode:?}");
            }
            _ => {
                let (Some(n), Some(how)) = (input.u8(), input.u8()) else {
                    break;
                };
                let mode = if how & 1 == 0 {
                    FailMode::Once
                } else {
                    FailMode::FromThenOn
                };
                let kind = if how & 2 == 0 {
                    ErrorKind::Other
                } else {
                    ErrorKind::StorageFull
                };
                sim.fail_at(sim.op_count() + 1 + n as u64, mode, kind);
            }
        }
        if let Some(maybe) = failed {
            // Recover as a restarted process would: the machine may also have lost power.
            drop(db);
            pending.clear();
            let mode = if steps % 2 == 0 {
                CrashMode::KeepAll
            } else {
                CrashMode::DropAll
            };
            sim = sim.crash(mode);
            db = open(&sim, undirected)
                .unwrap_or_else(|e| panic!("state after a failure does not open: {e}"));
            let got = edge_set(&db);
            if got != model {
                let mut with = model.clone();
                for op in maybe.iter().flatten() {
                    apply(&mut with, op);
                }
                assert!(
                    maybe.is_some() && got == with,
                    "after a failure the state is neither before nor after the failed commit"
                );
                model = with;
            }
            db.verify()
                .unwrap_or_else(|e| panic!("verify after recovery: {e}"));
        }
    }
    sim.clear_failures();
    // The last state: commit what is pending (without failures) and verify.
    assert_eq!(edge_set(&db), model);
    drop(db);
    sim.release_lock();
    let db = open(&sim, undirected).expect("reopen");
    assert_eq!(edge_set(&db), model);
    db.verify().expect("verify at the end");
});
