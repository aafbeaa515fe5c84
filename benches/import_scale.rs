//! One machine at scale: `walkdb import` of generated R-MAT power-law graphs as a user runs it
//! (the release binary, a TSV file), then what a service does next: default-target queries
//! (single seed and a HippoRAG-style dense reset), a streaming `add` with walk repair,
//! `checkpoint`, `verify` and a reopen. Prints edges/s, peak RSS and heap per edge (polled from
//! /proc), disk bytes per edge by file, and the query and write figures, per size, key shape
//! and alpha; igraph's load of the same file and its query time where the size is at most
//! `WALKDB_BENCH_IGRAPH_MAX` edges (default 10M).
//!
//! `cargo bench --bench import_scale`; `WALKDB_BENCH_EDGES=1000000,10000000,30000000,100000000`
//! (default 1M and 10M), `WALKDB_BENCH_ALPHAS` (default 0.15,0.5), `WALKDB_BENCH_KEYS`
//! (random,sequential), `WALKDB_BENCH_BUDGET` (passed as `--memory-budget`), and
//! `WALKDB_BENCH_DIR` for the scratch directory (default the system's temp directory; the
//! 100M-edge run needs about 25 GB there at alpha 0.5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod igraph;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use walkdb::rng::Rng;

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Peak memory of a process: resident set (which counts the pages of the files it maps: at
/// scale mostly the walk file, clean and reclaimable) and heap (anonymous resident pages).
#[derive(Clone, Copy, Default)]
struct Peak {
    rss: u64,
    heap: u64,
}

impl std::fmt::Display for Peak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "peak RSS {:.0} MB, heap {:.0} MB",
            self.rss as f64 / 1e6,
            self.heap as f64 / 1e6
        )
    }
}

/// A live process's peak RSS (VmHWM) and current heap (RssAnon), from /proc (zeros once it
/// has exited).
fn memory(pid: u32) -> Peak {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    Peak {
        rss: field("VmHWM:"),
        heap: field("RssAnon:"),
    }
}

/// Runs the binary; returns stdout, wall seconds and its peak memory (heap polled every
/// 20 ms).
fn run(bin: &Path, args: &[&str]) -> (String, f64, Peak) {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let mut peak = Peak::default();
    loop {
        let now = memory(child.id());
        peak = Peak {
            rss: peak.rss.max(now.rss),
            heap: peak.heap.max(now.heap),
        };
        if let Some(status) = child.try_wait().unwrap() {
            // A step that fails (at scale: the memory of the machine) is reported, not fatal,
            // so the steps after it are still measured.
            if !status.success() {
                println!("  walkdb {} FAILED: {status} ({peak})", args[0]);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (
        reader.join().unwrap(),
        started.elapsed().as_secs_f64(),
        peak,
    )
}

/// Key of node `id`: `n<id>`, or 16 hex digits of a mixed id (no shared prefixes).
fn key(id: u64, random: bool) -> String {
    if random {
        let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        format!("{:016x}", z ^ (z >> 31))
    } else {
        format!("n{id}")
    }
}

/// Writes an R-MAT graph of `edges` edges; returns its path, the (key, first-appearance id)
/// of the sources of some of its first lines (query seeds) and the keys of the first 4,000
/// lines (dense-reset seeds: keys that exist).
fn generate(dir: &Path, edges: usize, random: bool) -> (PathBuf, Vec<(String, u32)>, Vec<String>) {
    let scale = ((edges / 8) as f64).log2().ceil() as u32;
    let path = dir.join(format!(
        "rmat-{edges}-{}.tsv",
        if random { "random" } else { "seq" }
    ));
    let mut out = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(&path).unwrap());
    let mut rng = Rng::new(2026);
    let mut first: std::collections::HashMap<u64, u32> = Default::default();
    let mut seeds = Vec::new();
    let mut pool = Vec::new();
    for i in 0..edges {
        let (u, v) = walkdb::synth::rmat_edge(&mut rng, scale);
        if i < 4000 {
            for x in [u, v] {
                let next = first.len() as u32;
                first.entry(x).or_insert(next);
            }
            if i % 100 == 0 {
                seeds.push((key(u, random), first[&u]));
            }
            pool.extend([key(u, random), key(v, random)]);
        }
        writeln!(out, "{}\tr\t{}", key(u, random), key(v, random)).unwrap();
    }
    out.flush().unwrap();
    (path, seeds, pool)
}

fn file_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let bin = support::walkdb_binary();
    let sizes: Vec<usize> = env_list("WALKDB_BENCH_EDGES", "1000000,10000000")
        .iter()
        .map(|s| s.parse().expect("WALKDB_BENCH_EDGES: edge counts"))
        .collect();
    let alphas = env_list("WALKDB_BENCH_ALPHAS", "0.15,0.5");
    let keys = env_list("WALKDB_BENCH_KEYS", "random,sequential");
    let budget = std::env::var("WALKDB_BENCH_BUDGET").ok();
    let igraph_max: usize = std::env::var("WALKDB_BENCH_IGRAPH_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let scratch = std::env::var_os("WALKDB_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(scratch).unwrap();
    let python = igraph::igraph_python();
    println!(
        "import at scale: R-MAT (a 0.57, b = c 0.19), undirected, 1 walk per link; machine: {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for &edges in &sizes {
        for shape in &keys {
            let random = shape == "random";
            let started = Instant::now();
            let (tsv, seeds, pool) = generate(dir.path(), edges, random);
            println!(
                "\n== {edges} edges, {shape} keys (generated in {:.1} s, {:.0} MB of TSV)",
                started.elapsed().as_secs_f64(),
                std::fs::metadata(&tsv).unwrap().len() as f64 / 1e6
            );
            if edges <= igraph_max {
                match &python {
                    Ok(py) => {
                        let config = igraph::Config {
                            name: "single".into(),
                            undirected: true,
                            damping: 0.85,
                            queries: seeds.iter().take(10).map(|s| vec![(s.1, 1.0)]).collect(),
                        };
                        match igraph::run_igraph(py, &tsv, &[config]) {
                            Ok((times, build)) => println!(
                                "igraph: load {build:.2} s ({:.0} edges/s), PPR d=0.85 median {:.1} ms",
                                edges as f64 / build,
                                1e3 * median(times["single"].clone())
                            ),
                            Err(e) => println!("igraph: failed ({e})"),
                        }
                    }
                    Err(e) => println!("igraph: not measured ({e})"),
                }
            }
            for alpha in &alphas {
                let db = dir.path().join(format!("db-{edges}-{shape}-{alpha}"));
                let db_s = db.to_str().unwrap();
                let mut args = vec![
                    "import",
                    db_s,
                    tsv.to_str().unwrap(),
                    "--undirected",
                    "--alpha",
                    alpha,
                    "--json",
                ];
                if let Some(b) = &budget {
                    args.extend(["--memory-budget", b]);
                }
                let (out, wall, peak) = run(&bin, &args);
                let Ok(info) = serde_json::from_str::<serde_json::Value>(out.trim()) else {
                    continue;
                };
                let stored = info["edges"].as_f64().unwrap();
                println!(
                    "alpha {alpha}: import {wall:.1} s = {:.0} edge records/s (storage {:.1} s, walk index {:.1} s, {} walks); {peak} = {:.0} B/edge (heap {:.0})",
                    edges as f64 / wall,
                    info["storage_seconds"].as_f64().unwrap(),
                    info["index_seconds"].as_f64().unwrap(),
                    info["walks"],
                    peak.rss as f64 / edges as f64,
                    peak.heap as f64 / edges as f64
                );
                let (adj, walks, catalog) = (
                    file_bytes(&db.join("adj")),
                    file_bytes(&db.join("walks")),
                    std::fs::metadata(db.join("catalog.redb")).map_or(0, |m| m.len()),
                );
                println!(
                    "  disk per stored edge: adjacency {:.1} B, walk index {:.1} B, catalog {:.1} B",
                    adj as f64 / stored,
                    walks as f64 / stored,
                    catalog as f64 / stored
                );
                // Queries at the default target: single seeds, then dense resets shaped like
                // HippoRAG 2's (a few entity seeds and 2,000 small-weight seeds).
                let queries = dir.path().join("queries.jsonl");
                let mut text = String::new();
                for (k, _) in seeds.iter().take(20) {
                    text.push_str(&format!("{{\"seeds\":{{\"{k}\":1.0}},\"top\":10}}\n"));
                }
                let mut rng = Rng::new(7);
                for _ in 0..3 {
                    let mut dense: Vec<String> = seeds
                        .iter()
                        .take(8)
                        .map(|(k, _)| format!("\"{k}\":1.0"))
                        .collect();
                    for _ in 0..2000 {
                        let k = &pool[rng.below(pool.len() as u64) as usize];
                        dense.push(format!("\"{k}\":0.0005"));
                    }
                    dense.sort();
                    dense.dedup_by(|a, b| a.split(':').next() == b.split(':').next());
                    text.push_str(&format!(
                        "{{\"seeds\":{{{}}},\"top\":10}}\n",
                        dense.join(",")
                    ));
                }
                std::fs::write(&queries, text).unwrap();
                let (out, wall, peak) = run(
                    &bin,
                    &[
                        "ppr",
                        db_s,
                        "--queries",
                        queries.to_str().unwrap(),
                        "--threads",
                        "1",
                    ],
                );
                let answers: Vec<serde_json::Value> = out
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                let micros = |range: std::ops::Range<usize>| {
                    median(
                        answers[range]
                            .iter()
                            .map(|a| a["micros"].as_f64().unwrap_or(f64::NAN) / 1e3)
                            .collect(),
                    )
                };
                let methods: std::collections::BTreeSet<String> = answers
                    .iter()
                    .filter_map(|a| a["method"].as_str().map(str::to_string))
                    .collect();
                println!(
                    "  default-target PPR (fresh process, 1 thread): single seed median {:.1} ms, dense reset median {:.1} ms; process {wall:.1} s, {peak}; methods {methods:?}",
                    micros(0..20.min(answers.len())),
                    micros(20.min(answers.len())..answers.len()),
                );
                // Streaming add with repair: 20k edges of the same distribution, a tenth of
                // them to new nodes.
                let adds = dir.path().join("adds.tsv");
                let scale = ((edges / 8) as f64).log2().ceil() as u32;
                let mut text = String::new();
                for i in 0..20_000u64 {
                    let (u, v) = walkdb::synth::rmat_edge(&mut rng, scale);
                    let v_key = if i % 10 == 0 {
                        format!("new{i}")
                    } else {
                        key(v, random)
                    };
                    text.push_str(&format!("{}\tr\t{v_key}\n", key(u, random)));
                }
                std::fs::write(&adds, text).unwrap();
                let (_, wall, peak) = run(
                    &bin,
                    &["add", db_s, adds.to_str().unwrap(), "--batch", "1000"],
                );
                println!(
                    "  streaming add, batches of 1000, repair included: {:.0} edges/s ({wall:.1} s, {peak})",
                    20_000.0 / wall,
                );
                let (_, checkpoint, _) = run(&bin, &["checkpoint", db_s]);
                let (_, verify, verify_peak) = run(&bin, &["verify", db_s]);
                let (_, reopen, _) = run(&bin, &["stats", db_s]);
                println!(
                    "  checkpoint {checkpoint:.1} s, verify {verify:.1} s ({verify_peak}), reopen + stats {reopen:.2} s"
                );
                std::fs::remove_dir_all(&db).unwrap();
            }
            std::fs::remove_file(&tsv).unwrap();
        }
    }
}
