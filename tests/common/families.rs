//! The graph families the accuracy contract is tested and benchmarked on: WordNet 3.0 and the
//! Debian package graph (real, from the shared data folder), a Barabasi-Albert power-law graph
//! of average degree 32, and a HippoRAG-shaped entity-passage graph (both generated). No query
//! constant of walkdb was chosen on any of them: the certified method has none to choose.
//!
//! Shared by `tests/accuracy_contract.rs` and `benches/accuracy.rs` (included by path).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use walkdb::graph::{Adjacency, CsrGraph, NodeId};
use walkdb::rng::Rng;
use walkdb::synth::{barabasi_albert, hipporag_graph, hipporag_query, HippoShape, SynthGraph};
use walkdb::tsv::load_graph;

/// The family names, in the order tests and benches report them.
pub const FAMILIES: [&str; 4] = ["wordnet", "debian", "power-law", "hipporag"];

/// The families a bench runs: `WALKDB_BENCH_FAMILIES` (a comma list), by default all four,
/// in [`FAMILIES`] order.
pub fn selected() -> Vec<&'static str> {
    let wanted: Option<Vec<String>> = std::env::var("WALKDB_BENCH_FAMILIES")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    FAMILIES
        .iter()
        .copied()
        .filter(|f| wanted.as_ref().is_none_or(|w| w.iter().any(|w| w == f)))
        .collect()
}

/// One family's graph in both modes.
pub struct Family {
    pub name: &'static str,
    pub undirected: CsrGraph,
    pub directed: CsrGraph,
    /// The generated HippoRAG graph and its shape (for its own dense-reset queries).
    pub hippo: Option<(SynthGraph, HippoShape)>,
}

// By path, so that the benches including this file get it too; `tests/common/mod.rs` re-exports
// its helpers.
#[path = "shared_data.rs"]
pub mod shared_data;

#[allow(unused_imports)]
pub use shared_data::shared_dir;

/// Loads a family; `None` when its file is not in the shared data folder (it says `SKIPPED`).
/// Under CI (`CI` set) a missing file is a failure, not a skip: CI always has the shared data.
pub fn load(name: &'static str) -> Option<Family> {
    let from_tsv = |file: &str| -> Option<Family> {
        let path = shared_data::shared_file(file, &format!("the {name} family"))?;
        let bytes = std::fs::read(&path).expect("read the TSV");
        let undirected = load_graph(file, &bytes, true).expect("parse the TSV");
        let directed = CsrGraph::from_edges(undirected.keys.len(), &undirected.edges, false);
        Some(Family {
            name,
            undirected: undirected.graph,
            directed,
            hippo: None,
        })
    };
    match name {
        "wordnet" => from_tsv("wordnet30.tsv"),
        "debian" => from_tsv("debian_packages.tsv"),
        "power-law" => {
            let g = barabasi_albert(20_000, 16, 11);
            Some(Family {
                name,
                undirected: g.csr(true),
                directed: g.csr(false),
                hippo: None,
            })
        }
        "hipporag" => {
            let shape = HippoShape::default();
            let g = hipporag_graph(shape, 5);
            Some(Family {
                name,
                undirected: g.csr(true),
                directed: g.csr(false),
                hippo: Some((g, shape)),
            })
        }
        other => panic!("unknown family {other}"),
    }
}

/// The query shapes of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One seed node.
    Single,
    /// Five seeds with random weights.
    Multi,
    /// Thousands of seeds: HippoRAG 2's entity seeds plus every passage with a small weight
    /// (on other families: 5 seeds plus 2,000 random nodes with small weights).
    Dense,
}

pub const SHAPES: [Shape; 3] = [Shape::Single, Shape::Multi, Shape::Dense];

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Single => "single",
            Shape::Multi => "multi",
            Shape::Dense => "dense",
        }
    }
}

/// A node with at least one link in `graph`, drawn uniformly.
fn linked_node(graph: &CsrGraph, rng: &mut Rng) -> NodeId {
    loop {
        let v = rng.below(graph.node_count() as u64) as NodeId;
        if graph.degree(v) > 0 {
            return v;
        }
    }
}

/// `count` distinct queries of `shape` on `family` (seeds drawn from `graph`'s linked nodes).
pub fn queries(
    family: &Family,
    graph: &CsrGraph,
    shape: Shape,
    count: usize,
    seed: u64,
) -> Vec<Vec<(NodeId, f64)>> {
    let mut rng = Rng::from_parts(&[0x5155_4552, seed, shape as u64]);
    (0..count)
        .map(|i| match shape {
            Shape::Single => vec![(linked_node(graph, &mut rng), 1.0)],
            Shape::Multi => (0..5)
                .map(|_| (linked_node(graph, &mut rng), 0.1 + rng.next_f64()))
                .collect(),
            Shape::Dense => match &family.hippo {
                Some((g, shape)) => hipporag_query(g, *shape, 8, 0.05, seed ^ i as u64),
                None => {
                    let mut q: Vec<(NodeId, f64)> = (0..5)
                        .map(|_| (linked_node(graph, &mut rng), 1.0))
                        .collect();
                    q.extend((0..2_000).map(|_| {
                        let v = rng.below(graph.node_count() as u64) as NodeId;
                        (v, 0.05 * (1.0 - rng.next_f64()))
                    }));
                    q
                }
            },
        })
        .collect()
}

/// Tie-aware precision@k of `got` against the exact dense scores: a returned node counts when
/// its exact score is at least the exact k-th score minus `tie` (structurally equivalent nodes
/// have equal scores, and either may stand at the boundary).
pub fn precision(exact: &[f64], got: &[(NodeId, f64)], k: usize, tie: f64) -> f64 {
    let mut sorted: Vec<f64> = exact.iter().copied().filter(|&s| s > 0.0).collect();
    let k = k.min(sorted.len());
    if k == 0 {
        return 1.0;
    }
    sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let kth = sorted[k - 1];
    let hits = got
        .iter()
        .take(k)
        .filter(|&&(v, _)| exact[v as usize] >= kth - tie)
        .count();
    hits as f64 / k as f64
}

/// The largest absolute error of the returned scores.
pub fn max_error(exact: &[f64], got: &[(NodeId, f64)]) -> f64 {
    got.iter()
        .map(|&(v, s)| (s - exact[v as usize]).abs())
        .fold(0.0, f64::max)
}
