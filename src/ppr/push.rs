//! Forward push (Andersen, Chung and Lang 2006) in the leaky form of `shared/PPR-NOTES.md`.
//!
//! Invariant, kept after every push: `psi_p = estimate + sum_v residual(v) * psi_v`, where
//! `psi_v` is the leaky PPR vector of a walk started at `v` (entries >= 0, L1 norm <= 1). So the
//! L1 error of `estimate` as an approximation of `psi_p` is at most `sum_v residual(v)`, and the
//! walk index (FORA) can replace each remaining `residual(v) * psi_v` by walks started at `v`.
//!
//! Threshold: a node `v` is pushed while `residual(v) > r_max * max(degree(v), 1)`, where
//! `degree` counts walkable links (not weights). Degree-relative thresholds are what FORA's
//! cost analysis and the walk index (walks per node proportional to degree) assume; using link
//! counts rather than weight sums keeps `r_max` meaningful when weights are SemCor counts.

use super::PprWorkspace;
use crate::graph::{Adjacency, CsrGraph, NodeId};

/// The outcome of a forward push: sparse estimate and residual, and the certified error bound.
#[derive(Clone, Debug, PartialEq)]
pub struct PushResult {
    /// Non-zero entries of the estimate of the (unnormalised, leaky) `psi`, sorted by node id.
    pub estimate: Vec<(NodeId, f64)>,
    /// Non-zero remaining residuals, sorted by node id: the mass still to be spread by walks.
    pub residual: Vec<(NodeId, f64)>,
    /// `sum_v residual(v)`: an upper bound on the L1 error of `estimate` against `psi`.
    pub error_bound: f64,
    /// Number of push operations performed (a cost measure for tuning `r_max`).
    pub pushes: u64,
}

/// Statistics of a push run that left its vectors in the workspace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PushStats {
    /// Sum of the remaining residuals.
    pub(crate) residual_sum: f64,
    /// Sum of the estimate entries.
    pub(crate) estimate_sum: f64,
    /// Number of pushes.
    pub(crate) pushes: u64,
    /// Link visits (each push costs its node's links plus one).
    pub(crate) work: u64,
}

/// Adds `reset` to the residuals, listing every node reached for the first time in
/// `ws.touched`. Entries with weight <= 0 are ignored.
pub(crate) fn seed_residuals(reset: &[(NodeId, f64)], ws: &mut PprWorkspace) {
    for &(v, mass) in reset {
        let i = v as usize;
        if mass <= 0.0 {
            continue;
        }
        if ws.estimate[i] == 0.0 && ws.residual[i] == 0.0 {
            ws.touched.push(v);
        }
        ws.residual[i] += mass;
    }
}

/// What one [`fifo_push`] run did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FifoOutcome {
    /// Link visits (each push costs its node's links plus one).
    pub(crate) work: u64,
    /// Push operations.
    pub(crate) pushes: u64,
    /// False when `budget` ran out first (the queue is then left empty and unflagged).
    pub(crate) finished: bool,
}

/// The FIFO push every method shares, resumable: queues each touched node whose residual is
/// above `threshold(v)`, then pushes until none is or `budget` link visits are spent. A push
/// of `v` moves `alpha r(v)` into its estimate and spreads `(1 - alpha) r(v)` over its links by
/// weight (at a dangling node that part leaks away). Nodes reached for the first time are
/// listed in `ws.touched` exactly once, also over parallel links.
pub(crate) fn fifo_push(
    graph: &CsrGraph,
    alpha: f64,
    threshold: impl Fn(NodeId) -> f64,
    budget: u64,
    ws: &mut PprWorkspace,
) -> FifoOutcome {
    let follow = 1.0 - alpha;
    let PprWorkspace {
        estimate,
        residual,
        flags,
        touched,
        queue,
        ..
    } = ws;
    // As slices: their pointers and lengths then stay in registers across `touched.push`.
    let (estimate, residual, flags) = (
        estimate.as_mut_slice(),
        residual.as_mut_slice(),
        flags.as_mut_slice(),
    );
    for &v in touched.iter() {
        let i = v as usize;
        if !flags[i] && residual[i] > threshold(v) {
            flags[i] = true;
            queue.push_back(v);
        }
    }
    let mut outcome = FifoOutcome {
        work: 0,
        pushes: 0,
        finished: true,
    };
    while let Some(v) = queue.pop_front() {
        let i = v as usize;
        flags[i] = false;
        if outcome.work >= budget {
            // Out of budget: drain the queue; the caller carries the residual on.
            while let Some(u) = queue.pop_front() {
                flags[u as usize] = false;
            }
            outcome.finished = false;
            break;
        }
        let rv = residual[i];
        // Negative zero: "pushed, nothing left", so that the first-touch test below needs
        // no second read of the estimate for a node already listed.
        residual[i] = -0.0;
        estimate[i] += alpha * rv;
        let (targets, weights) = graph.link_slices(v);
        outcome.pushes += 1;
        outcome.work += targets.len() as u64 + 1;
        let weight_sum = graph.weight_sum(v);
        if weight_sum <= 0.0 {
            continue; // dangling: the walk dies here, (1 - alpha) r(v) leaks away
        }
        let scale = follow * rv / weight_sum;
        for (&x, &w) in targets.iter().zip(weights) {
            let j = x as usize;
            let amount = scale * w;
            if amount <= 0.0 {
                continue; // underflow: nothing moves, and nothing may be listed twice
            }
            // Listed on its first mass; parallel links find it non-zero the second time. A
            // pushed node's residual is positive or `-0.0` (never `+0.0` again: adding a
            // positive amount to `-0.0` gives that amount), so only a `+0.0` residual asks the
            // estimate whether the node was ever reached.
            if residual[j].to_bits() == 0 && estimate[j] == 0.0 {
                touched.push(x);
            }
            residual[j] += amount;
            if !flags[j] && residual[j] > threshold(x) {
                flags[j] = true;
                queue.push_back(x);
            }
        }
    }
    outcome
}

/// Pushes from `reset` until every residual is below its threshold, leaving `estimate` and
/// `residual` in the workspace and every touched node in `ws.touched`. The caller must clear
/// the workspace with [`PprWorkspace::clear_touched`].
pub(crate) fn push_in_workspace(
    graph: &CsrGraph,
    reset: &[(NodeId, f64)],
    alpha: f64,
    r_max: f64,
    ws: &mut PprWorkspace,
) -> PushStats {
    ws.ensure(graph.node_count());
    seed_residuals(reset, ws);
    let threshold = |v: NodeId| r_max * (graph.degree(v).max(1) as f64);
    let outcome = fifo_push(graph, alpha, threshold, u64::MAX, ws);
    let mut residual_sum = 0.0;
    let mut estimate_sum = 0.0;
    for &v in ws.touched.iter() {
        residual_sum += ws.residual[v as usize];
        estimate_sum += ws.estimate[v as usize];
    }
    PushStats {
        residual_sum,
        estimate_sum,
        pushes: outcome.pushes,
        work: outcome.work,
    }
}

/// Forward push from an arbitrary non-negative reset vector (it need not sum to 1: `psi` is
/// linear in it, which is what FORA relies on when it pushes from residuals).
///
/// `r_max` is relative to degree (see the module docs); smaller is more accurate and slower,
/// and the work is O(1 / (alpha * r_max)) pushes' worth of links at most. Entries of `reset` with
/// weight <= 0 are ignored; node ids must be `< graph.node_count()` (checked by the query layer,
/// here a violation panics on the index). The workspace is left clean.
pub fn forward_push(
    graph: &CsrGraph,
    reset: &[(NodeId, f64)],
    alpha: f64,
    r_max: f64,
    ws: &mut PprWorkspace,
) -> PushResult {
    let stats = push_in_workspace(graph, reset, alpha, r_max, ws);
    ws.touched.sort_unstable();
    let mut estimate = Vec::new();
    let mut residual = Vec::new();
    for &v in &ws.touched {
        let e = ws.estimate[v as usize];
        let r = ws.residual[v as usize];
        if e > 0.0 {
            estimate.push((v, e));
        }
        if r > 0.0 {
            residual.push((v, r));
        }
    }
    ws.clear_touched();
    PushResult {
        estimate,
        residual,
        error_bound: stats.residual_sum,
        pushes: stats.pushes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Edge;

    fn edge(src: NodeId, dst: NodeId, weight: f64) -> Edge {
        Edge {
            src,
            rel: 0,
            dst,
            weight,
        }
    }

    #[test]
    fn invariant_holds_on_a_tiny_graph() {
        // 0 -> 1 -> 2 (dangling); with r_max = 0.9 only node 0 (residual 1 > 0.9) is pushed.
        let g = CsrGraph::from_edges(3, &[edge(0, 1, 1.0), edge(1, 2, 1.0)], false);
        let mut ws = PprWorkspace::new();
        let r = forward_push(&g, &[(0, 1.0)], 0.2, 0.9, &mut ws);
        assert_eq!(r.estimate, vec![(0, 0.2)]);
        assert_eq!(r.residual, vec![(1, 0.8)]);
        assert!((r.error_bound - 0.8).abs() < 1e-15);
        // With a tiny threshold everything is pushed: psi = (0.2, 0.16, 0.128) and the rest
        // (0.512) leaks at the dangling node 2.
        let r = forward_push(&g, &[(0, 1.0)], 0.2, 1e-12, &mut ws);
        assert_eq!(r.residual, vec![]);
        let want = [0.2, 0.16, 0.128];
        for (v, e) in r.estimate {
            assert!((e - want[v as usize]).abs() < 1e-15);
        }
        assert!(ws.is_clean());
    }
}
