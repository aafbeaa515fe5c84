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
//! holds for any residual vector, so no work is repeated. Once sweeps in node order (the global
//! phase of SpeedPPR's power push) are the cheaper way to shrink the residual
//! ([`HandOff::sweeps_are_cheaper`]), and at the latest after a full sweep's worth of push
//! work, they take over. They are over-relaxed with the exact solver's
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
    /// Node-order sweeps done after the push handed off (0: the push certified alone); the
    /// tests tell by it which answers came from the sweeps.
    #[cfg(test)]
    pub(crate) sweeps: u32,
    /// What the answer knew about every node when it answered: the answers of a node's leaf
    /// neighbours follow from it ([`derive_leaf`]).
    pub(crate) basis: Basis,
}

/// Every interval a certified answer was judged by: its candidates, and one upper bound on
/// the score of every other node (never reached, without an estimate, or ranked out by the
/// `k`-th largest lower bound).
#[derive(Clone, Debug, Default)]
pub(crate) struct Basis {
    candidates: Vec<Candidate>,
    others: f64,
}

#[cfg(test)]
impl Basis {
    /// Every kept candidate's `(node, lo, hi)`, and the bound on every other node.
    pub(super) fn intervals(&self) -> (Vec<(NodeId, f64, f64)>, f64) {
        let kept = self
            .candidates
            .iter()
            .map(|c| (c.node, c.lo, c.hi))
            .collect();
        (kept, self.others)
    }
}

/// Candidates a [`Basis`] keeps by their own intervals: a derived top-`k` is chosen among the
/// best `k + 1` of the answer it derives from; the rest stand as one [`DROPPED`] candidate.
fn basis_keep(k: usize) -> usize {
    2 * k + 8
}

/// The node id of the candidate standing for those a [`Basis`] dropped (no node has it:
/// node ids are below the node count, at most `u32::MAX`).
const DROPPED: NodeId = NodeId::MAX;

impl Basis {
    /// The basis of an answer judged over `candidates` (reordered here), every other node
    /// at most `others`: a copy of the [`basis_keep`] candidates with the largest upper
    /// bounds, and when there were more, one [`DROPPED`] candidate for the rest: their largest
    /// upper bound, and the widest interval among those that reach above the lowest lower
    /// bound kept (a derived answer's top-`k` is chosen among the kept, so only those can
    /// straddle its boundary). Judged as a node, it keeps a boundary of near-ties among many
    /// nodes (leaves of a hub, say) provable as ties.
    fn new(candidates: &mut [Candidate], others: f64, k: usize) -> Basis {
        let keep = basis_keep(k);
        if candidates.len() <= keep {
            return Basis {
                candidates: candidates.to_vec(),
                others,
            };
        }
        candidates.select_nth_unstable_by(keep, |a, b| b.hi.total_cmp(&a.hi));
        let (kept, dropped) = candidates.split_at(keep);
        let floor = kept.iter().map(|c| c.lo).fold(f64::INFINITY, f64::min);
        let (hi, width) = dropped.iter().fold((0.0, 0.0), |(hi, width), c| {
            let straddles = c.hi > floor;
            (
                f64::max(hi, c.hi),
                if straddles {
                    f64::max(width, c.hi - c.lo)
                } else {
                    width
                },
            )
        });
        let lo = (hi - width).max(0.0);
        let mut candidates = kept.to_vec();
        candidates.push(Candidate {
            mid: 0.5 * (lo + hi),
            lo,
            hi,
            node: DROPPED,
        });
        Basis { candidates, others }
    }
}

/// The answer of source `s` derived from the answer of its only neighbour `v`, when that
/// proves the target; `share` is `W(s) / W(v)`. Sound on a symmetric graph where every link
/// of `s` leads to `v != s`, and `answer` is `v`'s top-`k'` (any `k'`), with no node
/// filtered:
/// - a walk from `s` stops there (probability `alpha`) or moves to `v` and goes on as a walk
///   from `v`, so `pi_s = alpha e_s + (1 - alpha) pi_v`;
/// - a walk from `v` reaches `s` only from `v`, each stay at `v` (expected `pi_v(v) / alpha`)
///   moving there with probability `(1 - alpha) W(s) / W(v)` (the link weight back), and
///   stops at `s` with probability `alpha` per stay before returning: `pi_v(s) = (1 - alpha)
///   share pi_v(v)`.
///
/// So every interval of `v`'s answer scaled by `1 - alpha` bounds `pi_s` off `s`, and `v`'s
/// own interval bounds `pi_s(s) = alpha + (1 - alpha)^2 share pi_v(v)`; the answer is judged
/// as a computed one is ([`judge`]). `None` when they do not prove the target (or `v` is not
/// among the candidates): then `s` is answered as any source is.
pub(crate) fn derive_leaf(
    answer: &Certified,
    s: NodeId,
    v: NodeId,
    share: f64,
    alpha: f64,
    k: usize,
    accuracy: &Accuracy,
) -> Option<Certified> {
    let basis = &answer.basis;
    let own = basis.candidates.iter().find(|c| c.node == v)?;
    let scale = 1.0 - alpha;
    let stay = scale * scale * share;
    let candidate = |node: NodeId, lo: f64, hi: f64| Candidate {
        mid: 0.5 * (lo + hi),
        lo,
        hi,
        node,
    };
    let mut derived: Vec<Candidate> = Vec::with_capacity(basis.candidates.len() + 1);
    derived.extend(
        basis
            .candidates
            .iter()
            .filter(|c| c.node != s)
            .map(|c| candidate(c.node, scale * c.lo, scale * c.hi)),
    );
    derived.push(candidate(
        s,
        (alpha + stay * own.lo).min(1.0),
        (alpha + stay * own.hi).min(1.0),
    ));
    judged(derived, scale * basis.others, k, accuracy)
}

/// The answer of source `t` from the answer of its twin `s`: two nodes of a symmetric graph
/// with the same links (the same targets with the same weights, neither a self-loop, so
/// neither links to the other). Swapping them maps the graph onto itself, so `pi_t` is `pi_s`
/// with `s` and `t` swapped: the same intervals relabelled, judged as a computed answer is
/// (the set may differ only where ties are broken by node id). `None` when they do not prove
/// the target, which they did for `s` unless its answer carried less.
pub(crate) fn relabel_twin(
    answer: &Certified,
    s: NodeId,
    t: NodeId,
    k: usize,
    accuracy: &Accuracy,
) -> Option<Certified> {
    let swap = |v: NodeId| match v {
        v if v == s => t,
        v if v == t => s,
        v => v,
    };
    let relabelled = answer
        .basis
        .candidates
        .iter()
        .map(|c| Candidate {
            node: swap(c.node),
            ..*c
        })
        .collect();
    judged(relabelled, answer.basis.others, k, accuracy)
}

/// The answer judged over `candidates` (every other node at most `others`), when it meets
/// `accuracy`; its work is counted as the candidates it judged.
fn judged(
    mut candidates: Vec<Candidate>,
    others: f64,
    k: usize,
    accuracy: &Accuracy,
) -> Option<Certified> {
    let check = judge(k, accuracy, Some(others), &mut candidates);
    // The dropped nodes' stand-in ranks among the top: which of them is not known.
    if !check.meets(accuracy) || check.top.iter().any(|&(v, _)| v == DROPPED) {
        return None;
    }
    Some(Certified {
        guarantee: check.guarantee(accuracy),
        top: check.top,
        work: candidates.len() as u64,
        #[cfg(test)]
        sweeps: 0,
        basis: Basis { candidates, others },
    })
}

/// One candidate with its certified interval on `pi`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    mid: f64,
    lo: f64,
    hi: f64,
    node: NodeId,
}

impl Candidate {
    /// A candidate with interval `[lo, hi]`, answered at its midpoint.
    pub(super) fn new(lo: f64, hi: f64, node: NodeId) -> Candidate {
        Candidate {
            mid: 0.5 * (lo + hi),
            lo,
            hi,
            node,
        }
    }
}

impl Certified {
    /// The answer `check` judged over `candidates` (every other node at most `others`),
    /// guaranteeing `guarantee`.
    pub(super) fn from_check(
        check: Check,
        guarantee: Guarantee,
        work: u64,
        mut candidates: Vec<Candidate>,
        others: f64,
        k: usize,
    ) -> Certified {
        Certified {
            guarantee,
            top: check.top,
            work,
            #[cfg(test)]
            sweeps: 0,
            basis: Basis::new(&mut candidates, others, k),
        }
    }
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

impl Check {
    /// Whether it proves `accuracy`: every returned score within the error, and the set
    /// separated or tied only, when the set is to be certified.
    pub(super) fn score_error(&self) -> f64 {
        self.score_error
    }

    pub(super) fn meets(&self, accuracy: &Accuracy) -> bool {
        let set_ok = !accuracy.certify_top_k || self.separated || self.ties_only;
        self.score_error <= accuracy.max_error && set_ok
    }

    /// What it proves.
    pub(super) fn guarantee(&self, accuracy: &Accuracy) -> Guarantee {
        Guarantee {
            max_error: self.score_error,
            top_k: if self.separated {
                TopKGuarantee::Exact
            } else if self.ties_only {
                TopKGuarantee::UpToTies(accuracy.tie_tolerance)
            } else {
                TopKGuarantee::None
            },
            failure_probability: 0.0,
        }
    }
}

/// The outcome of checking one state.
pub(super) struct Check {
    top: Vec<(NodeId, f64)>,
    /// The smallest lower bound among the returned nodes (0 with fewer than `k`).
    kth_lo: f64,
    /// Largest half-width among the returned scores.
    score_error: f64,
    /// The set is separated from every other node.
    separated: bool,
    /// Every node straddling the boundary is known to within the tie tolerance.
    ties_only: bool,
    /// An upper bound on every node that is not a candidate.
    others: f64,
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
    match certified_run(
        graph,
        seeds,
        alpha,
        k,
        passes,
        accuracy,
        HandOff::single(graph),
        ws,
    ) {
        Run::Done(answer) => answer,
        Run::HandOff(progress) => finish_dense(graph, alpha, k, passes, accuracy, progress, ws),
    }
}

/// Goes on from a handed-off run with node-order sweeps over the whole graph until the
/// answer is certified; leaves the workspace clean.
fn finish_dense(
    graph: &CsrGraph,
    alpha: f64,
    k: usize,
    passes: &dyn Fn(NodeId) -> bool,
    accuracy: &Accuracy,
    mut progress: Progress,
    ws: &mut PprWorkspace,
) -> Certified {
    make_dense(graph.node_count(), ws);
    let mut candidates = Vec::new();
    // A sweep before every check, the first too: the push was just assessed or stopped
    // mid-round, and a hand-off before a seed without links was pushed would leave residual
    // on a node whose interval assumes it has none (see `bounds`); a sweep pushes it.
    loop {
        progress.work += sweep(graph, alpha, progress.relaxation.omega, ws);
        progress.sweeps += 1;
        if let Some(answer) =
            progress.assess_workspace(graph, k, passes, accuracy, true, ws, &mut candidates)
        {
            return answer;
        }
    }
}

/// How a certified run ended.
pub(crate) enum Run {
    /// Answered; the workspace is clean.
    Done(Certified),
    /// The push handed off without certifying (its budget spent, or sweeps became the cheaper
    /// way on, possibly before any push on a tiny graph): the state
    /// is left in the workspace (`touched`, `estimate`, `residual`) for the caller to go on
    /// with sweeps in node order, assessing with the returned progress.
    HandOff(Progress),
}

/// When a certified push hands its state off to node-order sweeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HandOff {
    /// Link visits after which the push always hands off.
    pub(crate) budget: u64,
    /// `(work, nodes)`: from `work` link visits on, looked at again at every doubling, the
    /// push hands off as soon as it has touched at least `nodes` nodes (its frontier is then
    /// global, and sweeps that share their cost are the cheaper way on).
    pub(crate) early: Option<(u64, usize)>,
    /// `price`: the push hands off as soon as sweeps remove residual more cheaply than it
    /// does, `price` being what a push's link visit costs in a sweep's (see
    /// [`HandOff::sweeps_are_cheaper`]). Looked at before every round, and within a round
    /// where `early` looks. (Looking within a single query's rounds too, at doublings of the
    /// work from 1/64 of a sweep, cost 5-15% on most families: each look restarts the push's
    /// queue; it paid only on the HippoRAG-shaped graph's directed dense resets.)
    pub(crate) price: Option<f64>,
    /// Whether the price rule also waits until the push's region is wide: pushing every
    /// touched node once costs `price` times their links and nodes and removes `alpha R`
    /// too, so a push over a region smaller than `1 / price` of the graph still beats a
    /// sweep however low its threshold.
    pub(crate) gate_by_volume: bool,
}

/// What a link visit of a push costs in link visits of a sweep: a sweep streams through the
/// arrays, a push pops a queue, tests thresholds and lists first touches. Measured on the
/// HippoRAG-shaped graph (undirected, alpha 0.5): 1.09 ms per sweep's worth of push work
/// against 0.49 ms per sweep, 2.2x; the rule it feeds was then checked on the other families.
const PUSH_PRICE: f64 = 2.0;

impl HandOff {
    /// A single query's rule: node-order sweeps (SpeedPPR's global phase) take over once
    /// they are the cheaper way to shrink the residual, and at the latest after a sweep's
    /// worth of push work.
    pub(crate) fn single(graph: &CsrGraph) -> HandOff {
        HandOff {
            budget: sweep_work(graph),
            early: None,
            price: Some(PUSH_PRICE),
            gate_by_volume: false,
        }
    }

    /// Whether sweeps now remove residual more cheaply than a push at threshold `r_max`
    /// (relative to degree) does, `work` link visits into the push. A push of `v` costs
    /// `d(v) + 1` visits and removes `alpha r(v) > alpha r_max d(v)` for good: about
    /// `alpha r_max` per visit. A sweep costs `L + n` visits (every link and node) and pushes
    /// every residual once: `alpha R` at least (more when mass it moves is pushed again later
    /// in the same sweep, and with over-relaxation), so `alpha R / (L + n)` per visit, each
    /// `1 / price` of a push's. Sweeps win once `r_max (L + n) < price R`. Not before the
    /// push has spent 1/64 of a sweep (on a graph of fewer than 64 links and nodes, from the
    /// start): a push that finishes sooner is cheaper than any sweep.
    /// It compares rates of shrinking `R`, not the intervals themselves: a cost model, not a
    /// proof; any hand-off point gives a certified answer.
    pub(crate) fn sweeps_are_cheaper(
        &self,
        graph: &CsrGraph,
        r_max: f64,
        work: u64,
        ws: &PprWorkspace,
    ) -> bool {
        let Some(price) = self.price else {
            return false;
        };
        let sweep = sweep_work(graph);
        if work < sweep / 64 {
            return false;
        }
        let residual_sum: f64 = ws.touched.iter().map(|&v| ws.residual[v as usize]).sum();
        if r_max * (sweep as f64) >= price * residual_sum {
            return false;
        }
        !self.gate_by_volume || {
            let volume: usize = ws.touched.iter().map(|&v| graph.degree(v) + 1).sum();
            price * volume as f64 >= sweep as f64
        }
    }
}

/// Link visits of one sweep in node order: every link once, plus every node.
fn sweep_work(graph: &CsrGraph) -> u64 {
    (graph.link_count() + graph.node_count()) as u64
}

/// Runs the certified push from `seeds` until it certifies or `hand_off` says to hand the
/// state off for node-order sweeps.
#[allow(clippy::too_many_arguments)]
pub(crate) fn certified_run(
    graph: &CsrGraph,
    seeds: &[(NodeId, f64)],
    alpha: f64,
    k: usize,
    passes: &dyn Fn(NodeId) -> bool,
    accuracy: &Accuracy,
    hand_off: HandOff,
    ws: &mut PprWorkspace,
) -> Run {
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
    let mut progress = Progress::new(graph, alpha, accuracy, mass);
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut look = hand_off.early.map(|(work, _)| work);
    // True when a look within the round has just asked the price of this very state.
    let mut priced = false;
    loop {
        let r_max = progress.r_max;
        if !priced && hand_off.sweeps_are_cheaper(graph, r_max, progress.work, ws) {
            return Run::HandOff(progress);
        }
        priced = false;
        let threshold = |v: NodeId| threshold(graph, v, r_max);
        let limit = look.map_or(hand_off.budget, |l| {
            l.max(progress.work + 1).min(hand_off.budget)
        });
        let outcome = fifo_push(
            graph,
            alpha,
            threshold,
            limit.saturating_sub(progress.work),
            ws,
        );
        progress.work += outcome.work;
        if !outcome.finished {
            if let Some(l) = look.filter(|_| progress.work < hand_off.budget) {
                let global = hand_off
                    .early
                    .is_some_and(|(_, nodes)| ws.touched.len() >= nodes);
                if global || hand_off.sweeps_are_cheaper(graph, r_max, progress.work, ws) {
                    return Run::HandOff(progress);
                }
                // Local so far: go on with the same round, and look again at twice the work.
                look =
                    Some(l.max(progress.work).saturating_mul(2)).filter(|&l| l < hand_off.budget);
                priced = true;
                continue;
            }
            return Run::HandOff(progress);
        }
        if let Some(answer) =
            progress.assess_workspace(graph, k, passes, accuracy, false, ws, &mut candidates)
        {
            return Run::Done(answer);
        }
    }
}

/// Where a certified run stands: the refinement state between rounds of push or sweeps.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// The degree-relative push threshold of the next push round.
    r_max: f64,
    /// Link visits spent.
    pub(crate) work: u64,
    /// Node-order sweeps done.
    pub(crate) sweeps: u32,
    /// The sweeps' over-relaxation.
    pub(crate) relaxation: Relaxation,
    previous_r: f64,
    checked_r: f64,
    /// In the sweep phase the next full check waits until the residual sum is below
    /// `checked_r / check_shrink`.
    check_shrink: f64,
    /// Whether `check_shrink` follows what the last check asked (see
    /// [`Progress::predict_checks`]) instead of staying 4.
    predictive: bool,
    /// `|psi|` when it is known exactly.
    mass: Option<f64>,
}

impl Progress {
    fn new(graph: &CsrGraph, alpha: f64, accuracy: &Accuracy, mass: Option<f64>) -> Progress {
        Progress {
            r_max: if accuracy.max_error.is_finite() {
                accuracy.max_error
            } else {
                // Set-only certification: start where a score error of 1e-4 would.
                1e-4
            },
            work: 0,
            sweeps: 0,
            relaxation: Relaxation::new(graph, alpha),
            previous_r: f64::INFINITY,
            checked_r: f64::INFINITY,
            check_shrink: 4.0,
            predictive: false,
            mass,
        }
    }

    /// Assesses the state after a round (`nodes` lists every node with a non-zero entry;
    /// all of them once `dense`): the answer when it meets the target or no further round can
    /// help, else `None` after choosing the next round's threshold.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assess(
        &mut self,
        graph: &CsrGraph,
        k: usize,
        passes: &dyn Fn(NodeId) -> bool,
        accuracy: &Accuracy,
        dense: bool,
        nodes: &[NodeId],
        estimate: &[f64],
        residual: &[f64],
        candidates: &mut Vec<Candidate>,
    ) -> Option<Certified> {
        if dense {
            // Most sweeps only need `R` to tell that no check is due: without the rest.
            let residual_sum = if nodes.len() == graph.node_count() {
                residual_sum_dense(&residual[..nodes.len()])
            } else {
                bounds(graph, self.mass, dense, nodes, estimate, residual).residual_sum
            };
            if !self.check_due(residual_sum) {
                return None;
            }
        }
        let bounds = bounds(graph, self.mass, dense, nodes, estimate, residual);
        self.judge_bounds(
            graph, k, passes, accuracy, dense, &bounds, nodes, estimate, candidates,
        )
    }

    /// Spaces the sweep phase's full checks by what the last one asked for: when its widest
    /// returned interval was `x` times the target, the next waits for the residual to shrink
    /// `x` times (at least 4x; intervals scale with the residual). Worth it where a check
    /// costs more than a sweep, as in a block of sources (`all`), whose sweeps cost each
    /// source a fraction of one. Any spacing gives a certified answer.
    pub(crate) fn predict_checks(&mut self) {
        self.predictive = true;
    }

    /// [`Progress::assess`] of the state in `ws`, which is left clean when it answers.
    #[allow(clippy::too_many_arguments)]
    fn assess_workspace(
        &mut self,
        graph: &CsrGraph,
        k: usize,
        passes: &dyn Fn(NodeId) -> bool,
        accuracy: &Accuracy,
        dense: bool,
        ws: &mut PprWorkspace,
        candidates: &mut Vec<Candidate>,
    ) -> Option<Certified> {
        let answer = self.assess(
            graph,
            k,
            passes,
            accuracy,
            dense,
            &ws.touched,
            &ws.estimate,
            &ws.residual,
            candidates,
        );
        if answer.is_some() {
            ws.clear_touched();
        }
        answer
    }

    /// In the sweep phase, records a sweep that left residual sum `residual_sum` and tells
    /// whether the full check is due. It costs a pass over every node plus a selection, so it
    /// runs only once the residual has shrunk 4x since the last one (the intervals scale with
    /// it), or at the end.
    pub(crate) fn check_due(&mut self, residual_sum: f64) -> bool {
        let last = self.sweeps >= MAX_SWEEPS || residual_sum <= 0.0;
        self.relaxation.observe(self.previous_r, residual_sum);
        self.previous_r = residual_sum;
        if !last && residual_sum > self.checked_r / self.check_shrink {
            return false;
        }
        self.checked_r = residual_sum;
        true
    }

    /// [`Progress::assess`] once the check is due (always outside the sweep phase): bounds
    /// computed, sweep bookkeeping done.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assess_due(
        &mut self,
        graph: &CsrGraph,
        k: usize,
        passes: &dyn Fn(NodeId) -> bool,
        accuracy: &Accuracy,
        nodes: &[NodeId],
        estimate: &[f64],
        residual: &[f64],
        candidates: &mut Vec<Candidate>,
    ) -> Option<Certified> {
        let bounds = bounds(graph, self.mass, true, nodes, estimate, residual);
        self.judge_bounds(
            graph, k, passes, accuracy, true, &bounds, nodes, estimate, candidates,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn judge_bounds(
        &mut self,
        graph: &CsrGraph,
        k: usize,
        passes: &dyn Fn(NodeId) -> bool,
        accuracy: &Accuracy,
        dense: bool,
        bounds: &Bounds,
        nodes: &[NodeId],
        estimate: &[f64],
        candidates: &mut Vec<Candidate>,
    ) -> Option<Certified> {
        let n = graph.node_count();
        // The last round answers with whatever it proves.
        let last = self.sweeps >= MAX_SWEEPS || bounds.residual_sum <= 0.0;
        let floor = bounds.min_half_width(graph);
        if !last && floor > accuracy.max_error {
            // No returned score can be within the target yet: skip the full check (a pass
            // over every touched node plus a selection) and refine by what the floor asks.
            if !dense {
                self.r_max /= (1.2 * floor / accuracy.max_error).clamp(2.0, 16.0);
            }
            return None;
        }
        let check = check(
            graph, bounds, k, passes, accuracy, n, nodes, estimate, candidates,
        );
        if check.meets(accuracy) || last {
            return Some(Certified {
                guarantee: check.guarantee(accuracy),
                top: check.top,
                work: self.work,
                #[cfg(test)]
                sweeps: self.sweeps,
                basis: Basis::new(candidates, check.others, k),
            });
        }
        if self.predictive {
            self.check_shrink = (check.score_error / accuracy.max_error).clamp(4.0, 1e6);
        }
        let factor = if check.score_error > accuracy.max_error {
            (1.2 * check.score_error / accuracy.max_error).clamp(2.0, 16.0)
        } else {
            4.0
        };
        self.r_max /= factor;
        None
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
fn bounds(
    graph: &CsrGraph,
    mass: Option<f64>,
    signed: bool,
    nodes: &[NodeId],
    estimate: &[f64],
    residual: &[f64],
) -> Bounds {
    let symmetric = graph.is_symmetric();
    let (residual_sum, estimate_sum, rho) = if nodes.len() == graph.node_count() {
        // Every node (the sweep phase): in node order over the arrays, whatever the list's
        // order (it holds distinct nodes, so it is all of them).
        dense_sums(graph.weight_sums(), estimate, residual, symmetric)
    } else {
        let mut residual_sum = 0.0;
        let mut estimate_sum = 0.0;
        let mut rho: f64 = 0.0;
        for &v in nodes {
            let i = v as usize;
            let r = residual[i].abs();
            residual_sum += r;
            estimate_sum += estimate[i];
            if symmetric && r > 0.0 {
                let w = graph.weight_sum(v);
                // Dangling nodes are always pushed, so a residual sits only where w > 0.
                if w > 0.0 {
                    rho = rho.max(r / w);
                }
            }
        }
        (residual_sum, estimate_sum, rho)
    };
    Bounds {
        residual_sum,
        estimate_sum,
        rho: if symmetric { rho } else { f64::INFINITY },
        mass,
        signed,
    }
}

/// Accumulators of [`dense_sums`]: independent chains, so the adds and divisions of
/// neighbouring nodes overlap instead of each waiting on the one before.
const SUM_LANES: usize = 4;

/// `(sum |r|, sum est, max |r| / w)` over every node (`rho` only when `with_rho`, else 0;
/// nodes without links count 0 there). Node `v` adds into accumulator `v % SUM_LANES` and the
/// accumulators are combined by [`combine_lanes`]: [`residual_sum_dense`] and the blocks of
/// `all` sum in this order too, so every caller gets the same bits.
fn dense_sums(
    weight_sums: &[f64],
    estimate: &[f64],
    residual: &[f64],
    with_rho: bool,
) -> (f64, f64, f64) {
    let n = weight_sums.len();
    let (estimate, residual) = (&estimate[..n], &residual[..n]);
    let mut r_sum = [0.0f64; SUM_LANES];
    let mut e_sum = [0.0f64; SUM_LANES];
    let mut rho = [0.0f64; SUM_LANES];
    let whole = n - n % SUM_LANES;
    for start in (0..whole).step_by(SUM_LANES) {
        for j in 0..SUM_LANES {
            let r = residual[start + j].abs();
            r_sum[j] += r;
            e_sum[j] += estimate[start + j];
            if with_rho {
                let w = weight_sums[start + j];
                let q = if w > 0.0 { r / w } else { 0.0 };
                if q > rho[j] {
                    rho[j] = q;
                }
            }
        }
    }
    for (j, v) in (whole..n).enumerate() {
        let r = residual[v].abs();
        r_sum[j] += r;
        e_sum[j] += estimate[v];
        if with_rho && weight_sums[v] > 0.0 {
            rho[j] = rho[j].max(r / weight_sums[v]);
        }
    }
    (
        combine_lanes(r_sum),
        combine_lanes(e_sum),
        rho.into_iter().fold(0.0, f64::max),
    )
}

/// `(l0 + l1) + (l2 + l3)`: the fixed order in which the accumulators are combined.
#[inline]
fn combine_lanes(lanes: [f64; SUM_LANES]) -> f64 {
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// The residual sum `sum |r|` of a state over every node, bit for bit as [`bounds`] computes
/// it, for deciding whether a full check is due without the rest of the bounds.
pub(crate) fn residual_sum_dense(residual: &[f64]) -> f64 {
    abs_sums::<1>(residual.as_chunks::<1>().0)[0]
}

/// [`residual_sum_dense`] of each column of `rows` (a block's lanes) in one pass, each
/// column summed in the same order, so the same bits.
pub(crate) fn abs_sums<const L: usize>(rows: &[[f64; L]]) -> [f64; L] {
    let mut acc = [[0.0f64; L]; SUM_LANES];
    for (v, row) in rows.iter().enumerate() {
        let acc = &mut acc[v % SUM_LANES];
        for j in 0..L {
            acc[j] += row[j].abs();
        }
    }
    std::array::from_fn(|j| combine_lanes(std::array::from_fn(|a| acc[a][j])))
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
    nodes: &[NodeId],
    estimate: &[f64],
    candidates: &mut Vec<Candidate>,
) -> Check {
    // Nodes the push never reached: estimate 0, and on a symmetric graph at most the largest
    // weight sum times rho.
    let unreached = if nodes.len() < n {
        Some(bounds.interval(0.0, graph.max_weight_sum()).1)
    } else {
        None
    };
    // A node whose upper bound is below the k-th largest lower bound `floor` ranks below at
    // least k others by midpoint, so it is never returned, and it cannot straddle the
    // boundary unless some returned node's lower bound is below `floor`: the candidates are
    // the other nodes. In that case the set is not separated (a node with a lower bound of at
    // least `floor` is left out), and more nodes can only add conditions to "ties only": the
    // check is redone over every node only when it said yes. The answer is the same either
    // way.
    let floor = kth_largest_lower(graph, bounds, k, passes, nodes, estimate);
    let unseen = collect(graph, bounds, passes, nodes, estimate, floor, candidates);
    let mut check = judge(k, accuracy, max_bound(unreached, unseen), candidates);
    // Left out: nodes without an estimate, and those whose upper bound is below `floor`.
    check.others = max_bound(unreached, unseen).unwrap_or(0.0).max(floor);
    if floor > 0.0 && check.kth_lo < floor && check.ties_only {
        let unseen = collect(graph, bounds, passes, nodes, estimate, 0.0, candidates);
        check = judge(k, accuracy, max_bound(unreached, unseen), candidates);
        check.others = max_bound(unreached, unseen).unwrap_or(0.0);
    }
    check
}

/// The larger of two optional upper bounds.
fn max_bound(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The `k`-th largest lower bound among the nodes that may be ranked (0 with fewer).
fn kth_largest_lower(
    graph: &CsrGraph,
    bounds: &Bounds,
    k: usize,
    passes: &dyn Fn(NodeId) -> bool,
    nodes: &[NodeId],
    estimate: &[f64],
) -> f64 {
    use std::cmp::Reverse;
    if k == 0 {
        return 0.0;
    }
    // Bits of non-negative finite floats order as the floats do.
    let mut heap: std::collections::BinaryHeap<Reverse<u64>> =
        std::collections::BinaryHeap::with_capacity(k + 1);
    // With the mass `M` known, a lower bound is `max(est - err, 0) / M` (`err` only with
    // negative residuals, see `Bounds::interval`): rank `est - err` and divide the k-th once.
    let by_estimate = bounds.mass.is_some();
    for &v in nodes {
        if !passes(v) {
            continue;
        }
        let lo = if !by_estimate {
            bounds.interval(estimate[v as usize], graph.weight_sum(v)).0
        } else if bounds.signed {
            let w = graph.weight_sum(v);
            estimate[v as usize] - bounds.residual_sum.min(w * bounds.rho)
        } else {
            estimate[v as usize]
        };
        let key = if lo > 0.0 { lo.to_bits() } else { 0 };
        if heap.len() < k {
            heap.push(Reverse(key));
        } else if heap.peek().is_some_and(|&Reverse(min)| key > min) {
            heap.pop();
            heap.push(Reverse(key));
        }
    }
    if heap.len() < k {
        return 0.0;
    }
    let kth = heap
        .peek()
        .map_or(0.0, |&Reverse(bits)| f64::from_bits(bits));
    if let Some(m) = bounds.mass {
        (kth / m).clamp(0.0, 1.0)
    } else {
        kth
    }
}

/// The candidates: nodes that may be ranked with an upper bound above 0 and at least `floor`.
/// In the sweep phase every node is listed, reached or not: there a node with no estimate is
/// never returned, as a node the push never reached is not, and is bounded like one, by the
/// largest upper bound of such nodes, returned here. (The push phase lists only touched nodes,
/// and one with residual but no estimate yet stays a candidate: excluding those too doubled
/// the work of some WordNet queries.)
fn collect(
    graph: &CsrGraph,
    bounds: &Bounds,
    passes: &dyn Fn(NodeId) -> bool,
    nodes: &[NodeId],
    estimate: &[f64],
    floor: f64,
    candidates: &mut Vec<Candidate>,
) -> Option<f64> {
    candidates.clear();
    let mut unseen: Option<f64> = None;
    // With the mass `M` known, `hi = (est + err) / M` (clamped): a node whose `est + err` is
    // below `floor M` by more than rounding is skipped without computing its interval.
    let skip_below = match bounds.mass {
        Some(m) if floor > 0.0 => floor * m * (1.0 - 1e-12),
        _ => 0.0,
    };
    for &v in nodes {
        if !passes(v) {
            continue;
        }
        let est = estimate[v as usize];
        let w = graph.weight_sum(v);
        if est + bounds.residual_sum.min(w * bounds.rho) < skip_below {
            continue;
        }
        let (lo, hi) = bounds.interval(est, w);
        if hi > 0.0 && hi >= floor {
            if bounds.signed && est == 0.0 {
                unseen = Some(unseen.map_or(hi, |u| u.max(hi)));
            } else {
                candidates.push(Candidate {
                    mid: 0.5 * (lo + hi),
                    lo,
                    hi,
                    node: v,
                });
            }
        }
    }
    unseen
}

/// Selects the top-`k` candidates by midpoint and checks what their intervals prove;
/// `unreached` bounds every node that is not a candidate for lack of an estimate (never
/// reached by the push, or, in the sweep phase, listed but holding no estimate).
pub(super) fn judge(
    k: usize,
    accuracy: &Accuracy,
    unreached: Option<f64>,
    candidates: &mut [Candidate],
) -> Check {
    let order = |a: &Candidate, b: &Candidate| b.mid.total_cmp(&a.mid).then(a.node.cmp(&b.node));
    if candidates.len() > k && k > 0 {
        candidates.select_nth_unstable_by(k - 1, order);
    }
    let chosen_len = candidates.len().min(k);
    let (chosen, rest) = candidates.split_at_mut(chosen_len);
    chosen.sort_unstable_by(order);
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
        kth_lo,
        score_error,
        separated,
        ties_only,
        others: unreached.unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The sums over every node agree with a plain loop (to rounding; `rho` exactly, a maximum
    /// has no rounding), `R` is the same bits whichever way it is computed (the sweep phase
    /// decides from one and checks with the other), and `rho` skips nodes without links.
    #[test]
    fn dense_sums_match_a_plain_loop() {
        let mut rng = Rng::new(17);
        for n in [0usize, 1, 3, 4, 5, 11, 37, 1000] {
            let weight_sums: Vec<f64> = (0..n)
                .map(|i| {
                    if i % 7 == 3 {
                        0.0
                    } else {
                        1.0 + rng.below(50) as f64
                    }
                })
                .collect();
            let estimate: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
            let residual: Vec<f64> = (0..n)
                .map(|i| {
                    let r = rng.next_f64() - 0.5;
                    if i % 7 == 3 {
                        r.abs() * 1e3 // large where there are no links: must not count in rho
                    } else {
                        r
                    }
                })
                .collect();
            let (r, e, rho) = dense_sums(&weight_sums, &estimate, &residual, true);
            let plain_r: f64 = residual.iter().map(|r| r.abs()).sum();
            let plain_e: f64 = estimate.iter().sum();
            let plain_rho = (0..n)
                .filter(|&i| weight_sums[i] > 0.0)
                .map(|i| residual[i].abs() / weight_sums[i])
                .fold(0.0, f64::max);
            assert!((r - plain_r).abs() <= 1e-12 * plain_r.max(1.0), "n {n}");
            assert!((e - plain_e).abs() <= 1e-12 * plain_e.max(1.0), "n {n}");
            assert_eq!(rho.to_bits(), plain_rho.to_bits(), "n {n}");
            assert_eq!(
                residual_sum_dense(&residual).to_bits(),
                r.to_bits(),
                "n {n}"
            );
            assert_eq!(dense_sums(&weight_sums, &estimate, &residual, false).2, 0.0);
            // A block's lanes: each column the same bits as alone.
            let rows: Vec<[f64; 3]> = (0..n)
                .map(|i| [residual[i], estimate[i], -weight_sums[i]])
                .collect();
            let lanes = abs_sums(&rows);
            for (j, lane) in lanes.iter().enumerate() {
                let column: Vec<f64> = rows.iter().map(|row| row[j]).collect();
                assert_eq!(lane.to_bits(), residual_sum_dense(&column).to_bits());
            }
        }
    }

    /// A single-seed query at alpha 0.5, top 10, default target, with `hand_off`: the push's
    /// link visits when it handed off (`None` when the push certified alone), and the answer.
    fn answer_with(
        graph: &CsrGraph,
        seed: NodeId,
        hand_off: HandOff,
        ws: &mut PprWorkspace,
    ) -> (Option<u64>, Certified) {
        let accuracy = Accuracy::default();
        let passes = |_: NodeId| true;
        let run = certified_run(
            graph,
            &[(seed, 1.0)],
            0.5,
            10,
            &passes,
            &accuracy,
            hand_off,
            ws,
        );
        match run {
            Run::HandOff(progress) => {
                let work = progress.work;
                let answer = finish_dense(graph, 0.5, 10, &passes, &accuracy, progress, ws);
                (Some(work), answer)
            }
            Run::Done(answer) => (None, answer),
        }
    }

    /// On a hub graph the push hands off on price, well before a sweep's worth of work, and
    /// the answer after the hand-off is still certified; without the price rule it runs to
    /// its budget.
    #[test]
    fn the_push_hands_off_once_sweeps_are_cheaper() {
        let graph = crate::synth::barabasi_albert(3_000, 8, 3).csr(true);
        let mut ws = PprWorkspace::new();
        let single = HandOff::single(&graph);
        for seed in [5, 700, 2_900] {
            let (priced, answer) = answer_with(&graph, seed, single, &mut ws);
            let priced = priced.expect("certified by the push alone");
            assert!(
                priced < single.budget / 4,
                "seed {seed}: {priced} of {}",
                single.budget
            );
            assert!(
                answer.guarantee.meets(&Accuracy::default()),
                "{:?}",
                answer.guarantee
            );
            let exact = crate::ppr::exact_ppr(&graph, &[(seed, 1.0)], 0.5, 1e-12, &mut ws).scores;
            for &(v, score) in &answer.top {
                assert!((score - exact[v as usize]).abs() <= answer.guarantee.max_error + 1e-12);
            }
            let unpriced = HandOff {
                price: None,
                ..single
            };
            let (unpriced, _) = answer_with(&graph, seed, unpriced, &mut ws);
            let unpriced = unpriced.expect("certified by the push alone");
            assert!(unpriced >= single.budget, "seed {seed}: {unpriced}");
        }
    }

    /// The region test of the price rule: a push confined to a small component of a large
    /// graph is not handed off to sweeps over the whole graph while its region is narrow,
    /// though the price alone would hand it off.
    #[test]
    fn a_narrow_push_is_not_handed_off_with_the_region_test() {
        let small = crate::synth::barabasi_albert(300, 4, 1);
        let large = crate::synth::barabasi_albert(10_000, 8, 2);
        let offset = small.keys.len() as NodeId;
        let mut edges = small.edges.clone();
        edges.extend(large.edges.iter().map(|e| crate::graph::Edge {
            src: e.src + offset,
            dst: e.dst + offset,
            ..*e
        }));
        let graph = CsrGraph::from_edges(small.keys.len() + large.keys.len(), &edges, true);
        let mut ws = PprWorkspace::new();
        let priced = HandOff {
            price: Some(16.0),
            ..HandOff::single(&graph)
        };
        let gated = HandOff {
            gate_by_volume: true,
            ..priced
        };
        let mut handed_off = 0;
        for seed in [0, 100, 299] {
            let (work, answer) = answer_with(&graph, seed, gated, &mut ws);
            assert_eq!(work, None, "seed {seed}: handed off");
            assert!(answer.guarantee.meets(&Accuracy::default()));
            assert!(answer.top.iter().all(|&(v, _)| v < offset));
            handed_off += usize::from(answer_with(&graph, seed, priced, &mut ws).0.is_some());
        }
        assert!(
            handed_off > 0,
            "the price alone never handed off: the test shows nothing"
        );
    }

    /// The full check (every node a candidate) and how many candidates it considered.
    fn unfiltered(
        graph: &CsrGraph,
        bounds: &Bounds,
        k: usize,
        accuracy: &Accuracy,
        nodes: &[NodeId],
        estimate: &[f64],
    ) -> (Check, usize) {
        let mut candidates = Vec::new();
        let passes = |_: NodeId| true;
        let unseen = collect(
            graph,
            bounds,
            &passes,
            nodes,
            estimate,
            0.0,
            &mut candidates,
        );
        let unreached = (nodes.len() < graph.node_count())
            .then(|| bounds.interval(0.0, graph.max_weight_sum()).1);
        let unreached = max_bound(unreached, unseen);
        (
            judge(k, accuracy, unreached, &mut candidates),
            candidates.len(),
        )
    }

    /// The check that looks only at nodes whose upper bound reaches the k-th largest lower
    /// bound says what the check over every node says, in push states (local and dense,
    /// signed after over-relaxed sweeps), both modes, with ties (tolerances wide and narrow).
    #[test]
    fn the_filtered_check_equals_the_full_one() {
        let synth = crate::synth::barabasi_albert(400, 3, 5);
        let mut rng = Rng::from_parts(&[17]);
        let mut compared = 0;
        let mut narrowed = 0;
        let mut open = 0;
        for undirected in [true, false] {
            let graph = synth.csr(undirected);
            let n = graph.node_count();
            for round in 0..40 {
                let mut ws = PprWorkspace::new();
                ws.ensure(n);
                let seed = rng.below(n as u64) as NodeId;
                let alpha = [0.15, 0.5][round % 2];
                seed_residuals(&[(seed, 1.0)], &mut ws);
                let mass = graph.walks_never_die().then_some(1.0);
                let r_max = [1e-2, 1e-3, 1e-4][round % 3];
                fifo_push(
                    &graph,
                    alpha,
                    |v| threshold(&graph, v, r_max),
                    u64::MAX,
                    &mut ws,
                );
                let dense = round % 4 == 3;
                if dense {
                    make_dense(n, &mut ws);
                    sweep(&graph, alpha, 1.3, &mut ws);
                }
                let bounds = bounds(&graph, mass, dense, &ws.touched, &ws.estimate, &ws.residual);
                for k in [1, 5, 10, 40] {
                    for tie in [1e-12, 1e-3] {
                        let accuracy = Accuracy::default().tie_tolerance(tie);
                        let mut candidates = Vec::new();
                        let passes = |_: NodeId| true;
                        let filtered = check(
                            &graph,
                            &bounds,
                            k,
                            &passes,
                            &accuracy,
                            n,
                            &ws.touched,
                            &ws.estimate,
                            &mut candidates,
                        );
                        let (full, considered) =
                            unfiltered(&graph, &bounds, k, &accuracy, &ws.touched, &ws.estimate);
                        assert_eq!(filtered.top, full.top);
                        assert_eq!(filtered.score_error, full.score_error);
                        assert_eq!(filtered.separated, full.separated);
                        assert_eq!(filtered.ties_only, full.ties_only);
                        // The filter left nodes out, and on states whose boundary is open.
                        narrowed += usize::from(candidates.len() < considered);
                        open += usize::from(candidates.len() < considered && !full.separated);
                        compared += 1;
                    }
                }
                ws.clear_touched();
            }
        }
        assert_eq!(compared, 2 * 40 * 8);
        assert!(
            narrowed > compared / 2,
            "the filter left nodes out in {narrowed} checks"
        );
        assert!(open > 0, "no narrowed state had an open boundary");
    }

    /// The one case where the filtered check must be redone over every node: the returned
    /// node's lower bound is below the k-th largest (`u` ranks below `c` by midpoint but has
    /// the higher lower bound), both are narrow, and a wide node `x` left out by the filter
    /// reaches above `c`'s lower bound. Ties only, says the filtered check; not so, says
    /// every node.
    #[test]
    fn a_wide_node_left_out_by_the_filter_is_still_seen() {
        use crate::graph::Edge;
        let edge = |src: NodeId, dst: NodeId, weight: f64| Edge {
            src,
            rel: 0,
            dst,
            weight,
        };
        // Weight sums: u (0) 1, c (1) 5, x (2) 500; node 3 holds the other ends.
        let edges = [edge(0, 3, 1.0), edge(1, 3, 5.0), edge(2, 3, 500.0)];
        let graph = CsrGraph::from_edges(4, &edges, true);
        // Known mass 1, no negative residual: interval [est, est + min(R, W rho)].
        let bounds = Bounds {
            residual_sum: 1.0,
            estimate_sum: 0.0,
            rho: 1e-4,
            mass: Some(1.0),
            signed: false,
        };
        let estimate = [0.5001, 0.5, 0.45005, 0.0];
        let nodes: Vec<NodeId> = (0..4).collect();
        let accuracy = Accuracy::default().tie_tolerance(1e-3);
        let passes = |_: NodeId| true;
        let mut candidates = Vec::new();
        let filtered = check(
            &graph,
            &bounds,
            1,
            &passes,
            &accuracy,
            4,
            &nodes,
            &estimate,
            &mut candidates,
        );
        let (full, _) = unfiltered(&graph, &bounds, 1, &accuracy, &nodes, &estimate);
        assert_eq!(full.top.first().map(|t| t.0), Some(1));
        assert!(!full.ties_only, "x straddles and is wide");
        assert_eq!(filtered.ties_only, full.ties_only);
        assert_eq!(filtered.top, full.top);
    }
}
