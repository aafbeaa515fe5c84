//! Repairs: bringing the stored walks from the graph before a transaction to the graph after
//! it, visit by visit, with the optimal coupling of the old and new step distributions.
//!
//! At a changed node `u` with old step distribution `P(x) = a_x / W` and new one
//! `P'(x) = a'_x / W'`, a recorded visit that moved to `x` keeps its step with probability
//! `min(1, P'(x) / P(x))`; otherwise it is *rerouted* to `x'` drawn from the excess
//! distribution `(P'(x') - P(x'))^+` (normalised). Then the visit moves to `x` with probability
//! `min(P, P') + (P - P')^+ ... = P'(x)`, exactly the fresh distribution, and the fewest visits
//! change. Special cases: `W' = 0` cuts the walk at `u` (it dies there); `W = 0` resumes the
//! walks that died at `u`, stepping by `P'`. These reproduce every rule of PPR-NOTES
//! ("weight added", "lowered", "deleted", "dangling gains edges") in one pass per node.
//!
//! Only visits generated on the old graph are corrected: all decisions are taken on the walks
//! as they were before the transaction, then per walk the earliest rerouted visit wins, the
//! walk's later positions are discarded and its tail regrows on the new graph, untouched by
//! any other change of the same transaction.
//!
//! Cost: the number of visits to examine at `u` is drawn from `Binomial(visits(u), q_max)`
//! where `q_max` is the largest reroute probability among `u`'s visits (FIRM's trick; for an
//! inserted edge `q_max = w / W'`), and the examined visits are picked uniformly, so an insert
//! costs expected O(1) visits plus the regrown tails.
//!
//! Determinism: nodes are processed in id order, visit lists are sorted by walk id, and every
//! random choice draws from a stream seeded by the LSN and the node or `(walk, position)`.

use crate::graph::{Adjacency, NodeId};
use crate::rng::Rng;
use rayon::prelude::*;
use std::collections::BTreeSet;

use super::build::{grow_par, sample_step, Growing, StepTable, TAG_NEW_WALK, TAG_SELECT, TAG_TAIL};
use super::store::{WalkEnd, WalkIndex};
use super::{NodeChange, WalkIndexError};

/// Switchable repair behaviour, test builds only: the correct rule and the known mistakes
/// (Memgraph MAGE's among them) that the statistical tests must reject.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RepairMode {
    /// The optimal-coupling repair this module documents.
    Correct,
    /// Regrow from its first visit at `u` every walk that passes through a changed `u`,
    /// including walks that stopped at `u` (they then continue past their stop).
    RegrowEveryWalkThroughNode,
    /// Correct decisions, but regrown tails stop with probability `alpha / 2`.
    HalfStopTails,
    /// Only visits that used a changed pair are redrawn (from the full new distribution);
    /// visits on other pairs are left alone, so an inserted edge never attracts old walks.
    OnlyChangedPairs,
    /// Visit records kept as a set of walks: only a walk's first visit at `u` is considered.
    VisitSet,
}

/// A recorded visit: walk id, position, and where the walk moved next (None: it died).
type Visit = (u32, usize, Option<NodeId>);

/// Changes from which a repair decides on the thread pool.
const PARALLEL_CHANGES: usize = 64;

/// A decision on one visit: walk id, position, action.
type Decision = (u32, u32, Action);

/// What the repair does to one visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// Step from the excess distribution of change `.0` instead, then regrow the tail.
    Reroute(usize),
    /// Step from the full new distribution of change `.0` (a faulty mode's rule).
    #[cfg(test)]
    RerouteFresh(usize),
    /// The node became dangling: the walk dies at this visit.
    Cut,
}

/// Counts of what one walk-index repair did, for logging and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepairSummary {
    /// Visits examined by the repair (after the binomial thinning).
    pub visits_examined: u64,
    /// Walks whose tail was rerouted or resumed and regrown.
    pub walks_regrown: u64,
    /// Walks cut at a node that became dangling.
    pub walks_cut: u64,
    /// Walks added because a start node's degree grew.
    pub walks_added: u64,
    /// Walks dropped because a start node's degree shrank.
    pub walks_dropped: u64,
}

/// A change with its pairs sorted by target, ready for lookups.
struct PreparedChange {
    node: NodeId,
    weight_sum_before: f64,
    weight_sum_after: f64,
    /// `(target, before, after)`, ascending by target.
    pairs: Vec<(NodeId, f64, f64)>,
}

impl PreparedChange {
    fn pair(&self, target: NodeId) -> Option<(f64, f64)> {
        self.pairs
            .binary_search_by_key(&target, |p| p.0)
            .ok()
            .map(|i| (self.pairs[i].1, self.pairs[i].2))
    }

    /// Probability that a visit that moved to `next` (None: it died here) is rerouted.
    fn reroute_probability(&self, next: Option<NodeId>) -> f64 {
        let (w, w2) = (self.weight_sum_before, self.weight_sum_after);
        let Some(x) = next else {
            return 1.0;
        };
        let keep = match self.pair(x) {
            Some((before, after)) if before > 0.0 => (after / w2) / (before / w),
            Some(_) => 0.0,
            None => w / w2,
        };
        (1.0 - keep.min(1.0)).clamp(0.0, 1.0)
    }

    /// The largest reroute probability any visit at the node can have: the binomial thinning
    /// draws candidates with it. Unchanged pairs are rerouted with `1 - W / W'` when `W` grew.
    fn max_reroute_probability(&self) -> f64 {
        let (w, w2) = (self.weight_sum_before, self.weight_sum_after);
        let mut q = (1.0 - (w / w2).min(1.0)).max(0.0);
        for &(x, before, _) in &self.pairs {
            if before > 0.0 {
                q = q.max(self.reroute_probability(Some(x)));
            }
        }
        q
    }

    /// Draws the rerouted step from the excess distribution `(P' - P)^+`.
    fn draw_excess<G: Adjacency>(&self, graph: &G, rng: &mut Rng) -> Option<NodeId> {
        let (w, w2) = (self.weight_sum_before, self.weight_sum_after);
        if w <= 0.0 {
            return sample_step(graph, self.node, w2, rng);
        }
        let excess = |before: f64, after: f64| (after / w2 - before / w).max(0.0);
        let mass_changed: f64 = self.pairs.iter().map(|&(_, b, a)| excess(b, a)).sum();
        let unchanged_after = (w2 - self.pairs.iter().map(|p| p.2).sum::<f64>()).max(0.0);
        let mass_unchanged = if w2 < w {
            unchanged_after * (1.0 / w2 - 1.0 / w)
        } else {
            0.0
        };
        let total = mass_changed + mass_unchanged;
        if total <= 0.0 {
            return sample_step(graph, self.node, w2, rng);
        }
        let y = rng.next_f64() * total;
        if y < mass_changed {
            let mut acc = 0.0;
            let mut last = None;
            for &(x, b, a) in &self.pairs {
                let e = excess(b, a);
                if e > 0.0 {
                    acc += e;
                    last = Some(x);
                    if y < acc {
                        return last;
                    }
                }
            }
            return last;
        }
        // An unchanged pair, chosen in proportion to its (unchanged) weight.
        let z = rng.next_f64() * unchanged_after;
        let mut acc = 0.0;
        let mut last = None;
        for link in graph.links(self.node) {
            if self.pair(link.target).is_some() {
                continue;
            }
            acc += link.weight;
            last = Some(link.target);
            if z < acc {
                return last;
            }
        }
        last.or_else(|| sample_step(graph, self.node, w2, rng))
    }
}

impl WalkIndex {
    /// Repairs the index for one committed transaction.
    ///
    /// `graph_after` is the graph with the transaction applied; `changes` lists, for every node
    /// whose walkable links changed, the pair weights that changed (see [`NodeChange`]; in
    /// undirected mode both ends of a changed edge); `lsn` is the transaction's log sequence
    /// number and seeds every random choice, so replaying the WAL after a crash into the saved
    /// index gives back the live index exactly. Nodes beyond the index's node count are
    /// added. The order of `changes` does not matter.
    ///
    /// The database calls it inside every commit; outside the crate it is test API (feature
    /// `testing`): a repair the WAL does not hold would not survive a restart.
    #[cfg(any(test, feature = "testing"))]
    pub fn apply<G: Adjacency + Sync>(
        &mut self,
        graph_after: &G,
        changes: &[NodeChange],
        lsn: u64,
    ) -> Result<RepairSummary, WalkIndexError> {
        self.repair(graph_after, changes, lsn)
    }

    /// See [`WalkIndex::apply`].
    pub(crate) fn repair<G: Adjacency + Sync>(
        &mut self,
        graph_after: &G,
        changes: &[NodeChange],
        lsn: u64,
    ) -> Result<RepairSummary, WalkIndexError> {
        let prepared = self.prepare(graph_after, changes, lsn)?;
        self.grow_nodes(graph_after.node_count());
        let mut summary = RepairSummary::default();

        // Phase 1: decide on the walks as they are before the transaction. Each change reads
        // the index and draws from its own stream, so changes are decided in parallel; the
        // decisions are sorted below, so their order here does not matter.
        let decide = |(ci, change): (usize, &PreparedChange)| {
            let (mut decisions, mut part) = (Vec::new(), RepairSummary::default());
            self.decide(ci, change, lsn, &mut decisions, &mut part)?;
            Ok((decisions, part.visits_examined))
        };
        // A few changes cost less than handing them to the thread pool.
        let sequential = prepared.len() < PARALLEL_CHANGES || !super::may_split();
        let decided: Vec<(Vec<Decision>, u64)> = match sequential {
            true => prepared
                .iter()
                .enumerate()
                .map(decide)
                .collect::<Result<_, WalkIndexError>>()?,
            false => prepared
                .par_iter()
                .enumerate()
                .with_min_len(PARALLEL_CHANGES)
                .map(decide)
                .collect::<Result<_, WalkIndexError>>()?,
        };
        let mut decisions: Vec<Decision> =
            Vec::with_capacity(decided.iter().map(|d| d.0.len()).sum());
        for (part, examined) in decided {
            decisions.extend(part);
            summary.visits_examined += examined;
        }

        // Phase 2: per walk the earliest decision wins; apply it and regrow on the new graph.
        decisions.sort_unstable();
        decisions.dedup_by_key(|d| d.0);
        let tail_alpha = self.tail_alpha();
        let mut steps = StepTable::new(graph_after);
        // Every rerouted walk's first step, then all tails grown together (each from its own
        // stream, so as it would grow alone), then applied in walk order.
        let mut tails: Vec<Growing> = Vec::new();
        let mut firsts: Vec<bool> = Vec::with_capacity(decisions.len());
        for &(walk, pos, action) in &decisions {
            let mut rng = Rng::from_parts(&[TAG_TAIL, lsn, walk as u64, pos as u64]);
            let first = match action {
                Action::Cut => None,
                Action::Reroute(ci) => prepared[ci].draw_excess(graph_after, &mut rng),
                #[cfg(test)]
                Action::RerouteFresh(ci) => {
                    let c = &prepared[ci];
                    sample_step(graph_after, c.node, c.weight_sum_after, &mut rng)
                }
            };
            firsts.push(first.is_some());
            if let Some(x) = first {
                tails.push(Growing::at(x, rng, tail_alpha));
            }
        }
        grow_par(&mut steps, &mut tails);
        let mut tails = tails.into_iter();
        for (&(walk, pos, _), rerouted) in decisions.iter().zip(firsts) {
            let keep = pos as usize + 1;
            match if rerouted { tails.next() } else { None } {
                None => {
                    summary.walks_cut += 1;
                    self.replace_tail(walk, keep, &[], WalkEnd::Died)?;
                }
                Some(tail) => {
                    summary.walks_regrown += 1;
                    self.replace_tail(walk, keep, &tail.nodes, tail.end)?;
                }
            }
        }

        // Phase 3: walk counts follow the degree rule at every changed node. Surplus walks go
        // first, node by node, and every added walk takes its slot at once (the slot seeds its
        // stream), so the slots are those of adding each walk in turn; the added walks then
        // grow together. A node's removals never meet an added walk: those start at other
        // nodes (each node has one change).
        let mut added: Vec<(u32, Growing)> = Vec::new();
        for change in &prepared {
            let u = change.node;
            let target = self.params.walks_for_degree(graph_after.degree(u));
            let current = self.walk_count_from(u)?;
            if current > target {
                let surplus: Vec<u32> = self.walk_ids_from(u)?[target..].to_vec();
                for &id in surplus.iter().rev() {
                    self.remove_walk(id)?;
                    summary.walks_dropped += 1;
                }
            }
            for _ in current..target {
                let id = self.reserve_walk_id();
                let rng = Rng::from_parts(&[TAG_NEW_WALK, lsn, u as u64, id as u64]);
                added.push((id, Growing::at(u, rng, self.params.alpha)));
            }
        }
        let (ids, mut walks): (Vec<u32>, Vec<Growing>) = added.into_iter().unzip();
        grow_par(&mut steps, &mut walks);
        for (id, walk) in ids.into_iter().zip(walks) {
            self.insert_walk_as(id, walk.nodes, walk.end)?;
            summary.walks_added += 1;
        }
        self.seal()?;
        Ok(summary)
    }

    #[cfg(not(test))]
    fn tail_alpha(&self) -> f64 {
        self.params.alpha
    }

    #[cfg(test)]
    fn tail_alpha(&self) -> f64 {
        match self.mode {
            RepairMode::HalfStopTails => self.params.alpha / 2.0,
            _ => self.params.alpha,
        }
    }

    /// Validates the change list and sorts it by node.
    fn prepare<G: Adjacency>(
        &self,
        graph: &G,
        changes: &[NodeChange],
        lsn: u64,
    ) -> Result<Vec<PreparedChange>, WalkIndexError> {
        let bad = |reason: String| WalkIndexError::InvalidChange { lsn, reason };
        let node_count = graph.node_count();
        if node_count < self.node_count {
            return Err(bad(format!(
                "graph has {node_count} nodes, fewer than the index's {}",
                self.node_count
            )));
        }
        if node_count > u32::MAX as usize {
            return Err(bad(format!(
                "{node_count} nodes exceed the u32 node id space"
            )));
        }
        let mut prepared = Vec::with_capacity(changes.len());
        for change in changes {
            let u = change.node;
            if u as usize >= node_count {
                return Err(bad(format!(
                    "node {u} is not in the graph ({node_count} nodes)"
                )));
            }
            if !(change.weight_sum_before.is_finite() && change.weight_sum_before >= 0.0) {
                return Err(bad(format!(
                    "node {u}: weight sum {} is not finite and >= 0",
                    change.weight_sum_before
                )));
            }
            let mut pairs = Vec::with_capacity(change.pairs.len());
            for p in &change.pairs {
                let ok = |w: f64| w.is_finite() && w >= 0.0;
                if !ok(p.before) || !ok(p.after) || p.target as usize >= node_count {
                    return Err(bad(format!("node {u}: bad pair change {p:?}")));
                }
                pairs.push((p.target, p.before, p.after));
            }
            pairs.sort_by_key(|p| p.0);
            if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
                return Err(bad(format!("node {u}: a target is listed twice")));
            }
            let weight_sum_after = graph.weight_sum(u);
            if !(weight_sum_after.is_finite() && weight_sum_after >= 0.0) {
                return Err(bad(format!(
                    "node {u}: weight sum after {weight_sum_after} is not finite and >= 0"
                )));
            }
            prepared.push(PreparedChange {
                node: u,
                weight_sum_before: change.weight_sum_before,
                weight_sum_after,
                pairs,
            });
        }
        prepared.sort_by_key(|c| c.node);
        if prepared.windows(2).any(|w| w[0].node == w[1].node) {
            return Err(bad(
                "a node has two changes; merge them into one".to_string()
            ));
        }
        Ok(prepared)
    }

    /// The walk and position of the `j`-th recorded visit at `u` (`list` its records), and
    /// where it moved next.
    fn resolve(&self, u: NodeId, list: &[u32], j: usize) -> Result<Option<Visit>, WalkIndexError> {
        let Some(&walk) = list.get(j) else {
            return Ok(None);
        };
        let nth = j - list.partition_point(|&w| w < walk);
        let Some(w) = self.walk(walk)? else {
            return Ok(None);
        };
        let recorded = WalkIndex::recorded_len(w.nodes.len(), w.end);
        let pos = w.nodes[..recorded]
            .iter()
            .enumerate()
            .filter(|(_, &n)| n == u)
            .nth(nth)
            .map(|p| p.0);
        Ok(pos.map(|pos| (walk, pos, w.nodes.get(pos + 1).copied())))
    }

    /// Phase 1 at one changed node: decide which of its recorded visits change.
    fn decide(
        &self,
        ci: usize,
        change: &PreparedChange,
        lsn: u64,
        decisions: &mut Vec<(u32, u32, Action)>,
        summary: &mut RepairSummary,
    ) -> Result<(), WalkIndexError> {
        let u = change.node;
        #[cfg(test)]
        if self.mode == RepairMode::RegrowEveryWalkThroughNode {
            return self.decide_regrow_every(ci, change, decisions);
        }
        // The records as one list, read once: a patched list is merged here (see
        // `store::Patch`), and every candidate visit below is a position in it.
        let list = self.visit_records_at(u)?;
        let n_visits = list.len();
        if n_visits == 0 {
            return Ok(());
        }
        let (w, w2) = (change.weight_sum_before, change.weight_sum_after);
        if w2 <= 0.0 || w <= 0.0 {
            // Dangling now: every walk that moves on from u dies there. Dangling before: every
            // walk that died at u resumes (if u has links now).
            for j in 0..n_visits {
                if let Some((walk, pos, next)) = self.resolve(u, &list, j)? {
                    summary.visits_examined += 1;
                    if w2 <= 0.0 && next.is_some() {
                        decisions.push((walk, pos as u32, Action::Cut));
                    } else if w2 > 0.0 && next.is_none() {
                        decisions.push((walk, pos as u32, Action::Reroute(ci)));
                    }
                }
            }
            return Ok(());
        }
        #[cfg(test)]
        if self.mode == RepairMode::OnlyChangedPairs {
            for j in 0..n_visits {
                if let Some((walk, pos, next)) = self.resolve(u, &list, j)? {
                    if next.is_some_and(|x| change.pair(x).is_some()) {
                        decisions.push((walk, pos as u32, Action::RerouteFresh(ci)));
                    }
                }
            }
            return Ok(());
        }
        let q_max = change.max_reroute_probability();
        if q_max <= 0.0 {
            return Ok(());
        }
        // The pool of candidate visits: every recorded visit (a multiset: a walk that visits u
        // twice is there twice). The faulty set mode keeps only each walk's first visit.
        #[cfg(test)]
        let pool: Option<Vec<Visit>> = if self.mode == RepairMode::VisitSet {
            let mut seen = BTreeSet::new();
            let mut pool = Vec::new();
            for j in 0..n_visits {
                if let Some(v) = self.resolve(u, &list, j)? {
                    if seen.insert(v.0) {
                        pool.push(v);
                    }
                }
            }
            Some(pool)
        } else {
            None
        };
        #[cfg(not(test))]
        let pool: Option<Vec<Visit>> = None;
        let n = pool.as_ref().map_or(n_visits, |p| p.len());
        let visit = |j: usize| match &pool {
            Some(p) => Ok(p.get(j).copied()),
            None => self.resolve(u, &list, j),
        };
        let mut rng = Rng::from_parts(&[TAG_SELECT, lsn, u as u64]);
        let mut consider = |j: usize, rng: &mut Rng, thinning: f64| {
            if let Some((walk, pos, next)) = visit(j)? {
                summary.visits_examined += 1;
                if rng.bernoulli(change.reroute_probability(next) / thinning) {
                    decisions.push((walk, pos as u32, Action::Reroute(ci)));
                }
            }
            Ok::<(), WalkIndexError>(())
        };
        if q_max >= 0.25 {
            // Most visits are candidates anyway: examine all of them.
            for j in 0..n {
                consider(j, &mut rng, 1.0)?;
            }
        } else {
            // Binomial(n, q_max) candidates picked uniformly (Floyd's algorithm), each kept with
            // probability r / q_max: every visit is rerouted independently with probability r.
            let m = rng.binomial(n as u64, q_max) as usize;
            let mut chosen = BTreeSet::new();
            for j in (n - m)..n {
                let t = rng.below(j as u64 + 1) as usize;
                if !chosen.insert(t) {
                    chosen.insert(j);
                }
            }
            for j in chosen {
                consider(j, &mut rng, q_max)?;
            }
        }
        Ok(())
    }

    /// Faulty mode: regrow every walk that passes through `u` from its first visit there.
    #[cfg(test)]
    fn decide_regrow_every(
        &self,
        ci: usize,
        change: &PreparedChange,
        decisions: &mut Vec<(u32, u32, Action)>,
    ) -> Result<(), WalkIndexError> {
        for id in 0..self.slot_count() as u32 {
            if let Some(w) = self.walk(id)? {
                if let Some(pos) = w.nodes.iter().position(|&n| n == change.node) {
                    let action = if change.weight_sum_after > 0.0 {
                        Action::RerouteFresh(ci)
                    } else {
                        Action::Cut
                    };
                    decisions.push((id, pos as u32, action));
                }
            }
        }
        Ok(())
    }
}
