//! Test support shared by the unit tests and `tests/walk_index_stats.rs` (which includes this
//! file with `#[path]`): a mutable graph model that emits the changes the database would send,
//! random operation streams, and the exact statistical check of an index against its graph.
//! Uses only the public API so both kinds of test can compile it.
#![allow(dead_code, unreachable_pub, clippy::needless_range_loop)]

use crate::graph::{Adjacency, CsrGraph, Edge, NodeId};
use crate::rng::Rng;
use crate::walks::{NodeChange, WalkIndex};
use std::collections::BTreeMap;

/// A graph kept as one weighted edge per node pair (undirected pairs keyed `(min, max)`).
#[derive(Clone, Debug)]
pub struct GraphModel {
    pub node_count: usize,
    pub undirected: bool,
    pub edges: BTreeMap<(NodeId, NodeId), f64>,
}

impl GraphModel {
    pub fn random(
        node_count: usize,
        n_edges: usize,
        undirected: bool,
        rng: &mut Rng,
    ) -> GraphModel {
        let mut g = GraphModel {
            node_count,
            undirected,
            edges: BTreeMap::new(),
        };
        let n_edges = n_edges.min(g.max_pairs());
        while g.edges.len() < n_edges {
            let (s, d) = g.random_pair(rng);
            g.edges.insert((s, d), random_weight(rng));
        }
        g
    }

    /// Number of distinct pairs a graph of this size can hold (self-loops excluded).
    fn max_pairs(&self) -> usize {
        let n = self.node_count;
        if self.undirected {
            n * n.saturating_sub(1) / 2
        } else {
            n * n.saturating_sub(1)
        }
    }

    fn random_pair(&self, rng: &mut Rng) -> (NodeId, NodeId) {
        loop {
            let s = rng.below(self.node_count as u64) as NodeId;
            let d = rng.below(self.node_count as u64) as NodeId;
            if s != d {
                return if self.undirected {
                    (s.min(d), s.max(d))
                } else {
                    (s, d)
                };
            }
        }
    }

    pub fn csr(&self) -> CsrGraph {
        let edges: Vec<Edge> = self
            .edges
            .iter()
            .map(|(&(src, dst), &weight)| Edge {
                src,
                rel: 0,
                dst,
                weight,
            })
            .collect();
        CsrGraph::from_edges(self.node_count, &edges, self.undirected)
    }

    /// Nodes whose links change when pair `(s, d)` changes.
    fn touched(&self, s: NodeId, d: NodeId) -> Vec<NodeId> {
        if self.undirected {
            vec![s, d]
        } else {
            vec![s]
        }
    }

    /// One random insert, weight change or delete; returns the touched nodes. Keeps the edge
    /// count near `target_edges`, so nodes keep becoming dangling and regaining links.
    pub fn random_op(&mut self, rng: &mut Rng, target_edges: usize) -> Vec<NodeId> {
        let n = self.edges.len();
        let roll = rng.next_f64();
        let insert = n == 0 || (roll < 0.4 && n < 2 * target_edges) || n < target_edges / 2;
        if insert && n < self.max_pairs() {
            let (s, d) = loop {
                let p = self.random_pair(rng);
                if !self.edges.contains_key(&p) {
                    break p;
                }
            };
            self.edges.insert((s, d), random_weight(rng));
            return self.touched(s, d);
        }
        let k = rng.below(n as u64) as usize;
        let Some((&(s, d), _)) = self.edges.iter().nth(k) else {
            return Vec::new();
        };
        if roll < 0.7 {
            // Weight change, raising or lowering.
            self.edges.insert((s, d), random_weight(rng));
        } else {
            self.edges.remove(&(s, d));
        }
        self.touched(s, d)
    }
}

pub fn random_weight(rng: &mut Rng) -> f64 {
    0.25 + 3.0 * rng.next_f64()
}

/// The changes the database would send for `nodes` between two snapshots.
pub fn changes(before: &CsrGraph, after: &CsrGraph, nodes: &[NodeId]) -> Vec<NodeChange> {
    let mut nodes = nodes.to_vec();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
        .iter()
        .map(|&u| NodeChange::between(before, after, u))
        .collect()
}

/// Applies `n_ops` random operations (some transactions carry several) through `apply`,
/// calling `after_each` with the index and graph after each transaction.
pub fn run_random_ops(
    index: &mut WalkIndex,
    model: &mut GraphModel,
    n_ops: usize,
    seed: u64,
    mut after_each: impl FnMut(&WalkIndex, &CsrGraph),
) -> CsrGraph {
    let mut rng = Rng::new(seed);
    let target_edges = model.edges.len().max(4);
    let mut graph = model.csr();
    let mut done = 0;
    let mut lsn = 1000;
    while done < n_ops {
        let ops_in_txn = if rng.bernoulli(0.15) {
            2 + rng.below(2) as usize
        } else {
            1
        };
        let mut touched = Vec::new();
        for _ in 0..ops_in_txn {
            touched.extend(model.random_op(&mut rng, target_edges));
        }
        done += ops_in_txn;
        let next = model.csr();
        let delta = changes(&graph, &next, &touched);
        lsn += 1;
        if let Err(e) = index.apply(&next, &delta, lsn) {
            panic!("apply failed at lsn {lsn}: {e}");
        }
        graph = next;
        after_each(index, &graph);
    }
    graph
}

/// Pair weights and weight sums of a graph.
fn pairs_of(graph: &CsrGraph) -> Vec<BTreeMap<NodeId, f64>> {
    (0..graph.node_count() as NodeId)
        .map(|u| {
            let mut m = BTreeMap::new();
            for l in graph.links(u) {
                *m.entry(l.target).or_insert(0.0) += l.weight;
            }
            m
        })
        .collect()
}

/// Upper `p = 1e-6` quantile of chi-square with `df` degrees of freedom (Wilson-Hilferty).
pub fn chi2_critical_1e6(df: usize) -> f64 {
    let z = 4.753_424; // upper 1e-6 quantile of the standard normal
    let k = df.max(1) as f64;
    let c = 2.0 / (9.0 * k);
    k * (1.0 - c + z * c.sqrt()).powi(3)
}

/// Pearson's statistic of observed vs expected counts per bin: bins expected below 5 are
/// pooled; an observation in a bin of expectation 0 is reported as an impossible event.
/// Returns `(statistic, degrees of freedom)`.
pub fn pearson(bins: &[(f64, f64)], what: &str) -> Result<(f64, usize), String> {
    let mut stat = 0.0;
    let mut df = 0usize;
    let (mut pooled_e, mut pooled_o) = (0.0, 0.0);
    for &(expected, observed) in bins {
        if expected <= 1e-12 {
            if observed > 0.0 {
                return Err(format!(
                    "{what}: {observed} observations where none are possible"
                ));
            }
            continue;
        }
        if expected < 5.0 {
            pooled_e += expected;
            pooled_o += observed;
            continue;
        }
        stat += (observed - expected).powi(2) / expected;
        df += 1;
    }
    if pooled_e > 0.0 {
        stat += (pooled_o - pooled_e).powi(2) / pooled_e;
        df += 1;
    }
    Ok((stat, df.saturating_sub(1)))
}

/// Compares the walks of `index` with the exact leaky-walk distribution on `graph`, given the
/// index's own walk counts per start node: per depth `j < depths`, the pair `(u, v)` of step
/// `j` (or "ended before"), and the walk length with its end kind. Each is a sum of
/// independent categorical draws (one per walk), so Pearson's statistic is at most
/// chi-square distributed; it must stay below the `p = 1e-6` critical value.
pub fn statistical_check(
    index: &WalkIndex,
    graph: &CsrGraph,
    depths: usize,
) -> Result<String, String> {
    let alpha = index.params().alpha;
    let n = graph.node_count();
    let pairs = pairs_of(graph);
    let wsum: Vec<f64> = (0..n as NodeId).map(|u| graph.weight_sum(u)).collect();
    let max_len = 40usize;
    // x[j][u]: expected number of walks at u at position j (alive).
    let mut x = vec![(0..n as NodeId)
        .map(|u| index.walk_count_from(u).unwrap_or(0) as f64)
        .collect::<Vec<_>>()];
    for j in 0..max_len {
        let mut next = vec![0.0; n];
        for u in 0..n {
            if wsum[u] > 0.0 {
                for (&v, &a) in &pairs[u] {
                    next[v as usize] += x[j][u] * (1.0 - alpha) * a / wsum[u];
                }
            }
        }
        x.push(next);
    }
    let total: f64 = x[0].iter().sum();
    // Observations.
    let mut step_obs: Vec<BTreeMap<(NodeId, NodeId), f64>> = vec![BTreeMap::new(); depths];
    let mut ended_obs = vec![0.0; depths];
    let mut len_obs: BTreeMap<(usize, bool), f64> = BTreeMap::new();
    for id in 0..index.slot_count() as u32 {
        let Some(w) = index.walk(id).map_err(|e| e.to_string())? else {
            continue;
        };
        for (j, ended) in ended_obs.iter_mut().enumerate() {
            if j + 1 < w.nodes.len() {
                *step_obs[j]
                    .entry((w.nodes[j], w.nodes[j + 1]))
                    .or_insert(0.0) += 1.0;
            } else {
                *ended += 1.0;
            }
        }
        let died = w.end == crate::walks::WalkEnd::Died;
        let key = if w.nodes.len() <= max_len {
            (w.nodes.len(), died)
        } else {
            (0, false)
        };
        *len_obs.entry(key).or_insert(0.0) += 1.0;
    }
    let mut report = String::new();
    for j in 0..depths {
        let mut bins = Vec::new();
        let mut moves = 0.0;
        for u in 0..n {
            if wsum[u] > 0.0 {
                for (&v, &a) in &pairs[u] {
                    let e = x[j][u] * (1.0 - alpha) * a / wsum[u];
                    moves += e;
                    bins.push((e, step_obs[j].remove(&(u as NodeId, v)).unwrap_or(0.0)));
                }
            }
        }
        for (&(u, v), &o) in &step_obs[j] {
            bins.push((0.0, o));
            let _ = (u, v);
        }
        bins.push((total - moves, ended_obs[j]));
        let (stat, df) = pearson(&bins, &format!("step {j}"))?;
        let crit = chi2_critical_1e6(df);
        report += &format!("step {j}: chi2 {stat:.1} df {df} crit {crit:.1}\n");
        if stat > crit {
            return Err(format!(
                "step {j}: chi-square {stat:.1} > {crit:.1} (df {df})"
            ));
        }
    }
    let mut bins = Vec::new();
    let mut listed = 0.0;
    for j in 0..max_len {
        let alive: f64 = x[j].iter().sum();
        let dangling: f64 = (0..n).filter(|&u| wsum[u] <= 0.0).map(|u| x[j][u]).sum();
        let stopped = alpha * alive;
        let died = (1.0 - alpha) * dangling;
        listed += stopped + died;
        bins.push((stopped, len_obs.remove(&(j + 1, false)).unwrap_or(0.0)));
        bins.push((died, len_obs.remove(&(j + 1, true)).unwrap_or(0.0)));
    }
    bins.push((total - listed, len_obs.remove(&(0, false)).unwrap_or(0.0)));
    let (stat, df) = pearson(&bins, "length")?;
    let crit = chi2_critical_1e6(df);
    report += &format!("length: chi2 {stat:.1} df {df} crit {crit:.1}\n");
    if stat > crit {
        return Err(format!(
            "walk length: chi-square {stat:.1} > {crit:.1} (df {df})"
        ));
    }
    Ok(report)
}
