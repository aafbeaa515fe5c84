#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `walkdb ppr-all --top 10` at the default accuracy target, as a user runs it (the release
//! binary, all cores), against igraph answering every source one by one: igraph's median
//! single-source time on sampled sources, measured in the same run, times the node count.
//! Prints wall time, peak RSS (the process's VmHWM, polled), sources per second and the ratio.
//!
//! Graphs: WordNet 3.0 and the Debian package graph (shared data), the Barabasi-Albert
//! power-law graph and the HippoRAG-shaped graph of `tests/common/families.rs`; undirected,
//! damping 0.5 by default (`WALKDB_BENCH_ALPHA` for another restart probability).
//! `WALKDB_BENCH_FAMILIES` picks families (default all four; Debian takes ~15 minutes).
//!
//! Run: `cargo bench --bench ppr_all` (builds the `walkdb` binary first).

#[path = "../tests/common/families.rs"]
mod families;
#[path = "igraph/mod.rs"]
mod igraph;
#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use walkdb::graph::NodeId;
use walkdb::rng::Rng;

/// Runs a command, polling its peak RSS; returns (wall seconds, peak bytes).
fn timed(cmd: &mut Command) -> (f64, u64) {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).spawn().expect("spawns");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kb * 1024);
            }
        }
        if let Some(status) = child.try_wait().expect("waits") {
            assert!(status.success(), "{cmd:?} failed");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (started.elapsed().as_secs_f64(), peak)
}

fn main() {
    let alpha: f64 = std::env::var("WALKDB_BENCH_ALPHA")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.5);
    let binary = support::walkdb_binary();
    let python = igraph::igraph_python();
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "# walkdb ppr-all --top 10, undirected, alpha {alpha} (damping {}), default target",
        1.0 - alpha
    );
    println!(
        "| graph | nodes | ppr-all wall | peak RSS | sources/s | igraph median per source | igraph x n | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for name in families::selected() {
        if families::load(name).is_none() {
            println!("skipped {name}: data not found");
            continue;
        }
        let tsv = match name {
            "wordnet" => families::shared_dir().join("wordnet30.tsv"),
            "debian" => families::shared_dir().join("debian_packages.tsv"),
            other => {
                let g = match other {
                    "power-law" => walkdb::synth::barabasi_albert(20_000, 16, 11),
                    _ => walkdb::synth::hipporag_graph(walkdb::synth::HippoShape::default(), 5),
                };
                let path = dir.path().join(format!("{other}.tsv"));
                std::fs::write(&path, g.to_tsv()).expect("write TSV");
                path
            }
        };
        // The database's nodes, and igraph's: those that appear in the TSV.
        let n = first_appearance_count(&tsv);
        let db = dir.path().join(format!("{name}.db"));
        let alpha_s = alpha.to_string();
        let status = Command::new(&binary)
            .args(["import", db.to_str().unwrap(), tsv.to_str().unwrap()])
            .args(["--undirected", "--alpha", &alpha_s])
            .stdout(Stdio::null())
            .status()
            .expect("import runs");
        assert!(status.success(), "import of {name} failed");
        let out = dir.path().join(format!("{name}.jsonl"));
        let (wall, peak) = timed(
            Command::new(&binary)
                .args(["ppr-all", db.to_str().unwrap(), "--top", "10"])
                .args(["--out", out.to_str().unwrap()]),
        );
        let _ = std::fs::remove_file(&out);
        // igraph: 30 sampled sources of the file's own numbering (first appearance).
        let mut rng = Rng::new(17);
        let sources: Vec<Vec<(NodeId, f64)>> = (0..30)
            .map(|_| vec![(rng.below(n as u64) as NodeId, 1.0)])
            .collect();
        let config = igraph::Config {
            name: "all".into(),
            undirected: true,
            damping: 1.0 - alpha,
            queries: sources,
        };
        let median = match &python {
            Ok(python) => match igraph::run_igraph(python, &tsv, std::slice::from_ref(&config)) {
                Ok((times, _)) => {
                    let mut t = times.get("all").cloned().unwrap_or_default();
                    t.sort_by(f64::total_cmp);
                    t.get(t.len() / 2).copied().unwrap_or(f64::NAN)
                }
                Err(e) => {
                    eprintln!("igraph failed: {e}");
                    f64::NAN
                }
            },
            Err(e) => {
                eprintln!("igraph unavailable: {e}");
                f64::NAN
            }
        };
        let igraph_all = median * n as f64;
        println!(
            "| {name} | {n} | {wall:.1} s | {:.0} MB | {:.0} | {:.2} ms | {:.0} s | {:.1}x |",
            peak as f64 / 1e6,
            n as f64 / wall,
            median * 1e3,
            igraph_all,
            igraph_all / wall
        );
    }
}

/// Nodes that appear in a TSV (igraph's node count for it).
fn first_appearance_count(tsv: &Path) -> usize {
    let text = std::fs::read_to_string(tsv).expect("read TSV");
    let mut seen = std::collections::HashSet::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut f = line.split('\t');
        if let (Some(s), Some(_), Some(d)) = (f.next(), f.next(), f.next()) {
            seen.insert(s.to_string());
            seen.insert(d.to_string());
        }
    }
    seen.len()
}
