//! Certified top-k: forward push refined until the answer provably meets an [`Accuracy`]
//! target, on any graph, with no constant fitted to one.
//!
//! # Bounds
//! Push keeps `psi = est + sum_v r(v) psi_v` with `r >= 0`, `psi_v >= 0` and `|psi_v| <= 1`
//! (`shared/PPR-NOTES.md`), so the part still missing at a node `t`,
//! `y(t) = sum_v r(v) psi_v(t)`, lies in `[0, err(t)]` with
//!
//! * `err(t) = R = sum_v r(v)` on any graph, and
//! * `err(t) = min(R, W(t) rho)`, `rho = max_v r(v) / W(v)`, on a symmetric (undirected)
//!   graph: reversibility gives `psi_v(t) = W(t) psi_t(v) / W(v)`, so
//!   `y(t) = W(t) sum_v (r(v) / W(v)) psi_t(v) <= W(t) rho |psi_t| <= W(t) rho`.
//!   Low-degree nodes are then certified long before hubs.
//!
//! The reported scores are `pi = psi / |psi|`. When no walk can die (every link leads to a node
//! with links, always so in undirected mode) `|psi| = M = sum_s p(s) (1 or alpha)` is known
//! exactly and `pi(t) in [est(t) / M, (est(t) + err(t)) / M]`. Otherwise `|psi|` lies in
//! `[E, E + R]` (`E = sum est`) and, since `|psi| >= E + (psi(t) - est(t))`,
//! `pi(t) in [est(t) / (E + R), (est(t) + err(t)) / (E + err(t))]`.
//!
//! A returned score is the midpoint of its interval, so its error is at most half the width.
//! The returned set is the exact top-k when the k-th lower bound is at least every other
//! node's upper bound (nodes never reached are bounded by the largest `W`, or by `R`).
//! Structurally equivalent nodes have equal scores and can never be separated; the set is then
//! certified up to ties: every node whose interval straddles the boundary is known to within
//! [`Accuracy::tie_tolerance`].
//!
//! # Refinement
//! Each round lowers the degree-relative push threshold (by the factor the widest returned
//! interval asks for, 2x to 16x) and resumes the push from where it stopped: the invariant
//! holds for any residual vector, so no work is repeated. Once the push has done a full sweep's
//! worth of link work, the frontier is the whole graph and sweeps in node order (the global
//! phase of SpeedPPR's power push) take over. They are over-relaxed with the exact solver's
//! factor (residuals may then be negative, and the bounds use `|r|`), falling back to plain
//! Gauss-Seidel, which shrinks `R` by at least `1 - alpha` per sweep, if they stall; so the
//! loop ends on every graph, at the latest when the intervals are narrower than the tie
//! tolerance.

use super::exact::{sor_push_node, Relaxation};
use super::push::{fifo_push, seed_residuals};
use super::{Accuracy, Guarantee, PprWorkspace, TopKGuarantee};
use crate::graph::{Adjacency, CsrGraph, NodeId};

/// Safety cap on sweeps; at alpha >= 0.01 a sweep shrinks the residual by 1%, so 5,000 sweeps
/// take it below 1e-21 of its start, far past any tie tolerance. Reaching the cap means a
/// restart probability so small that the answer is reported with its (uncertified) bounds.
const MAX_SWEEPS: u32 = 5_000;

/// A certified answer: the top-k by estimate and what is proven about it.
#[derive(Clone, Debug)]
pub(crate) struct Certified {
    /// `(node, score)`, best first; scores are interval midpoints.
    pub(crate) top: Vec<(NodeId, f64)>,
    /// What the answer guarantees.
    pub(crate) guarantee: Guarantee,
    /// Link visits spent (the cost measure of the planner and the benchmarks).
    pub(crate) work: u64,
}

/// One candidate with its certified interval on `pi`.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    mid: f64,
    lo: f64,
    hi: f64,
    node: NodeId,
}

/// The quantities the per-node bounds are computed from, for one state of the push.
#[derive(Clone, Copy, Debug)]
struct Bounds {
    /// `R`: sum of residuals.
    residual_sum: f64,
    /// `E`: sum of estimates.
    estimate_sum: f64,
    /// `rho` (symmetric graphs only, else infinite).
    rho: f64,
    /// `|psi|` when it is known exactly.
    mass: Option<f64>,
    /// Residuals may be negative (after over-relaxed sweeps): `R` and `rho` are then taken
    /// over `|r|`, and the missing mass lies in `[-err(t), err(t)]`.
    signed: bool,
}

impl Bounds {
    /// A lower bound on the half-width of every interval, known without looking at nodes:
    /// off symmetric graphs every node's missing mass is bounded only by `R`, so each
    /// interval is at least `R / (E + R)` wide (`R / M` when the mass is known). On a
    /// symmetric graph low-degree nodes can be far narrower: 0.
    fn min_half_width(&self, graph: &CsrGraph) -> f64 {
        if graph.is_symmetric() {
            return 0.0;
        }
        let r = self.residual_sum;
        let width = match self.mass {
            Some(m) => r / m,
            None => r / (self.estimate_sum + r),
        };
        0.5 * width
    }

    /// The interval of `pi(t)` for a node with estimate `est` and weight sum `w`.
    fn interval(&self, est: f64, w: f64) -> (f64, f64) {
        let r = self.residual_sum;
        let err = r.min(w * self.rho);
        let (lo, hi) = match self.mass {
            Some(m) if self.signed => ((est - err).max(0.0) / m, (est + err) / m),
            Some(m) => (est / m, (est + err) / m),
            None if self.signed => {
                let e = self.estimate_sum;
                let lo = (est - err).max(0.0) / (e + r);
                let hi = if e > r { (est + err) / (e - r) } else { 1.0 };
                (lo, hi)
            }
            None => {
                let e = self.estimate_sum;
                let lo = if e + r > 0.0 { est / (e + r) } else { 0.0 };
                let hi = if e + err > 0.0 {
                    (est + err) / (e + err)
                } else {
                    1.0
                };
                (lo, hi)
            }
        };
        (lo.clamp(0.0, 1.0), hi.clamp(0.0, 1.0))
    }
}

/// The outcome of checking one state.
struct Check {
    top: Vec<(NodeId, f64)>,
    /// Largest half-width among the returned scores.
    score_error: f64,
    /// The set is separated from every other node.
    separated: bool,
    /// Every node straddling the boundary is known to within the tie tolerance.
    ties_only: bool,
}

/// Answers the top-`k` of the (normalised) `seeds` to `accuracy`, leaving the workspace clean.
/// `passes` selects the nodes that may be ranked.
pub(crate) fn certified_top_k(
    graph: &CsrGraph,
    seeds: &[(NodeId, f64)],
    alpha: f64,
    k: usize,
    passes: &dyn Fn(NodeId) -> bool,
    accuracy: &Accuracy,
    ws: &mut PprWorkspace,
) -> Certified {
    let n = graph.node_count();
    ws.ensure(n);
    let mass = graph.walks_never_die().then(|| {
        seeds
            .iter()
            .map(|&(s, p)| {
                if graph.weight_sum(s) > 0.0 {
                    p
                } else {
                    alpha * p
                }
            })
            .sum::<f64>()
    });
    seed_residuals(seeds, ws);
    // A sweep's worth of link work: past it, the push's frontier is global and node-order
    // sweeps are the cheaper way on (SpeedPPR).
    let push_budget = (graph.link_count() + n) as u64;
    let mut r_max = if accuracy.max_error.is_finite() {
        accuracy.max_error
    } else {
        // Set-only certification: start where a score error of 1e-4 would.
        1e-4
    };
    let mut work = 0u64;
    let mut sweeps = 0u32;
    let mut dense = false;
    let mut relaxation = Relaxation::new(graph, alpha);
    let mut previous_r = f64::INFINITY;
    let mut checked_r = f64::INFINITY;
    let mut candidates: Vec<Candidate> = Vec::new();
    loop {
        if dense {
            work += sweep(graph, alpha, relaxation.omega, ws);
            sweeps += 1;
        } else {
            let threshold = |v: NodeId| threshold(graph, v, r_max);
            let budget = push_budget.saturating_sub(work);
            let outcome = fifo_push(graph, alpha, threshold, budget, ws);
            work += outcome.work;
            if !outcome.finished {
                make_dense(n, ws);
                dense = true;
            }
        }
        let bounds = bounds(graph, mass, dense, ws);
        // The last round answers with whatever it proves.
        let last = sweeps >= MAX_SWEEPS || bounds.residual_sum <= 0.0;
        if dense {
            relaxation.observe(previous_r, bounds.residual_sum);
            previous_r = bounds.residual_sum;
            // The full check costs a pass over every node plus a selection: in the sweep
            // phase run it only once the residual has shrunk 4x since the last one (the
            // intervals scale with it), or at the end.
            if !last && bounds.residual_sum > checked_r / 4.0 {
                continue;
            }
            checked_r = bounds.residual_sum;
        }
        let floor = bounds.min_half_width(graph);
        if !last && floor > accuracy.max_error {
            // No returned score can be within the target yet: skip the full check (a pass
            // over every touched node plus a selection) and refine by what the floor asks.
            if !dense {
                r_max /= (1.2 * floor / accuracy.max_error).clamp(2.0, 16.0);
            }
            continue;
        }
        let check = check(graph, &bounds, k, passes, accuracy, n, ws, &mut candidates);
        let set_ok = !accuracy.certify_top_k || check.separated || check.ties_only;
        let done = check.score_error <= accuracy.max_error && set_ok;
        if done || last {
            let top_k = if check.separated {
                TopKGuarantee::Exact
            } else if check.ties_only {
                TopKGuarantee::UpToTies(accuracy.tie_tolerance)
            } else {
                TopKGuarantee::None
            };
            ws.clear_touched();
            return Certified {
                top: check.top,
                guarantee: Guarantee {
                    max_error: check.score_error,
                    top_k,
                    failure_probability: 0.0,
                },
                work,
            };
        }
        let factor = if check.score_error > accuracy.max_error {
            (1.2 * check.score_error / accuracy.max_error).clamp(2.0, 16.0)
        } else {
            4.0
        };
        r_max /= factor;
    }
}

/// The push threshold of `v`: relative to its link count, and 0 at a dangling node (pushing
/// it costs nothing and leaves no residual that the bounds would have to carry).
#[inline]
fn threshold(graph: &CsrGraph, v: NodeId, r_max: f64) -> f64 {
    let degree = graph.degree(v);
    if degree == 0 {
        0.0
    } else {
        r_max * degree as f64
    }
}

/// Lists every node as touched, for the sweep phase (which may reach any of them).
fn make_dense(n: usize, ws: &mut PprWorkspace) {
    ws.touched.clear();
    ws.touched.extend(0..n as NodeId);
}

/// One over-relaxed sweep in node order (the exact solver's factor, see
/// `exact::sor_factor`): every node with a residual moves `omega r(v)`, which may leave
/// negative residuals; the bounds then use `|r|`.
fn sweep(graph: &CsrGraph, alpha: f64, omega: f64, ws: &mut PprWorkspace) -> u64 {
    let n = graph.node_count();
    let mut work = 0u64;
    for v in 0..n {
        if ws.residual[v] != 0.0 {
            sor_push_node(graph, v, alpha, omega, &mut ws.estimate, &mut ws.residual);
            work += graph.degree(v as NodeId) as u64 + 1;
        }
    }
    work + n as u64
}

/// `R`, `E` and `rho` of the current state.
fn bounds(graph: &CsrGraph, mass: Option<f64>, signed: bool, ws: &PprWorkspace) -> Bounds {
    let mut residual_sum = 0.0;
    let mut estimate_sum = 0.0;
    let mut rho: f64 = 0.0;
    for &v in &ws.touched {
        let i = v as usize;
        let r = ws.residual[i].abs();
        residual_sum += r;
        estimate_sum += ws.estimate[i];
        if r > 0.0 {
            let w = graph.weight_sum(v);
            // Dangling nodes are always pushed, so a residual sits only where w > 0.
            if w > 0.0 {
                rho = rho.max(r / w);
            }
        }
    }
    Bounds {
        residual_sum,
        estimate_sum,
        rho: if graph.is_symmetric() {
            rho
        } else {
            f64::INFINITY
        },
        mass,
        signed,
    }
}

/// Picks the top-`k` by interval midpoint and checks what the intervals prove about it.
#[allow(clippy::too_many_arguments)]
fn check(
    graph: &CsrGraph,
    bounds: &Bounds,
    k: usize,
    passes: &dyn Fn(NodeId) -> bool,
    accuracy: &Accuracy,
    n: usize,
    ws: &PprWorkspace,
    candidates: &mut Vec<Candidate>,
) -> Check {
    candidates.clear();
    for &v in &ws.touched {
        if !passes(v) {
            continue;
        }
        let (lo, hi) = bounds.interval(ws.estimate[v as usize], graph.weight_sum(v));
        if hi > 0.0 {
            candidates.push(Candidate {
                mid: 0.5 * (lo + hi),
                lo,
                hi,
                node: v,
            });
        }
    }
    let order = |a: &Candidate, b: &Candidate| b.mid.total_cmp(&a.mid).then(a.node.cmp(&b.node));
    if candidates.len() > k && k > 0 {
        candidates.select_nth_unstable_by(k - 1, order);
    }
    let chosen_len = candidates.len().min(k);
    let (chosen, rest) = candidates.split_at_mut(chosen_len);
    chosen.sort_unstable_by(order);
    // Nodes the push never reached: estimate 0, and on a symmetric graph at most the largest
    // weight sum times rho.
    let unreached = if ws.touched.len() < n {
        Some(bounds.interval(0.0, graph.max_weight_sum()).1)
    } else {
        None
    };
    let kth_lo = if chosen_len == k {
        chosen.iter().map(|c| c.lo).fold(f64::INFINITY, f64::min)
    } else {
        0.0
    };
    let rest_hi = rest
        .iter()
        .map(|c| c.hi)
        .chain(unreached)
        .fold(0.0, f64::max);
    let score_error = chosen
        .iter()
        .map(|c| 0.5 * (c.hi - c.lo))
        .fold(0.0, f64::max);
    let separated = kth_lo >= rest_hi;
    let tie = accuracy.tie_tolerance;
    let ties_only = separated
        || (chosen
            .iter()
            .filter(|c| c.lo < rest_hi)
            .all(|c| c.hi - c.lo <= tie)
            && rest
                .iter()
                .filter(|c| c.hi > kth_lo)
                .all(|c| c.hi - c.lo <= tie)
            && unreached.is_none_or(|hi| hi <= kth_lo || hi <= tie));
    Check {
        top: chosen.iter().map(|c| (c.node, c.mid)).collect(),
        score_error,
        separated,
        ties_only,
    }
}
