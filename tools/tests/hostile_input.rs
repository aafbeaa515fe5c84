//! Hostile input through `walkdb import` and `walkdb add`: invalid UTF-8, embedded NULs, huge
//! lines, NaN/inf/negative/zero weights, a million duplicate edges, keys at and just over the
//! size limit. Each is either handled or refused with exit code 1 and a message naming the
//! input and line; nothing committed before the bad line is lost, and the database verifies.
//! Damaged files give exit code 2 with a message naming the file and the offset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const MAX_KEY_LEN: usize = walkdb::MAX_KEY_LEN;

fn walkdb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_walkdb"))
}

fn run(args: &[&str]) -> Output {
    walkdb().args(args).output().expect("runs")
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = walkdb()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread: the child may stop reading (and exit) before the end.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed by a signal")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A database with three edges, and the path of its directory.
fn base_db(dir: &Path) -> String {
    let db = dir.join("db");
    let tsv = dir.join("base.tsv");
    std::fs::write(&tsv, "a\tr\tb\t1\nb\tr\tc\t2\nc\ts\ta\n").unwrap();
    let out = run(&["import", db.to_str().unwrap(), tsv.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    db.to_str().unwrap().to_string()
}

/// Every edge as raw exported lines, sorted.
fn exported(db: &str) -> Vec<Vec<u8>> {
    let out = run(&["export", db]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut lines: Vec<Vec<u8>> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    lines.sort();
    lines
}

fn verify_ok(db: &str) {
    let out = run(&["verify", db]);
    assert_eq!(code(&out), 0, "verify: {}", stderr(&out));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Bad lines refused by both `import` and `add`: (what, line 3 of the input, message part).
fn bad_lines() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let long_key = "k".repeat(MAX_KEY_LEN + 1);
    vec![
        (
            "invalid UTF-8 in src",
            b"x\xff\xfe\tr\ty\n".to_vec(),
            "not valid UTF-8",
        ),
        (
            "invalid UTF-8 in relation",
            b"x\tr\xc3\ty\n".to_vec(),
            "not valid UTF-8",
        ),
        ("NaN weight", b"x\tr\ty\tNaN\n".to_vec(), "weight"),
        ("inf weight", b"x\tr\ty\tinf\n".to_vec(), "weight"),
        ("-inf weight", b"x\tr\ty\t-inf\n".to_vec(), "weight"),
        ("negative weight", b"x\tr\ty\t-1\n".to_vec(), "weight"),
        ("zero weight", b"x\tr\ty\t0\n".to_vec(), "weight"),
        ("huge weight", b"x\tr\ty\t1e999\n".to_vec(), "weight"),
        ("empty key", b"\tr\ty\n".to_vec(), "empty"),
        ("two fields", b"x\ty\n".to_vec(), "fields"),
        ("five fields", b"x\tr\ty\t1\t2\n".to_vec(), "fields"),
        (
            "key over the size limit",
            format!("{long_key}\tr\ty\n").into_bytes(),
            "longer than",
        ),
        (
            "relation over the size limit",
            format!("x\t{long_key}\ty\n").into_bytes(),
            "longer than",
        ),
    ]
}

#[test]
fn import_refuses_bad_lines_with_their_line_number_and_keeps_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = base_db(dir.path());
    let before = exported(&db);
    for (what, line, expect) in bad_lines() {
        let mut input = b"p\tr\tq\n# comment\n".to_vec();
        input.extend_from_slice(&line);
        input.extend_from_slice(b"q\tr\tp\n");
        let file = write(dir.path(), "bad.tsv", &input);
        let out = run(&["import", &db, file.to_str().unwrap()]);
        assert_eq!(code(&out), 1, "{what}: {}", stderr(&out));
        let message = stderr(&out);
        assert!(
            message.contains("line 3"),
            "{what}: message does not name line 3: {message}"
        );
        assert!(
            message.contains(expect),
            "{what}: message does not say '{expect}': {message}"
        );
        assert!(
            message.len() < 2000,
            "{what}: the message must not echo a huge line"
        );
        // A failed import changes nothing.
        assert_eq!(exported(&db), before, "{what}: import changed the database");
    }
    verify_ok(&db);
}

#[test]
fn add_refuses_bad_lines_after_committing_the_batches_before_them() {
    let dir = tempfile::tempdir().unwrap();
    for (n, (what, line, expect)) in bad_lines().into_iter().enumerate() {
        let case = dir.path().join(format!("case{n}"));
        std::fs::create_dir_all(&case).unwrap();
        let db = base_db(&case);
        let before = exported(&db);
        // Four good lines in batches of two, then the bad line 5.
        let mut input = Vec::new();
        for i in 0..4 {
            input.extend_from_slice(format!("g{i}\tr\th{i}\t{}\n", i + 1).as_bytes());
        }
        input.extend_from_slice(&line);
        input.extend_from_slice(b"z\tr\tz\n");
        let out = run_stdin(&["add", &db, "--batch", "2"], &input);
        assert_eq!(code(&out), 1, "{what}: {}", stderr(&out));
        let message = stderr(&out);
        assert!(
            message.contains("line 5"),
            "{what}: message does not name line 5: {message}"
        );
        assert!(
            message.contains(expect),
            "{what}: message does not say '{expect}': {message}"
        );
        let acks = stdout(&out);
        assert!(
            acks.lines()
                .last()
                .is_some_and(|l| l.starts_with("committed 4 ")),
            "{what}: the two batches before the bad line must be acknowledged: {acks}"
        );
        let after = exported(&db);
        assert_eq!(
            after.len(),
            before.len() + 4,
            "{what}: the two acknowledged batches must be there, nothing else"
        );
        verify_ok(&db);
    }
}

#[test]
fn embedded_nuls_and_keys_at_the_size_limit_are_stored_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = base_db(dir.path());
    let max_key = "m".repeat(MAX_KEY_LEN);
    let max_rel = "R".repeat(MAX_KEY_LEN);
    let mut input = b"nul\0key\tr\0el\tb\n".to_vec();
    input.extend_from_slice(format!("{max_key}\t{max_rel}\t{max_key}\t2.5\n").as_bytes());
    input.extend_from_slice(format!("a\tr\t{max_key}\n").as_bytes());
    let out = run_stdin(&["add", &db, "--batch", "1"], &input);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let edges = exported(&db);
    assert!(
        edges.contains(&b"nul\0key\tr\0el\tb\t1".to_vec()),
        "NUL bytes kept"
    );
    assert!(edges.contains(&format!("{max_key}\t{max_rel}\t{max_key}\t2.5").into_bytes()));
    verify_ok(&db);
    // The same through import, after a checkpoint moved the keys into the catalog.
    assert_eq!(code(&run(&["checkpoint", &db])), 0);
    let file = write(
        dir.path(),
        "max.tsv",
        format!("{max_key}\tr\tnul\0key\t3\n").as_bytes(),
    );
    let out = run(&["import", &db, file.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let edges = exported(&db);
    assert!(edges.contains(&format!("{max_key}\tr\tnul\0key\t3").into_bytes()));
    verify_ok(&db);
}

#[test]
fn a_huge_line_is_refused_without_buffering_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = base_db(dir.path());
    let before = exported(&db);
    // 64 MiB without a newline: `add` stops reading at the longest valid line.
    let huge = vec![b'x'; 64 << 20];
    let mut input = b"g\tr\th\n".to_vec();
    input.extend_from_slice(&huge);
    let out = run_stdin(&["add", &db, "--batch", "1"], &input);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("committed 1 "), "{}", stdout(&out));
    assert_eq!(exported(&db).len(), before.len() + 1);
    // A huge but complete line: one key of 8 MiB, refused by the key limit.
    let mut line = vec![b'y'; 8 << 20];
    line.extend_from_slice(b"\tr\tz\n");
    let file = write(dir.path(), "huge.tsv", &line);
    let out = run(&["import", &db, file.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
    verify_ok(&db);
}

#[test]
fn a_million_duplicate_edges_collapse_to_one_with_the_last_weight() {
    let dir = tempfile::tempdir().unwrap();
    let db = base_db(dir.path());
    let n = 1_000_000u32;
    let mut input = Vec::with_capacity(n as usize * 12);
    for i in 0..n {
        input.extend_from_slice(format!("d\tr\te\t{}\n", 1 + i % 10).as_bytes());
    }
    let file = write(dir.path(), "dups.tsv", &input);
    let out = run(&["import", &db, file.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let edges = exported(&db);
    assert_eq!(
        edges.iter().filter(|e| e.starts_with(b"d\tr\te\t")).count(),
        1
    );
    assert!(edges.contains(&b"d\tr\te\t10".to_vec()), "last weight wins");
    // The same stream through `add` in large batches.
    let mut child = walkdb()
        .args(["add", &db, "--batch", "250000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..n {
            stdin
                .write_all(format!("e\tr\td\t{}\n", 1 + (i + 3) % 10).as_bytes())
                .unwrap();
        }
    });
    let mut acks = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut acks)
        .unwrap();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(acks.lines().count(), 4, "{acks}");
    assert!(acks
        .lines()
        .last()
        .unwrap()
        .starts_with("committed 1000000 "));
    let edges = exported(&db);
    assert_eq!(
        edges.iter().filter(|e| e.starts_with(b"e\tr\td\t")).count(),
        1
    );
    assert!(edges.contains(&b"e\tr\td\t3".to_vec()), "last weight wins");
    verify_ok(&db);
}

#[test]
fn damaged_files_give_exit_code_2_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let db = base_db(dir.path());
    let out = run_stdin(&["add", &db], b"x\tr\ty\n");
    assert_eq!(code(&out), 0);
    for sub in ["adj", "walks", "wal"] {
        let damaged = dir.path().join(format!("copy-{sub}"));
        copy_dir(Path::new(&db), &damaged);
        let file = std::fs::read_dir(damaged.join(sub))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&file).unwrap();
        let at = bytes.len() - 3;
        bytes[at] ^= 0x10;
        std::fs::write(&file, bytes).unwrap();
        let out = run(&["verify", damaged.to_str().unwrap()]);
        assert_eq!(code(&out), 2, "{sub}: {}", stderr(&out));
        let message = stderr(&out);
        let name = format!("{sub}/{}", file.file_name().unwrap().to_str().unwrap());
        assert!(
            message.contains(&name) && message.contains("offset"),
            "{sub}: {message}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Opens the database at `dir` in-process, verifies it and reads every edge: (src, rel, dst,
/// weight bits), sorted. A `Locked` answer is retried for up to a second: while another test of
/// this binary spawns a process, the child holds a copy of every descriptor, the lock file's
/// included, until it execs, so the lock of a handle just dropped can outlive it for a moment.
fn open_verify_edges(dir: &Path) -> walkdb::Result<Vec<(String, String, String, u64)>> {
    let attempt = || {
        let db = walkdb::Database::builder(dir).open()?;
        db.verify()?;
        let snap = db.begin_read()?;
        let keys = snap.node_keys()?;
        let rels = snap.relation_names();
        let mut out = Vec::new();
        for u in 0..snap.node_count() {
            for (v, r, w) in snap.out_edges(u) {
                out.push((
                    keys[u as usize].clone(),
                    rels[r as usize].clone(),
                    keys[v as usize].clone(),
                    w.to_bits(),
                ));
            }
        }
        out.sort();
        Ok(out)
    };
    let mut result = attempt();
    for _ in 0..200 {
        if !matches!(result, Err(walkdb::Error::Locked(_))) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        result = attempt();
    }
    result
}

/// Every STEP-th byte of the catalog gets one bit flipped (a different bit as the offset moves).
const CATALOG_FLIP_STEP: usize = 23;

/// A catalog page that makes redb assert (its panics are contained by the library) gives exit
/// code 2 naming catalog.redb, not a crash report. The test sweeps single-bit flips over the
/// whole catalog of a checkpointed database: in-process, each one must give the original edges
/// or a `Corrupt` error naming catalog.redb (never another error, never different data, never
/// an escaped panic), and at least one must make redb assert. Through the CLI, every flip redb
/// asserted on and a sample of the other rejected ones give exit code 2 naming the file.
#[test]
fn a_catalog_page_redb_chokes_on_gives_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = base_db(dir.path());
    assert_eq!(code(&run(&["checkpoint", &db])), 0);
    let catalog = Path::new(&db).join("catalog.redb");
    let bytes = std::fs::read(&catalog).unwrap();
    let copy = dir.path().join("copy");
    copy_dir(Path::new(&db), &copy);
    let original = open_verify_edges(&copy).unwrap();
    assert_eq!(original.len(), 3, "the base database has three edges");
    let flip = |at: usize| {
        let mut damaged = bytes.clone();
        damaged[at] ^= 1 << (at % 8);
        std::fs::write(copy.join("catalog.redb"), &damaged).unwrap();
    };
    // Offsets by outcome: served the original edges, rejected after a contained redb panic,
    // rejected without one; anything else is wrong.
    let (mut intact, mut panicked, mut rejected, mut wrong) =
        (0, Vec::new(), Vec::new(), Vec::new());
    for at in (0..bytes.len()).step_by(CATALOG_FLIP_STEP) {
        flip(at);
        match open_verify_edges(&copy) {
            Ok(edges) if edges == original => intact += 1,
            Ok(edges) => wrong.push(format!("byte {at}: opened and verified, served {edges:?}")),
            Err(walkdb::Error::Corrupt(c)) if c.file == "catalog.redb" => {
                if c.what.contains("redb rejected") {
                    panicked.push(at);
                } else {
                    rejected.push(at);
                }
            }
            Err(e) => wrong.push(format!("byte {at}: {e:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} flips gave neither the original edges nor a catalog corruption error: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    let flips = bytes.len().div_ceil(CATALOG_FLIP_STEP);
    assert_eq!(intact + panicked.len() + rejected.len(), flips);
    eprintln!(
        "{flips} flips of a {}-byte catalog: {intact} intact, {} rejected, {} redb panics \
         contained",
        bytes.len(),
        rejected.len(),
        panicked.len()
    );
    assert!(
        !panicked.is_empty(),
        "no flip made redb assert ({} rejected, {intact} intact): the contained-panic path \
         this test is about went unchecked; find a damage that makes redb assert",
        rejected.len()
    );
    let sample = rejected.iter().step_by(rejected.len().div_ceil(16).max(1));
    for &at in panicked.iter().chain(sample) {
        flip(at);
        let out = run(&["verify", copy.to_str().unwrap()]);
        let message = stderr(&out);
        assert_eq!(code(&out), 2, "byte {at}: {message}");
        assert!(message.contains("catalog.redb"), "byte {at}: {message}");
        assert!(!message.contains("panicked"), "byte {at}: {message}");
    }
}
