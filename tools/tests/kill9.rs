//! kill -9: `walkdb add` runs as a child process on a database with a walk index (so every
//! commit also repairs walks), fed a stream of edges on stdin; it is killed with SIGKILL at
//! random moments - after a random number of `committed` acknowledgements plus a random
//! delay. Some rounds kill `walkdb checkpoint` instead. After every kill the database is
//! reopened and must hold every acknowledged edge, no edge that was never sent, only whole
//! batches (a prefix of the stream), and pass `verify`; `walkdb verify` (exit 0) runs
//! periodically and at the end.
//!
//! `WALKDB_KILLS` sets the number of kills (default 200); `WALKDB_KILL_SEED` the seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use walkdb::rng::Rng;
use walkdb::Database;

fn walkdb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_walkdb"))
}

/// Edge number `i` of the stream: its destination node `e{i}` is new, so the edge exists
/// exactly when that node does.
fn edge_line(i: u64) -> String {
    format!("k{}\tr{}\te{i}\t{}\n", i % 50, i % 3, 1 + i % 7)
}

fn spawn_add(db: &Path, batch: u64) -> Child {
    walkdb()
        .args(["add", db.to_str().unwrap(), "--batch", &batch.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn walkdb add")
}

/// The edges of `first..first + len` that the database holds, checking they form a prefix.
fn committed_prefix(db: &Database, first: u64, len: u64) -> u64 {
    let snap = db.begin_read().unwrap();
    let mut present = 0;
    for i in first..first + len {
        let Some(id) = snap.node_id(&format!("e{i}")).unwrap() else {
            break;
        };
        assert_eq!(snap.in_edges(id).count(), 1, "edge {i} is there once");
        present += 1;
    }
    // Nothing after the first missing edge: commits are applied in order, whole.
    for i in first + present..first + len + 64 {
        assert!(
            snap.node_id(&format!("e{i}")).unwrap().is_none(),
            "edge {i} is present after missing edge {} (a gap, or never sent)",
            first + present
        );
    }
    present
}

#[test]
fn sigkill_never_loses_an_acknowledged_edge() {
    let kills: u64 = std::env::var("WALKDB_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("WALKDB_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("db");
    let seed_tsv = dir.path().join("seed.tsv");
    let mut seed_edges = String::new();
    for i in 0..50 {
        seed_edges.push_str(&format!("k{i}\tr0\tk{}\t1\n", (i * 7 + 1) % 50));
    }
    std::fs::write(&seed_tsv, seed_edges).unwrap();
    let out = walkdb()
        .args([
            "import",
            db_path.to_str().unwrap(),
            seed_tsv.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut next = 0u64; // first edge number of the next round
    let mut expected_edges = 50u64;
    let (mut acked_total, mut killed_mid_stream, mut checkpoint_kills) = (0u64, 0u64, 0u64);
    for round in 0..kills {
        if round % 10 == 9 {
            // Kill a checkpoint at a random moment.
            let mut child = walkdb()
                .args(["checkpoint", db_path.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_micros(rng.below(30_000)));
            let _ = child.kill();
            let _ = child.wait();
            checkpoint_kills += 1;
        } else {
            let lines = 1 + rng.below(300);
            let batch = 1 + rng.below(40);
            let mut child = spawn_add(&db_path, batch);
            let mut stdin = child.stdin.take().unwrap();
            let first = next;
            let writer = std::thread::spawn(move || {
                let mut attempted = 0u64;
                for i in first..first + lines {
                    attempted += 1;
                    if stdin.write_all(edge_line(i).as_bytes()).is_err() {
                        break;
                    }
                }
                attempted
            });
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let wait_acks = rng.below(4);
            let mut acked = 0u64;
            let mut line = String::new();
            for _ in 0..wait_acks {
                line.clear();
                if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let fields: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(fields.first(), Some(&"committed"), "ack line: {line}");
                acked = fields[1].parse().unwrap();
            }
            std::thread::sleep(Duration::from_micros(rng.below(3_000)));
            let _ = child.kill(); // SIGKILL
            let status = child.wait().unwrap();
            if status.code().is_none() {
                killed_mid_stream += 1;
            }
            // Acknowledgements printed before the kill still count.
            loop {
                line.clear();
                if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(n) = line.strip_prefix("committed ") {
                    acked = n.split_whitespace().next().unwrap().parse().unwrap();
                }
            }
            let attempted = writer.join().unwrap();
            let db = Database::builder(&db_path)
                .open()
                .unwrap_or_else(|e| panic!("round {round}: reopen after kill -9 failed: {e}"));
            let present = committed_prefix(&db, first, attempted);
            assert!(
                present >= acked,
                "round {round}: {acked} lines acknowledged, only {present} present"
            );
            assert!(present <= attempted);
            expected_edges += present;
            acked_total += acked;
            next = first + attempted;
            assert_eq!(db.begin_read().unwrap().edge_count(), expected_edges);
            db.verify()
                .unwrap_or_else(|e| panic!("round {round}: verify after kill -9: {e}"));
            if round % 25 == 24 {
                // Keep replay short: fold the WAL (this process is not killed).
                db.checkpoint().unwrap();
            }
            continue;
        }
        // After a killed checkpoint: everything is still there and verifies.
        let db = Database::builder(&db_path)
            .open()
            .unwrap_or_else(|e| panic!("round {round}: reopen after a killed checkpoint: {e}"));
        assert_eq!(db.begin_read().unwrap().edge_count(), expected_edges);
        db.verify().unwrap();
        drop(db);
        let out = walkdb()
            .args(["verify", db_path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = walkdb()
        .args(["verify", db_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "kill -9: {kills} kills ({checkpoint_kills} of checkpoints, {killed_mid_stream} add processes died by the signal), {acked_total} acknowledged edges, {expected_edges} edges at the end, all present"
    );
    assert!(
        killed_mid_stream * 2 >= kills - checkpoint_kills,
        "most kills must land mid-stream"
    );
}
