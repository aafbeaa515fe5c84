//! The walk index under the accuracy contract: FORA's forward push plus stored walks, with
//! every score's interval from a Bernstein bound, so the answer states what it guarantees and
//! with which failure probability (the contract's randomized branch).
//!
//! # Estimator
//! After a push, `psi = est + sum_v r(v) psi_v` (`shared/PPR-NOTES.md`). The missing mass at
//! `t`, `y(t) = sum_v r(v) psi_v(t)`, is estimated from the *end points* of stored walks: a
//! residual node `v` with `r(v) >= b` uses `n = ceil(r(v) / b)` of its stored walks (all it has
//! when it stores fewer), each carrying `r(v) / n`; one with `r(v) < b` uses one walk carrying
//! `b` with probability `r(v) / b`, else none. Each walk adds its share at the node it stops at
//! (truncated for a query alpha above the index's), so `X(t)`, the sum of shares ending at `t`,
//! is a sum of independent terms in `[0, b']` (`b'` the largest share a term may carry, fixed
//! before the coins: `b` unless some node ran out of walks) with `E X(t) = y(t)` and
//! `Var X(t) <= b' y(t)`. End points, not visits: a
//! walk's visit count at `t` is unbounded, its end point is an indicator, and Bernstein's
//! inequality needs bounded terms.
//!
//! # Intervals
//! Bernstein: `P(|X - y| >= s) <= 2 exp(-s^2 / (2 (b' y + b' s / 3)))`. With `L = ln(2 n /
//! delta)`, every node at once (a union bound over all `n` nodes, so the returned set, which
//! depends on the draws, is covered too) satisfies `|X - y| < s(y) = a + sqrt(a^2 + 2 L b' y)`,
//! `a = L b' / 3`, except with probability `delta`; solved for `y` ([`bernstein_interval`]),
//! and intersected with the push's sure interval `[0, R]`, `[0, min(R, W(t) rho)]` on a
//! symmetric graph (`certified`'s bounds). When no walk can die the total mass `M = E + R` is known, so `pi(t)` lies in
//! `[(est(t) + y_lo) / M, (est(t) + y_hi) / M]`; otherwise `|psi|` lies in `[E + y(t), E + R]`
//! and `pi(t)` in `[(est(t) + y_lo) / (E + R), (est(t) + y_hi) / (E + y_hi)]`. A returned
//! score is its interval's midpoint, and the set is judged as the certified push judges its
//! intervals, so it is certified when the walks' noise leaves its boundary separated.
//!
//! # Rounds
//! The push starts at the certified push's coarse threshold and halves it while its own
//! bounds do not prove the scores (an answer they prove reads no walk and reports failure
//! probability 0). A round draws the walks and checks; if the scores are not proven it pushes
//! on until the residual is a quarter of what it was and draws again, at most
//! [`MAX_ROUNDS`] times. Round `i` spends failure probability `delta / 2^(i+1)`: whatever round
//! the query stops in, it is covered by the sum over the rounds that could run, which the
//! answer reports. What a round decides before its draws (how far to push, the share `b`) depends
//! on the push alone, never on earlier draws, so the union bound over rounds holds although
//! every round reads the same stored walks. The push is a FIFO push at a degree-relative
//! threshold and, once it has cost a sweep, Gauss-Seidel sweeps in node order (SpeedPPR's power
//! push at `omega = 1`, which keeps every residual non-negative, as the estimator needs).
//!
//! # Parameters, from the target
//! * `b = max_error / (SHARE_DIVISOR L)`: a node no walk reached has interval
//!   `[0, (8/3) L b]`, half-width `(4/3) max_error / SHARE_DIVISOR`.
//! * Walks are first drawn once the push threshold is at most `walks_per_node * b` per link
//!   (or the push has moved on to sweeps), so that after a finished FIFO push no node's
//!   residual needs more walks than it stores
//!   (`r(v) <= b ceil(walks_per_node d(v))`; after sweeps a node may, and its walks then carry
//!   more, which `b'` accounts for), and the walks would cost no more than the push so far
//!   (FORA's balance of the two phases), at [`WALK_COST`] link visits per walk.
//! * A set-only target aims at the default score bound: walks prove scores, not sets.
//!
//! `WALK_COST` and `SHARE_DIVISOR` were measured on an R-MAT graph (32k nodes, 1M links, not
//! one of the accuracy test's families), and neither decides correctness: every answer's
//! guarantee is computed from what it drew.
//!
//! # What it costs
//! Proving an absolute bound `eps` with walks takes about `y / eps^2` walks per unit of
//! missing mass `y` at the top node, and `L b = eps / SHARE_DIVISOR` caps each walk's share, so
//! the walks a round reads number about `SHARE_DIVISOR L R / eps` (`R` the residual left),
//! hundreds of thousands at `R = 0.1`, `eps = 1e-4`; each costs a cache miss or three. The
//! push must first bring the top node's own missing mass near `eps`, where the certified
//! push needs its bound on that mass near `eps`. On the graphs measured the certified push
//! was as fast (WordNet, where both mostly stop at the push's own bounds) or faster (the
//! hub-heavy families) at the same target (README, "PPR queries at the default target"):
//! `Auto` does not use the index.

use super::certified::{judge, Candidate, Certified};
use super::push::{fifo_push, seed_residuals};
use super::{Accuracy, Guarantee, PprWorkspace, DEFAULT_MAX_ERROR};
use crate::graph::{Adjacency, CsrGraph, NodeId};
use crate::rng::Rng;
use crate::walks::{Truncation, WalkEnd, WalkIndex, WalkIndexError};

/// How many link visits one walk's end point costs, for the balance of push and walks: a
/// walk is a start-list entry, a slot offset and one node read, each a likely cache miss,
/// against a sweep's sequential link read (R-MAT, 32k nodes: 44-108 ns per walk, 0.63 ns per
/// sweep link visit, 4.8 ns per FIFO push link visit).
const WALK_COST: f64 = 100.0;

/// How [`index_top_k`] plans its walks: [`Plan::BALANCED`] in queries; tests force the walks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Link visits one walk is taken to cost (0: draw as soon as the walks fit).
    pub(crate) walk_cost: f64,
    /// Whether an answer the push's own bounds prove is returned without walks.
    pub(crate) push_may_prove: bool,
}

impl Plan {
    /// The plan of every query: FORA's balance at [`WALK_COST`], no walk when the push proves
    /// the scores alone.
    pub(crate) const BALANCED: Plan = Plan {
        walk_cost: WALK_COST,
        push_may_prove: true,
    };
}

/// The share divisor: `b = max_error / (SHARE_DIVISOR L)`. Larger spends more walks for
/// intervals that leave more of the error to the nodes the walks reach often (R-MAT, alpha 0.5
/// and 0.15, mean ms at 4 / 8 / 16: 8.2 / 6.8 / 7.4 and 21.9 / 19.2 / 13.9).
const SHARE_DIVISOR: f64 = 16.0;

/// Rounds before the answer is returned with whatever it proves.
const MAX_ROUNDS: u32 = 10;

/// Stream tag of the draws of a guaranteed index query.
const STREAM: u64 = 0x4944_5847; // "IDXG"

/// The Bernstein interval of `y` given `x`, a sum of independent terms in `[0, share]` with
/// mean `y` and variance at most `share * y`, at `ln(1 / tail) = l` per side: the `y` with
/// `|x - y| <= s(y) = a + sqrt(a^2 + 2 l share y)`, `a = l share / 3`. Its upper end solves
/// `y - s(y) = x`, its lower end `y + s(y) = x` (0 when `x <= s(0) = 2a`); squared, each is a
/// quadratic in `y`.
pub(crate) fn bernstein_interval(x: f64, share: f64, l: f64) -> (f64, f64) {
    let a = l * share / 3.0;
    let b = l * share;
    let c_hi = x + a + b;
    let hi = c_hi + (c_hi * c_hi - x * (x + 2.0 * a)).max(0.0).sqrt();
    let lo = if x <= 2.0 * a {
        0.0
    } else {
        // The smaller root as the product of the roots over the larger: no cancellation.
        let c_lo = x - a + b;
        let product = x * (x - 2.0 * a);
        product / (c_lo + (c_lo * c_lo - product).max(0.0).sqrt())
    };
    (lo, hi)
}

/// A query [`index_top_k`] answers: the top-`k` at `alpha` from the stored walks of `index`
/// (served through `truncation`), ranking the nodes that `passes`, to `accuracy`.
#[derive(Clone, Copy)]
pub(crate) struct IndexQuery<'q> {
    pub(crate) graph: &'q CsrGraph,
    pub(crate) alpha: f64,
    pub(crate) k: usize,
    pub(crate) passes: &'q dyn Fn(NodeId) -> bool,
    pub(crate) accuracy: &'q Accuracy,
    pub(crate) index: &'q WalkIndex,
    pub(crate) truncation: Truncation,
    /// Seeds the rounding and truncation draws.
    pub(crate) rng_seed: u64,
    pub(crate) plan: Plan,
}

/// Answers `query` for the (normalised) `seeds`, with failure probability at most
/// `accuracy.failure_probability`; the answer reports what it proved (the last round's, if
/// none proved the target). Leaves `ws` clean.
pub(crate) fn index_top_k(
    query: &IndexQuery<'_>,
    seeds: &[(NodeId, f64)],
    ws: &mut PprWorkspace,
) -> Result<Certified, WalkIndexError> {
    let n = query.graph.node_count();
    ws.ensure(n);
    if ws.walk_mass.len() < n {
        ws.walk_mass.resize(n, 0.0);
    }
    seed_residuals(seeds, ws);
    let result = rounds(query, ws);
    for &t in &ws.walk_touched {
        ws.walk_mass[t as usize] = 0.0;
    }
    ws.walk_touched.clear();
    ws.walk_queue_ids.clear();
    ws.clear_touched();
    result
}

/// The push state of a guaranteed index query: a FIFO push at a degree-relative threshold,
/// then, once it has cost a sweep, plain Gauss-Seidel sweeps in node order (SpeedPPR's
/// power push at `omega = 1`, which keeps every residual non-negative, as the walk estimator
/// needs).
struct PushState {
    r_max: f64,
    dense: bool,
    work: u64,
}

impl PushState {
    /// One refinement step: a push at half the threshold (the first at `r_max` itself), or one
    /// sweep once the pushes have cost a sweep. Returns the residual sum after it.
    fn advance(&mut self, graph: &CsrGraph, alpha: f64, first: bool, ws: &mut PprWorkspace) -> f64 {
        let n = graph.node_count();
        if !self.dense {
            if !first {
                self.r_max /= 2.0;
            }
            let sweep_work = (graph.link_count() + n) as u64;
            let budget = sweep_work.saturating_sub(self.work).max(1);
            let r_max = self.r_max;
            let pushed = fifo_push(graph, alpha, |v| r_max * graph.degree(v) as f64, budget, ws);
            self.work += pushed.work;
            if !pushed.finished {
                self.dense = true;
                ws.touched.clear();
                ws.touched.extend(0..n as NodeId);
                settle_dangling(graph, alpha, ws);
            }
        } else {
            self.work += gauss_seidel_sweep(graph, alpha, ws);
            settle_dangling(graph, alpha, ws);
        }
        ws.touched.iter().map(|&v| ws.residual[v as usize]).sum()
    }
}

/// Pushes the residual of every node without links exactly (`alpha` of it stays, the rest
/// leaks: `psi_v = alpha e_v`), so that every residual sits where stored walks start: an
/// interrupted FIFO push or a sweep (which reaches a node after its turn) can leave some.
fn settle_dangling(graph: &CsrGraph, alpha: f64, ws: &mut PprWorkspace) {
    for v in 0..graph.node_count() {
        let r = ws.residual[v];
        if r != 0.0 && graph.degree(v as NodeId) == 0 {
            ws.residual[v] = 0.0;
            ws.estimate[v] += alpha * r;
        }
    }
}

/// One Gauss-Seidel sweep in node order: every node with a residual pushes all of it.
fn gauss_seidel_sweep(graph: &CsrGraph, alpha: f64, ws: &mut PprWorkspace) -> u64 {
    let mut work = 0u64;
    for v in 0..graph.node_count() {
        if ws.residual[v] > 0.0 {
            super::exact::sor_push_node(graph, v, alpha, 1.0, &mut ws.estimate, &mut ws.residual);
            work += graph.degree(v as NodeId) as u64 + 1;
        }
    }
    work
}

fn rounds(query: &IndexQuery<'_>, ws: &mut PprWorkspace) -> Result<Certified, WalkIndexError> {
    let IndexQuery {
        graph,
        alpha,
        k,
        passes,
        accuracy,
        index,
        truncation,
        rng_seed,
        plan,
    } = *query;
    let n = graph.node_count().max(1) as f64;
    let per_link = index.params().walks_per_node;
    // The walks cannot prove a set without a score bound: a set-only target aims at the
    // default score bound, and the answer says what it proved.
    let eps = if accuracy.max_error.is_finite() {
        accuracy.max_error
    } else {
        DEFAULT_MAX_ERROR
    };
    let mut rng = Rng::from_parts(&[STREAM, rng_seed]);
    let mut walk_work = 0u64;
    let mut round = 0u32;
    // The push starts coarse, as the certified push does, and halves its threshold while its
    // own bounds do not prove the scores; walks are drawn once no node's residual needs more
    // walks than it stores and the walks would cost no more than the push so far.
    // `L = ln(2n / delta_i)` as a sum of logarithms: no overflow for a tiny failure probability.
    let union = |round: u32| {
        (2.0 * n).ln() - accuracy.failure_probability.ln() + f64::from(round + 1) * 2f64.ln()
    };
    let first_share = eps / (SHARE_DIVISOR * union(0));
    let mut push = PushState {
        r_max: eps,
        dense: false,
        work: 0,
    };
    let mut residual_sum = push.advance(graph, alpha, true, ws);
    loop {
        let l = union(round);
        let share = eps / (SHARE_DIVISOR * l);
        if round > 0 {
            // A fixed schedule (never the earlier draws' outcome): a quarter of the residual.
            let goal = residual_sum / 4.0;
            while residual_sum > goal {
                residual_sum = push.advance(graph, alpha, false, ws);
            }
        }
        loop {
            // The push's own bounds may prove the scores (local queries on sparse graphs):
            // then no walk is read and nothing can fail.
            let (check, candidates, others) = judge_round(
                graph,
                k,
                passes,
                accuracy,
                residual_sum,
                None,
                push.dense,
                ws,
            );
            if (plan.push_may_prove && check.score_error() <= eps) || residual_sum <= 0.0 {
                let guarantee = Guarantee {
                    failure_probability: 0.0,
                    ..check.guarantee(accuracy)
                };
                let work = push.work + walk_work;
                return Ok(Certified::from_check(
                    check, guarantee, work, candidates, others, k,
                ));
            }
            let walks_fit = push.dense || push.r_max <= per_link * first_share;
            if round > 0 || (walks_fit && plan.walk_cost * residual_sum / share <= push.work as f64)
            {
                break;
            }
            residual_sum = push.advance(graph, alpha, false, ws);
        }
        let walks = draw(graph, index, truncation, share, &mut rng, ws)?;
        walk_work += (WALK_COST * walks.count as f64) as u64;
        let (check, candidates, others) = judge_round(
            graph,
            k,
            passes,
            accuracy,
            residual_sum,
            Some((walks.largest_share, l)),
            push.dense,
            ws,
        );
        // The walks cannot narrow an interval below their noise, so the set is certified only
        // when separated anyway: rounds chase the score bound alone.
        let scores_met = check.score_error() <= eps;
        let last = round + 1 >= MAX_ROUNDS || residual_sum <= 0.0;
        if scores_met || last {
            // Round `i` fails with at most `delta / 2^(i+1)` whichever round the query stops
            // in, so an answer is covered by the sum over every round that could run.
            let mut guarantee: Guarantee = check.guarantee(accuracy);
            guarantee.failure_probability =
                accuracy.failure_probability * (1.0 - 0.5f64.powi(MAX_ROUNDS as i32));
            let work = push.work + walk_work;
            return Ok(Certified::from_check(
                check, guarantee, work, candidates, others, k,
            ));
        }
        // Not proven: forget the draws, push further, draw again.
        for &t in &ws.walk_touched {
            ws.walk_mass[t as usize] = 0.0;
        }
        ws.walk_touched.clear();
        round += 1;
    }
}

/// What one round's draws did.
struct Draws {
    /// Walks whose end points were read.
    count: u64,
    /// The largest share a walk carried.
    largest_share: f64,
}

/// Draws the walks of every residual node into `ws.walk_mass` (end points), listing each node
/// reached in `ws.walk_touched`.
fn draw(
    graph: &CsrGraph,
    index: &WalkIndex,
    truncation: Truncation,
    share: f64,
    rng: &mut Rng,
    ws: &mut PprWorkspace,
) -> Result<Draws, WalkIndexError> {
    let mut largest_share: f64 = 0.0;
    ws.walk_queue_ids.clear();
    for &v in &ws.touched {
        let r = ws.residual[v as usize];
        if r <= 0.0 {
            continue;
        }
        let ids = index.walk_ids_from(v)?;
        if ids.is_empty() {
            // Only a node without links stores no walks, and the push settles every such
            // node's residual (`settle_dangling`, and the FIFO push's zero threshold there).
            return Err(WalkIndexError::Inconsistent {
                walk: None,
                reason: format!(
                    "node {v} holds residual but stores no walks (degree {})",
                    graph.degree(v)
                ),
            });
        }
        let wanted = r / share;
        if wanted >= 1.0 {
            let used = (wanted.ceil() as usize).min(ids.len());
            let each = r / used as f64;
            largest_share = largest_share.max(each);
            ws.walk_queue_ids
                .extend(ids[..used].iter().map(|&id| (id, each)));
        } else {
            // The term may be `share` whatever the coin says: the bound on the terms must not
            // depend on the draws.
            largest_share = largest_share.max(share);
            if rng.bernoulli(wanted) {
                ws.walk_queue_ids.push((ids[0], share));
            }
        }
    }
    let count = ws.walk_queue_ids.len() as u64;
    // Two passes: the walks' locations first (independent iterations, so their cache misses
    // overlap), then their end points.
    let mut spans: Vec<(&[NodeId], WalkEnd, f64)> = Vec::with_capacity(ws.walk_queue_ids.len());
    for &(id, amount) in &ws.walk_queue_ids {
        // A start list names only live walks; a missing one would drop its share silently.
        let walk = index
            .walk(id)?
            .ok_or_else(|| WalkIndexError::Inconsistent {
                walk: Some(id),
                reason: "a start list names a free slot".to_string(),
            })?;
        spans.push((walk.nodes, walk.end, amount));
    }
    for &(nodes, end, amount) in &spans {
        let Some(stop) = truncation.end_point(nodes.len(), end == WalkEnd::Died, rng) else {
            continue;
        };
        let t = nodes[stop];
        let slot = &mut ws.walk_mass[t as usize];
        if *slot == 0.0 {
            ws.walk_touched.push(t);
        }
        *slot += amount;
    }
    Ok(Draws {
        count,
        largest_share,
    })
}

/// Judges one round: the interval of every node the push or the walks reached, and one bound
/// on every other node. `walks` is `(largest share, L)` of the round's draws, `None` to judge
/// the push's sure bounds alone.
#[allow(clippy::too_many_arguments)]
fn judge_round(
    graph: &CsrGraph,
    k: usize,
    passes: &dyn Fn(NodeId) -> bool,
    accuracy: &Accuracy,
    residual_sum: f64,
    walks: Option<(f64, f64)>,
    dense: bool,
    ws: &PprWorkspace,
) -> (super::certified::Check, Vec<Candidate>, f64) {
    let symmetric = graph.is_symmetric();
    let mut estimate_sum = 0.0;
    let mut rho: f64 = 0.0;
    for &v in &ws.touched {
        let i = v as usize;
        estimate_sum += ws.estimate[i];
        let r = ws.residual[i];
        if symmetric && r > 0.0 {
            let w = graph.weight_sum(v);
            if w > 0.0 {
                rho = rho.max(r / w);
            }
        }
    }
    // `|psi| = E + R` when no walk dies; else it lies in `[E + y(t), E + R]`.
    let known_mass = graph
        .walks_never_die()
        .then_some(estimate_sum + residual_sum);
    let sure = |w: f64| {
        if symmetric {
            residual_sum.min(w * rho)
        } else {
            residual_sum
        }
    };
    let interval = |est: f64, x: f64, w: f64| {
        let (lo, hi) = match walks {
            Some((largest_share, l)) => bernstein_interval(x, largest_share, l),
            None => (0.0, f64::INFINITY),
        };
        let cap = sure(w);
        let (lo, hi) = (lo.min(cap), hi.min(cap));
        match known_mass {
            Some(m) => ((est + lo) / m, (est + hi) / m),
            None => {
                let lo = if estimate_sum + residual_sum > 0.0 {
                    (est + lo) / (estimate_sum + residual_sum)
                } else {
                    0.0
                };
                let hi = if estimate_sum + hi > 0.0 {
                    (est + hi) / (estimate_sum + hi)
                } else {
                    0.0
                };
                (lo.min(1.0), hi.min(1.0))
            }
        }
    };
    let mut candidates = Vec::with_capacity(ws.touched.len() + ws.walk_touched.len());
    for &v in &ws.touched {
        let i = v as usize;
        if passes(v) {
            let (lo, hi) = interval(ws.estimate[i], ws.walk_mass[i], graph.weight_sum(v));
            candidates.push(Candidate::new(lo, hi, v));
        }
    }
    // Nodes the push reached are listed above (all of them once the sweeps run).
    for &v in ws.walk_touched.iter().filter(|_| !dense) {
        let i = v as usize;
        if ws.estimate[i] == 0.0 && ws.residual[i].to_bits() == 0 && passes(v) {
            let (lo, hi) = interval(0.0, ws.walk_mass[i], graph.weight_sum(v));
            candidates.push(Candidate::new(lo, hi, v));
        }
    }
    let others = interval(0.0, 0.0, graph.max_weight_sum()).1;
    let check = judge(k, accuracy, Some(others), &mut candidates);
    (check, candidates, others)
}

#[cfg(test)]
mod tests {
    use super::{bernstein_interval, draw, PushState};
    use crate::graph::{Adjacency, CsrGraph, Edge, NodeId};
    use crate::ppr::PprWorkspace;
    use crate::rng::Rng;
    use crate::walks::{Truncation, WalkIndex, WalkIndexParams};

    fn edge(src: NodeId, dst: NodeId) -> Edge {
        Edge {
            src,
            rel: 0,
            dst,
            weight: 1.0,
        }
    }

    /// After any push step every residual sits at a node with links, where stored walks
    /// start: sweeps reach a sink after its turn, and an interrupted FIFO push leaves some,
    /// so both settle the sinks, exactly: the push invariant holds after every step.
    #[test]
    fn push_steps_leave_no_residual_at_sinks() {
        // A directed cycle 3 -> 4 -> ... -> 9 -> 3, each node also linking to one of the sinks
        // 0..2, which come first in node order (a sweep reaches them before their feeders).
        let mut edges = Vec::new();
        for u in 3..10u32 {
            edges.push(edge(u, if u == 9 { 3 } else { u + 1 }));
            edges.push(edge(u, u % 3));
        }
        let g = CsrGraph::from_edges(10, &edges, false);
        let mut ws = PprWorkspace::new();
        ws.ensure(10);
        crate::ppr::push::seed_residuals(&[(3, 1.0)], &mut ws);
        let mut push = PushState {
            r_max: 1e-3,
            dense: false,
            work: 0,
        };
        // The push invariant `psi_3 = est + sum_v r(v) psi_v` (leaky PPR, by a long power
        // series on this small graph): settling a sink must move exactly `alpha r` into its
        // estimate and drop the rest, as its own walk would.
        let alpha = 0.3;
        let leaky = |source: usize| {
            let (mut term, mut psi) = (vec![0.0f64; 10], vec![0.0f64; 10]);
            term[source] = 1.0;
            for _ in 0..400 {
                let mut next = vec![0.0f64; 10];
                for (u, &x) in term.iter().enumerate() {
                    psi[u] += alpha * x;
                    let (targets, weights) = g.link_slices(u as NodeId);
                    let total: f64 = weights.iter().sum();
                    for (&t, &w) in targets.iter().zip(weights) {
                        next[t as usize] += (1.0 - alpha) * x * w / total;
                    }
                }
                term = next;
            }
            psi
        };
        let psi: Vec<Vec<f64>> = (0..10).map(leaky).collect();
        let mut switched_at = None;
        for step in 0..8 {
            // The FIFO push gets one sweep's worth of link visits (24 here), then sweeps.
            push.advance(&g, alpha, step == 0, &mut ws);
            if push.dense && switched_at.is_none() {
                switched_at = Some(step);
            }
            for v in 0..10u32 {
                if g.degree(v) == 0 {
                    assert_eq!(ws.residual[v as usize], 0.0, "step {step}, sink {v}");
                }
            }
            for (t, &want) in psi[3].iter().enumerate() {
                let rebuilt: f64 = ws.estimate[t]
                    + psi
                        .iter()
                        .enumerate()
                        .map(|(v, psi_v)| ws.residual[v] * psi_v[t])
                        .sum::<f64>();
                assert!(
                    (rebuilt - want).abs() < 1e-12,
                    "step {step}, node {t}: {rebuilt} vs {want}"
                );
            }
        }
        // The FIFO push was interrupted, and sweeps ran after it.
        assert!(switched_at.is_some_and(|s| s < 7), "{switched_at:?}");
        assert!((3..10).any(|v| ws.residual[v] > 0.0));
        ws.clear_touched();
        assert!(ws.is_clean());
    }

    /// The bound on a walk's share is fixed before the coins: a round whose residual nodes
    /// are all below one walk's share reports that share as its largest, also when no coin
    /// comes up (else the intervals would shrink to nothing exactly then).
    #[test]
    fn the_share_bound_does_not_depend_on_the_coins() {
        let edges: Vec<Edge> = (0..20u32).map(|u| edge(u, (u + 1) % 20)).collect();
        let g = CsrGraph::from_edges(20, &edges, true);
        let params = WalkIndexParams {
            alpha: 0.3,
            walks_per_node: 1.0,
            seed: 3,
        };
        let index = WalkIndex::build(&g, params).unwrap();
        let truncation = Truncation::new(0.3, 0.3).unwrap();
        let mut ws = PprWorkspace::new();
        ws.ensure(20);
        ws.walk_mass.resize(20, 0.0);
        // Residual 1e-9 at every node; shares of 1: the coins almost never come up.
        for v in 0..20u32 {
            ws.residual[v as usize] = 1e-9;
            ws.touched.push(v);
        }
        let mut rng = Rng::new(8);
        let draws = draw(&g, &index, truncation, 1.0, &mut rng, &mut ws).unwrap();
        assert_eq!(draws.count, 0);
        assert_eq!(draws.largest_share, 1.0);
        ws.clear_touched();
        assert!(ws.is_clean());
    }

    /// Bernstein's deviation at `y`: `a + sqrt(a^2 + 2 l share y)`.
    fn deviation(y: f64, share: f64, l: f64) -> f64 {
        let a = l * share / 3.0;
        a + (a * a + 2.0 * l * share * y).sqrt()
    }

    /// The interval is exactly the set of `y` whose deviation covers `x`: both ends sit on
    /// the boundary `|x - y| = s(y)` (the lower end at 0 when `x` is within `s(0)`), and a
    /// point just outside either end is not covered.
    #[test]
    fn the_interval_inverts_the_deviation() {
        for &(x, share, l) in &[
            (0.0, 1e-3, 10.0),
            (0.02, 1e-4, 18.0),
            (0.5, 1e-6, 20.0),
            (3e-5, 2e-6, 15.0),
        ] {
            let (lo, hi) = bernstein_interval(x, share, l);
            assert!(lo <= x && x <= hi);
            let at_hi = hi - x - deviation(hi, share, l);
            assert!(
                at_hi.abs() <= 1e-12 * hi.max(1e-9),
                "{x} {share} {l}: {at_hi}"
            );
            if lo > 0.0 {
                let at_lo = x - lo - deviation(lo, share, l);
                assert!(at_lo.abs() <= 1e-12 * x, "{x} {share} {l}: {at_lo}");
                let below = lo * (1.0 - 1e-6);
                assert!(x - below > deviation(below, share, l));
            } else {
                assert!(x <= deviation(0.0, share, l) * (1.0 + 1e-12));
            }
            let above = hi * (1.0 + 1e-6) + 1e-300;
            assert!(above - x > deviation(above, share, l));
        }
        // Nothing seen: [0, (8/3) l share].
        let (lo, hi) = bernstein_interval(0.0, 1e-3, 9.0);
        assert_eq!(lo, 0.0);
        assert!((hi - 8.0 / 3.0 * 9.0 * 1e-3).abs() < 1e-15);
    }

    /// Coverage where the variance bound is tight (sums of rare hits, variance about
    /// `share * y`): with `ln(1 / tail) = l` per side, `y` falls outside the interval in at most
    /// a `2 tail` fraction of draws (up to three binomial standard deviations).
    #[test]
    fn the_interval_covers_the_mean_as_often_as_it_claims() {
        let tail: f64 = 0.1;
        let l = (1.0 / tail).ln();
        let share = 1e-3;
        let mut rng = Rng::new(3);
        let trials = 4000;
        for &(terms, p) in &[(2000usize, 0.002f64), (500, 0.02), (5000, 0.0004)] {
            let y = share * terms as f64 * p;
            let mut misses = 0;
            for _ in 0..trials {
                let hits = (0..terms).filter(|_| rng.bernoulli(p)).count();
                let (lo, hi) = bernstein_interval(share * hits as f64, share, l);
                if !(lo <= y && y <= hi) {
                    misses += 1;
                }
            }
            let claimed = 2.0 * tail;
            let sigma = (claimed * (1.0 - claimed) / trials as f64).sqrt();
            let rate = misses as f64 / trials as f64;
            assert!(
                rate <= claimed + 3.0 * sigma,
                "{terms} x {p}: miss rate {rate}"
            );
            // Not vacuous: the interval is narrow enough to miss sometimes.
            assert!(misses > 0, "{terms} x {p}: never missed");
        }
    }
}
