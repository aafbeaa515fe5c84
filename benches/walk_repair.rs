//! Walk index micro-benchmark: full build time, median per-edge insert repair time over
//! 10,000 single-edge transactions, their ratio, and index bytes per edge at alpha 0.15 and
//! 0.5, on a synthetic Barabasi-Albert graph and (if present) on WordNet 3.0.
//!
//! Run: `cargo bench --bench walk_repair` (set WALKDB_BENCH_QUICK=1 for a smaller synthetic
//! graph). Figures are printed, not asserted: wall-clock numbers depend on the machine.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Instant;
use walkdb::graph::{Adjacency, Link, NodeId};
use walkdb::rng::Rng;
use walkdb::walks::{NodeChange, PairChange, WalkIndex, WalkIndexParams};

/// A mutable adjacency so a transaction costs O(degree), not a CSR rebuild.
struct DynGraph {
    links: Vec<Vec<(NodeId, f64)>>,
    sums: Vec<f64>,
    undirected: bool,
}

impl DynGraph {
    fn new(node_count: usize, undirected: bool) -> DynGraph {
        DynGraph {
            links: vec![Vec::new(); node_count],
            sums: vec![0.0; node_count],
            undirected,
        }
    }
    fn link_count(&self) -> usize {
        self.links.iter().map(|l| l.len()).sum()
    }
    fn add_link(&mut self, u: NodeId, v: NodeId, w: f64) {
        self.links[u as usize].push((v, w));
        self.sums[u as usize] = self.links[u as usize].iter().map(|l| l.1).sum();
    }
    fn pair_weight(&self, u: NodeId, v: NodeId) -> f64 {
        self.links[u as usize]
            .iter()
            .filter(|l| l.0 == v)
            .map(|l| l.1)
            .sum()
    }
    /// Inserts edge (u, v, w) and returns the changes the database would send.
    fn insert_edge(&mut self, u: NodeId, v: NodeId, w: f64) -> Vec<NodeChange> {
        let mut ends = vec![(u, v)];
        if self.undirected && u != v {
            ends.push((v, u));
        }
        let mut changes = Vec::new();
        for &(a, b) in &ends {
            let before = self.pair_weight(a, b);
            let weight_sum_before = self.sums[a as usize];
            self.add_link(a, b, w);
            changes.push(NodeChange {
                node: a,
                weight_sum_before,
                pairs: vec![PairChange {
                    target: b,
                    before,
                    after: self.pair_weight(a, b),
                }],
            });
        }
        changes
    }
}

impl Adjacency for DynGraph {
    fn node_count(&self) -> usize {
        self.links.len()
    }
    fn links(&self, u: NodeId) -> impl Iterator<Item = Link> + '_ {
        self.links[u as usize].iter().map(|&(target, weight)| Link {
            target,
            rel: 0,
            weight,
        })
    }
    fn weight_sum(&self, u: NodeId) -> f64 {
        self.sums[u as usize]
    }
    fn degree(&self, u: NodeId) -> usize {
        self.links[u as usize].len()
    }
}

/// Barabasi-Albert: each new node links to `m` earlier nodes chosen by degree; each edge gets a
/// random direction and a weight in [1, 4).
fn barabasi_albert(n: usize, m: usize, rng: &mut Rng) -> EdgeList {
    let mut ends: Vec<NodeId> = Vec::new();
    let mut edges = Vec::new();
    for v in 1..n as NodeId {
        for _ in 0..m.min(v as usize) {
            let u = if ends.is_empty() {
                0
            } else {
                ends[rng.below(ends.len() as u64) as usize]
            };
            let w = 1.0 + 3.0 * rng.next_f64();
            if rng.bernoulli(0.5) {
                edges.push((v, u, w));
            } else {
                edges.push((u, v, w));
            }
            ends.push(u);
            ends.push(v);
        }
    }
    edges
}

/// Weighted directed edges `(src, dst, weight)`.
type EdgeList = Vec<(NodeId, NodeId, f64)>;

fn load_wordnet(path: &str) -> Option<(usize, EdgeList)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut ids: HashMap<&str, NodeId> = HashMap::new();
    let mut edges = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut f = line.split('\t');
        let (Some(s), Some(_rel), Some(d), Some(w)) = (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let n = ids.len() as NodeId;
        let s = *ids.entry(s).or_insert(n);
        let n = ids.len() as NodeId;
        let d = *ids.entry(d).or_insert(n);
        edges.push((s, d, w.parse().unwrap_or(1.0)));
    }
    Some((ids.len(), edges))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bench(name: &str, node_count: usize, edges: &[(NodeId, NodeId, f64)], undirected: bool) {
    let mut graph = DynGraph::new(node_count, undirected);
    for &(u, v, w) in edges {
        graph.add_link(u, v, w);
        if undirected && u != v {
            graph.add_link(v, u, w);
        }
    }
    let n_edges = edges.len() as f64;
    println!(
        "== {name} ({} mode): {node_count} nodes, {} edges, {} links",
        if undirected { "undirected" } else { "directed" },
        edges.len(),
        graph.link_count()
    );
    // alpha 0.5 first: the 0.15 run inserts 10,000 edges into the graph afterwards.
    for alpha in [0.5, 0.15] {
        let params = WalkIndexParams {
            alpha,
            walks_per_node: 1.0,
            seed: 1,
        };
        let t = Instant::now();
        let index = WalkIndex::build(&graph, params).expect("build");
        let build_s = t.elapsed().as_secs_f64();
        let s = index.stats().expect("stats");
        println!(
            "alpha {alpha}: build {build_s:.3} s, {} walks, {} steps; encoded {:.1} B/edge, in memory {:.1} B/edge",
            s.walks,
            s.steps,
            s.encoded_bytes as f64 / n_edges,
            s.memory_bytes as f64 / n_edges
        );
        if alpha != 0.15 {
            continue;
        }
        let mut index = index;
        let mut rng = Rng::new(42);
        let mut times = Vec::with_capacity(10_000);
        let mut lsn = 1;
        for _ in 0..10_000 {
            let u = rng.below(node_count as u64) as NodeId;
            let v = rng.below(node_count as u64) as NodeId;
            let changes = graph.insert_edge(u, v, 1.0 + 3.0 * rng.next_f64());
            lsn += 1;
            let t = Instant::now();
            index.apply(&graph, &changes, lsn).expect("apply");
            times.push(t.elapsed().as_secs_f64());
        }
        let med = median(times.clone());
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        println!(
            "insert repair: median {:.2} us, mean {:.2} us over 10,000 single-edge transactions; build/median-repair = {:.0}x",
            med * 1e6,
            mean * 1e6,
            build_s / med
        );
        let t = Instant::now();
        index.verify(&graph).expect("verify after 10,000 repairs");
        println!(
            "verify after repairs: ok ({:.3} s)",
            t.elapsed().as_secs_f64()
        );
    }
}

fn main() {
    let quick = std::env::var_os("WALKDB_BENCH_QUICK").is_some();
    let n = if quick { 20_000 } else { 200_000 };
    let mut rng = Rng::new(7);
    let edges = barabasi_albert(n, 4, &mut rng);
    bench("barabasi-albert m=4", n, &edges, false);
    let dir = std::env::var_os("WALKDB_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"))
        });
    let path = dir.join("wordnet30.tsv");
    let path = path.to_string_lossy();
    match load_wordnet(&path) {
        Some((nodes, edges)) => {
            bench("wordnet30", nodes, &edges, false);
            bench("wordnet30", nodes, &edges, true);
        }
        None => println!("{path} not found: WordNet figures skipped"),
    }
}
