//! Monte Carlo PPR: leaky random walks generated on the fly, with the visit estimator.
//!
//! A walk starts at a node drawn from the reset distribution; at each node it first records a
//! visit, then stops with probability `alpha`, dies at a dangling node, or else moves along a
//! link chosen with probability `weight / weight_sum` (`shared/PPR-NOTES.md`). For a reset
//! vector of total mass `M`, `X(t) = M * alpha * visits(t)` of one walk is an unbiased estimator
//! of `psi(t)`; the mean over `N` independent walks has standard error `sd(X(t)) / sqrt(N)`,
//! which this module reports per node from the per-walk visit counts. This is the building
//! block of the stored-walk index, which stores such walks instead of regenerating them.

use super::PprWorkspace;
use crate::graph::{Adjacency, CsrGraph, NodeId};
use crate::rng::Rng;

/// One node's Monte Carlo estimate of the unnormalised `psi`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonteCarloEstimate {
    /// The node.
    pub node: NodeId,
    /// Mean of the visit estimator over all walks: an unbiased estimate of `psi(node)`.
    pub psi: f64,
    /// Standard error of `psi`, from the sample variance of the per-walk estimator.
    pub std_error: f64,
}

/// The outcome of a Monte Carlo run.
#[derive(Clone, Debug, PartialEq)]
pub struct WalkResult {
    /// Estimates for every visited node, sorted by node id.
    pub estimates: Vec<MonteCarloEstimate>,
    /// Estimated `|psi|` (sum of the `psi` estimates): divide by it to get `pi`.
    pub mass: f64,
    /// Number of walks run.
    pub walks: u64,
    /// Total number of visits (a cost measure: the expected visits per walk are at most
    /// `1 / alpha`).
    pub visits: u64,
}

/// Takes one step of a walk at `u`: `None` if it stops or dies, else the next node.
#[inline]
pub(crate) fn step(graph: &CsrGraph, u: NodeId, alpha: f64, rng: &mut Rng) -> Option<NodeId> {
    if rng.bernoulli(alpha) {
        return None;
    }
    let weight_sum = graph.weight_sum(u);
    if weight_sum <= 0.0 {
        return None;
    }
    let (targets, weights) = graph.link_slices(u);
    let mut pick = rng.next_f64() * weight_sum;
    for (&x, &w) in targets.iter().zip(weights) {
        if pick < w {
            return Some(x);
        }
        pick -= w;
    }
    // Rounding can leave `pick` a hair above the last weight: that draw belongs to the last link.
    targets.last().copied()
}

/// Runs `walks` leaky walks from `reset` (non-negative weights, any total mass) and returns the
/// visit-estimator means and standard errors. Deterministic for a given `rng` state. The
/// workspace is left clean.
pub fn monte_carlo(
    graph: &CsrGraph,
    reset: &[(NodeId, f64)],
    alpha: f64,
    walks: u64,
    rng: &mut Rng,
    ws: &mut PprWorkspace,
) -> WalkResult {
    ws.ensure(graph.node_count());
    let starts: Vec<(NodeId, f64)> = reset.iter().copied().filter(|&(_, w)| w > 0.0).collect();
    let mut cumulative = Vec::with_capacity(starts.len());
    let mut total = 0.0;
    for &(_, w) in &starts {
        total += w;
        cumulative.push(total);
    }
    if starts.is_empty() || walks == 0 {
        return WalkResult {
            estimates: Vec::new(),
            mass: 0.0,
            walks,
            visits: 0,
        };
    }
    let PprWorkspace {
        estimate: sum,
        residual: sum_sq,
        counts,
        touched,
        walk_nodes,
        ..
    } = ws;
    let mut visits = 0u64;
    for _ in 0..walks {
        let draw = rng.next_f64() * total;
        let idx = cumulative
            .partition_point(|&c| c <= draw)
            .min(starts.len() - 1);
        let mut u = starts[idx].0;
        loop {
            let i = u as usize;
            if counts[i] == 0 {
                walk_nodes.push(u);
            }
            counts[i] += 1;
            visits += 1;
            match step(graph, u, alpha, rng) {
                Some(next) => u = next,
                None => break,
            }
        }
        for &v in walk_nodes.iter() {
            let i = v as usize;
            let c = f64::from(counts[i]);
            if sum[i] == 0.0 {
                touched.push(v);
            }
            sum[i] += c;
            sum_sq[i] += c * c;
            counts[i] = 0;
        }
        walk_nodes.clear();
    }
    touched.sort_unstable();
    let n_walks = walks as f64;
    let scale = total * alpha;
    let mut mass = 0.0;
    let estimates = touched
        .iter()
        .map(|&v| {
            let i = v as usize;
            let mean = sum[i] / n_walks;
            // Unbiased sample variance of the per-walk count, then scaled to the estimator.
            let var = if walks > 1 {
                ((sum_sq[i] - n_walks * mean * mean) / (n_walks - 1.0)).max(0.0)
            } else {
                0.0
            };
            mass += scale * mean;
            MonteCarloEstimate {
                node: v,
                psi: scale * mean,
                std_error: scale * (var / n_walks).sqrt(),
            }
        })
        .collect();
    ws.clear_touched();
    WalkResult {
        estimates,
        mass,
        walks,
        visits,
    }
}
