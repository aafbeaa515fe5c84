#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Explores plain FORA (`Method::Index` with an explicit push threshold and walks per unit of
//! residual; the default `Method::Index` derives both from its target) on WordNet 3.0 against
//! the exact solver: prints, per setting, the median query time, mean precision@10 and the
//! largest absolute error of a returned score over the igraph baseline queries.
//!
//! Run: `cargo run --release --example index_tuning` (`WALKDB_SHARED_DATA` as for the tests;
//! `WALKS_PER_LINK` sets the index density, default 4).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;
use walkdb::graph::NodeId;
use walkdb::ppr::{exact_ppr, ppr, Method, PprQuery, PprWorkspace, EXACT_TOLERANCE};
use walkdb::tsv::load_graph;
use walkdb::walks::{WalkIndex, WalkIndexParams};

fn main() {
    let dir = std::env::var_os("WALKDB_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
    let bytes = std::fs::read(dir.join("wordnet30.tsv")).expect("wordnet30.tsv");
    let loaded = load_graph("wordnet30", &bytes, true).unwrap();
    let graph = &loaded.graph;
    let ids: HashMap<&str, NodeId> = loaded
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i as NodeId))
        .collect();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("baselines/wordnet30.ppr.json")).unwrap())
            .unwrap();
    let wpl: f64 = std::env::var("WALKS_PER_LINK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let only = std::env::var("CONFIG").unwrap_or_default();
    for (config, alpha) in [("undirected/d=0.5", 0.5), ("undirected/d=0.85", 0.15)] {
        if !config.contains(&only) {
            continue;
        }
        let queries: Vec<Vec<(NodeId, f64)>> = doc["results"][config]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                q["seeds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(q["seed_weights"].as_array().unwrap())
                    .map(|(s, w)| (ids[s.as_str().unwrap()], w.as_f64().unwrap()))
                    .collect()
            })
            .collect();
        let t = Instant::now();
        let index = WalkIndex::build(
            graph,
            WalkIndexParams {
                alpha,
                walks_per_node: wpl,
                seed: 7,
            },
        )
        .unwrap();
        println!(
            "{config}: index build {:.2} s, {} walks",
            t.elapsed().as_secs_f64(),
            index.stats().expect("stats").walks
        );
        let exact: Vec<Vec<f64>> = queries
            .par_iter()
            .map_init(PprWorkspace::new, |ws, q| {
                exact_ppr(graph, q, alpha, EXACT_TOLERANCE, ws).scores
            })
            .collect();
        let mut ws = PprWorkspace::new();
        let mut settings: Vec<(Method, f64, f64)> = Vec::new();
        let grid: Vec<(f64, f64)> = std::env::var("GRID")
            .unwrap()
            .split(',')
            .map(|p| {
                let (a, b) = p.split_once(':').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        for &(r_max, omega) in &grid {
            {
                settings.push((
                    if omega == 0.0 {
                        Method::Push
                    } else {
                        Method::Index
                    },
                    r_max,
                    omega,
                ));
            }
        }
        for (method, r_max, omega) in settings {
            let (mut times, mut p10, mut max_err) = (Vec::new(), 0.0, 0.0f64);
            for (q, scores) in queries.iter().zip(&exact) {
                let mut query = PprQuery::new(q.clone(), alpha)
                    .top_k(10)
                    .method(method)
                    .walk_index(&index);
                query.push_r_max = Some(r_max);
                query.walks_per_residual = Some(omega);
                let t = Instant::now();
                let r = ppr(graph, &query, &mut ws).unwrap();
                times.push(t.elapsed().as_secs_f64() * 1e3);
                assert_eq!(r.method, method);
                let mut order: Vec<f64> = scores.clone();
                order.sort_by(|a, b| b.total_cmp(a));
                let cutoff = order[9] - 1e-12;
                p10 += r
                    .top
                    .iter()
                    .filter(|(v, _)| scores[*v as usize] >= cutoff)
                    .count() as f64
                    / 10.0;
                for &(v, s) in &r.top {
                    max_err = max_err.max((s - scores[v as usize]).abs());
                    if std::env::var_os("DIAG").is_some() && (s - scores[v as usize]).abs() > 1e-4 {
                        println!(
                            "    err {:.2e} node {} est {:.5} exact {:.5} seeds {:?} deg {}",
                            s - scores[v as usize],
                            loaded.keys[v as usize],
                            s,
                            scores[v as usize],
                            q.iter()
                                .map(|x| &loaded.keys[x.0 as usize])
                                .collect::<Vec<_>>(),
                            walkdb::graph::Adjacency::degree(graph, v)
                        );
                    }
                }
                if std::env::var_os("DIAG").is_some() {
                    let hits = r
                        .top
                        .iter()
                        .filter(|(v, _)| scores[*v as usize] >= cutoff)
                        .count();
                    if hits < 10 {
                        println!(
                            "    miss: 10th exact {:.6e}, 11th {:.6e}, got {:?}",
                            order[9],
                            order[10],
                            r.top
                                .iter()
                                .map(|&(v, s)| (s, scores[v as usize]))
                                .collect::<Vec<_>>()
                        );
                    }
                }
            }
            times.sort_by(f64::total_cmp);
            println!(
                "  {:<6} r_max {:>7.0e} omega {:>7.0e}: median {:.3} ms p90 {:.3} ms, p@10 {:.4}, max err {:.2e}",
                method.name(), r_max, omega, times[times.len() / 2], times[times.len() * 9 / 10],
                p10 / queries.len() as f64, max_err
            );
        }
    }
}
