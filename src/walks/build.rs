//! Building an index from a graph snapshot, and the walk generator repairs share with it.

use crate::graph::Link;
use crate::graph::{Adjacency, NodeId};
use crate::rng::{counter_f64, Rng};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::base::WalkBase;
use super::format::Columns;
use super::store::{WalkEnd, WalkIndex, WalkIndexParams, MAX_WALK_NODES};
use super::WalkIndexError;

/// Stream tags: each kind of random choice draws from its own family of streams, so adding a
/// kind of choice never shifts the draws of another (the streams are part of the format's
/// determinism contract).
pub(crate) const TAG_BUILD: u64 = 0x0042_5549_4C44; // "BUILD"
pub(crate) const TAG_NEW_WALK: u64 = 0x4E45_5757; // "NEWW"
pub(crate) const TAG_SELECT: u64 = 0x5345_4C45; // "SELE"
pub(crate) const TAG_TAIL: u64 = 0x5441_494C; // "TAIL"
pub(crate) const TAG_QUERY: u64 = 0x5155_4552; // "QUER"

/// Picks the target of one step out of `u` (whose weight sum is `weight_sum > 0`) with
/// probability `a(u, v) / W(u)`, by a linear scan of `u`'s links in their fixed order. `None`
/// only if `u` has no link although `weight_sum > 0` (an inconsistent adjacency).
pub(crate) fn sample_step<G: Adjacency>(
    graph: &G,
    u: NodeId,
    weight_sum: f64,
    rng: &mut Rng,
) -> Option<NodeId> {
    let x = rng.next_f64() * weight_sum;
    let mut acc = 0.0;
    let mut last = None;
    for link in graph.links(u) {
        acc += link.weight;
        last = Some(link.target);
        if x < acc {
            return last;
        }
    }
    // Rounding can leave x >= the final partial sum; the last link then takes the remainder.
    last
}

/// One walk for [`grow_all`]: its nodes so far (the last has not made its stop decision),
/// its own random stream and its stop probability; [`grow_all`] sets how it ended.
pub(crate) struct Growing {
    pub(crate) nodes: Vec<NodeId>,
    pub(crate) rng: Rng,
    pub(crate) alpha: f64,
    pub(crate) end: WalkEnd,
}

impl Growing {
    /// A walk standing at `node`, to be grown from there.
    pub(crate) fn at(node: NodeId, rng: Rng, alpha: f64) -> Growing {
        Growing {
            nodes: vec![node],
            rng,
            alpha,
            end: WalkEnd::Stopped,
        }
    }
}

/// [`grow_all`] on two threads when there are enough walks to pay for it: the second half
/// grows with a step table of its own (a cache: a step picks the same link with or without
/// it). Each walk draws from its own stream, so every walk ends as it would grown alone,
/// whatever the split.
pub(crate) fn grow_par<G: Adjacency + Sync>(steps: &mut StepTable<'_, G>, walks: &mut [Growing]) {
    /// Fewer walks grow on the calling thread: a split costs a wake-up of the other one.
    const MIN_SPLIT: usize = 256;
    if walks.len() < MIN_SPLIT || rayon::current_num_threads() < 2 || !super::may_split() {
        return grow_all(steps, walks);
    }
    let graph = steps.graph;
    let (first, second) = walks.split_at_mut(walks.len() / 2);
    rayon::join(
        || grow_all(steps, first),
        || grow_all(&mut StepTable::new(graph), second),
    );
}

/// How many walks [`grow_all`] advances in turn.
const GROW_LANES: usize = 8;

/// Continues every leaky walk: at each node it stops with probability `alpha` (or at
/// [`MAX_WALK_NODES`]), else dies at a dangling node, else steps as [`sample_step`] would. Each
/// walk draws from its own stream, so it ends exactly as it would grown alone; but
/// [`GROW_LANES`] walks step in turn. A step is a chain of dependent
/// reads (the node's entry in the delta or the projection, then its link), each often a cache
/// miss on a graph larger than the caches; the walks are independent, so the processor
/// overlaps the misses of the walks in turn where one walk leaves it waiting on each.
pub(crate) fn grow_all<G: Adjacency>(steps: &mut StepTable<'_, G>, walks: &mut [Growing]) {
    let mut lanes = [usize::MAX; GROW_LANES];
    let mut next = 0;
    let mut active = 0;
    for lane in lanes.iter_mut() {
        if next < walks.len() {
            *lane = next;
            next += 1;
            active += 1;
        }
    }
    while active > 0 {
        for lane in lanes.iter_mut() {
            let Some(w) = walks.get_mut(*lane) else {
                continue;
            };
            let end = match w.nodes.last() {
                None => Some(WalkEnd::Stopped),
                Some(_) if w.nodes.len() >= MAX_WALK_NODES || w.rng.bernoulli(w.alpha) => {
                    Some(WalkEnd::Stopped)
                }
                Some(&u) => match steps.step(u, &mut w.rng) {
                    Step::Move(v) => {
                        w.nodes.push(v);
                        None
                    }
                    Step::Dangling => Some(WalkEnd::Died),
                },
            };
            if let Some(end) = end {
                w.end = end;
                if next < walks.len() {
                    *lane = next;
                    next += 1;
                } else {
                    *lane = usize::MAX;
                    active -= 1;
                }
            }
        }
    }
}

/// What [`StepTable::step`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Move(NodeId),
    /// No links (or an adjacency that has a weight sum but no link).
    Dangling,
}

/// Where one node's links sit in a [`StepTable`]: `targets[start..start + len]`, and the
/// node's weight sum as the graph gives it.
#[derive(Clone, Copy, Debug)]
struct StepEntry {
    start: usize,
    len: usize,
    weight_sum: f64,
}

/// The steps of one repair: for each node a walk steps out of, its link targets and running
/// weight sums, read from the graph once per repair. A step is then one lookup and a binary
/// search instead of two adjacency lookups (through the delta, for changed nodes) and a scan
/// of the node's links, which at a hub costs its degree. The choice is [`sample_step`]'s: the
/// first link whose running sum (the same additions in the same order) exceeds the draw.
pub(crate) struct StepTable<'g, G> {
    graph: &'g G,
    nodes: std::collections::HashMap<
        NodeId,
        StepEntry,
        std::hash::BuildHasherDefault<crate::hash::IdHasher>,
    >,
    targets: Vec<NodeId>,
    prefix: Vec<f64>,
}

impl<'g, G: Adjacency> StepTable<'g, G> {
    pub(crate) fn new(graph: &'g G) -> StepTable<'g, G> {
        StepTable {
            graph,
            nodes: Default::default(),
            targets: Vec::new(),
            prefix: Vec::new(),
        }
    }

    fn entry(&mut self, u: NodeId) -> StepEntry {
        if let Some(&entry) = self.nodes.get(&u) {
            return entry;
        }
        let start = self.targets.len();
        let mut acc = 0.0;
        for link in self.graph.links(u) {
            acc += link.weight;
            self.targets.push(link.target);
            self.prefix.push(acc);
        }
        let entry = StepEntry {
            start,
            len: self.targets.len() - start,
            weight_sum: self.graph.weight_sum(u),
        };
        self.nodes.insert(u, entry);
        entry
    }

    /// One step out of `u`: dangling when its weight sum is not positive, else the link
    /// [`sample_step`] picks with the next draw of `rng` (one draw, as there).
    pub(crate) fn step(&mut self, u: NodeId, rng: &mut Rng) -> Step {
        // Unit-weight links: the scan's pick by position, no table (the same one draw).
        let pick = |d: usize| (rng.next_f64() * d as f64) as usize;
        if let Some(v) = self.graph.unit_step(u, pick) {
            return Step::Move(v);
        }
        let entry = self.entry(u);
        if entry.weight_sum <= 0.0 {
            return Step::Dangling;
        }
        let x = rng.next_f64() * entry.weight_sum;
        let prefix = &self.prefix[entry.start..entry.start + entry.len];
        let targets = &self.targets[entry.start..entry.start + entry.len];
        // The scan returns the first link whose running sum exceeds x, or the last link when
        // rounding leaves x at or above every sum.
        let i = prefix.partition_point(|&acc| acc <= x);
        match targets.get(i.min(entry.len.saturating_sub(1))) {
            Some(&v) => Step::Move(v),
            None => Step::Dangling,
        }
    }
}

/// The random choices of one build walk: walk `k` from node `start` of an index seeded `seed`.
///
/// Counter-based: at position `p` (the walk's `p+1`-th node) draw `2p` decides whether the
/// walk stops and draw `2p + 1` picks the step, each a pure function of `(seed, start, k, p)`.
/// A walk can therefore be continued at any position by whoever holds its current node (a
/// thread, or a process of `walkdb-dist` owning that node's range) and it stays the same walk:
/// the index does not depend on how the build was split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildDraws {
    key: u64,
}

impl BuildDraws {
    /// The draws of walk `k` from `start` in the build seeded `seed`.
    pub fn new(seed: u64, start: NodeId, k: u32) -> BuildDraws {
        BuildDraws {
            key: Rng::key_from_parts(&[TAG_BUILD, seed, start as u64, k as u64]),
        }
    }

    /// The stop draw at `position`, uniform in [0, 1).
    #[inline]
    pub fn stop(&self, position: u32) -> f64 {
        counter_f64(self.key, 2 * position as u64)
    }

    /// The step draw at `position`, uniform in [0, 1).
    #[inline]
    pub fn choice(&self, position: u32) -> f64 {
        counter_f64(self.key, 2 * position as u64 + 1)
    }
}

/// What a build walk does at the node it stands on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildStep {
    /// It stops here (probability alpha, or the length cap).
    Stop,
    /// It dies here: the node has no links.
    Die,
    /// It moves on to this node.
    Move(NodeId),
}

/// The decision of a build walk standing at a node at `position` (0 at its start), given that
/// node's links (in the graph's fixed link order) and their weight sum: stop with probability
/// `alpha`, else die at a dangling node, else step to a link with probability proportional to
/// its weight. [`WalkIndex::build`] applies it at every node of every walk; a distributed build
/// applies it wherever the walk's current node lives and gets the same walks.
pub fn build_step(
    alpha: f64,
    draws: &BuildDraws,
    position: u32,
    links: impl Iterator<Item = Link>,
    weight_sum: f64,
) -> BuildStep {
    if let Some(decided) = stop_or_die(alpha, draws, position, weight_sum) {
        return decided;
    }
    let x = draws.choice(position) * weight_sum;
    let mut acc = 0.0;
    let mut last = None;
    for link in links {
        acc += link.weight;
        last = Some(link.target);
        if x < acc {
            break;
        }
    }
    // Rounding can leave x >= the final partial sum; the last link then takes the remainder.
    match last {
        Some(v) => BuildStep::Move(v),
        None => BuildStep::Die,
    }
}

/// [`build_step`] for a node whose links are given as targets and running weight sums
/// (`prefix[i]` = the weights of links `0..=i` added in link order, so `prefix.last()` is the
/// weight sum): the same decision, found by binary search in O(log degree) instead of a scan,
/// for builds that keep their links that way (walkdb-dist).
pub fn build_step_prefix(
    alpha: f64,
    draws: &BuildDraws,
    position: u32,
    targets: &[NodeId],
    prefix: &[f64],
) -> BuildStep {
    let weight_sum = prefix.last().copied().unwrap_or(0.0);
    if let Some(decided) = stop_or_die(alpha, draws, position, weight_sum) {
        return decided;
    }
    let x = draws.choice(position) * weight_sum;
    // The first link whose running sum exceeds x, as the scan finds it; the last link when
    // rounding leaves x at or above every sum.
    let i = prefix.partition_point(|&acc| acc <= x);
    match targets.get(i.min(targets.len().saturating_sub(1))) {
        Some(&v) => BuildStep::Move(v),
        None => BuildStep::Die,
    }
}

/// A guide table for [`build_step_guided`]: entry `j` of `d = prefix.len()` entries is the
/// first link whose running sum exceeds `j / d` of the weight sum (Chen and Asau's guide table
/// for inverse-transform sampling), so a step starts at most a few links from its answer:
/// O(1) expected probes on a hub instead of a binary search's O(log degree) cache misses.
pub fn build_guide(prefix: &[f64], guide: &mut Vec<u32>) {
    let d = prefix.len();
    let Some(&total) = prefix.last() else {
        return;
    };
    let mut i = 0usize;
    for j in 0..d {
        let bound = (j as f64 / d as f64) * total;
        while i < d && prefix[i] <= bound {
            i += 1;
        }
        guide.push(i.min(d - 1) as u32);
    }
}

/// [`build_step_prefix`] with a guide table from [`build_guide`] (or an empty one): the same
/// decision, found from the guide's entry by a short scan. Rounding can put the guide's entry
/// past the answer; the scan then steps back, so the result is exactly the first link whose
/// running sum exceeds the draw, as in the scan and the binary search.
pub fn build_step_guided(
    alpha: f64,
    draws: &BuildDraws,
    position: u32,
    targets: &[NodeId],
    prefix: &[f64],
    guide: &[u32],
) -> BuildStep {
    if guide.len() != prefix.len() || prefix.is_empty() {
        return build_step_prefix(alpha, draws, position, targets, prefix);
    }
    let weight_sum = prefix[prefix.len() - 1];
    if let Some(decided) = stop_or_die(alpha, draws, position, weight_sum) {
        return decided;
    }
    let u = draws.choice(position);
    let x = u * weight_sum;
    let d = prefix.len();
    let j = ((u * d as f64) as usize).min(d - 1);
    let mut i = guide[j] as usize;
    while i > 0 && prefix[i - 1] > x {
        i -= 1;
    }
    while i < d && prefix[i] <= x {
        i += 1;
    }
    match targets.get(i.min(targets.len().saturating_sub(1))) {
        Some(&v) => BuildStep::Move(v),
        None => BuildStep::Die,
    }
}

/// The stop and dangling decisions shared by both step functions.
#[inline]
fn stop_or_die(
    alpha: f64,
    draws: &BuildDraws,
    position: u32,
    weight_sum: f64,
) -> Option<BuildStep> {
    if position as usize + 1 >= MAX_WALK_NODES || draws.stop(position) < alpha {
        return Some(BuildStep::Stop);
    }
    if weight_sum <= 0.0 {
        return Some(BuildStep::Die);
    }
    None
}

/// [`build_step`] for a node whose links all have weight 1 (so its weight sum is its degree),
/// given their targets in link order: the same decision in O(1) and one read. The scan picks
/// the first link `i` whose running sum `i + 1` (exact in `f64`) exceeds `x = u * d`, which is
/// `floor(x)`, or the last link when rounding puts `x` at `d`.
pub fn build_step_unit(
    alpha: f64,
    draws: &BuildDraws,
    position: u32,
    targets: &[NodeId],
) -> BuildStep {
    match unit_pick(alpha, draws, position, targets.len()) {
        Ok(i) => match targets.get(i) {
            Some(&v) => BuildStep::Move(v),
            None => BuildStep::Die,
        },
        Err(decided) => decided,
    }
}

/// The decision of [`build_step_unit`] at a node of degree `d`, without reading its targets:
/// the index of the link it takes, or how the walk ends there.
#[inline]
fn unit_pick(alpha: f64, draws: &BuildDraws, position: u32, d: usize) -> Result<usize, BuildStep> {
    if let Some(decided) = stop_or_die(alpha, draws, position, d as f64) {
        return Err(decided);
    }
    let x = draws.choice(position) * d as f64;
    // `x` is in [0, d]: the cast truncates toward zero, which is `floor` here.
    Ok((x as usize).min(d.saturating_sub(1)))
}

/// One step of build walk `draws` standing at `u` at `position`: [`build_step_unit`] or
/// [`build_step_guided`] where `tables` has a table for `u` (the scan's exact choice without
/// the scan), else [`build_step`].
#[inline]
fn build_step_at<G: Adjacency>(
    graph: &G,
    alpha: f64,
    draws: &BuildDraws,
    position: u32,
    u: NodeId,
    tables: &BuildTables,
) -> BuildStep {
    match tables.get(graph, u) {
        NodeTable::Unit(targets) => build_step_unit(alpha, draws, position, targets),
        NodeTable::Guided(targets, prefix, guide) => {
            build_step_guided(alpha, draws, position, targets, prefix, guide)
        }
        NodeTable::Scan => build_step(alpha, draws, position, graph.links(u), graph.weight_sum(u)),
    }
}

/// Grows build walk `draws` from `nodes[0]` to its end, one walk at a time (the reference the
/// interleaved [`NodeWalks::generate`] is tested against).
#[cfg(test)]
pub(super) fn grow_build<G: Adjacency>(
    graph: &G,
    alpha: f64,
    draws: &BuildDraws,
    nodes: &mut Vec<NodeId>,
    tables: &BuildTables,
) -> WalkEnd {
    loop {
        let Some(&u) = nodes.last() else {
            return WalkEnd::Stopped;
        };
        let position = (nodes.len() - 1) as u32;
        match build_step_at(graph, alpha, draws, position, u, tables) {
            BuildStep::Stop => return WalkEnd::Stopped,
            BuildStep::Die => return WalkEnd::Died,
            BuildStep::Move(v) => nodes.push(v),
        }
    }
}

/// Degree from which a weighted node gets a guide table in the build: below it the scan is
/// as fast.
const GUIDE_MIN: usize = 32;

/// How the build steps out of one node.
enum NodeTable<'a> {
    /// Every link has weight 1: pick `targets[floor(u * degree)]` ([`build_step_unit`]).
    Unit(&'a [NodeId]),
    /// A weighted hub: targets, running sums and guide ([`build_step_guided`]).
    Guided(&'a [NodeId], &'a [f64], &'a [u32]),
    /// Scan the node's links ([`build_step`]).
    Scan,
}

/// What the build knows about each node so that a step costs O(1) expected work and few
/// cache misses instead of a scan of the node's links (a power-law graph's walks spend most
/// of their steps at hubs, and on a graph larger than the caches every read of a link column
/// is a miss):
/// - nodes whose links all have weight 1 (a graph loaded without weights) and whose graph
///   stores their targets as a slice ([`Adjacency::target_slice`]): one bit per node, and the
///   step reads one target;
/// - other nodes of degree at least [`GUIDE_MIN`]: targets, running weight sums and a guide
///   table ([`build_guide`]), 16 bytes per link.
pub(super) struct BuildTables {
    /// Bit `u` set: node `u` steps by [`build_step_unit`].
    unit: Vec<u64>,
    /// Per node, its index in `spans`, or `u32::MAX`.
    slot: Vec<u32>,
    /// Per weighted hub, the range of its links in the columns.
    spans: Vec<(usize, usize)>,
    targets: Vec<NodeId>,
    prefix: Vec<f64>,
    guide: Vec<u32>,
}

impl BuildTables {
    pub(super) fn new<G: Adjacency>(graph: &G) -> BuildTables {
        let n = graph.node_count();
        let mut t = BuildTables::none();
        for u in 0..n as NodeId {
            let degree = graph.degree(u);
            // The unit step takes the weight sum to be the degree; the scan takes it from
            // `weight_sum`. Only where both agree bitwise (and every weight is exactly 1, so
            // every running sum is the exact integer) does the node take the unit step.
            if degree > 0
                && graph.target_slice(u).is_some_and(|s| s.len() == degree)
                && graph.weight_sum(u).to_bits() == (degree as f64).to_bits()
                && graph
                    .links(u)
                    .all(|link| link.weight.to_bits() == 1f64.to_bits())
            {
                if t.unit.is_empty() {
                    t.unit = crate::memory::zeroed_table(n.div_ceil(64));
                }
                t.unit[u as usize / 64] |= 1 << (u % 64);
                continue;
            }
            if degree < GUIDE_MIN {
                continue;
            }
            let from = t.targets.len();
            let mut acc = 0.0;
            for link in graph.links(u) {
                acc += link.weight;
                t.targets.push(link.target);
                t.prefix.push(acc);
            }
            // The guided step takes the weight sum from the running sums; the scan from
            // `weight_sum`. The Adjacency contract makes them equal; where they are not
            // (bitwise), the node keeps the scan so the walks stay the scan's.
            if acc.to_bits() != graph.weight_sum(u).to_bits() {
                t.targets.truncate(from);
                t.prefix.truncate(from);
                continue;
            }
            build_guide(&t.prefix[from..], &mut t.guide);
            if t.slot.is_empty() {
                t.slot = Vec::with_capacity(n);
                crate::memory::prefer_huge_pages(&mut t.slot);
                t.slot.resize(n, u32::MAX);
            }
            t.slot[u as usize] = t.spans.len() as u32;
            t.spans.push((from, t.targets.len()));
        }
        t
    }

    /// Tables for no node: every step scans.
    pub(super) fn none() -> BuildTables {
        BuildTables {
            unit: Vec::new(),
            slot: Vec::new(),
            spans: Vec::new(),
            targets: Vec::new(),
            prefix: Vec::new(),
            guide: Vec::new(),
        }
    }

    /// Weighted nodes with a guide table.
    #[cfg(test)]
    pub(super) fn hub_count(&self) -> usize {
        self.spans.len()
    }

    /// Nodes that take the unit step.
    #[cfg(test)]
    pub(super) fn unit_count(&self) -> usize {
        self.unit.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The targets of `u` when it takes the unit step.
    #[inline]
    fn unit_targets<'a, G: Adjacency>(&self, graph: &'a G, u: NodeId) -> Option<&'a [NodeId]> {
        if self
            .unit
            .get(u as usize / 64)
            .is_some_and(|w| w & (1 << (u % 64)) != 0)
        {
            return graph.target_slice(u);
        }
        None
    }

    #[inline]
    fn get<'a, G: Adjacency>(&'a self, graph: &'a G, u: NodeId) -> NodeTable<'a> {
        if let Some(targets) = self.unit_targets(graph, u) {
            return NodeTable::Unit(targets);
        }
        let Some(&s) = self.slot.get(u as usize) else {
            return NodeTable::Scan;
        };
        let Some(&(from, to)) = self.spans.get(s as usize) else {
            return NodeTable::Scan;
        };
        NodeTable::Guided(
            &self.targets[from..to],
            &self.prefix[from..to],
            &self.guide[from..to],
        )
    }
}

/// Start nodes per unit of parallel work in the build.
pub(super) const BUILD_CHUNK: usize = 512;

/// The walks of a chunk of consecutive start nodes, in (node, k) order; each walk generated
/// independently of every other.
pub(super) struct NodeWalks {
    pub(super) nodes: Vec<NodeId>,
    pub(super) lens: Vec<u32>,
    pub(super) ends: Vec<WalkEnd>,
}

/// Walks a build thread grows side by side: a step is a chain of dependent reads (the node's
/// link range, then the picked target), each a cache miss on a graph larger than the caches,
/// and one walk's next step needs its last. Stepping several walks in turn gives the processor
/// independent reads to overlap.
const LANES: usize = 16;

/// One walk being grown by [`NodeWalks::generate`].
struct Lane<'g> {
    /// Its index among the chunk's walks.
    walk: usize,
    draws: BuildDraws,
    nodes: Vec<NodeId>,
    /// The targets of its last node, read ahead, when that node takes the unit step.
    unit: Option<&'g [NodeId]>,
    /// The link of `unit` its next step takes, decided in the round's first pass.
    pick: Option<usize>,
}

impl NodeWalks {
    /// The build walks of start nodes `lo..hi`, in (node, k) order. Up to [`LANES`] walks
    /// grow side by side, one step each in turn; each walk's steps depend only on its own
    /// draws, so the walks are those grown one at a time.
    ///
    /// A round has three passes over the lanes. The first decides each walk's step: for a
    /// unit node only which link it takes (the draws, no read of the graph), for other nodes
    /// the whole step. The second reads the picked targets, the third where each walk's new
    /// node keeps its targets. The last two are short loops of independent reads (one cache
    /// miss each on a large graph), so the reads of all lanes are in flight at once; with the
    /// read inside the first pass's longer body, only a few lanes' reads overlapped.
    pub(super) fn generate<'g, G: Adjacency>(
        graph: &'g G,
        tables: &BuildTables,
        params: &WalkIndexParams,
        lo: usize,
        hi: usize,
    ) -> NodeWalks {
        // The chunk's walks in (node, k) order, handed out in turn.
        let mut next_walk = (lo as NodeId..hi as NodeId).flat_map(|u| {
            (0..params.walks_for_degree(graph.degree(u)) as u32).map(move |k| (u, k))
        });
        // Finished walks land in `done` in the order they finish; `placed[walk]` says where.
        let mut done: Vec<NodeId> = Vec::new();
        let mut placed: Vec<(usize, u32, WalkEnd)> = Vec::new();
        let mut lanes: Vec<Lane<'g>> = Vec::with_capacity(LANES);
        let mut spare: Vec<Vec<NodeId>> = Vec::new();
        let mut start =
            |lanes: &mut Vec<Lane<'g>>, spare: &mut Vec<Vec<NodeId>>, placed: &mut Vec<_>| {
                let Some((u, k)) = next_walk.next() else {
                    return false;
                };
                let mut nodes = spare.pop().unwrap_or_else(|| Vec::with_capacity(32));
                nodes.clear();
                nodes.push(u);
                lanes.push(Lane {
                    walk: placed.len(),
                    draws: BuildDraws::new(params.seed, u, k),
                    nodes,
                    unit: None,
                    pick: None,
                });
                placed.push((0, 0, WalkEnd::Stopped));
                true
            };
        while lanes.len() < LANES && start(&mut lanes, &mut spare, &mut placed) {}
        while !lanes.is_empty() {
            let mut j = 0;
            while j < lanes.len() {
                let lane = &mut lanes[j];
                let position = (lane.nodes.len() - 1) as u32;
                let u = lane.nodes[lane.nodes.len() - 1];
                let step = match lane.unit {
                    Some(targets) => {
                        match unit_pick(params.alpha, &lane.draws, position, targets.len()) {
                            Ok(i) if i < targets.len() => {
                                lane.pick = Some(i);
                                j += 1;
                                continue;
                            }
                            Ok(_) => BuildStep::Die,
                            Err(decided) => decided,
                        }
                    }
                    None => build_step_at(graph, params.alpha, &lane.draws, position, u, tables),
                };
                let end = match step {
                    BuildStep::Move(v) => {
                        lane.nodes.push(v);
                        j += 1;
                        continue;
                    }
                    BuildStep::Stop => WalkEnd::Stopped,
                    BuildStep::Die => WalkEnd::Died,
                };
                placed[lane.walk] = (done.len(), lane.nodes.len() as u32, end);
                done.extend_from_slice(&lane.nodes);
                let finished = lanes.swap_remove(j);
                spare.push(finished.nodes);
                // A new walk takes the freed place at the end; `j` now holds the last lane,
                // which has not stepped this round.
                start(&mut lanes, &mut spare, &mut placed);
            }
            for lane in &mut lanes {
                if let (Some(targets), Some(i)) = (lane.unit, lane.pick.take()) {
                    // `i < targets.len()`: the first pass picked it so.
                    lane.nodes.push(targets[i]);
                }
            }
            for lane in &mut lanes {
                let u = lane.nodes[lane.nodes.len() - 1];
                lane.unit = tables.unit_targets(graph, u);
            }
        }
        let mut walks = NodeWalks {
            nodes: Vec::with_capacity(done.len()),
            lens: Vec::with_capacity(placed.len()),
            ends: Vec::with_capacity(placed.len()),
        };
        for &(at, len, end) in &placed {
            walks.nodes.extend_from_slice(&done[at..at + len as usize]);
            walks.lens.push(len);
            walks.ends.push(end);
        }
        walks
    }
}

impl WalkIndex {
    /// Builds the index of `graph`: `ceil(walks_per_node * degree(u))` walks from every node
    /// `u`. Same as [`WalkIndex::build_with_progress`] without progress reports.
    pub fn build<G: Adjacency>(
        graph: &G,
        params: WalkIndexParams,
    ) -> Result<WalkIndex, WalkIndexError> {
        WalkIndex::build_with_progress(graph, params, &|_, _| {})
    }

    /// Builds the index of `graph` in parallel, calling `progress(nodes_done, node_count)` now
    /// and then from worker threads (the CLI draws a bar with it).
    ///
    /// Walk `k` of node `u` makes its choices with [`BuildDraws::new`]`(seed, u, k)` and
    /// [`build_step`], and walk ids are assigned in (node, k) order, so the result does not
    /// depend on the number of threads, on scheduling, or on how the build is split.
    pub fn build_with_progress<G: Adjacency>(
        graph: &G,
        params: WalkIndexParams,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<WalkIndex, WalkIndexError> {
        params.validate()?;
        let node_count = graph.node_count();
        if node_count > u32::MAX as usize {
            return Err(WalkIndexError::InvalidParams(format!(
                "{node_count} nodes exceed the u32 node id space"
            )));
        }
        let done = AtomicUsize::new(0);
        let report_every = (node_count / 200).max(1024);
        let tables = BuildTables::new(graph);
        // Walks are generated per chunk of consecutive start nodes, into one set of lists per
        // chunk: per-node lists would cost three small allocations per node, which the
        // allocator keeps after they are freed (the build's peak is the import's).
        let chunks: Vec<NodeWalks> = (0..node_count.div_ceil(BUILD_CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let (lo, hi) = (
                    chunk * BUILD_CHUNK,
                    ((chunk + 1) * BUILD_CHUNK).min(node_count),
                );
                let walks = NodeWalks::generate(graph, &tables, &params, lo, hi);
                let before = done.fetch_add(hi - lo, Ordering::Relaxed);
                if before / report_every != (before + hi - lo) / report_every {
                    progress(before + hi - lo, node_count);
                }
                walks
            })
            .collect();
        let n_walks: usize = chunks.iter().map(|w| w.lens.len()).sum();
        // Walk ids in (node, k) order: a node's walks are consecutive slots. `from_walks` asks
        // for ids 0, 1, 2, ... in turn, so a cursor walks the chunks' lists alongside (no table
        // of spans: it would cost 32 bytes per walk at the build's peak).
        let (mut u, mut k, mut at) = (0usize, 0usize, 0usize);
        let index = WalkIndex::from_walks(params, node_count, n_walks, |_| {
            while chunks.get(u).is_some_and(|w| k == w.lens.len()) {
                (u, k, at) = (u + 1, 0, 0);
            }
            let Some(walks) = chunks.get(u) else {
                return Err(WalkIndexError::InvalidParams(
                    "the walk builder asked for more walks than it built".into(),
                ));
            };
            let len = walks.lens[k] as usize;
            let walk = (&walks.nodes[at..at + len], walks.ends[k]);
            (k, at) = (k + 1, at + len);
            Ok(walk)
        })?;
        progress(node_count, node_count);
        Ok(index)
    }

    /// An index of `node_count` nodes holding `walk_count` walks given in slot order:
    /// `next(id)` is called for ids 0, 1, 2, ... in turn and returns walk `id`'s nodes and how
    /// it ended. The walks of each node must be consecutive, in (start node, k) order, as
    /// [`WalkIndex::build`] makes them; nothing is checked against a graph here ([`verify`]
    /// does, and [`crate::Database::install_walk_index`] runs it before installing).
    ///
    /// [`verify`]: WalkIndex::verify
    pub fn from_walks<'w>(
        params: WalkIndexParams,
        node_count: usize,
        walk_count: usize,
        mut next: impl FnMut(u32) -> Result<(&'w [NodeId], WalkEnd), WalkIndexError>,
    ) -> Result<WalkIndex, WalkIndexError> {
        params.validate()?;
        if walk_count > u32::MAX as usize {
            return Err(WalkIndexError::InvalidParams(format!(
                "{walk_count} walks exceed the u32 walk id space"
            )));
        }
        let mut expected = 0u32;
        let columns = Columns::from_walks(node_count, walk_count, |id| {
            if id != expected {
                return Err(WalkIndexError::InvalidParams(format!(
                    "walk {id} was asked for out of turn (expected {expected})"
                )));
            }
            expected += 1;
            let (nodes, end) = next(id)?;
            if nodes.is_empty() {
                return Err(WalkIndexError::InvalidParams(format!(
                    "walk {id} has no nodes"
                )));
            }
            if let Some(&bad) = nodes.iter().find(|&&v| v as usize >= node_count) {
                return Err(WalkIndexError::InvalidParams(format!(
                    "walk {id} visits node {bad}, beyond the {node_count} nodes"
                )));
            }
            Ok(Some((nodes, end)))
        })?;
        let base = WalkBase::from_columns(&params, node_count, columns)?;
        WalkIndex::from_base(base)
    }
}
