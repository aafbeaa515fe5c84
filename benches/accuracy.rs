#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Query speed at the default accuracy target on four graph families, against igraph in the
//! same run: WordNet 3.0 and the Debian package graph (shared data), a Barabasi-Albert graph of
//! average degree 32 and a HippoRAG-shaped entity-passage graph (generated, `walkdb::synth`).
//!
//! For every family, mode (undirected, directed), alpha (0.5, 0.15) and query shape (single
//! seed, 5 weighted seeds, dense reset over thousands of nodes), distinct queries are each
//! timed once (no query repeats, so no warm-cache repeats) by:
//! - igraph 1.0.0 `personalized_pagerank(implementation="prpack")`, single-threaded;
//! - walkdb's exact solver;
//! - the default method (`Auto` at the default target: every score within 1e-4, certified
//!   top-10), with its precision@10 and largest score error against exact;
//! - (undirected) at the target the walk index proves, every score within 1e-4 without a
//!   certified set: the certified push (`Method::Push`) and the walk index (`Method::Index`,
//!   index built at the query alpha, 1 walk per link; its bound holds except with probability
//!   1e-3), with the index's precision@10 and largest score error against exact and the
//!   push/index ratio of means (the issue's "index at least 2x faster than push at the same
//!   target").
//!
//! Prints mean, median and p99 per method and the igraph/default ratio of means.
//! Environment: `WALKDB_BENCH_FAMILIES` (comma list, default all four), `WALKDB_BENCH_QUERIES`
//! (single-seed queries per configuration, default 20; multi gets half, dense a quarter),
//! `WALKDB_BENCH_NO_IGRAPH=1`, `WALKDB_BENCH_VENV` (see `benches/igraph/mod.rs`).
//!
//! Run: `cargo bench --bench accuracy`.

#[path = "../tests/common/families.rs"]
mod families;
#[path = "igraph/mod.rs"]
mod igraph;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use families::{max_error, precision, Family, Shape, SHAPES};
use walkdb::graph::{CsrGraph, NodeId};
use walkdb::ppr::{exact_ppr, ppr, Accuracy, Method, PprQuery, PprWorkspace, EXACT_TOLERANCE};
use walkdb::walks::{WalkIndex, WalkIndexParams};

/// Mean, median and p99 of seconds, in milliseconds.
fn summary(times: &[f64]) -> (f64, f64, f64) {
    if times.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut t: Vec<f64> = times.iter().map(|s| s * 1e3).collect();
    t.sort_by(f64::total_cmp);
    let mean = t.iter().sum::<f64>() / t.len() as f64;
    let median = t[t.len() / 2];
    let p99 = t[((t.len() as f64 * 0.99).ceil() as usize).clamp(1, t.len()) - 1];
    (mean, median, p99)
}

fn fmt(s: (f64, f64, f64)) -> String {
    format!("{:.2}/{:.2}/{:.2}", s.0, s.1, s.2)
}

/// The TSV igraph reads for `family`, and the map from walkdb ids to the ids igraph assigns
/// (first appearance, src then dst) when they differ.
fn igraph_input(family: &Family) -> (PathBuf, Option<Vec<Option<NodeId>>>) {
    let shared = families::shared_dir();
    match family.name {
        "wordnet" => (shared.join("wordnet30.tsv"), None),
        "debian" => (shared.join("debian_packages.tsv"), None),
        name => {
            let graph = match name {
                "power-law" => walkdb::synth::barabasi_albert(20_000, 16, 11),
                _ => walkdb::synth::hipporag_graph(walkdb::synth::HippoShape::default(), 5),
            };
            let path = std::env::temp_dir()
                .join(format!("walkdb-accuracy-{}-{name}.tsv", std::process::id()));
            std::fs::write(&path, graph.to_tsv()).expect("write the TSV");
            let mut map = vec![None; graph.keys.len()];
            let mut next = 0;
            for e in &graph.edges {
                for v in [e.src, e.dst] {
                    if map[v as usize].is_none() {
                        map[v as usize] = Some(next);
                        next += 1;
                    }
                }
            }
            (path, Some(map))
        }
    }
}

struct Row {
    name: String,
    exact: Vec<f64>,
    default: Vec<f64>,
    default_p: f64,
    default_err: f64,
    index: Option<(Vec<f64>, f64, f64)>,
    /// The certified push at the index's target (scores only), timed.
    scores_push: Vec<f64>,
}

fn main() {
    let singles: usize = std::env::var("WALKDB_BENCH_QUERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let python = if std::env::var_os("WALKDB_BENCH_NO_IGRAPH").is_some() {
        Err("WALKDB_BENCH_NO_IGRAPH is set".to_string())
    } else {
        igraph::igraph_python()
    };
    println!("# accuracy-target query benchmark (ms: mean/median/p99, each query timed once)");
    println!(
        "| graph | configuration | queries | igraph | exact | default | igraph/default (means) | default p@10 | default max error | push, scores only | index, scores only | push/index (means) | index p@10 | index max error |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for name in families::selected() {
        let Some(family) = families::load(name) else {
            println!("skipped {name}: data not found");
            continue;
        };
        let mut rows: Vec<Row> = Vec::new();
        let mut configs: Vec<igraph::Config> = Vec::new();
        let (tsv, map) = igraph_input(&family);
        for (mode, graph) in [
            ("undirected", &family.undirected),
            ("directed", &family.directed),
        ] {
            for alpha in [0.5, 0.15] {
                let index = (mode == "undirected").then(|| {
                    let params = WalkIndexParams {
                        alpha,
                        walks_per_node: walkdb::DEFAULT_WALKS_PER_NODE,
                        seed: 1,
                    };
                    WalkIndex::build(graph, params).expect("index builds")
                });
                for shape in SHAPES {
                    let count = match shape {
                        Shape::Single => singles,
                        Shape::Multi => singles.div_ceil(2),
                        Shape::Dense => singles.div_ceil(4),
                    };
                    let queries = families::queries(&family, graph, shape, count, 77);
                    let row = measure(graph, alpha, &queries, index.as_ref());
                    let config = format!("{mode} alpha={alpha} {}", shape.name());
                    configs.push(igraph::Config {
                        name: config.clone(),
                        undirected: mode == "undirected",
                        damping: 1.0 - alpha,
                        queries: queries
                            .iter()
                            .map(|q| translate(q, map.as_deref()))
                            .collect(),
                    });
                    rows.push(Row {
                        name: config,
                        ..row
                    });
                }
            }
        }
        let igraph_times: HashMap<String, Vec<f64>> = match &python {
            Ok(python) => match igraph::run_igraph(python, &tsv, &configs) {
                Ok((times, _)) => times,
                Err(e) => {
                    eprintln!("igraph failed: {e}");
                    HashMap::new()
                }
            },
            Err(e) => {
                eprintln!("igraph unavailable: {e}");
                HashMap::new()
            }
        };
        if map.is_some() {
            let _ = std::fs::remove_file(&tsv);
        }
        for row in rows {
            let ig = igraph_times.get(&row.name).map(|t| summary(t)).unwrap_or((
                f64::NAN,
                f64::NAN,
                f64::NAN,
            ));
            let d = summary(&row.default);
            let (push, index, ratio, ip, ie) = match &row.index {
                Some((t, p, e)) => (
                    fmt(summary(&row.scores_push)),
                    fmt(summary(t)),
                    format!("{:.2}x", summary(&row.scores_push).0 / summary(t).0),
                    format!("{p:.4}"),
                    format!("{e:.1e}"),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
            };
            println!(
                "| {name} | {} | {} | {} | {} | {} | {:.1}x | {:.4} | {:.1e} | {push} | {index} | {ratio} | {ip} | {ie} |",
                row.name,
                row.default.len(),
                fmt(ig),
                fmt(summary(&row.exact)),
                fmt(d),
                ig.0 / d.0,
                row.default_p,
                row.default_err,
            );
        }
    }
}

/// Seeds in igraph's numbering (nodes igraph does not have, i.e. without edges, dropped).
fn translate(q: &[(NodeId, f64)], map: Option<&[Option<NodeId>]>) -> Vec<(NodeId, f64)> {
    match map {
        None => q.to_vec(),
        Some(map) => q
            .iter()
            .filter_map(|&(v, w)| map[v as usize].map(|u| (u, w)))
            .collect(),
    }
}

/// Times exact, the default method and (given) the index on each query once, single-threaded.
fn measure(
    graph: &CsrGraph,
    alpha: f64,
    queries: &[Vec<(NodeId, f64)>],
    index: Option<&WalkIndex>,
) -> Row {
    let mut ws = PprWorkspace::new();
    let mut row = Row {
        name: String::new(),
        exact: Vec::new(),
        default: Vec::new(),
        default_p: 0.0,
        default_err: 0.0,
        index: index.map(|_| (Vec::new(), 0.0, 0.0)),
        scores_push: Vec::new(),
    };
    let scores_only = Accuracy::default().certify_top_k(false);
    for (i, seeds) in queries.iter().enumerate() {
        let t = Instant::now();
        let exact = exact_ppr(graph, seeds, alpha, EXACT_TOLERANCE, &mut ws).scores;
        row.exact.push(t.elapsed().as_secs_f64());
        let query = PprQuery::new(seeds.clone(), alpha).top_k(10);
        let t = Instant::now();
        let answer = ppr(graph, &query, &mut ws).expect("query");
        row.default.push(t.elapsed().as_secs_f64());
        row.default_p += precision(&exact, &answer.top, 10, 1e-9);
        row.default_err = row.default_err.max(max_error(&exact, &answer.top));
        if let (Some(index), Some((times, p, err))) = (index, row.index.as_mut()) {
            let mut query = PprQuery::new(seeds.clone(), alpha)
                .top_k(10)
                .method(Method::Push);
            query.accuracy = scores_only;
            let t = Instant::now();
            let answer = ppr(graph, &query, &mut ws).expect("push query");
            row.scores_push.push(t.elapsed().as_secs_f64());
            assert!(answer.guarantee.meets(&scores_only));
            let mut query = PprQuery::new(seeds.clone(), alpha)
                .top_k(10)
                .method(Method::Index)
                .walk_index(index);
            query.accuracy = scores_only;
            query.rng_seed = i as u64;
            let t = Instant::now();
            let answer = ppr(graph, &query, &mut ws).expect("index query");
            times.push(t.elapsed().as_secs_f64());
            assert_eq!(answer.method, Method::Index);
            assert!(
                answer.guarantee.meets(&scores_only),
                "{:?}",
                answer.guarantee
            );
            *p += precision(&exact, &answer.top, 10, 1e-9);
            *err = err.max(max_error(&exact, &answer.top));
        }
    }
    let n = queries.len().max(1) as f64;
    row.default_p /= n;
    if let Some((_, p, _)) = row.index.as_mut() {
        *p /= n;
    }
    row
}
