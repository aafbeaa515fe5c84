//! Readers in other processes: every read command of the CLI (`stats`, `ppr`, `export`,
//! `dump`, `verify`) runs against a database another process is writing, checkpointing and
//! reopening, and against one whose writer is killed with SIGKILL; readers are killed too.
//! Each must exit normally (never by a signal), see every commit acknowledged before it
//! started, and never write a byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[path = "../../tests/common/dir_files.rs"]
mod dir_files;

use dir_files::dir_files as snapshot_files;
use walkdb::rng::Rng;
use walkdb::{Database, Durability};

fn walkdb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_walkdb"))
}

/// Edge number `i`: its destination `e{i}` is new, so the graph has 50 + i edges after it.
fn edge(i: u64) -> (String, String, String, f64) {
    (
        format!("k{}", i % 50),
        format!("r{}", i % 3),
        format!("e{i}"),
        (1 + i % 7) as f64,
    )
}

/// A database of 50 edges among `k0..k49`, undirected (so every commit repairs walks).
fn seeded_db(dir: &Path) -> PathBuf {
    let db = dir.join("db");
    let tsv = dir.join("seed.tsv");
    let mut text = String::new();
    for i in 0..50 {
        text.push_str(&format!("k{i}\tr0\tk{}\t1\n", (i * 7 + 1) % 50));
    }
    std::fs::write(&tsv, text).unwrap();
    let out = walkdb()
        .args(["import", "--undirected"])
        .arg(&db)
        .arg(&tsv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// Runs one read command; panics on a signal, returns the output.
fn read_command(args: &[&str], db: &Path) -> Output {
    let out = walkdb()
        .arg(args[0])
        .arg(db)
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some(),
        "walkdb {args:?} died by a signal: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs one read command and checks its exit code and output; returns the edge count it
/// reports, if it reports one.
fn edges_seen(command: &str, db: &Path) -> Option<u64> {
    let out = match command {
        "stats" => read_command(&["stats", "--json"], db),
        "export" => read_command(&["export"], db),
        "verify" => read_command(&["verify", "--json"], db),
        "dump" => read_command(&["dump", "--json"], db),
        "ppr" => read_command(&["ppr", "--seed", "k1", "--top", "3", "--json"], db),
        other => unreachable!("{other}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "walkdb {command}: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    if command == "export" {
        return Some(stdout.lines().count() as u64);
    }
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    match command {
        "ppr" => {
            assert_eq!(v["results"].as_array().unwrap().len(), 3, "{stdout}");
            None
        }
        "dump" => {
            // Under a live writer, its work in progress is not damage.
            assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{stdout}");
            None
        }
        _ => Some(v["edges"].as_u64().unwrap()),
    }
}

/// Runs read commands in a loop until `stop`, each checked against the edges acknowledged
/// before it started; returns how many ran.
fn reader_loop(db: PathBuf, acked: Arc<AtomicU64>, stop: Arc<AtomicBool>, seed: u64) -> u64 {
    let commands = ["stats", "export", "verify", "dump", "ppr"];
    let mut rng = Rng::new(seed);
    let mut runs = 0;
    while !stop.load(Ordering::Acquire) {
        let command = commands[rng.below(commands.len() as u64) as usize];
        let before = 50 + acked.load(Ordering::Acquire);
        if let Some(seen) = edges_seen(command, &db) {
            assert!(
                seen >= before,
                "walkdb {command} saw {seen} edges; {before} were acknowledged before it started"
            );
        }
        runs += 1;
    }
    runs
}

#[test]
fn an_idle_database_is_byte_identical_after_every_read_command() {
    let dir = tempfile::tempdir().unwrap();
    let db = seeded_db(dir.path());
    // Commits in the WAL too, so readers replay them.
    let out = walkdb()
        .arg("add")
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"k1\tr1\tz\t2\nz\tr2\tk3\t1\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let before = snapshot_files(&db);
    for command in ["stats", "export", "verify", "dump", "ppr"] {
        edges_seen(command, &db);
        read_command(&["dump", "--node", "k1", "--walks", "k1"], &db);
        let after = snapshot_files(&db);
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "walkdb {command} created or deleted a file"
        );
        for (path, bytes) in &before {
            assert!(
                after[path] == *bytes,
                "walkdb {command} changed {}",
                path.display()
            );
        }
    }
}

#[test]
fn readers_follow_a_writer_that_commits_checkpoints_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = seeded_db(dir.path());
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (db, acked, stop) = (db_path.clone(), Arc::clone(&acked), Arc::clone(&stop));
            std::thread::spawn(move || reader_loop(db, acked, stop, r))
        })
        .collect();
    let mut db = Database::builder(&db_path)
        .durability(Durability::Immediate)
        .open()
        .unwrap();
    let commits = 600u64;
    let (mut checkpoints, mut reopens) = (0, 0);
    for i in 0..commits {
        let (s, r, d, w) = edge(i);
        let mut txn = db.begin_write().unwrap();
        txn.add_edge(&s, &r, &d, w).unwrap();
        txn.commit().unwrap();
        acked.store(i + 1, Ordering::Release);
        if i % 97 == 96 {
            db.checkpoint().unwrap();
            checkpoints += 1;
        }
        if i % 211 == 210 {
            // Close and reopen: the readers meet a moment with no writer, then a new one.
            db.close().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            db = Database::builder(&db_path).open().unwrap();
            reopens += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    stop.store(true, Ordering::Release);
    let runs: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(db.begin_read().unwrap().edge_count(), 50 + commits);
    db.verify().unwrap();
    assert!(checkpoints >= 6 && reopens >= 2);
    // The readers really ran during the writes (each run takes a process start).
    assert!(runs >= 10, "only {runs} reader runs");
    eprintln!(
        "{runs} reader runs during {commits} commits, {checkpoints} checkpoints, {reopens} reopens"
    );
}

#[test]
fn readers_survive_a_killed_writer_and_a_killed_reader_never_stops_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = seeded_db(dir.path());
    let acked = Arc::new(AtomicU64::new(0));
    let mut rng = Rng::new(41);
    let mut next = 0u64;
    for round in 0..6 {
        // A writer process streaming edges, killed with SIGKILL after some acknowledgements,
        // while a reader thread runs read commands.
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (db, acked, stop) = (db_path.clone(), Arc::clone(&acked), Arc::clone(&stop));
            std::thread::spawn(move || reader_loop(db, acked, stop, 100 + round))
        };
        let mut child = walkdb()
            .arg("add")
            .arg(&db_path)
            .args(["--batch", "5"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let first = next;
        let lines = 400;
        let feeder = std::thread::spawn(move || {
            let mut sent = 0;
            for i in first..first + lines {
                let (s, r, d, w) = edge(i);
                if stdin
                    .write_all(format!("{s}\t{r}\t{d}\t{w}\n").as_bytes())
                    .is_err()
                {
                    break;
                }
                sent += 1;
                if i % 5 == 4 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            sent
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let wait_for = 1 + rng.below(30);
        for _ in 0..wait_for {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let applied: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            acked.store(first + applied, Ordering::Release);
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let sent = feeder.join().unwrap();
        // Readers keep working with the writer dead (the catalog it left unclean is read
        // through a private copy), then while a new writer recovers and commits.
        let floor = 50 + acked.load(Ordering::Acquire);
        for command in ["stats", "verify", "export"] {
            let seen = edges_seen(command, &db_path).unwrap();
            assert!(seen >= floor, "{command} after the kill: {seen} < {floor}");
        }
        assert_eq!(edges_seen("dump", &db_path), None);
        let db = Database::builder(&db_path).open().unwrap();
        let snap = db.begin_read().unwrap();
        let mut present = 0;
        while present < sent
            && snap
                .node_id(&format!("e{}", first + present))
                .unwrap()
                .is_some()
        {
            present += 1;
        }
        assert!(first + present >= acked.load(Ordering::Acquire));
        next = first + present;
        acked.store(next, Ordering::Release);
        // Now kill readers at random moments while this process writes: the writer never
        // notices.
        for k in 0..3 {
            let mut reader_child = walkdb()
                .args(["export"])
                .arg(&db_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let (s, r, d, w) = edge(next);
            let mut txn = db.begin_write().unwrap();
            txn.add_edge(&s, &r, &d, w).unwrap();
            txn.commit().unwrap();
            next += 1;
            acked.store(next, Ordering::Release);
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
            let _ = reader_child.kill();
            let _ = reader_child.wait();
            if k == 1 {
                db.checkpoint().unwrap();
            }
        }
        stop.store(true, Ordering::Release);
        reader.join().unwrap();
        db.verify().unwrap();
        assert_eq!(db.begin_read().unwrap().edge_count(), 50 + next);
        drop(snap);
        db.close().unwrap();
    }
    let out = read_command(&["verify"], &db_path);
    assert_eq!(out.status.code(), Some(0));
}
