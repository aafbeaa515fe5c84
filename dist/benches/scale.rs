#![allow(clippy::unwrap_used, clippy::expect_used)]
//! walkdb-dist scaling, measured in one run: `build-index` on 1 process x 1 worker, 1 x 2 and
//! 2 processes x 1 worker over loopback, on WordNet 3.0 (shared data, if present) and on a
//! synthetic R-MAT power-law graph of `WALKDB_BENCH_EDGES` edges (default 10M); undirected,
//! alpha 0.15. Prints, per configuration: walk steps, steps per second per worker for the walk
//! phase and end to end (read the graph, walk, assemble, verify and write the index), the
//! efficiency against 1 x 1, walker bytes sent between processes per step, and peak RSS per
//! process. With `WALKDB_BENCH_PPR_ALL=1` it also times `walkdb-dist ppr-all --top 10` on
//! WordNet (2 processes) against `walkdb ppr-all` (2 threads).
//!
//! Run: `cargo bench -p walkdb-dist --bench scale`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use walkdb::graph::NodeId;
use walkdb::rng::Rng;
use walkdb::Database;

#[path = "../tests/support/mod.rs"]
mod support;
use support::hostfile;

const BIN: &str = env!("CARGO_BIN_EXE_walkdb-dist");

fn shared_tsv(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("WALKDB_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    let tsv = dir.join(name);
    tsv.exists().then_some(tsv)
}

/// Peak RSS (VmHWM) of a running process, in bytes, or 0.
fn hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Runs one job; returns process 0's stdout, the wall seconds and each process's peak RSS.
fn run(dir: &Path, args: &[&str], processes: usize, threads: usize) -> (String, f64, Vec<u64>) {
    let hosts = hostfile(dir, processes);
    let started = Instant::now();
    let mut children: Vec<Child> = (0..processes)
        .map(|p| {
            let mut cmd = Command::new(BIN);
            cmd.args(args).args(["-w", &threads.to_string()]);
            if processes > 1 {
                cmd.args(["-n", &processes.to_string(), "-p", &p.to_string(), "-h"])
                    .arg(&hosts);
            }
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut peaks = vec![0u64; processes];
    let mut done = vec![false; processes];
    while !done.iter().all(|&d| d) {
        for (p, child) in children.iter_mut().enumerate() {
            if done[p] {
                continue;
            }
            peaks[p] = peaks[p].max(hwm(child.id()));
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "process {p} of {args:?} failed");
                done[p] = true;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let wall = started.elapsed().as_secs_f64();
    let out = children.remove(0).wait_with_output().unwrap();
    (String::from_utf8(out.stdout).unwrap(), wall, peaks)
}

/// A database of an R-MAT graph (a = 0.57, b = c = 0.19: a power law with hubs) of about
/// `edges` edges on 2^scale nodes, keys `n<id>`, undirected, alpha 0.15.
fn rmat_db(path: &Path, edges: usize) {
    let scale = ((edges / 8) as f64).log2().ceil() as u32;
    let db = Database::builder(path)
        .undirected(true)
        .alpha(0.15)
        .create()
        .unwrap();
    let mut loader = db.bulk_loader().unwrap();
    for i in 0..1u64 << scale {
        loader.add_node(&format!("n{i}")).unwrap();
    }
    let rel = loader.add_relation("r").unwrap();
    let mut rng = Rng::new(2026);
    for _ in 0..edges {
        let (u, v) = walkdb::synth::rmat_edge(&mut rng, scale);
        loader
            .add_edge_ids(u as NodeId, rel, v as NodeId, 1.0)
            .unwrap();
    }
    loader.finish().unwrap();
    db.close().unwrap();
}

fn import_tsv(path: &Path, tsv: &Path) {
    let db = Database::builder(path)
        .undirected(true)
        .alpha(0.15)
        .create()
        .unwrap();
    let text = std::fs::read_to_string(tsv).unwrap();
    let mut loader = db.bulk_loader().unwrap();
    for r in walkdb::tsv::TsvParser::new("tsv", text.as_bytes()) {
        let r = r.unwrap();
        loader.add_edge(r.src, r.rel, r.dst, r.weight).unwrap();
    }
    loader.finish().unwrap();
    db.close().unwrap();
}

fn field(summary: &serde_json::Value, name: &str) -> f64 {
    summary[name].as_f64().unwrap_or(f64::NAN)
}

fn bench_graph(name: &str, db: &Path, dir: &Path) {
    println!("\n{name}: build-index, alpha 0.15, undirected");
    println!(
        "| config | walks | steps | walk phase steps/s/worker | end to end steps/s/worker | efficiency vs 1x1 | walker bytes between processes / step | phases (graph, walk, assemble, install) s | wall s | peak RSS per process |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut base: Option<f64> = None;
    for (processes, threads) in [(1, 1), (1, 2), (2, 1)] {
        let (out, wall, peaks) = run(
            dir,
            &["build-index", db.to_str().unwrap()],
            processes,
            threads,
        );
        let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        let workers = (processes * threads) as f64;
        let steps = field(&summary, "steps");
        let walk_rate = steps / field(&summary, "walk_seconds") / workers;
        let total_rate = steps / field(&summary, "total_seconds") / workers;
        let efficiency = base.map_or(1.0, |b| total_rate / b);
        if base.is_none() {
            base = Some(total_rate);
        }
        println!(
            "| {processes} x {threads} | {} | {steps:.0} | {walk_rate:.0} | {total_rate:.0} | {:.0}% | {:.2} | {:.2}, {:.2}, {:.2}, {:.2} | {wall:.2} | {} |",
            summary["walks"],
            efficiency * 100.0,
            field(&summary, "walker_bytes_remote") / steps,
            field(&summary, "graph_seconds"),
            field(&summary, "walk_seconds"),
            field(&summary, "assemble_seconds"),
            field(&summary, "install_seconds"),
            peaks
                .iter()
                .map(|b| format!("{} MB", b / (1 << 20)))
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    if let Some(tsv) = shared_tsv("wordnet30.tsv") {
        let db = dir.path().join("wordnet");
        import_tsv(&db, &tsv);
        bench_graph(
            "WordNet 3.0 (264,965 nodes, 778,434 edges)",
            &db,
            dir.path(),
        );
        if std::env::var_os("WALKDB_BENCH_PPR_ALL").is_some() {
            ppr_all(&db, dir.path());
        }
    } else {
        println!("WordNet: SKIPPED (no shared data)");
    }
    let edges: usize = std::env::var("WALKDB_BENCH_EDGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let db = dir.path().join("rmat");
    let started = Instant::now();
    rmat_db(&db, edges);
    println!(
        "\nR-MAT graph of {edges} edges built and imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    bench_graph(&format!("R-MAT power law ({edges} edges)"), &db, dir.path());
}

/// `walkdb-dist ppr-all` (2 processes) against `walkdb ppr-all` (2 threads) on the same
/// database, top 10, damping 0.5 (alpha 0.5; at 0.15 each takes most of an hour here).
fn ppr_all(db: &Path, dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new("cargo")
        .args(["build", "--release", "-p", "walkdb-tools"])
        .current_dir(&root)
        .status()
        .unwrap();
    assert!(status.success());
    let walkdb = root.join("target/release/walkdb");
    let started = Instant::now();
    let single = Command::new(&walkdb)
        .args([
            "ppr-all",
            db.to_str().unwrap(),
            "--top",
            "10",
            "--alpha",
            "0.5",
            "--threads",
            "2",
            "--out",
        ])
        .arg(dir.join("single.jsonl"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(single.success());
    let single_s = started.elapsed().as_secs_f64();
    let out = dir.join("dist-out");
    let (_, dist_s, peaks) = run(
        dir,
        &[
            "ppr-all",
            db.to_str().unwrap(),
            "--alpha",
            "0.5",
            "--out",
            out.to_str().unwrap(),
        ],
        2,
        1,
    );
    println!(
        "\nppr-all --top 10 --alpha 0.5 on WordNet: walkdb (2 threads) {single_s:.1} s, walkdb-dist (2 processes x 1 worker) {dist_s:.1} s (peak RSS {} MB / {} MB)",
        peaks[0] >> 20,
        peaks[1] >> 20
    );
}
