#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A reader in another process while a writer process streams commits, against the same
//! queries in the writer's own process. WordNet 3.0 (shared data), undirected, alpha 0.5 (the
//! HippoRAG setting), default queries (`Method::Auto`, top 10, distinct single seeds).
//!
//! 1. **In the writer's process**: this process opens the database for writing; a thread
//!    commits transactions of 100 random edges between existing nodes as fast as it can, while
//!    the main thread runs the queries, each on a fresh snapshot.
//! 2. **In a reader process**: `walkdb add --batch 100` (the release binary) streams the same
//!    kind of edges as fast as it is fed; this process opens the database read-only and, per
//!    query, calls `refresh` (replaying the commits appended since) and queries the new
//!    snapshot.
//!
//! Each prints p50/p99 query latency (refresh included for the reader) with the writer idle
//! and streaming, and the writer's commit rate. Run: `cargo bench --bench reader_process`.
//! Figures are printed, never asserted.

#[path = "support/mod.rs"]
mod support;

use support::{quantile, shared_tsv};

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use walkdb::ppr::PprWorkspace;
use walkdb::rng::Rng;
use walkdb::{Database, PprRequest};

fn ms(v: &[f64]) -> String {
    format!(
        "p50 {:.2} ms p99 {:.2} ms mean {:.2} ms",
        quantile(v.to_vec(), 0.5) * 1e3,
        quantile(v.to_vec(), 0.99) * 1e3,
        v.iter().sum::<f64>() / v.len().max(1) as f64 * 1e3
    )
}

/// One query on a fresh snapshot (after a refresh on a read-only handle): (total seconds,
/// refresh seconds).
fn query(db: &Database, key: &str, ws: &mut PprWorkspace) -> (f64, f64) {
    let started = Instant::now();
    db.refresh().unwrap();
    let refreshed = started.elapsed().as_secs_f64();
    let snapshot = db.begin_read().unwrap();
    let answer = snapshot
        .ppr(&PprRequest::new(vec![(key.to_string(), 1.0)]), ws)
        .unwrap();
    assert!(!answer.results.is_empty());
    (started.elapsed().as_secs_f64(), refreshed)
}

fn edge_line(rng: &mut Rng, keys: &[String]) -> String {
    let a = &keys[rng.below(keys.len() as u64) as usize];
    let b = &keys[rng.below(keys.len() as u64) as usize];
    format!("{a}\tstreamed\t{b}\t1\n")
}

fn main() {
    let Some(tsv) = shared_tsv() else {
        println!("skipped: WordNet not found (set WALKDB_SHARED_DATA)");
        return;
    };
    let binary = support::walkdb_binary();
    let keys = support::source_keys(&tsv);
    let stride = keys.len() / 700;
    let seeds: Vec<String> = keys.iter().step_by(stride).take(610).cloned().collect();
    let scratch = tempfile::tempdir().unwrap();
    let db_dir = scratch.path().join("wn");
    let status = Command::new(&binary)
        .arg("import")
        .arg(&db_dir)
        .arg(&tsv)
        .args(["--undirected", "--alpha", "0.5"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    println!("# reader process vs writer process: WordNet 3.0, undirected, alpha 0.5, default queries (auto, top 10)");
    let mut ws = PprWorkspace::new();

    // 1. Queries in the writer's process.
    let (in_idle, in_busy, in_rate) = {
        let db = Database::builder(&db_dir).open().unwrap();
        // Warm: the first query builds the graph projection.
        query(&db, &seeds[0], &mut ws);
        let idle: Vec<f64> = seeds[1..151]
            .iter()
            .map(|k| query(&db, k, &mut ws).0)
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicU64::new(0));
        let writer = {
            let (db, stop, commits, keys) = (
                db.clone(),
                Arc::clone(&stop),
                Arc::clone(&commits),
                keys.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = Rng::new(5);
                while !stop.load(Ordering::Acquire) {
                    let mut txn = db.begin_write().unwrap();
                    for _ in 0..100 {
                        let line = edge_line(&mut rng, &keys);
                        let f: Vec<&str> = line.trim_end().split('\t').collect();
                        txn.add_edge(f[0], f[1], f[2], 1.0).unwrap();
                    }
                    txn.commit().unwrap();
                    commits.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(300));
        let started = Instant::now();
        let c0 = commits.load(Ordering::Relaxed);
        let busy: Vec<f64> = seeds[151..301]
            .iter()
            .map(|k| query(&db, k, &mut ws).0)
            .collect();
        let rate = (commits.load(Ordering::Relaxed) - c0) as f64 / started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Release);
        writer.join().unwrap();
        // Part 2 starts from an empty WAL whatever part 1 committed (how much the reader
        // process replays at open and per refresh must not depend on part 1's speed).
        db.checkpoint().unwrap();
        db.close().unwrap();
        (idle, busy, rate)
    };
    println!(
        "in the writer's process: writer idle {}; writer streaming ({in_rate:.1} commits/s of 100 edges) {}",
        ms(&in_idle),
        ms(&in_busy)
    );

    // 2. A read-only handle in this process, the writer in another.
    let reader = Database::builder(&db_dir).open_read_only().unwrap();
    query(&reader, &seeds[0], &mut ws);
    let idle: Vec<(f64, f64)> = seeds[301..451]
        .iter()
        .map(|k| query(&reader, k, &mut ws))
        .collect();
    let mut child = Command::new(&binary)
        .arg("add")
        .arg(&db_dir)
        .args(["--batch", "100"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (stop, keys) = (Arc::clone(&stop), keys.clone());
        std::thread::spawn(move || {
            let mut rng = Rng::new(6);
            while !stop.load(Ordering::Acquire) {
                let mut chunk = String::new();
                for _ in 0..100 {
                    chunk.push_str(&edge_line(&mut rng, &keys));
                }
                if stdin.write_all(chunk.as_bytes()).is_err() {
                    break;
                }
            }
        })
    };
    let acked = Arc::new(AtomicU64::new(0));
    let acks = {
        let stdout = child.stdout.take().unwrap();
        let acked = Arc::clone(&acked);
        std::thread::spawn(move || {
            use std::io::BufRead;
            for _ in std::io::BufReader::new(stdout).lines() {
                acked.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    // Measure once the writer process is streaming (its open builds the graph projection).
    while acked.load(Ordering::Relaxed) < 5 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let lsn0 = reader.refresh().unwrap();
    let started = Instant::now();
    let busy: Vec<(f64, f64)> = seeds[451..601]
        .iter()
        .map(|k| query(&reader, k, &mut ws))
        .collect();
    let lsn1 = reader.refresh().unwrap();
    let rate = (lsn1 - lsn0) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Release);
    feeder.join().unwrap();
    child.wait().unwrap();
    acks.join().unwrap();
    let acked = acked.load(Ordering::Relaxed);
    let totals = |v: &[(f64, f64)]| v.iter().map(|x| x.0).collect::<Vec<f64>>();
    let refreshes = |v: &[(f64, f64)]| v.iter().map(|x| x.1).collect::<Vec<f64>>();
    println!(
        "in a reader process: writer idle {}; writer process streaming ({rate:.1} commits/s of 100 edges, {acked} acknowledged) {} (of which refresh {})",
        ms(&totals(&idle)),
        ms(&totals(&busy)),
        ms(&refreshes(&busy))
    );
    println!(
        "reader process / writer's process under a streaming writer: p50 {:.2}x, p99 {:.2}x",
        quantile(totals(&busy), 0.5) / quantile(in_busy.clone(), 0.5),
        quantile(totals(&busy), 0.99) / quantile(in_busy, 0.99)
    );
}
