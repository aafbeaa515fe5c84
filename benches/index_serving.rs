#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The walk index served from its file's map, measured on WordNet 3.0 (shared data,
//! undirected, the index built at the query alpha, 1 walk per link):
//!
//! 1. **Fresh process**: `walkdb ppr DB --seed KEY --method index` (and `--method push` for
//!    reference), the release binary under `/usr/bin/time`: wall time and peak RSS per
//!    distinct seed, median; beside it, in this process, the open, the first index query and
//!    the median warm query.
//! 2. **Batch throughput**: distinct index (and push) queries on one snapshot from 1 and 2
//!    threads; the ratio is the scaling.
//! 3. **A streaming writer**: p50/p99 latency of distinct index queries (each on a fresh
//!    snapshot) with the writer idle, then while a writer commits transactions of 200 edges
//!    (each repairing the index) as fast as it can; and the writer's commit latency alone
//!    and while the reader queries (it then also builds each version's graph projection).
//!
//! Alpha 0.15 and 0.5 (`WALKDB_BENCH_ALPHAS=0.15` for one). Run: `cargo bench --bench
//! index_serving` (builds the `walkdb` binary first). Figures are printed, never asserted.

#[path = "support/mod.rs"]
mod support;

use support::{quantile, shared_tsv};

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use walkdb::ppr::{Method, PprWorkspace};
use walkdb::{Database, PprRequest, Snapshot};

/// (wall seconds, peak RSS bytes) of one command, from GNU time.
fn timed(cmd: &mut Command, scratch: &Path) -> (f64, u64) {
    let out = scratch.join("time.txt");
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(&out)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let status = wrapped
        .stdout(Stdio::null())
        .status()
        .expect("/usr/bin/time runs");
    assert!(status.success(), "{cmd:?} failed");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut it = text.split_whitespace();
    let wall: f64 = it.next().unwrap().parse().unwrap();
    let kb: u64 = it.next().unwrap().parse().unwrap();
    (wall, kb * 1024)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn request(key: &str, method: Method) -> PprRequest {
    let mut r = PprRequest::new(vec![(key.to_string(), 1.0)]);
    r.method = method;
    r.top_k = 10;
    r
}

/// Runs `queries` on `snapshot` from `threads` threads (queries split round-robin); returns
/// queries per second.
fn throughput(snapshot: &Snapshot, keys: &[String], method: Method, threads: usize) -> f64 {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                let mut ws = PprWorkspace::new();
                for key in keys.iter().skip(t).step_by(threads) {
                    let answer = snapshot.ppr(&request(key, method), &mut ws).unwrap();
                    assert_eq!(answer.method, method);
                }
            });
        }
    });
    keys.len() as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let Some(tsv) = shared_tsv() else {
        println!("skipped: WordNet not found (set WALKDB_SHARED_DATA)");
        return;
    };
    let alphas: Vec<f64> = std::env::var("WALKDB_BENCH_ALPHAS")
        .map(|s| s.split(',').map(|a| a.parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![0.15, 0.5]);
    let binary = support::walkdb_binary();
    let keys = support::source_keys(&tsv);
    // Distinct seeds spread over the key space (a fixed stride: the same in every run).
    let stride = keys.len() / 2000;
    let seeds: Vec<String> = keys.iter().step_by(stride).take(2000).cloned().collect();
    let scratch = tempfile::tempdir().unwrap();
    println!("# walk index served from the map: WordNet 3.0, undirected, 1 walk per link");
    for &alpha in &alphas {
        let db_dir = scratch.path().join(format!("wn-{alpha}"));
        let (import_s, _) = timed(
            Command::new(&binary)
                .arg("import")
                .arg(&db_dir)
                .arg(&tsv)
                .args(["--undirected", "--alpha", &alpha.to_string()]),
            scratch.path(),
        );
        println!("\n## alpha {alpha} (import {import_s:.1} s)");

        // 1. Fresh processes, one distinct seed each.
        let mut rows = Vec::new();
        for method in ["index", "push"] {
            let (mut walls, mut rss) = (Vec::new(), Vec::new());
            for seed in seeds.iter().take(15) {
                let (wall, peak) = timed(
                    Command::new(&binary)
                        .arg("ppr")
                        .arg(&db_dir)
                        .args(["--seed", seed, "--method", method, "--top", "10"]),
                    scratch.path(),
                );
                walls.push(wall);
                rss.push(peak as f64);
            }
            rows.push((method, median(walls), median(rss)));
        }
        let started = Instant::now();
        let db = Database::builder(&db_dir).open().unwrap();
        let open_s = started.elapsed().as_secs_f64();
        let snapshot = db.begin_read().unwrap();
        let mut ws = PprWorkspace::new();
        // The graph's link projection is built by the first query of any method: time it
        // apart (with a push query) so the index's own first-touch cost shows.
        let started = Instant::now();
        snapshot
            .ppr(&request(&seeds[14], Method::Push), &mut ws)
            .unwrap();
        let first_push_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        snapshot
            .ppr(&request(&seeds[15], Method::Index), &mut ws)
            .unwrap();
        let first_s = started.elapsed().as_secs_f64();
        let warm: Vec<f64> = seeds[16..66]
            .iter()
            .map(|k| {
                let t = Instant::now();
                snapshot.ppr(&request(k, Method::Index), &mut ws).unwrap();
                t.elapsed().as_secs_f64()
            })
            .collect();
        let warm_s = median(warm);
        println!("| fresh process | median wall | median peak RSS |");
        println!("|---|---|---|");
        for (method, wall, rss) in &rows {
            println!(
                "| walkdb ppr --method {method} | {wall:.3} s | {:.0} MB |",
                rss / 1e6
            );
        }
        println!(
            "in process: open {:.1} ms, first query (push, builds the graph projection) {:.1} ms, then first index query {:.1} ms, warm index query median {:.2} ms; first index / (warm + open) = {:.2}",
            open_s * 1e3,
            first_push_s * 1e3,
            first_s * 1e3,
            warm_s * 1e3,
            first_s / (warm_s + open_s)
        );

        // 2. Batch throughput on 1 and 2 threads (distinct queries, one snapshot).
        let batch = &seeds[66..266];
        for method in [Method::Index, Method::Push] {
            let one = throughput(&snapshot, batch, method, 1);
            let two = throughput(&snapshot, batch, method, 2);
            println!(
                "batch {}: 1 thread {one:.0} q/s, 2 threads {two:.0} q/s, scaling {:.2}x",
                method.name(),
                two / one
            );
        }
        drop(snapshot);

        // 3. Index-query latency, writer idle vs streaming.
        // Per query: (seconds, true when it was this reader's first query on its version: that
        // query also builds the version's graph projection).
        let latencies =
            |db: &Database, keys: &[String], enough: &dyn Fn(usize) -> bool| -> Vec<(f64, bool)> {
                let mut ws = PprWorkspace::new();
                let mut last_lsn = None;
                keys.iter()
                    .enumerate()
                    .take_while(|(done, _)| !enough(*done))
                    .map(|(_, k)| {
                        let t = Instant::now();
                        let snap = db.begin_read().unwrap();
                        let answer = snap.ppr(&request(k, Method::Index), &mut ws).unwrap();
                        assert_eq!(answer.method, Method::Index, "fell back from the index");
                        let new_version = last_lsn != Some(snap.lsn());
                        last_lsn = Some(snap.lsn());
                        (t.elapsed().as_secs_f64(), new_version)
                    })
                    .collect()
            };
        let secs = |v: &[(f64, bool)], which: Option<bool>| -> Vec<f64> {
            v.iter()
                .filter(|(_, new)| which.is_none_or(|w| *new == w))
                .map(|(s, _)| *s)
                .collect()
        };
        let probe = &seeds[266..416];
        let idle = latencies(&db, probe, &|_| false);
        // The writer commits as fast as it can: first alone (its own figure), then while the
        // reader queries. `phase` 0: alone, 1: with the reader, 2: stop.
        let phase = Arc::new(AtomicU64::new(0));
        let commits = Arc::new(AtomicU64::new(0));
        let writer = {
            let (db, phase, commits) = (db.clone(), Arc::clone(&phase), Arc::clone(&commits));
            let keys = keys.clone();
            std::thread::spawn(move || {
                let mut rng = walkdb::rng::Rng::new(5);
                let mut peak = (0usize, 0usize);
                let mut commit_secs = [Vec::new(), Vec::new()];
                loop {
                    let p = phase.load(Ordering::Acquire);
                    if p >= 2 {
                        break;
                    }
                    let t = Instant::now();
                    let mut txn = db.begin_write().unwrap();
                    for _ in 0..200 {
                        let a = &keys[rng.below(keys.len() as u64) as usize];
                        let b = &keys[rng.below(keys.len() as u64) as usize];
                        txn.add_edge(a, "streamed", b, 1.0).unwrap();
                    }
                    txn.commit().unwrap();
                    commit_secs[p as usize].push(t.elapsed().as_secs_f64());
                    commits.fetch_add(1, Ordering::Relaxed);
                    // The overlay's size after this commit (a clone of the chunk tables).
                    let (index, _) = db.walk_index_copy().unwrap();
                    if index.overlay_bytes() > peak.0 {
                        peak = (index.overlay_bytes(), index.overlay_walks());
                    }
                }
                (peak, commit_secs)
            })
        };
        // The writer alone for 40 commits, then the reader joins: at least 150 distinct
        // queries, and on until the writer made 60 commits (or the seeds run out).
        while commits.load(Ordering::Relaxed) < 40 {
            std::thread::yield_now();
        }
        let g0 = db.stats().unwrap().generation;
        let c0 = commits.load(Ordering::Relaxed);
        phase.store(1, Ordering::Release);
        let started = Instant::now();
        let enough = |done: usize| done >= 150 && commits.load(Ordering::Relaxed) >= c0 + 60;
        let busy = latencies(&db, &seeds[416..], &enough);
        let busy_s = started.elapsed().as_secs_f64();
        let c1 = commits.load(Ordering::Relaxed);
        phase.store(2, Ordering::Release);
        let ((peak_bytes, peak_walks), [alone_commits, shared_commits]) = writer.join().unwrap();
        let checkpoints = db.stats().unwrap().generation - g0;
        let idle_all = secs(&idle, None);
        let busy_all = secs(&busy, None);
        let busy_same = secs(&busy, Some(false));
        let busy_new = secs(&busy, Some(true));
        println!(
            "index query latency, writer idle: p50 {:.2} ms p99 {:.2} ms; writer streaming ({:.1} commits/s of 200 edges, {checkpoints} auto-checkpoints): p50 {:.2} ms p99 {:.2} ms; p99 ratio {:.2}",
            quantile(idle_all.clone(), 0.5) * 1e3,
            quantile(idle_all.clone(), 0.99) * 1e3,
            (c1 - c0) as f64 / busy_s,
            quantile(busy_all.clone(), 0.5) * 1e3,
            quantile(busy_all.clone(), 0.99) * 1e3,
            quantile(busy_all, 0.99) / quantile(idle_all.clone(), 0.99)
        );
        println!(
            "writer commit latency (200 edges, repair included): alone p50 {:.2} ms p90 {:.2} ms ({} commits); with the reader p50 {:.2} ms p90 {:.2} ms ({} commits, {} queries); with the reader, a commit also builds the new version's graph projection",
            quantile(alone_commits.clone(), 0.5) * 1e3,
            quantile(alone_commits.clone(), 0.9) * 1e3,
            alone_commits.len(),
            quantile(shared_commits.clone(), 0.5) * 1e3,
            quantile(shared_commits.clone(), 0.9) * 1e3,
            shared_commits.len(),
            busy.len(),
        );
        if !busy_same.is_empty() && !busy_new.is_empty() {
            println!(
                "  of which {} queries on a version this reader had queried before: p50 {:.2} ms p99 {:.2} ms (p99 ratio {:.2}); {} first queries on a new version: p50 {:.2} ms p99 {:.2} ms",
                busy_same.len(),
                quantile(busy_same.clone(), 0.5) * 1e3,
                quantile(busy_same.clone(), 0.99) * 1e3,
                quantile(busy_same, 0.99) / quantile(idle_all, 0.99),
                busy_new.len(),
                quantile(busy_new.clone(), 0.5) * 1e3,
                quantile(busy_new, 0.99) * 1e3,
            );
        }
        println!(
            "overlay peak while streaming: {peak_walks} walks, {:.1} MB ({:.0} bytes per repaired walk, lists included); auto-checkpoint folds it past the larger of 64 MiB and the walk file",
            peak_bytes as f64 / 1e6,
            peak_bytes as f64 / peak_walks.max(1) as f64
        );
    }
}
