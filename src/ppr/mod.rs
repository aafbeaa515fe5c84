//! Personalized PageRank on a [`CsrGraph`] snapshot: an exact solver, forward push, Monte Carlo
//! walks, and the query layer (validation, method choice, top-k, batches) the database calls.
//!
//! Semantics are igraph's `personalized_pagerank` with weights (`shared/PPR-NOTES.md`): the
//! leaky vector `psi_p = alpha * sum_k p ((1 - alpha) P)^k` with dangling rows of `P` zero, and
//! the reported scores are `pi_p = psi_p / |psi_p|`. `alpha` is the restart probability (igraph's
//! damping is `1 - alpha`). Self-loops and parallel links are ordinary links, as in igraph.
//!
//! Every algorithm takes a [`PprWorkspace`] of dense scratch vectors that it leaves clean, so a
//! batch reuses one workspace per thread instead of allocating per query.

mod all;
mod certified;
mod exact;
mod montecarlo;
mod push;
mod sampled;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rayon::prelude::*;

use crate::graph::{Adjacency, CsrGraph, NodeId, RelId};
use crate::rng::Rng;
use crate::walks::{Truncation, WalkIndex, WalkQueue};

pub use exact::{exact_ppr, ExactResult, EXACT_TOLERANCE};
pub use montecarlo::{monte_carlo, MonteCarloEstimate, WalkResult};
pub use push::{forward_push, PushResult};

/// The default [`Accuracy::max_error`]: every returned score within 1e-4 of the exact score,
/// what a user comparing with igraph expects.
pub const DEFAULT_MAX_ERROR: f64 = 1e-4;

/// The default [`Accuracy::tie_tolerance`]: nodes whose scores are known to within this much
/// and straddle the top-k boundary count as tied (structurally equivalent nodes have exactly
/// equal scores and can never be separated).
pub const DEFAULT_TIE_TOLERANCE: f64 = 1e-6;

/// The default [`Accuracy::failure_probability`] of randomized methods.
pub const DEFAULT_FAILURE_PROBABILITY: f64 = 1e-3;

/// Graphs with at most this many links are solved exactly by `Method::Auto`: there the exact
/// solver costs well under a millisecond, so approximating buys nothing.
pub const AUTO_EXACT_MAX_LINKS: usize = 50_000;

/// Walks `Method::Walks` runs when the query sets no count.
pub const DEFAULT_WALKS: u64 = 100_000;

/// Reusable dense scratch space for the PPR algorithms (about 30 bytes per node, 8 more once
/// `Method::Index` has run).
///
/// Every algorithm leaves it all-zero, so one workspace serves any number of queries, on any
/// graph (it grows to the largest node count seen).
#[derive(Clone, Debug, Default)]
pub struct PprWorkspace {
    pub(crate) estimate: Vec<f64>,
    pub(crate) residual: Vec<f64>,
    pub(crate) flags: Vec<bool>,
    pub(crate) counts: Vec<u32>,
    pub(crate) touched: Vec<NodeId>,
    pub(crate) walk_nodes: Vec<NodeId>,
    pub(crate) queue: VecDeque<NodeId>,
    candidates: Vec<(f64, NodeId)>,
    residual_nodes: Vec<(NodeId, f64)>,
    walk_queue: WalkQueue,
    /// End-point mass of the guaranteed index method's walks (sized on its first use).
    pub(crate) walk_mass: Vec<f64>,
    /// The nodes with a non-zero `walk_mass`.
    pub(crate) walk_touched: Vec<NodeId>,
    /// The walks a guaranteed index round reads: `(walk id, share)`.
    pub(crate) walk_queue_ids: Vec<(u32, f64)>,
}

impl PprWorkspace {
    /// An empty workspace; it sizes itself on first use.
    pub fn new() -> PprWorkspace {
        PprWorkspace::default()
    }

    /// Grows the dense vectors to `n` entries (zeroed memory, so untouched pages cost nothing).
    pub(crate) fn ensure(&mut self, n: usize) {
        if self.estimate.len() < n {
            self.estimate.resize(n, 0.0);
            self.residual.resize(n, 0.0);
            self.flags.resize(n, false);
            self.counts.resize(n, 0);
        }
    }

    /// Zeroes the entries of the touched nodes and forgets them.
    pub(crate) fn clear_touched(&mut self) {
        for &v in &self.touched {
            let i = v as usize;
            self.estimate[i] = 0.0;
            self.residual[i] = 0.0;
            self.flags[i] = false;
        }
        self.touched.clear();
        self.queue.clear();
    }

    /// Zeroes the first `n` dense entries (after a solve that may have touched all of them).
    pub(crate) fn clear_dense(&mut self, n: usize) {
        self.estimate[..n].iter_mut().for_each(|x| *x = 0.0);
        self.residual[..n].iter_mut().for_each(|x| *x = 0.0);
        self.flags[..n].iter_mut().for_each(|x| *x = false);
        self.touched.clear();
        self.queue.clear();
    }

    /// True when every scratch entry is zero: the state every algorithm must leave behind.
    pub fn is_clean(&self) -> bool {
        // Bits, not `== 0.0`: a `-0.0` residual left behind would read as "already listed" to
        // the push's first-touch test (see `push::fifo_push`).
        self.estimate.iter().all(|&x| x.to_bits() == 0)
            && self.residual.iter().all(|&x| x.to_bits() == 0)
            && self.flags.iter().all(|&x| !x)
            && self.counts.iter().all(|&x| x == 0)
            && self.touched.is_empty()
            && self.queue.is_empty()
            && self.walk_mass.iter().all(|&x| x.to_bits() == 0)
            && self.walk_touched.is_empty()
    }
}

/// What an answer must guarantee: the accuracy contract of a query.
///
/// The default is what a user comparing with igraph expects: every returned score within
/// [`DEFAULT_MAX_ERROR`] of the exact score and the returned set certified to be the exact
/// top-k (up to ties, see [`Accuracy::tie_tolerance`]). Deterministic methods prove it; a
/// randomized method may fail it with at most [`Accuracy::failure_probability`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Accuracy {
    /// Largest absolute error allowed on a returned score; `f64::INFINITY` asks for the set
    /// only.
    pub max_error: f64,
    /// Whether the returned set must be certified as the exact top-k.
    pub certify_top_k: bool,
    /// Nodes straddling the top-k boundary whose scores are known to within this much count as
    /// tied: either may be returned.
    pub tie_tolerance: f64,
    /// The probability a randomized method may miss the target with.
    pub failure_probability: f64,
}

impl Default for Accuracy {
    fn default() -> Accuracy {
        Accuracy {
            max_error: DEFAULT_MAX_ERROR,
            certify_top_k: true,
            tie_tolerance: DEFAULT_TIE_TOLERANCE,
            failure_probability: DEFAULT_FAILURE_PROBABILITY,
        }
    }
}

impl Accuracy {
    /// The default target with another score error (`f64::INFINITY`: the set only).
    pub fn with_max_error(max_error: f64) -> Accuracy {
        Accuracy {
            max_error,
            ..Accuracy::default()
        }
    }

    /// Only the top-k set is certified; scores carry whatever bound they reach.
    pub fn set_only() -> Accuracy {
        Accuracy::with_max_error(f64::INFINITY)
    }

    /// Sets whether the top-k set is certified.
    pub fn certify_top_k(mut self, certify: bool) -> Accuracy {
        self.certify_top_k = certify;
        self
    }

    /// Sets the tie tolerance.
    pub fn tie_tolerance(mut self, tolerance: f64) -> Accuracy {
        self.tie_tolerance = tolerance;
        self
    }

    /// Sets the failure probability of randomized methods.
    pub fn failure_probability(mut self, probability: f64) -> Accuracy {
        self.failure_probability = probability;
        self
    }

    /// Checks the fields are meaningful.
    pub fn validate(&self) -> Result<(), QueryError> {
        let bad = |what: &'static str, value: f64| QueryError::BadAccuracy { what, value };
        // NaN fails every comparison, so it is caught here too.
        if self.max_error.is_nan() || self.max_error <= 0.0 {
            return Err(bad("max_error", self.max_error));
        }
        if !(self.tie_tolerance >= 1e-12 && self.tie_tolerance.is_finite()) {
            return Err(bad("tie_tolerance", self.tie_tolerance));
        }
        if !(self.failure_probability > 0.0 && self.failure_probability < 1.0) {
            return Err(bad("failure_probability", self.failure_probability));
        }
        if !self.certify_top_k && self.max_error.is_infinite() {
            return Err(bad(
                "max_error (with no top-k certification)",
                self.max_error,
            ));
        }
        Ok(())
    }
}

/// What the returned top-k set is known to be.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum TopKGuarantee {
    /// The exact top-k set (ties at the boundary broken by node id, as the exact solver does).
    Exact,
    /// The exact top-k set except that nodes straddling the boundary whose scores are known to
    /// within this much may stand in for one another.
    UpToTies(f64),
    /// Nothing is proven about the set.
    None,
}

/// What an answer guarantees, reported with every answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Guarantee {
    /// Every returned score is within this much of the exact score (`f64::INFINITY`: no bound).
    pub max_error: f64,
    /// What the returned set is known to be.
    pub top_k: TopKGuarantee,
    /// The probability that the statements above fail: 0 for deterministic methods.
    pub failure_probability: f64,
}

impl Guarantee {
    /// Nothing proven (Monte Carlo without a bound, or an explicit expert threshold).
    pub const NONE: Guarantee = Guarantee {
        max_error: f64::INFINITY,
        top_k: TopKGuarantee::None,
        failure_probability: 1.0,
    };

    /// Whether this guarantee meets `accuracy`.
    pub fn meets(&self, accuracy: &Accuracy) -> bool {
        let set = !accuracy.certify_top_k
            || match self.top_k {
                TopKGuarantee::Exact => true,
                TopKGuarantee::UpToTies(t) => t <= accuracy.tie_tolerance,
                TopKGuarantee::None => false,
            };
        set && self.max_error <= accuracy.max_error
            && self.failure_probability <= accuracy.failure_probability
    }
}

/// How a query is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// The planner: exact for small graphs (at most [`AUTO_EXACT_MAX_LINKS`] links), else the
    /// certified push (as `Push`). Every answer meets the query's [`Accuracy`].
    Auto,
    /// The exact solver, L1 error on the scores below [`EXACT_TOLERANCE`].
    Exact,
    /// Certified forward push: refined until the answer provably meets the query's
    /// [`Accuracy`] (see the `certified` module). With an explicit [`PprQuery::push_r_max`]
    /// it is one plain push at that threshold, reporting only its L1 bound.
    Push,
    /// Monte Carlo walks generated on the fly; approximate, no certified bound.
    Walks,
    /// FORA on the stored walk index: forward push, then the end points of the stored walks
    /// of each residual node, with every score's interval from a Bernstein bound (the
    /// `sampled` module). It aims at the query's score bound (the default one for a set-only
    /// target: walks prove scores, not sets), pushing further and drawing again, at most 10
    /// times, until it proves it, and reports what it proved, which holds except with
    /// probability at most [`Accuracy::failure_probability`] (0 when the push's own bounds
    /// proved it); the walks' noise lets it certify the top-k set only when the boundary is
    /// well separated. With an explicit [`PprQuery::push_r_max`]
    /// or [`PprQuery::walks_per_residual`] it is plain FORA at those parameters (the visit
    /// estimator) and reports no guarantee. Needs [`PprQuery::walk_index`] and a query alpha
    /// at least the index's; otherwise the query falls back to what `Auto` would run without
    /// an index, and the result says so.
    Index,
}

impl Method {
    /// The lower-case name used by the command line (`auto`, `exact`, `push`, `walks`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Exact => "exact",
            Method::Push => "push",
            Method::Walks => "walks",
            Method::Index => "index",
        }
    }
}

/// A predicate selecting the nodes a query may rank (e.g. a key prefix); seeds still count for
/// the walk whether or not they pass it.
pub type TargetFilter<'a> = &'a (dyn Fn(NodeId) -> bool + Sync);

/// One Personalized PageRank query.
#[derive(Clone)]
pub struct PprQuery<'a> {
    /// Seed nodes and weights (> 0, finite); normalised to sum 1, repeated nodes add.
    pub seeds: Vec<(NodeId, f64)>,
    /// Restart probability, in (0, 1).
    pub alpha: f64,
    /// Number of results to return.
    pub top_k: usize,
    /// How to answer.
    pub method: Method,
    /// Only nodes passing this predicate are ranked.
    pub target_filter: Option<TargetFilter<'a>>,
    /// What the answer must guarantee (ignored by `Walks` and by `Push` and `Index` with
    /// explicit parameters, which report what they reach).
    pub accuracy: Accuracy,
    /// An explicit push threshold: `Push` then runs one plain push at it (no certification)
    /// and `Index` runs plain FORA pushing to it; ignored by other methods.
    pub push_r_max: Option<f64>,
    /// FORA's `omega` for `Index`: stored walks used per unit of residual; with it (or with
    /// `push_r_max`) `Index` runs plain FORA, the parameter not given set so that
    /// `push_r_max * walks_per_residual` is the index's walks per link.
    pub walks_per_residual: Option<f64>,
    /// Number of walks for `Walks` (default [`DEFAULT_WALKS`]).
    pub walks: Option<u64>,
    /// Seed of the walk generator for `Walks` and of the draws of `Index` (truncation, and the
    /// rounding of residuals below one walk), so results are reproducible.
    pub rng_seed: u64,
    /// The stored walk index of this graph, for `Index` and `Auto`. It must be current for
    /// `graph` (built or repaired up to the same version): the caller guarantees it.
    pub walk_index: Option<&'a WalkIndex>,
}

impl<'a> PprQuery<'a> {
    /// A query with the defaults: top 10, `Method::Auto`, no filter.
    pub fn new(seeds: Vec<(NodeId, f64)>, alpha: f64) -> PprQuery<'a> {
        PprQuery {
            seeds,
            alpha,
            top_k: 10,
            method: Method::Auto,
            target_filter: None,
            accuracy: Accuracy::default(),
            push_r_max: None,
            walks_per_residual: None,
            walks: None,
            rng_seed: 0,
            walk_index: None,
        }
    }

    /// Sets the number of results.
    pub fn top_k(mut self, top_k: usize) -> Self {
        self.top_k = top_k;
        self
    }

    /// Sets the method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Ranks only nodes passing `filter`.
    pub fn target_filter(mut self, filter: TargetFilter<'a>) -> Self {
        self.target_filter = Some(filter);
        self
    }

    /// Lets `Index` and `Auto` answer from `index`, which must be current for the graph the
    /// query runs on.
    pub fn walk_index(mut self, index: &'a WalkIndex) -> Self {
        self.walk_index = Some(index);
        self
    }
}

impl fmt::Debug for PprQuery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PprQuery")
            .field("seeds", &self.seeds)
            .field("alpha", &self.alpha)
            .field("top_k", &self.top_k)
            .field("method", &self.method)
            .field("target_filter", &self.target_filter.map(|_| "<fn>"))
            .field("accuracy", &self.accuracy)
            .field("push_r_max", &self.push_r_max)
            .field("walks_per_residual", &self.walks_per_residual)
            .field("walks", &self.walks)
            .field("rng_seed", &self.rng_seed)
            .field("walk_index", &self.walk_index.map(|i| i.params()))
            .finish()
    }
}

/// The answer to a [`PprQuery`].
#[derive(Clone, Debug, PartialEq)]
pub struct PprResult {
    /// The method that ran: `Auto` resolved (see [`Method::Auto`]), and `Index` replaced by
    /// its fallback when the index could not serve the query.
    pub method: Method,
    /// The restart probability used.
    pub alpha: f64,
    /// Up to `top_k` `(node, score)` pairs with score > 0, by descending score then node id;
    /// scores are entries of the normalised `pi`.
    pub top: Vec<(NodeId, f64)>,
    /// Upper bound on the L1 error of the (full) score vector the top was taken from;
    /// `f64::INFINITY` for `Walks`, whose error is statistical, not bounded.
    pub error_bound: f64,
    /// What the answer guarantees about the returned scores and set.
    pub guarantee: Guarantee,
    /// Link visits spent (pushes and sweeps; walk steps for the walk methods).
    pub work: u64,
    /// Time spent answering, inside the process.
    pub elapsed: Duration,
}

/// Why a query was rejected; no query input makes the engine panic.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query has no seed.
    #[error("the query has no seed nodes")]
    NoSeeds,
    /// A seed weight is NaN, infinite or <= 0.
    #[error("seed node {node} has weight {weight}; seed weights must be finite and > 0")]
    BadSeedWeight {
        /// The seed.
        node: NodeId,
        /// Its weight.
        weight: f64,
    },
    /// A node id is not in the graph.
    #[error("node id {node} is out of range: the graph has {node_count} nodes")]
    NodeOutOfRange {
        /// The id.
        node: NodeId,
        /// The graph's node count.
        node_count: usize,
    },
    /// alpha is not in (0, 1).
    #[error("alpha {0} is not a restart probability in (0, 1)")]
    BadAlpha(f64),
    /// The push threshold is not a finite number > 0.
    #[error("push threshold r_max {0} is not a finite number > 0")]
    BadRMax(f64),
    /// The index walks per unit of residual is not a finite number > 0.
    #[error("walks per unit of residual {0} is not a finite number > 0")]
    BadOmega(f64),
    /// An accuracy target field is out of range.
    #[error("accuracy target {what} = {value} is out of range")]
    BadAccuracy {
        /// The field.
        what: &'static str,
        /// Its value.
        value: f64,
    },
    /// Zero walks were asked for.
    #[error("the walk count must be at least 1")]
    NoWalks,
    /// The walk index could not be read (a damaged block of its file). The database reports
    /// it as corruption of the walk-index file.
    #[error("walk index unreadable at byte {offset}: {reason}")]
    WalkIndexDamaged {
        /// Byte offset in the walk-index file.
        offset: u64,
        /// What failed.
        reason: String,
    },
    /// A relation multiplier is NaN, infinite or negative.
    #[error("relation {rel} has multiplier {multiplier}; multipliers must be finite and >= 0")]
    BadMultiplier {
        /// The relation.
        rel: RelId,
        /// Its multiplier.
        multiplier: f64,
    },
}

fn check_alpha(alpha: f64) -> Result<(), QueryError> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(QueryError::BadAlpha(alpha))
    }
}

/// Validates seeds and returns them merged by node, normalised to sum 1.
fn normalised_seeds(
    graph: &CsrGraph,
    seeds: &[(NodeId, f64)],
) -> Result<Vec<(NodeId, f64)>, QueryError> {
    if seeds.is_empty() {
        return Err(QueryError::NoSeeds);
    }
    let node_count = graph.node_count();
    let mut merged: Vec<(NodeId, f64)> = Vec::with_capacity(seeds.len());
    for &(node, weight) in seeds {
        if !(weight.is_finite() && weight > 0.0) {
            return Err(QueryError::BadSeedWeight { node, weight });
        }
        if node as usize >= node_count {
            return Err(QueryError::NodeOutOfRange { node, node_count });
        }
        merged.push((node, weight));
    }
    merged.sort_unstable_by_key(|&(v, _)| v);
    merged.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 += later.1;
            true
        } else {
            false
        }
    });
    let total: f64 = merged.iter().map(|&(_, w)| w).sum();
    if !total.is_finite() {
        // Finite weights can still overflow when summed; rescale first.
        let max = merged.iter().map(|&(_, w)| w).fold(0.0, f64::max);
        merged.iter_mut().for_each(|(_, w)| *w /= max);
        let total: f64 = merged.iter().map(|&(_, w)| w).sum();
        merged.iter_mut().for_each(|(_, w)| *w /= total);
    } else {
        merged.iter_mut().for_each(|(_, w)| *w /= total);
    }
    Ok(merged)
}

/// The `k` best of `candidates` by descending score then ascending node id, sorted.
fn select_top(candidates: &mut Vec<(f64, NodeId)>, k: usize) -> Vec<(NodeId, f64)> {
    let order = |a: &(f64, NodeId), b: &(f64, NodeId)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if k == 0 {
        candidates.clear();
        return Vec::new();
    }
    if candidates.len() > k {
        candidates.select_nth_unstable_by(k - 1, order);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(order);
    let top = candidates.iter().map(|&(s, v)| (v, s)).collect();
    candidates.clear();
    top
}

/// Answers one query using `ws` as scratch. This is the single-query entry point of the
/// database; [`ppr_batch`] calls it from a thread pool.
pub fn ppr(
    graph: &CsrGraph,
    query: &PprQuery<'_>,
    ws: &mut PprWorkspace,
) -> Result<PprResult, QueryError> {
    let started = Instant::now();
    check_alpha(query.alpha)?;
    query.accuracy.validate()?;
    let seeds = normalised_seeds(graph, &query.seeds)?;
    let method = resolve_method(graph, query);
    let passes = |v: NodeId| query.target_filter.is_none_or(|f| f(v));
    let mut candidates = std::mem::take(&mut ws.candidates);
    let mut direct_top = None;
    // resolve_method returns Index only when this is Some.
    let usable = query
        .walk_index
        .and_then(|index| Truncation::new(index.params().alpha, query.alpha).map(|t| (index, t)));
    let (error_bound, guarantee, work) = match (method, usable) {
        (Method::Exact | Method::Auto, _) => {
            let n = graph.node_count();
            let stats = exact::solve_in_workspace(graph, &seeds, query.alpha, EXACT_TOLERANCE, ws);
            let scale = 1.0 / stats.estimate_sum;
            candidates.extend(
                ws.estimate[..n]
                    .iter()
                    .enumerate()
                    .filter(|&(v, &e)| e > 0.0 && passes(v as NodeId))
                    .map(|(v, &e)| (e * scale, v as NodeId)),
            );
            ws.clear_dense(n);
            // The L1 bound bounds every entry; two entries closer than twice it may be in
            // either order.
            let guarantee = Guarantee {
                max_error: stats.error_bound,
                top_k: TopKGuarantee::UpToTies(2.0 * stats.error_bound),
                failure_probability: 0.0,
            };
            let work = (u64::from(stats.sweeps) + 1) * (graph.link_count() + n) as u64;
            (stats.error_bound, guarantee, work)
        }
        (Method::Push, _) => match query.push_r_max {
            None => {
                let answer = certified::certified_top_k(
                    graph,
                    &seeds,
                    query.alpha,
                    query.top_k,
                    &passes,
                    &query.accuracy,
                    ws,
                );
                direct_top = Some(answer.top);
                let g = answer.guarantee;
                (g.max_error, g, answer.work)
            }
            // An explicit threshold: one plain push, reporting only its L1 bound.
            Some(r_max) => {
                if !(r_max.is_finite() && r_max > 0.0) {
                    ws.candidates = candidates;
                    return Err(QueryError::BadRMax(r_max));
                }
                let stats = push::push_in_workspace(graph, &seeds, query.alpha, r_max, ws);
                let scale = 1.0 / stats.estimate_sum;
                candidates.extend(ws.touched.iter().filter_map(|&v| {
                    let e = ws.estimate[v as usize];
                    (e > 0.0 && passes(v)).then_some((e * scale, v))
                }));
                ws.clear_touched();
                let (r, e) = (stats.residual_sum, stats.estimate_sum);
                let bound = if r <= 0.0 { 0.0 } else { 2.0 * r / (e + r) };
                let guarantee = Guarantee {
                    max_error: bound,
                    top_k: TopKGuarantee::None,
                    failure_probability: 0.0,
                };
                (bound, guarantee, stats.work)
            }
        },
        (Method::Index, Some((index, truncation)))
            if query.push_r_max.is_none() && query.walks_per_residual.is_none() =>
        {
            let index_query = sampled::IndexQuery {
                graph,
                alpha: query.alpha,
                k: query.top_k,
                passes: &passes,
                accuracy: &query.accuracy,
                index,
                truncation,
                rng_seed: query.rng_seed,
                plan: sampled::Plan::BALANCED,
            };
            match sampled::index_top_k(&index_query, &seeds, ws) {
                Ok(answer) => {
                    direct_top = Some(answer.top);
                    let g = answer.guarantee;
                    (g.max_error, g, answer.work)
                }
                Err(e) => {
                    ws.candidates = candidates;
                    return Err(damaged_index(e));
                }
            }
        }
        // Expert parameters: FORA as given, with no guarantee. The one not given is set so
        // that a residual node's stored walks just suffice (`r_max * omega` walks per link).
        (Method::Index, _) => {
            let per_link = query
                .walk_index
                .map_or(1.0, |index| index.params().walks_per_node);
            if let Some(omega) = query.walks_per_residual {
                if !(omega.is_finite() && omega > 0.0) {
                    ws.candidates = candidates;
                    return Err(QueryError::BadOmega(omega));
                }
            }
            let r_max = query
                .push_r_max
                .or(query.walks_per_residual.map(|omega| per_link / omega))
                .unwrap_or(f64::NAN);
            if !(r_max.is_finite() && r_max > 0.0) {
                ws.candidates = candidates;
                return Err(QueryError::BadRMax(r_max));
            }
            let omega = query.walks_per_residual.unwrap_or(per_link / r_max);
            if !(omega.is_finite() && omega > 0.0) {
                ws.candidates = candidates;
                return Err(QueryError::BadOmega(omega));
            }
            // Without a usable index (never, since resolve_method checked) there is no walk
            // phase: push alone stays correct.
            let (mass, work) =
                match index_in_workspace(graph, &seeds, query, r_max, omega, usable, ws) {
                    Ok(done) => done,
                    Err(e) => {
                        // A damaged walk-index block: leave the workspace clean for the next
                        // query, as every successful path does.
                        ws.residual_nodes.clear();
                        ws.walk_queue = WalkQueue::default();
                        ws.clear_touched();
                        ws.candidates = candidates;
                        return Err(e);
                    }
                };
            let scale = 1.0 / mass;
            candidates.extend(ws.touched.iter().filter_map(|&v| {
                let e = ws.estimate[v as usize];
                (e > 0.0 && passes(v)).then_some((e * scale, v))
            }));
            ws.clear_touched();
            (f64::INFINITY, Guarantee::NONE, work)
        }
        (Method::Walks, _) => {
            let walks = query.walks.unwrap_or(DEFAULT_WALKS);
            if walks == 0 {
                ws.candidates = candidates;
                return Err(QueryError::NoWalks);
            }
            let mut rng = Rng::new(query.rng_seed);
            let result = monte_carlo(graph, &seeds, query.alpha, walks, &mut rng, ws);
            let scale = 1.0 / result.mass;
            candidates.extend(
                result
                    .estimates
                    .iter()
                    .filter(|e| e.psi > 0.0 && passes(e.node))
                    .map(|e| (e.psi * scale, e.node)),
            );
            (f64::INFINITY, Guarantee::NONE, walks)
        }
    };
    let top = match direct_top {
        Some(top) => top,
        None => select_top(&mut candidates, query.top_k),
    };
    candidates.clear();
    ws.candidates = candidates;
    Ok(PprResult {
        method,
        alpha: query.alpha,
        top,
        error_bound,
        guarantee,
        work,
        elapsed: started.elapsed(),
    })
}

/// Whether `query.walk_index` can answer `query` on `graph`: present, covering every node, and
/// stored for an alpha no larger than the query's.
fn index_serves(graph: &CsrGraph, query: &PprQuery<'_>) -> bool {
    query.walk_index.is_some_and(|index| {
        index.node_count() >= graph.node_count()
            && Truncation::new(index.params().alpha, query.alpha).is_some()
    })
}

/// The method that runs for `query`:
/// - `Auto`: exact on graphs of at most [`AUTO_EXACT_MAX_LINKS`] links (exact costs well under
///   a millisecond there); else the certified push, which meets the query's accuracy target on
///   any graph. (The walk index does not enter: at the default target its Monte-Carlo error
///   needs more walks than the push it would save; see ARCHITECTURE.md.)
/// - `Index` without a usable index (none given, query alpha below the index's): what `Auto`
///   runs.
fn resolve_method(graph: &CsrGraph, query: &PprQuery<'_>) -> Method {
    let planned = if graph.link_count() <= AUTO_EXACT_MAX_LINKS {
        Method::Exact
    } else {
        Method::Push
    };
    match query.method {
        Method::Auto => planned,
        Method::Index if index_serves(graph, query) => Method::Index,
        Method::Index => planned,
        m => m,
    }
}

/// FORA in the workspace: forward push from `seeds` to `r_max`, then each remaining residual
/// `r(v)` spread by `ceil(r(v) * omega)` stored walks of `v` (at most all it stores).
/// Leaves the unnormalised estimate of `psi` in `ws.estimate` with every non-zero entry's node
/// in `ws.touched` (the caller clears it), and returns the estimate's total mass, the divisor
/// that turns it into `pi` (leaky-walk semantics: never assume it is 1).
fn index_in_workspace(
    graph: &CsrGraph,
    seeds: &[(NodeId, f64)],
    query: &PprQuery<'_>,
    r_max: f64,
    omega: f64,
    index: Option<(&WalkIndex, Truncation)>,
    ws: &mut PprWorkspace,
) -> Result<(f64, u64), QueryError> {
    let stats = push::push_in_workspace(graph, seeds, query.alpha, r_max, ws);
    let Some((index, truncation)) = index else {
        return Ok((stats.estimate_sum, stats.work));
    };
    let damaged = damaged_index;
    let mut visits = 0u64;
    let PprWorkspace {
        estimate,
        residual,
        flags,
        touched,
        residual_nodes,
        walk_queue,
        ..
    } = ws;
    // `flags` is all false after a push; from here it marks the nodes listed in `touched`, so a
    // node first reached by a walk is listed exactly once.
    residual_nodes.clear();
    for &v in touched.iter() {
        let i = v as usize;
        flags[i] = true;
        let r = residual[i];
        if r > 0.0 {
            residual_nodes.push((v, r));
        }
    }
    let mut add = |t: NodeId, amount: f64| {
        visits += 1;
        let i = t as usize;
        if !flags[i] {
            flags[i] = true;
            touched.push(t);
        }
        estimate[i] += amount;
    };
    let mut rng = Rng::from_parts(&[INDEX_QUERY_STREAM, query.rng_seed]);
    let mut mass = stats.estimate_sum;
    for &(v, r) in residual_nodes.iter() {
        // FORA's allocation: r(v) * omega walks, each carrying r(v) / n_walks <= 1 / omega.
        // Below one walk, randomized rounding keeps the estimate unbiased: one walk carrying
        // 1 / omega with probability r(v) * omega, else none (most residual nodes of a fine
        // push are in this case, and skipping them is what keeps the walk phase cheap).
        let wanted = r * omega;
        let (n_walks, carried) = if wanted >= 1.0 {
            (wanted.ceil() as usize, r)
        } else if rng.bernoulli(wanted) {
            (1, 1.0 / omega)
        } else {
            continue;
        };
        mass += index
            .queue_walks(v, carried, n_walks, truncation, walk_queue, &mut add)
            .map_err(damaged)?;
    }
    mass += index
        .run_queued_walks(truncation, &mut rng, walk_queue, &mut add)
        .map_err(damaged)?;
    if graph.walks_never_die() {
        // No walk can die, so |psi_v| = 1 for a node with links and alpha for one without:
        // the total is known, and dividing by it (instead of by the estimated total) keeps the
        // scores unbiased and removes the walk-length noise from every score.
        mass = stats.estimate_sum;
        for &(v, r) in residual_nodes.iter() {
            mass += if graph.degree(v) > 0 {
                r
            } else {
                query.alpha * r
            };
        }
    }
    residual_nodes.clear();
    Ok((mass, stats.work + visits))
}

/// The query error for a walk-index read that failed (a damaged block).
fn damaged_index(e: crate::walks::WalkIndexError) -> QueryError {
    QueryError::WalkIndexDamaged {
        offset: match &e {
            crate::walks::WalkIndexError::Corrupt { offset, .. } => *offset,
            _ => 0,
        },
        reason: e.to_string(),
    }
}

/// Stream tag of the truncation draws of index queries.
const INDEX_QUERY_STREAM: u64 = 0x4944_5851; // "IDXQ"

/// A pool of workspaces shared by the jobs of one parallel call: rayon may start more jobs than
/// threads, and each takes a workspace from here and gives it back when done, so a batch
/// allocates about one workspace per thread.
struct WorkspacePool {
    free: Mutex<Vec<PprWorkspace>>,
}

/// A workspace borrowed from a [`WorkspacePool`], returned on drop.
struct PooledWorkspace<'p> {
    ws: PprWorkspace,
    pool: &'p WorkspacePool,
}

impl WorkspacePool {
    fn new() -> WorkspacePool {
        WorkspacePool {
            free: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> PooledWorkspace<'_> {
        let ws = self.free.lock().pop().unwrap_or_default();
        PooledWorkspace { ws, pool: self }
    }
}

impl Drop for PooledWorkspace<'_> {
    fn drop(&mut self) {
        self.pool.free.lock().push(std::mem::take(&mut self.ws));
    }
}

/// Answers many queries in parallel on the current rayon pool, one workspace per worker;
/// results come back in input order.
///
/// Queries the certified push answers with every node allowed to rank (`Auto` on graphs
/// past [`AUTO_EXACT_MAX_LINKS`] links, or `Push`, with no target filter or explicit push
/// threshold) share their node-order sweeps in blocks, grouped by alpha, when the graph is
/// small enough for blocks to pay (see the `all` module). Such an answer meets the query's
/// target as [`ppr`]'s does and is deterministic, but it is not bit for bit [`ppr`]'s: a
/// push hands off to the shared sweeps earlier, so scores and near-ties may differ within
/// what both guarantee. Every other query gets exactly [`ppr`]'s answer.
pub fn ppr_batch(graph: &CsrGraph, queries: &[PprQuery<'_>]) -> Vec<Result<PprResult, QueryError>> {
    let lanes = all::lanes_for(graph.node_count());
    // Per alpha (by its bits): the queries that go to blocks, with their lane queries.
    let mut groups: Vec<(u64, Vec<(usize, all::LaneQuery)>)> = Vec::new();
    let mut alone: Vec<usize> = Vec::new();
    for (i, query) in queries.iter().enumerate() {
        match block_query(graph, query).filter(|_| lanes > 1) {
            Some(lane) => {
                let bits = query.alpha.to_bits();
                match groups.iter_mut().find(|(b, _)| *b == bits) {
                    Some((_, group)) => group.push((i, lane)),
                    None => groups.push((bits, vec![(i, lane)])),
                }
            }
            None => alone.push(i),
        }
    }
    let mut results: Vec<Option<Result<PprResult, QueryError>>> = Vec::new();
    results.resize_with(queries.len(), || None);
    let pool = WorkspacePool::new();
    let single: Vec<(usize, Result<PprResult, QueryError>)> = alone
        .par_iter()
        .map_init(
            || pool.take(),
            |pooled, &i| (i, ppr(graph, &queries[i], &mut pooled.ws)),
        )
        .collect();
    for (i, result) in single {
        results[i] = Some(result);
    }
    let blocks = all::BlockPool::default();
    for (bits, group) in &groups {
        let alpha = f64::from_bits(*bits);
        let job = all::BlockJob::shared(graph, alpha);
        let answered: Vec<Vec<(certified::Certified, Duration)>> = group
            .par_chunks(lanes * 8)
            .map(|task| blocks.answer(lanes, &job, task.len(), |j| task[j].1.clone()))
            .collect();
        for ((i, _), (answer, elapsed)) in group.iter().zip(answered.into_iter().flatten()) {
            let guarantee = answer.guarantee;
            results[*i] = Some(Ok(PprResult {
                method: Method::Push,
                alpha,
                top: answer.top,
                error_bound: guarantee.max_error,
                guarantee,
                work: answer.work,
                elapsed,
            }));
        }
    }
    // Every index was either answered alone or in its alpha's group.
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(QueryError::NoSeeds)))
        .collect()
}

/// The lane query of `query` when [`ppr`] would answer it with the certified push over every
/// node (so a block answers it the same); `None` for any other query, invalid ones included
/// (they get their error from [`ppr`]).
fn block_query(graph: &CsrGraph, query: &PprQuery<'_>) -> Option<all::LaneQuery> {
    let certified_push = matches!(query.method, Method::Auto | Method::Push)
        && resolve_method(graph, query) == Method::Push
        && query.push_r_max.is_none()
        && query.target_filter.is_none();
    if !certified_push || check_alpha(query.alpha).is_err() || query.accuracy.validate().is_err() {
        return None;
    }
    let seeds = normalised_seeds(graph, &query.seeds).ok()?;
    Some(all::LaneQuery {
        seeds,
        k: query.top_k,
        accuracy: query.accuracy,
    })
}

/// Sources per chunk of [`ppr_all_top_k`] by default: bounds the results held in memory at
/// once, and is the unit a caller can checkpoint and resume at.
pub const ALL_TOP_K_CHUNK: usize = 4096;

/// What [`ppr_all_top_k`] computes: every source's top-`k` at `alpha` to `accuracy`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct AllTopK {
    /// Restart probability, in (0, 1).
    pub alpha: f64,
    /// Results per source.
    pub k: usize,
    /// How each source is answered (`Auto` and `Push`: the certified push).
    pub method: Method,
    /// The target every source's answer meets.
    pub accuracy: Accuracy,
    /// The first source: a run resumed after an interruption starts where the last completed
    /// chunk ended (every source's answer is deterministic: its own query's, or derived from
    /// another source's, which is, whatever chunk it falls in).
    pub first_source: usize,
    /// One past the last source (default `usize::MAX`: every node): a share of the sources,
    /// as each worker of walkdb-dist answers its part of an epoch.
    pub end_source: usize,
    /// Sources per chunk (default [`ALL_TOP_K_CHUNK`]; at least 1).
    pub chunk: usize,
}

impl AllTopK {
    /// Every source from node 0, at the default target, in chunks of [`ALL_TOP_K_CHUNK`].
    pub fn new(alpha: f64, k: usize) -> AllTopK {
        AllTopK {
            alpha,
            k,
            method: Method::Auto,
            accuracy: Accuracy::default(),
            first_source: 0,
            end_source: usize::MAX,
            chunk: ALL_TOP_K_CHUNK,
        }
    }
}

/// Computes every node's top-`k` (single seed, the node itself included when it ranks) from
/// `job.first_source` up to `job.end_source`, in parallel, streaming `sink(node, top, guarantee)` in node order and
/// `progress(done, total)` after each chunk (`done` counts sources from node 0, so a caller can
/// checkpoint there). Memory stays bounded: results are held for one chunk at a time.
///
/// `Auto` and `Push` answer every source with the certified push at `job.accuracy` (the same
/// contract as a single query, see [`Accuracy`]); `Exact`, `Walks` and `Index` run those
/// methods per node (exact costs a full solve per node: for small graphs only). On a
/// symmetric graph the certified push answers a leaf (a node whose links all lead to one
/// neighbour) from its neighbour's answer when that proves the target, which holds for almost
/// every leaf (a third of the Debian package graph's sources, nearly half of WordNet's), and a
/// node with a twin (the same links) from its twin's answer, relabelled.
pub fn ppr_all_top_k(
    graph: &CsrGraph,
    job: &AllTopK,
    mut sink: impl FnMut(NodeId, Vec<(NodeId, f64)>, Guarantee),
    mut progress: impl FnMut(usize, usize),
) -> Result<(), QueryError> {
    check_alpha(job.alpha)?;
    job.accuracy.validate()?;
    let n = graph.node_count();
    let pool = WorkspacePool::new();
    let method = if job.method == Method::Auto {
        Method::Push
    } else {
        job.method
    };
    let last = job.end_source.min(n);
    let mut start = job.first_source.min(last);
    let block_job = all::BlockJob::shared(graph, job.alpha);
    let lanes = if method == Method::Push {
        all::lanes_for(n)
    } else {
        1
    };
    let blocks = all::BlockPool::default();
    // Certified answers of the listed sources, in order: in blocks sharing their sweeps
    // (see `all`), or one by one on graphs too large for them.
    let certify = |sources: &[NodeId]| -> Vec<certified::Certified> {
        if lanes > 1 {
            // Each task answers a run of sources, several blocks' worth so that lanes rarely
            // wait for the last ones.
            let task = lanes * 8;
            let answers: Vec<Vec<(certified::Certified, Duration)>> = sources
                .par_chunks(task)
                .map(|run| {
                    let query = |i: usize| all::LaneQuery {
                        seeds: vec![(run[i], 1.0)],
                        k: job.k,
                        accuracy: job.accuracy,
                    };
                    blocks.answer(lanes, &block_job, run.len(), query)
                })
                .collect();
            answers.into_iter().flatten().map(|(a, _)| a).collect()
        } else {
            sources
                .par_iter()
                .map_init(
                    || pool.take(),
                    |pooled, &v| {
                        certified::certified_top_k(
                            graph,
                            &[(v, 1.0)],
                            job.alpha,
                            job.k,
                            &|_| true,
                            &job.accuracy,
                            &mut pooled.ws,
                        )
                    },
                )
                .collect()
        }
    };
    // With the certified push on a symmetric graph, a leaf's answer follows from its
    // neighbour's (`certified::derive_leaf`).
    let (parents, twins) = if method == Method::Push && graph.is_symmetric() && job.k > 0 {
        (leaf_parents(graph), twin_representatives(graph))
    } else {
        (Vec::new(), Vec::new())
    };
    while start < last {
        let end = (start + job.chunk.max(1)).min(last);
        if method == Method::Push {
            let answers = certify_chunk(graph, job, start..end, &parents, &twins, &certify);
            for (s, answer) in (start..end).zip(answers) {
                sink(s as NodeId, answer.top, answer.guarantee);
            }
        } else {
            let chunk: Vec<Result<PprResult, QueryError>> = (start..end)
                .into_par_iter()
                .map_init(
                    || pool.take(),
                    |pooled, v| {
                        let mut query = PprQuery::new(vec![(v as NodeId, 1.0)], job.alpha)
                            .top_k(job.k)
                            .method(method);
                        query.accuracy = job.accuracy;
                        query.rng_seed = v as u64;
                        ppr(graph, &query, &mut pooled.ws)
                    },
                )
                .collect();
            for (offset, result) in chunk.into_iter().enumerate() {
                let result = result?;
                sink((start + offset) as NodeId, result.top, result.guarantee);
            }
        }
        start = end;
        progress(start, n);
    }
    Ok(())
}

/// The certified answers of `sources`, in order. `parents` is [`leaf_parents`] and `twins`
/// is [`twin_representatives`] (both empty: every source is answered by its own query).
/// A source is answered by its own query (through `certify`), from its twin's answer
/// ([`certified::relabel_twin`]) or as a leaf from its neighbour's
/// ([`certified::derive_leaf`]); what those need outside the chunk is answered as helpers,
/// so a chunk depends on no other. An answer that does not prove the target falls back to
/// the source's own query.
fn certify_chunk(
    graph: &CsrGraph,
    job: &AllTopK,
    sources: std::ops::Range<usize>,
    parents: &[NodeId],
    twins: &[NodeId],
    certify: &dyn Fn(&[NodeId]) -> Vec<certified::Certified>,
) -> Vec<certified::Certified> {
    use certified::Certified;
    let parent_of = |v: NodeId| parents.get(v as usize).copied().unwrap_or(NO_PARENT);
    let twin_of = |v: NodeId| twins.get(v as usize).copied().unwrap_or(NO_PARENT);
    // Every answer the chunk needs: its sources, their twins' and neighbours' answers, and
    // theirs (a leaf's twin is a leaf, whose neighbour may be a twin: at most three steps).
    let mut needed: std::collections::BTreeSet<NodeId> =
        sources.clone().map(|s| s as NodeId).collect();
    let mut stack: Vec<NodeId> = needed.iter().copied().collect();
    while let Some(x) = stack.pop() {
        let on = match (twin_of(x), parent_of(x)) {
            (NO_PARENT, v) => v,
            (t, _) => t,
        };
        if on != NO_PARENT && needed.insert(on) {
            stack.push(on);
        }
    }
    let mut known: HashMap<NodeId, Certified> = HashMap::new();
    let answer = |nodes: Vec<NodeId>, known: &mut HashMap<NodeId, Certified>| {
        for (v, a) in nodes.iter().zip(certify(&nodes)) {
            known.insert(*v, a);
        }
    };
    let own: Vec<NodeId> = needed
        .iter()
        .copied()
        .filter(|&x| twin_of(x) == NO_PARENT && parent_of(x) == NO_PARENT)
        .collect();
    answer(own, &mut known);
    // Then twins of the answered (not leaves), leaves (their neighbours are answered now),
    // twins of leaves; what does not prove the target is answered by its own query.
    type Step<'a> = &'a dyn Fn(NodeId, &HashMap<NodeId, Certified>) -> Option<Certified>;
    let twin = |x: NodeId, known: &HashMap<NodeId, Certified>| {
        let t = twin_of(x);
        let from = known.get(&t)?;
        certified::relabel_twin(from, t, x, job.k, &job.accuracy)
    };
    let leaf = |x: NodeId, known: &HashMap<NodeId, Certified>| {
        let v = parent_of(x);
        let share = graph.weight_sum(x) / graph.weight_sum(v);
        let from = known.get(&v)?;
        certified::derive_leaf(from, x, v, share, job.alpha, job.k, &job.accuracy)
    };
    // A leaf whose twin's answer does not serve may still derive from its neighbour's.
    let twin_leaf =
        |x: NodeId, known: &HashMap<NodeId, Certified>| twin(x, known).or_else(|| leaf(x, known));
    let rounds: [(bool, bool, Step<'_>); 3] = [
        (true, false, &twin),
        (false, true, &leaf),
        (true, true, &twin_leaf),
    ];
    for (is_twin, is_leaf, step) in rounds {
        let mut retry = Vec::new();
        for &x in &needed {
            if (twin_of(x) != NO_PARENT) != is_twin || (parent_of(x) != NO_PARENT) != is_leaf {
                continue;
            }
            match step(x, &known) {
                Some(a) => {
                    known.insert(x, a);
                }
                None => retry.push(x),
            }
        }
        answer(retry, &mut known);
    }
    // Every needed node was answered above (each round answers its failures by their own
    // queries); should one be missing all the same, its own query answers it, so every
    // source below has its answer and the list pairs with the sources in order.
    let missing: Vec<NodeId> = sources
        .clone()
        .map(|s| s as NodeId)
        .filter(|s| !known.contains_key(s))
        .collect();
    answer(missing, &mut known);
    sources
        .filter_map(|s| known.remove(&(s as NodeId)))
        .collect()
}

/// For every node with a twin of a smaller id (the same links: targets and weights, no
/// self-loop), the smallest such twin; [`NO_PARENT`] for every other node. Nodes are grouped
/// by a hash of their sorted links, then compared link by link within a group.
fn twin_representatives(graph: &CsrGraph) -> Vec<NodeId> {
    use std::hash::{Hash, Hasher};
    let n = graph.node_count();
    let links_of = |u: NodeId| -> Option<Vec<(NodeId, u64)>> {
        if graph.degree(u) == 0 || graph.weight_sum(u) <= 0.0 {
            return None;
        }
        let mut links: Vec<(NodeId, u64)> = graph
            .links(u)
            .map(|l| (l.target, l.weight.to_bits()))
            .collect();
        if links.iter().any(|&(t, _)| t == u) {
            return None;
        }
        links.sort_unstable();
        Some(links)
    };
    let mut hashed: Vec<(u64, NodeId)> = (0..n as NodeId)
        .filter_map(|u| {
            let links = links_of(u)?;
            let mut h = std::collections::hash_map::DefaultHasher::new();
            links.hash(&mut h);
            Some((h.finish(), u))
        })
        .collect();
    hashed.sort_unstable();
    let mut reps = vec![NO_PARENT; n];
    for group in hashed.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
        let mut heads: Vec<(NodeId, Vec<(NodeId, u64)>)> = Vec::new();
        for &(_, u) in group {
            let Some(links) = links_of(u) else { continue };
            match heads.iter().find(|(_, l)| *l == links) {
                Some(&(head, _)) => reps[u as usize] = head,
                None => heads.push((u, links)),
            }
        }
    }
    reps
}

/// [`leaf_parents`]' entry of a node that is not a leaf.
const NO_PARENT: NodeId = NodeId::MAX;

/// For every node whose links all lead to one other node `v` (a leaf, parallel links
/// included), `v`, unless `v`'s links too all lead back to it (a component of two: neither
/// answer follows from the other); [`NO_PARENT`] for every other node.
fn leaf_parents(graph: &CsrGraph) -> Vec<NodeId> {
    let n = graph.node_count();
    let only_neighbour = |u: NodeId| -> NodeId {
        let mut links = graph.links(u);
        let Some(first) = links.next() else {
            return NO_PARENT;
        };
        let v = first.target;
        if v == u || graph.weight_sum(u) <= 0.0 || links.any(|l| l.target != v) {
            NO_PARENT
        } else {
            v
        }
    };
    let single: Vec<NodeId> = (0..n as NodeId).map(only_neighbour).collect();
    single
        .iter()
        .map(|&v| match single.get(v as usize) {
            Some(&NO_PARENT) if graph.weight_sum(v) > 0.0 => v,
            _ => NO_PARENT,
        })
        .collect()
}

/// A copy of `graph` with each relation's link weights multiplied by its entry in
/// `multipliers` (relations not in the map keep weight 1x; a multiplier of 0 removes the
/// relation's links). Per-query relation weights are applied this way, before querying.
pub fn reweight_relations(
    graph: &CsrGraph,
    multipliers: &HashMap<RelId, f64>,
) -> Result<CsrGraph, QueryError> {
    let mut table: Vec<f64> = Vec::new();
    for (&rel, &multiplier) in multipliers {
        if !(multiplier.is_finite() && multiplier >= 0.0) {
            return Err(QueryError::BadMultiplier { rel, multiplier });
        }
        let i = rel as usize;
        if table.len() <= i {
            table.resize(i + 1, 1.0);
        }
        table[i] = multiplier;
    }
    Ok(graph.reweighted(|rel| table.get(rel as usize).copied().unwrap_or(1.0)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
