#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end comparison of walkdb's PPR against igraph (PRPACK) on WordNet 3.0, in one run.
//!
//! Runs the igraph baseline queries of all four configurations through walkdb's exact solver
//! and forward push, and (when a Python venv with igraph 1.0.0 is available) through igraph's
//! `personalized_pagerank(implementation="prpack")`, then prints per-query medians, ratios,
//! push precision@10, and batch-of-100 throughput at 1 and 2 threads.
//!
//! Environment: `WALKDB_SHARED_DATA` (default `../shared/data`), `WALKDB_BENCH_VENV` (default
//! `target/bench-venv`, created with `python3 -m venv` + `pip install igraph==1.0.0` if
//! missing), `WALKDB_BENCH_QUERIES` (queries per configuration, default all 120),
//! `WALKDB_BENCH_NO_IGRAPH=1` to skip igraph.
//!
//! Then, for the undirected configurations, the walk index (`Method::Index`, built at the
//! configuration's alpha with the database default of 1 walk per link): build time against
//! igraph's load time, and single-seed top-10 query median latency against igraph's median
//! on the same queries, with precision@10 and the largest score error against the exact solver.
//!
//! Run: `cargo bench --bench ppr_vs_igraph`. Prints "skipped: ..." and exits 0 without the data.

#[path = "igraph/mod.rs"]
mod igraph;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use walkdb::graph::NodeId;
use walkdb::ppr::{ppr, ppr_batch, Method, PprQuery, PprWorkspace};
use walkdb::tsv::load_graph;
use walkdb::walks::{WalkIndex, WalkIndexParams};

use igraph::{igraph_python, run_igraph, Config};

fn data_dir() -> PathBuf {
    std::env::var_os("WALKDB_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() {
        return f64::NAN;
    }
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        0.5 * (xs[m - 1] + xs[m])
    }
}

/// Tie-aware precision@10: a push result counts as correct when its exact score is at least
/// the exact 10th score (minus 1e-12 for ties among structurally equivalent nodes).
fn precision_at_10(exact_top: &[(NodeId, f64)], push_top: &[(NodeId, f64)]) -> f64 {
    let k = 10.min(exact_top.len());
    if k == 0 {
        return 1.0;
    }
    let cutoff = exact_top[k - 1].1 - 1e-12;
    let exact: HashMap<NodeId, f64> = exact_top.iter().copied().collect();
    let hits = push_top
        .iter()
        .take(k)
        .filter(|(v, _)| exact.get(v).is_some_and(|&s| s >= cutoff))
        .count();
    hits as f64 / k as f64
}

fn main() {
    let dir = data_dir();
    let tsv = dir.join("wordnet30.tsv");
    let bytes = match std::fs::read(&tsv) {
        Ok(bytes) => bytes,
        Err(e) => {
            println!(
                "skipped: reading {}: {e} (set WALKDB_SHARED_DATA)",
                tsv.display()
            );
            return;
        }
    };
    let t = Instant::now();
    let undirected = load_graph("wordnet30.tsv", &bytes, true).expect("wordnet parses");
    let load_s = t.elapsed().as_secs_f64();
    let directed = load_graph("wordnet30.tsv", &bytes, false).expect("wordnet parses");
    let ids: HashMap<&str, NodeId> = undirected
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i as NodeId))
        .collect();
    let baseline: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("baselines/wordnet30.ppr.json")).expect("baseline file"),
    )
    .expect("baseline json");
    let per_config: usize = std::env::var("WALKDB_BENCH_QUERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let mut configs = Vec::new();
    for name in [
        "undirected/d=0.85",
        "undirected/d=0.5",
        "directed/d=0.85",
        "directed/d=0.5",
    ] {
        let queries = baseline["results"][name]
            .as_array()
            .expect("config present")
            .iter()
            .take(per_config)
            .map(|q| {
                let seeds = q["seeds"].as_array().expect("seeds");
                let weights = q["seed_weights"].as_array().expect("weights");
                seeds
                    .iter()
                    .zip(weights)
                    .map(|(s, w)| (ids[s.as_str().expect("key")], w.as_f64().expect("weight")))
                    .collect()
            })
            .collect();
        configs.push(Config {
            name: name.to_string(),
            undirected: name.starts_with("undirected"),
            damping: if name.ends_with("0.85") { 0.85 } else { 0.5 },
            queries,
        });
    }
    println!(
        "wordnet30: {} nodes, {} edges; tsv load + CSR build {:.3} s",
        undirected.keys.len(),
        undirected.edges.len(),
        load_s
    );

    let igraph = if std::env::var_os("WALKDB_BENCH_NO_IGRAPH").is_some() {
        Err("WALKDB_BENCH_NO_IGRAPH is set".to_string())
    } else {
        igraph_python().and_then(|py| run_igraph(&py, &tsv, &configs))
    };
    if let Err(why) = &igraph {
        println!("igraph skipped: {why}");
    }

    println!(
        "\n{:<18} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9} {:>8} {:>9}",
        "config",
        "queries",
        "igraph_ms",
        "exact_ms",
        "push_ms",
        "ig/exact",
        "ig/push",
        "p@10",
        "max_bound"
    );
    let mut ws = PprWorkspace::new();
    for c in &configs {
        let graph = if c.undirected {
            &undirected.graph
        } else {
            &directed.graph
        };
        let alpha = 1.0 - c.damping;
        let (mut exact_t, mut push_t, mut precision, mut max_bound) =
            (Vec::new(), Vec::new(), 0.0, 0.0f64);
        for q in &c.queries {
            let exact_q = PprQuery::new(q.clone(), alpha)
                .top_k(100)
                .method(Method::Exact);
            let t = Instant::now();
            let exact = ppr(graph, &exact_q, &mut ws).expect("valid query");
            exact_t.push(t.elapsed().as_secs_f64());
            max_bound = max_bound.max(exact.error_bound);
            let push_q = PprQuery::new(q.clone(), alpha)
                .top_k(10)
                .method(Method::Push);
            let t = Instant::now();
            let push = ppr(graph, &push_q, &mut ws).expect("valid query");
            push_t.push(t.elapsed().as_secs_f64());
            precision += precision_at_10(&exact.top, &push.top);
        }
        let n = c.queries.len() as f64;
        let exact_ms = median(&mut exact_t) * 1e3;
        let push_ms = median(&mut push_t) * 1e3;
        let ig_ms = igraph
            .as_ref()
            .ok()
            .and_then(|m| m.0.get(&c.name))
            .map(|t| median(&mut t.clone()) * 1e3);
        let fmt_opt =
            |x: Option<f64>, prec: usize| x.map_or("-".to_string(), |x| format!("{x:.prec$}"));
        println!(
            "{:<18} {:>7} {:>10} {:>10.2} {:>10.3} {:>9} {:>9} {:>8.4} {:>9.1e}",
            c.name,
            c.queries.len(),
            fmt_opt(ig_ms, 2),
            exact_ms,
            push_ms,
            fmt_opt(ig_ms.map(|i| i / exact_ms), 2),
            fmt_opt(ig_ms.map(|i| i / push_ms), 1),
            precision / n,
            max_bound
        );
    }

    println!(
        "\nwalk index (Method::Index, 1 walk per link), undirected, single-seed top-10 queries:"
    );
    let ig_build = igraph.as_ref().ok().map(|m| m.1);
    println!(
        "{:<18} {:>8} {:>9} {:>9} {:>7} {:>10} {:>10} {:>9} {:>8} {:>9}",
        "config",
        "build_s",
        "ig_load_s",
        "MB",
        "B/edge",
        "index_ms",
        "igraph_ms",
        "ig/index",
        "p@10",
        "max_err"
    );
    for c in configs.iter().filter(|c| c.undirected) {
        let alpha = 1.0 - c.damping;
        let graph = &undirected.graph;
        let params = WalkIndexParams {
            alpha,
            walks_per_node: walkdb::DEFAULT_WALKS_PER_NODE,
            seed: 1,
        };
        let t = Instant::now();
        let index = WalkIndex::build(graph, params).expect("index builds");
        let build_s = t.elapsed().as_secs_f64();
        let stats = index.stats().expect("stats");
        let single: Vec<usize> = (0..c.queries.len())
            .filter(|&i| c.queries[i].len() == 1)
            .collect();
        let (mut index_t, mut precision, mut max_err) = (Vec::new(), 0.0, 0.0f64);
        for &i in &single {
            let q = &c.queries[i];
            let exact_q = PprQuery::new(q.clone(), alpha)
                .top_k(1000)
                .method(Method::Exact);
            let exact = ppr(graph, &exact_q, &mut ws).expect("valid query");
            let query = PprQuery::new(q.clone(), alpha)
                .top_k(10)
                .method(Method::Index)
                .walk_index(&index);
            // Three runs, the median kept: the first touches cold index pages.
            let mut runs = Vec::new();
            let mut result = None;
            for _ in 0..3 {
                let t = Instant::now();
                let r = ppr(graph, &query, &mut ws).expect("valid query");
                runs.push(t.elapsed().as_secs_f64());
                result = Some(r);
            }
            index_t.push(median(&mut runs));
            let result = result.expect("ran");
            assert_eq!(result.method, Method::Index);
            precision += precision_at_10(&exact.top, &result.top);
            let floor = exact.top.last().map_or(0.0, |e| e.1);
            for &(v, s) in &result.top {
                let e = exact.top.iter().find(|e| e.0 == v).map_or(floor, |e| e.1);
                max_err = max_err.max((s - e).abs());
            }
        }
        let index_ms = median(&mut index_t) * 1e3;
        let ig_ms = igraph
            .as_ref()
            .ok()
            .and_then(|m| m.0.get(&c.name))
            .map(|t| {
                let mut single_t: Vec<f64> =
                    single.iter().filter_map(|&i| t.get(i).copied()).collect();
                median(&mut single_t) * 1e3
            });
        let fmt_opt =
            |x: Option<f64>, prec: usize| x.map_or("-".to_string(), |x| format!("{x:.prec$}"));
        println!(
            "{:<18} {:>8.2} {:>9} {:>9.1} {:>7.1} {:>10.3} {:>10} {:>9} {:>8.4} {:>9.1e}",
            c.name,
            build_s,
            fmt_opt(ig_build, 2),
            stats.encoded_bytes as f64 / 1e6,
            stats.encoded_bytes as f64 / undirected.edges.len() as f64,
            index_ms,
            fmt_opt(ig_ms, 2),
            fmt_opt(ig_ms.map(|i| i / index_ms), 1),
            precision / single.len() as f64,
            max_err
        );
    }

    println!("\nbatch of 100 queries (undirected/d=0.5 queries, HippoRAG's setting):");
    println!(
        "{:<8} {:>12} {:>12} {:>9}",
        "method", "1 thread q/s", "2 threads q/s", "speed-up"
    );
    let c = &configs[1];
    let queries: Vec<PprQuery<'_>> = (0..100)
        .map(|i| c.queries[i % c.queries.len()].clone())
        .map(|seeds| PprQuery::new(seeds, 1.0 - c.damping).top_k(10))
        .collect();
    for method in [Method::Exact, Method::Push] {
        let batch: Vec<PprQuery<'_>> = queries.iter().cloned().map(|q| q.method(method)).collect();
        let mut rate = Vec::new();
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            let elapsed: Duration = pool.install(|| {
                let t = Instant::now();
                let results = ppr_batch(&undirected.graph, &batch);
                assert!(results.iter().all(|r| r.is_ok()));
                t.elapsed()
            });
            rate.push(batch.len() as f64 / elapsed.as_secs_f64());
        }
        println!(
            "{:<8} {:>12.1} {:>12.1} {:>9.2}",
            method.name(),
            rate[0],
            rate[1],
            rate[1] / rate[0]
        );
    }
}
