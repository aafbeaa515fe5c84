//! Seed corpora of the cargo-fuzz targets (fuzz/corpus/<target>/): real files of small
//! databases, so the fuzzers start past the magic numbers and checksums, and short command
//! sequences for `open_dir` and `model`. Run with
//! `WALKDB_WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds` to regenerate them. Every run checks
//! that each seed is what it is meant to be:
//! - the WAL, segment and walk index seeds are accepted by their decoders (`walkdb::inspect`
//!   reports no problem: headers, checksums, structure, every WAL record complete and decoded),
//!   while one flipped bit in each is reported, so the acceptance is not vacuous; the op-payload
//!   seeds are the whole payload of the first record of their WAL seed;
//! - the `open_dir` seeds are complete commands that each change the file they name; replayed
//!   on the target's base database, open, verify, reads, a query, a write and a checkpoint give
//!   Ok or a typed error; the undamaged seed opens and verifies with every edge, and some of the
//!   damaged ones are rejected as corrupt;
//! - the `model` seeds parse completely into the steps listed in `MODEL_SEEDS`, and run by the
//!   target's rules (typed errors, poisoned after a failed commit, the model's state after every
//!   crash and failure and at the end); an injected failure fails a commit in one seed and a
//!   checkpoint in another.
//!
//! With walkdb's `fuzzing` feature the file seeds also go through the targets' own entry points
//! in `walkdb::fuzz_api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;

use common::{edge_set, sim_db, EdgeSet};
use walkdb::backend::{CrashMode, FailMode, SimBackend, StorageBackend};
use walkdb::{Database, PprRequest};

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
    // model: the steps of each seed are listed in MODEL_SEEDS. In "basic" the armed EIO hits
    // the sync of the commit after it (operation 2 from the arming: its append, then its sync).
    out.push((
        "model",
        "basic".into(),
        vec![
            0, 0, 1, 0, 2, 3, 1, 2, 0, 3, 6, 6, 8, 10, 1, 0, 1, 3, 1, 5, 6, 6, 9, 1, 6,
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

// ---- File seeds: accepted by their decoders, and a flipped bit is noticed. ----

/// Where a file seed is placed for `walkdb::inspect`, and the kind inspect must report.
fn placement(target: &str, name: &str) -> Option<(&'static str, &'static str)> {
    match target {
        "wal_decode" if name.starts_with("wal-") => Some(("wal/00000000000000000001.log", "wal")),
        "segment" => Some(("adj/00000000000000000001.seg", "segment")),
        "walk_index" => Some(("walks/00000000000000000001.wix", "walk-index")),
        _ => None,
    }
}

/// The problems `walkdb::inspect` finds in `bytes` stored as `file`, and the file's kind.
fn inspect_problems(file: &str, bytes: &[u8]) -> (&'static str, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let reports = walkdb::inspect::files(dir.path());
    assert_eq!(reports.len(), 1, "{file}: {reports:?}");
    (reports[0].kind, reports[0].problems.clone())
}

/// A file seed is accepted: inspect reports no problem and every section checksum matches;
/// a WAL seed has only complete records whose payloads decode. Returns the WAL records.
fn check_file_seed(target: &str, name: &str, bytes: &[u8]) -> Vec<walkdb::inspect::RecordReport> {
    let (file, kind) = placement(target, name).unwrap();
    // A WAL seed starts with the target's selector byte: non-zero % 4 is "a whole WAL file".
    let body = if target == "wal_decode" {
        assert_ne!(
            bytes[0] % 4,
            0,
            "{name}: the selector must pick the WAL file decoder"
        );
        &bytes[1..]
    } else {
        bytes
    };
    let (found, problems) = inspect_problems(file, body);
    assert_eq!(found, kind, "{target}/{name}");
    assert!(
        problems.is_empty(),
        "{target}/{name} is not accepted: {problems:?}"
    );
    // Not vacuous: the same file with one bit flipped near its end is reported.
    let mut damaged = body.to_vec();
    let at = damaged.len() - 3;
    damaged[at] ^= 0x10;
    let (_, problems) = inspect_problems(file, &damaged);
    assert!(
        !problems.is_empty(),
        "{target}/{name}: a flipped bit at {at} went unnoticed"
    );
    if target != "wal_decode" {
        if target == "walk_index" {
            // As the walk_index target asserts: a decoded index re-encodes to the same bytes.
            let index = walkdb::walks::WalkIndex::decode(body).unwrap();
            assert!(
                index.node_count() > 0 && index.walk_count() > 0,
                "{name}: no walks"
            );
            let header = walkdb::walks::WalkIndex::read_header(body).unwrap();
            assert_eq!(header.version, walkdb::walks::FORMAT_VERSION, "{name}");
            let mut again = Vec::new();
            index.encode_to(&mut again).unwrap();
            assert!(again == body, "{name}: does not re-encode to itself");
        }
        return Vec::new();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("wal")).unwrap();
    std::fs::write(dir.path().join(file), body).unwrap();
    let wal = walkdb::inspect::wal(dir.path());
    assert_eq!(wal.len(), 1);
    assert!(wal[0].first_lsn.is_ok(), "{name}: {:?}", wal[0].first_lsn);
    let records = wal[0].records.clone();
    // The three write transactions after the bulk load, each one complete commit record.
    assert_eq!(records.len(), 3, "{name}: {records:?}");
    for r in &records {
        assert_eq!(r.status, walkdb::inspect::RecordStatus::Ok, "{name}: {r:?}");
        assert_eq!(r.kind, Some("commit"), "{name}: {r:?}");
        assert!(
            !r.ops.is_empty(),
            "{name}: a payload that decodes to nothing: {r:?}"
        );
    }
    records
}

#[cfg(feature = "fuzzing")]
fn through_fuzz_api(target: &str, bytes: &[u8]) {
    match target {
        "wal_decode" => match bytes.split_first() {
            Some((selector, rest)) if selector % 4 == 0 => walkdb::fuzz_api::wal_ops(rest),
            Some((_, rest)) => walkdb::fuzz_api::wal_file(rest),
            None => {}
        },
        "segment" => walkdb::fuzz_api::segment(bytes),
        _ => {}
    }
}

#[cfg(not(feature = "fuzzing"))]
fn through_fuzz_api(_target: &str, _bytes: &[u8]) {}

// ---- open_dir: commands over the target's base database (fuzz/fuzz_targets/open_dir.rs). ----

/// The base database of the `open_dir` target, built as the target builds it.
fn open_dir_base() -> SimBackend {
    let sim = SimBackend::new();
    let db = open_dir_db(&sim).open_or_create().unwrap();
    let mut loader = db.bulk_loader().unwrap();
    for i in 0..12u32 {
        loader
            .add_edge(
                &format!("n{i}"),
                ["r", "s"][i as usize % 2],
                &format!("n{}", (i * 5 + 3) % 12),
                1.0 + i as f64,
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
        }
        txn.commit().unwrap();
    }
    drop(db);
    sim.release_lock();
    sim
}

fn open_dir_db(sim: &SimBackend) -> walkdb::DatabaseBuilder {
    Database::builder("fuzz").backend(Arc::new(sim.clone()) as Arc<dyn StorageBackend>)
}

/// The names the target's commands address: the base image's files, then its extra names.
fn open_dir_names(base: &SimBackend) -> Vec<String> {
    let mut names = base.file_names();
    names.retain(|n| n != "LOCK");
    for extra in [
        "wal/00000000000000000001.log",
        "wal/00000000000000000099.log",
        "adj/00000000000000000009.seg",
        "walks/00000000000000000009.wix",
        "catalog.redb.tmp",
        "adj/00000000000000000002.seg.tmp",
    ] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_string());
        }
    }
    names
}

/// The input reader of the `open_dir` and `model` targets.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head.to_vec()
    }
}

/// Applies the target's commands to `sim`; returns the names of the files they changed, or
/// `None` when the input ends inside a command (the target stops there).
fn apply_open_dir_commands(sim: &SimBackend, names: &[String], data: &[u8]) -> Option<Vec<String>> {
    let mut input = Input(data);
    let mut changed = Vec::new();
    while let (Some(tag), Some(file)) = (input.u8(), input.u8()) {
        let name = &names[file as usize % names.len()];
        let before = sim.file_bytes(name);
        let mut bytes = before.clone().unwrap_or_default();
        match tag % 5 {
            0 => {
                let at = input.u32()?;
                let len = input.u8()?;
                let patch = input.bytes(len as usize);
                if !bytes.is_empty() {
                    let at = at as usize % bytes.len();
                    for (i, p) in patch.iter().enumerate() {
                        if let Some(b) = bytes.get_mut(at + i) {
                            *b ^= p;
                        }
                    }
                }
            }
            1 => {
                let at = input.u32()?;
                bytes.truncate(at as usize % (bytes.len() + 1));
            }
            2 => {
                let len = input.u16()?;
                bytes = input.bytes(len as usize);
            }
            3 => {
                if sim.remove(name).is_ok() {
                    changed.push(name.clone());
                }
                continue;
            }
            _ => {
                let at = input.u32()?;
                let bit = input.u8()?;
                if !bytes.is_empty() {
                    let at = at as usize % bytes.len();
                    bytes[at] ^= 1 << (bit % 8);
                }
            }
        }
        if before.as_ref() != Some(&bytes) {
            changed.push(name.clone());
        }
        sim.set_file_bytes(name, bytes);
    }
    // A lone trailing byte is ignored by the target; a seed has none.
    (input.0.is_empty()).then_some(changed)
}

fn typed(kind: walkdb::ErrorKind) -> bool {
    matches!(
        kind,
        walkdb::ErrorKind::Corruption
            | walkdb::ErrorKind::Io
            | walkdb::ErrorKind::Input
            | walkdb::ErrorKind::Poisoned
    )
}

/// What the target's steps gave on a damaged directory.
#[derive(Debug, PartialEq)]
enum OpenDirOutcome {
    /// Opened and verified; the number of edges served.
    Accepted(usize),
    /// Open or verify reported the damage as corruption.
    Rejected,
}

/// Runs the target's steps on `sim`; panics on an untyped error.
fn run_open_dir(sim: &SimBackend) -> OpenDirOutcome {
    let check = |step: &str, kind: walkdb::ErrorKind| {
        assert!(typed(kind), "{step}: untyped error {kind:?}")
    };
    let db = match open_dir_db(sim).open() {
        Ok(db) => db,
        Err(e) => {
            check("open", e.kind());
            assert!(e.is_corruption(), "open: {e:?}");
            return OpenDirOutcome::Rejected;
        }
    };
    let verified = db.verify();
    if let Err(e) = &verified {
        check("verify", e.kind());
    }
    let mut edges = 0;
    match db.begin_read() {
        Ok(snapshot) => {
            if let Ok(keys) = snapshot.node_keys() {
                for u in 0..snapshot.node_count() {
                    edges += snapshot.out_edges(u).count();
                }
                if let Some(seed) = keys.first() {
                    let request = PprRequest::new(vec![(seed.clone(), 1.0)]);
                    if let Err(e) = snapshot.ppr(&request, &mut Default::default()) {
                        check("ppr", e.kind());
                    }
                }
            }
        }
        Err(e) => check("begin_read", e.kind()),
    }
    if let Err(e) = db.walk_stats() {
        check("walk_stats", e.kind());
    }
    match db.begin_write() {
        Ok(mut txn) => {
            if txn.add_edge("x", "r", "y", 1.0).is_ok() {
                if let Err(e) = txn.commit() {
                    check("commit", e.kind());
                }
            }
        }
        Err(e) => check("begin_write", e.kind()),
    }
    if let Err(e) = db.checkpoint() {
        check("checkpoint", e.kind());
    }
    match verified {
        Ok(_) => OpenDirOutcome::Accepted(edges),
        Err(e) => {
            assert!(e.is_corruption(), "verify: {e:?}");
            OpenDirOutcome::Rejected
        }
    }
}

// ---- model: operation sequences (fuzz/fuzz_targets/model.rs). ----

/// One step of the `model` target's input.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Add(u8, u8, u8, u8),
    Delete(u8, u8, u8),
    DeleteNode(u8),
    Commit,
    Abort,
    Checkpoint,
    Crash(u8),
    Arm(u8, u8),
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Add(..) => "add",
            Step::Delete(..) => "delete",
            Step::DeleteNode(_) => "delete-node",
            Step::Commit => "commit",
            Step::Abort => "abort",
            Step::Checkpoint => "checkpoint",
            Step::Crash(_) => "crash",
            Step::Arm(..) => "arm",
        }
    }
}

/// Reads a `model` input as the target does: (undirected, steps); `None` when the input ends
/// inside a step or holds more than the 200 steps the target runs.
fn parse_model(data: &[u8]) -> Option<(bool, Vec<Step>)> {
    let mut input = Input(data);
    let undirected = input.u8()? & 1 == 1;
    let mut steps = Vec::new();
    while let Some(op) = input.u8() {
        steps.push(match op % 11 {
            0..=3 => Step::Add(input.u8()?, input.u8()?, input.u8()?, input.u8()?),
            4 => Step::Delete(input.u8()?, input.u8()?, input.u8()?),
            5 => Step::DeleteNode(input.u8()?),
            6 => Step::Commit,
            7 => Step::Abort,
            8 => Step::Checkpoint,
            9 => Step::Crash(input.u8()?),
            _ => Step::Arm(input.u8()?, input.u8()?),
        });
    }
    (steps.len() <= 200).then_some((undirected, steps))
}

/// What each `model` seed is: its graph mode and its steps.
const MODEL_SEEDS: [(&str, bool, &str); 3] = [
    (
        "basic",
        false,
        "add add commit checkpoint arm add commit crash commit",
    ),
    (
        "undirected",
        true,
        "add delete commit checkpoint delete-node commit arm commit crash",
    ),
    (
        "enospc",
        false,
        "add commit arm add commit checkpoint commit",
    ),
];

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

/// What running a `model` seed did.
#[derive(Debug, Default, PartialEq)]
struct ModelRun {
    /// Commits that wrote something and returned Ok.
    commits: usize,
    /// Commits that failed with a typed error (an injected I/O failure).
    failed_commits: usize,
    checkpoints: usize,
    failed_checkpoints: usize,
    /// Recoveries after a crash step or a failure, each checked against the model.
    recoveries: usize,
    /// Edges at the end.
    edges: usize,
}

fn model_db(sim: &SimBackend, undirected: bool) -> Database {
    sim_db(sim, undirected).expect("the model database opens")
}

/// Runs `steps` by the rules of the `model` target, asserting its properties.
fn run_model(undirected: bool, steps: &[Step]) -> ModelRun {
    let mut run = ModelRun::default();
    let mut sim = SimBackend::new();
    let mut db = model_db(&sim, undirected);
    let mut model = EdgeSet::new();
    let mut pending: Vec<Pending> = Vec::new();
    let node = |b: u8| format!("n{}", b % 12);
    let rel = |b: u8| format!("r{}", b % 3);
    for (n, step) in steps.iter().enumerate() {
        // `Some(extra)` when the step failed: `extra` is the commit that may have landed.
        let mut failed: Option<Option<Vec<Pending>>> = None;
        match *step {
            Step::Add(s, r, d, w) => {
                pending.push(Pending::Add(
                    node(s),
                    rel(r),
                    node(d),
                    0.25 + (w % 16) as f64 * 0.5,
                ));
            }
            Step::Delete(s, r, d) => pending.push(Pending::Delete(node(s), rel(r), node(d))),
            Step::DeleteNode(k) => pending.push(Pending::DeleteNode(node(k))),
            Step::Commit => {
                let ops = std::mem::take(&mut pending);
                let outcome = db.begin_write().and_then(|mut txn| {
                    let mut staged = model.clone();
                    for op in &ops {
                        match op {
                            Pending::Add(s, r, d, w) => txn.add_edge(s, r, d, *w)?,
                            Pending::Delete(s, r, d) => {
                                let existed = txn.delete_edge(s, r, d)?;
                                let key = (s.clone(), r.clone(), d.clone());
                                assert_eq!(existed, staged.contains_key(&key));
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
                    Ok(info) => {
                        run.commits += usize::from(info.ops > 0);
                        for op in &ops {
                            apply(&mut model, op);
                        }
                    }
                    Err(e) => {
                        assert!(e.is_io() || e.is_poisoned(), "step {n}: {e:?}");
                        if !e.is_poisoned() {
                            assert!(
                                matches!(db.begin_write(), Err(e) if e.is_poisoned()),
                                "step {n}: not poisoned after {e}"
                            );
                        }
                        run.failed_commits += 1;
                        failed = Some(Some(ops));
                    }
                }
            }
            Step::Abort => pending.clear(),
            Step::Checkpoint => match db.checkpoint() {
                Ok(_) => run.checkpoints += 1,
                Err(e) => {
                    assert!(e.is_io() || e.is_poisoned(), "step {n}: {e:?}");
                    run.failed_checkpoints += 1;
                    failed = Some(None);
                }
            },
            Step::Crash(m) => {
                let mode = match m % 4 {
                    0 => CrashMode::DropAll,
                    1 => CrashMode::RandomSubset { seed: m as u64 },
                    2 => CrashMode::TornTail { seed: m as u64 },
                    _ => CrashMode::KeepAll,
                };
                drop(db);
                pending.clear();
                sim = sim.crash(mode);
                db = model_db(&sim, undirected);
                assert_eq!(edge_set(&db), model, "step {n}: after crash {mode:?}");
                run.recoveries += 1;
            }
            Step::Arm(k, how) => {
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
                sim.fail_at(sim.op_count() + 1 + k as u64, mode, kind);
            }
        }
        if let Some(maybe) = failed {
            // Recover as a restarted process would (steps counted from 1, as the target does).
            drop(db);
            pending.clear();
            let mode = if (n + 1) % 2 == 0 {
                CrashMode::KeepAll
            } else {
                CrashMode::DropAll
            };
            sim = sim.crash(mode);
            db = model_db(&sim, undirected);
            let got = edge_set(&db);
            if got != model {
                let mut with = model.clone();
                for op in maybe.iter().flatten() {
                    apply(&mut with, op);
                }
                assert!(
                    maybe.is_some() && got == with,
                    "step {n}: after a failure the state is neither before nor after the commit"
                );
                model = with;
            }
            db.verify().unwrap();
            run.recoveries += 1;
        }
    }
    sim.clear_failures();
    assert_eq!(edge_set(&db), model);
    drop(db);
    sim.release_lock();
    let db = model_db(&sim, undirected);
    assert_eq!(edge_set(&db), model);
    db.verify().unwrap();
    run.edges = model.len();
    run
}

#[test]
fn fuzz_seed_corpora() {
    let seeds = seeds();
    let count = |target: &str| seeds.iter().filter(|s| s.0 == target).count();
    assert_eq!(
        [
            count("wal_decode"),
            count("segment"),
            count("walk_index"),
            count("open_dir"),
            count("model")
        ],
        [4, 2, 2, 9, 3]
    );

    // File seeds: accepted, and the op payloads are whole first records of their WAL seeds.
    let mut first_records = Vec::new();
    for (target, name, bytes) in &seeds {
        through_fuzz_api(target, bytes);
        if placement(target, name).is_some() {
            let records = check_file_seed(target, name, bytes);
            if let Some(first) = records.first() {
                first_records.push((
                    name.replace("wal-", "ops-"),
                    bytes[1..].to_vec(),
                    first.clone(),
                ));
            }
        }
    }
    assert_eq!(first_records.len(), 2);
    for (ops_name, wal, first) in first_records {
        let (_, _, payload) = seeds
            .iter()
            .find(|s| s.0 == "wal_decode" && s.1 == ops_name)
            .unwrap();
        assert_eq!(
            payload[0] % 4,
            0,
            "{ops_name}: the selector must pick the op decoder"
        );
        let len = first.payload_len.unwrap() as usize;
        assert_eq!(payload.len() - 1, len, "{ops_name}: the whole payload");
        // The payload follows the record's 32-byte frame header.
        let start = first.offset as usize + 32;
        assert_eq!(&payload[1..], &wal[start..start + len], "{ops_name}");
    }

    // open_dir: as-is opens with every edge; each damage changes its file; some are rejected.
    let base = open_dir_base();
    let names = open_dir_names(&base);
    let mut rejected = Vec::new();
    for (_, name, bytes) in seeds.iter().filter(|s| s.0 == "open_dir") {
        let sim = base.crash(CrashMode::KeepAll);
        let changed = apply_open_dir_commands(&sim, &names, bytes)
            .unwrap_or_else(|| panic!("open_dir/{name}: the input ends inside a command"));
        let outcome = run_open_dir(&sim);
        eprintln!("open_dir/{name}: changed {changed:?}: {outcome:?}");
        if name == "as-is" {
            assert!(changed.is_empty());
            // 12 imported edges, 3 added, 1 deleted.
            assert_eq!(outcome, OpenDirOutcome::Accepted(14), "open_dir/as-is");
        } else {
            assert_eq!(changed.len(), 1, "open_dir/{name} changes one file");
            assert!(!changed[0].contains(".tmp") && base.file_bytes(&changed[0]).is_some());
            if outcome == OpenDirOutcome::Rejected {
                rejected.push(name.clone());
            }
        }
    }
    assert!(
        !rejected.is_empty(),
        "no open_dir seed is rejected as corrupt"
    );

    // model: each seed is exactly its documented steps, and runs by the target's rules.
    let mut runs = Vec::new();
    for (name, undirected, documented) in MODEL_SEEDS {
        let (_, _, bytes) = seeds
            .iter()
            .find(|s| s.0 == "model" && s.1 == name)
            .unwrap();
        let (mode, steps) = parse_model(bytes)
            .unwrap_or_else(|| panic!("model/{name}: the input ends inside a step"));
        assert_eq!(mode, undirected, "model/{name}");
        let listed: Vec<&str> = steps.iter().map(Step::name).collect();
        assert_eq!(listed.join(" "), documented, "model/{name}: {steps:?}");
        let run = run_model(undirected, &steps);
        eprintln!("model/{name}: {run:?}");
        assert!(
            run.commits >= 1 && run.recoveries >= 1,
            "model/{name}: {run:?}"
        );
        runs.push(run);
    }
    // Each kind of outcome is reached: an injected failure fails a commit (then the database
    // is poisoned and recovers to the state before or after it), and one fails a checkpoint.
    assert!(
        runs.iter().any(|r| r.failed_commits >= 1),
        "no model seed makes an injected failure fail a commit: {runs:?}"
    );
    assert!(
        runs.iter().any(|r| r.failed_checkpoints >= 1),
        "no model seed makes an injected failure fail a checkpoint: {runs:?}"
    );

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
