//! `build-index`: a database's walk index built by walkers that move between workers.
//!
//! Every worker owns a contiguous node range ([`Partition`]) and reads only the links of its own
//! nodes from the mapped segment. It starts the walks of its own nodes and steps every walker
//! standing on one of its nodes until the walker stops, dies, or steps out of the range; then
//! the walker (16 bytes: start, k, node, position) goes to the owner of its new node. Each
//! choice is [`build_step`] with [`BuildDraws`], a pure function of (seed, start, k, position),
//! so the walks are the ones `walkdb import` or `Database::rebuild_walk_index` make, for any
//! number of workers and processes.
//!
//! The stretch of a walk inside one range is a run (start, k, first position, end, nodes), kept
//! where it was walked, in a flat arena. When no walker is left, every worker sends the runs of
//! walks that started elsewhere to their start owners, one columnar batch per owner (a message
//! per run cost more than the walking: 3M small messages on WordNet), then assembles the walks
//! of its own start nodes in (start, k) order (a sort of its runs) and sends them as columns to
//! worker 0,
//! which concatenates the ranges in order (walk ids are (node, k) order, and the ranges are
//! contiguous) and installs the index through the database's checkpoint, after
//! [`walkdb::Database::install_walk_index`] has verified it.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::{ConnectLoop, Feedback, ToStream};
use walkdb::graph::NodeId;
use walkdb::walks::{
    build_guide, build_step_guided, build_step_unit, BuildDraws, BuildStep, WalkEnd, WalkIndex,
    WalkIndexParams,
};
use walkdb::Snapshot;

use crate::partition::Partition;
use crate::DistError;

/// A walker between workers: (start node, k, current node, position of the current node).
type Walker = (NodeId, u32, NodeId, u32);

/// How a run ends: the walk continues in another range, stopped, or died.
const CONTINUES: u8 = 0;
const STOPPED: u8 = 1;
const DIED: u8 = 2;

/// Runs of walks that started in another range, on their way to that range's owner:
/// `meta[i]` = (start, k, first position, end, length) of the i-th run, whose nodes follow the
/// previous runs' in `nodes`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct RunBatch {
    to: usize,
    meta: Vec<(NodeId, u32, u32, u8, u32)>,
    nodes: Vec<NodeId>,
}

/// One worker's assembled walks (or a chunk of them), on their way to worker 0, with the
/// version it read and its counters (sent with its chunk 0).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Assembled {
    worker: usize,
    chunk: usize,
    chunks: usize,
    lsn: u64,
    steps: u64,
    walkers_sent: u64,
    walkers_sent_remote: u64,
    runs_sent: u64,
    lens: Vec<u32>,
    ends: Vec<u8>,
    nodes: Vec<NodeId>,
}

/// Walks a worker starts per activation.
const START_SLICE: usize = 1 << 14;

/// Walks per message to worker 0.
const CHUNK_WALKS: usize = 1 << 18;

/// The runs a worker holds for the walks of its own start nodes: metadata plus one node arena.
#[derive(Default)]
struct Runs {
    /// (start, k, first position, end, offset into `nodes`, length).
    meta: Vec<(NodeId, u32, u32, u8, usize, u32)>,
    nodes: Vec<NodeId>,
}

impl Runs {
    fn push(&mut self, start: NodeId, k: u32, first: u32, end: u8, nodes: &[NodeId]) {
        self.meta
            .push((start, k, first, end, self.nodes.len(), nodes.len() as u32));
        self.nodes.extend_from_slice(nodes);
    }

    /// The runs of walks that started in `me`'s range, and one batch per other start owner.
    fn split_by_owner(self, partition: &Partition, me: usize) -> (Runs, Vec<RunBatch>) {
        let mut kept = Runs::default();
        let mut batches: Vec<RunBatch> = Vec::new();
        let mut slot: Vec<Option<usize>> = Vec::new();
        for (start, k, first, end, offset, len) in self.meta {
            let nodes = &self.nodes[offset..offset + len as usize];
            let owner = partition.owner(start);
            if owner == me {
                kept.push(start, k, first, end, nodes);
                continue;
            }
            if slot.len() <= owner {
                slot.resize(owner + 1, None);
            }
            let i = *slot[owner].get_or_insert_with(|| {
                batches.push(RunBatch {
                    to: owner,
                    ..RunBatch::default()
                });
                batches.len() - 1
            });
            batches[i].meta.push((start, k, first, end, len));
            batches[i].nodes.extend_from_slice(nodes);
        }
        (kept, batches)
    }
}

/// The links of one worker's nodes, copied from the snapshot (the only adjacency it reads): per
/// node its targets and running weight sums, and for a node of degree >= [`GUIDE_MIN`] a guide
/// table, so a step at a hub costs a few probes (a scan costs O(degree); a binary search
/// O(log degree) cache misses, 1.2 us per step on a 10M-edge R-MAT graph).
struct RangeGraph {
    lo: NodeId,
    offsets: Vec<usize>,
    targets: Vec<NodeId>,
    prefix: Vec<f64>,
    guide_offsets: Vec<usize>,
    guide: Vec<u32>,
    /// Bit `u - lo` set: every link of `u` has weight 1, and a step picks by position
    /// (`build_step_unit`, the same choice: the running sums are the exact integers).
    unit: Vec<u64>,
}

/// Nodes with at least this many links get a guide table.
const GUIDE_MIN: usize = 32;

impl RangeGraph {
    fn new(snapshot: &Snapshot, range: std::ops::Range<NodeId>) -> RangeGraph {
        let mut g = RangeGraph {
            lo: range.start,
            offsets: vec![0],
            targets: Vec::new(),
            prefix: Vec::new(),
            guide_offsets: vec![0],
            guide: Vec::new(),
            unit: vec![0; (range.end - range.start).div_ceil(64) as usize],
        };
        for u in range {
            // Summed in link order, as the database's projection and the build's scan sum
            // them: the same floats.
            let from = g.targets.len();
            let mut sum = 0.0;
            let mut all_unit = true;
            for link in snapshot.links(u) {
                g.targets.push(link.target);
                sum += link.weight;
                g.prefix.push(sum);
                all_unit &= link.weight.to_bits() == 1f64.to_bits();
            }
            g.offsets.push(g.targets.len());
            if all_unit && g.targets.len() > from {
                let i = (u - g.lo) as usize;
                g.unit[i / 64] |= 1 << (i % 64);
            }
            if g.targets.len() - from >= GUIDE_MIN {
                build_guide(&g.prefix[from..], &mut g.guide);
            }
            g.guide_offsets.push(g.guide.len());
        }
        g
    }

    fn node_count(&self) -> usize {
        self.offsets.len() - 1
    }

    fn contains(&self, u: NodeId) -> bool {
        u >= self.lo && ((u - self.lo) as usize) < self.node_count()
    }

    fn degree(&self, u: NodeId) -> usize {
        let i = (u - self.lo) as usize;
        self.offsets[i + 1] - self.offsets[i]
    }

    /// One step decision of walk `draws` standing on `u` (which must be in range).
    fn step(&self, alpha: f64, draws: &BuildDraws, u: NodeId, position: u32) -> BuildStep {
        let i = (u - self.lo) as usize;
        let (a, b) = (self.offsets[i], self.offsets[i + 1]);
        if self.unit[i / 64] >> (i % 64) & 1 == 1 {
            return build_step_unit(alpha, draws, position, &self.targets[a..b]);
        }
        let guide = &self.guide[self.guide_offsets[i]..self.guide_offsets[i + 1]];
        build_step_guided(
            alpha,
            draws,
            position,
            &self.targets[a..b],
            &self.prefix[a..b],
            guide,
        )
    }
}

/// Per-worker counters.
#[derive(Default)]
struct Counters {
    steps: u64,
    walkers_sent: u64,
    walkers_sent_remote: u64,
    runs_sent: u64,
}

/// What one worker needs to advance walkers: its range's links and who owns the rest.
struct Stepper {
    graph: Rc<RangeGraph>,
    partition: Arc<Partition>,
    params: WalkIndexParams,
    me: usize,
    threads_per_process: usize,
}

impl Stepper {
    fn process_of(&self, worker: usize) -> usize {
        worker / self.threads_per_process.max(1)
    }

    /// Walks `walker` inside this worker's range, recording its run in `runs`; the walker is
    /// emitted when it leaves the range.
    fn advance(
        &self,
        walker: Walker,
        scratch: &mut Vec<NodeId>,
        runs: &mut Runs,
        counters: &mut Counters,
        out: &mut Vec<Walker>,
    ) {
        let (start, k, mut node, mut position) = walker;
        let draws = BuildDraws::new(self.params.seed, start, k);
        let first = position;
        scratch.clear();
        scratch.push(node);
        loop {
            match self.graph.step(self.params.alpha, &draws, node, position) {
                BuildStep::Stop => return runs.push(start, k, first, STOPPED, scratch),
                BuildStep::Die => return runs.push(start, k, first, DIED, scratch),
                BuildStep::Move(v) => {
                    counters.steps += 1;
                    (node, position) = (v, position + 1);
                    if self.graph.contains(v) {
                        scratch.push(v);
                        continue;
                    }
                    runs.push(start, k, first, CONTINUES, scratch);
                    counters.walkers_sent += 1;
                    if self.process_of(self.partition.owner(v)) != self.process_of(self.me) {
                        counters.walkers_sent_remote += 1;
                    }
                    out.push((start, k, v, position));
                    return;
                }
            }
        }
    }
}

/// What the build did, for the summary line and the benchmark.
#[derive(Clone, Debug, Default)]
pub(crate) struct BuildSummary {
    pub(crate) walks: u64,
    pub(crate) steps: u64,
    pub(crate) walkers_sent: u64,
    pub(crate) walkers_sent_remote: u64,
    pub(crate) runs_sent: u64,
    /// Copying this worker's links out of the snapshot (worker 0's).
    pub(crate) graph_seconds: f64,
    /// From the start until every walker everywhere had ended and every run had reached the
    /// owner of its walk's start.
    pub(crate) walk_seconds: f64,
    /// Assembling the walks at their start owners and concatenating them at worker 0.
    pub(crate) assemble_seconds: f64,
}

/// The walks every worker produced, assembled at worker 0: the index and what it took.
pub(crate) struct Built {
    pub(crate) index: WalkIndex,
    pub(crate) lsn: u64,
    pub(crate) summary: BuildSummary,
}

/// Runs the build on this worker. Worker 0 returns the assembled index; every other worker
/// returns `None`.
pub(crate) fn build_on_worker(
    worker: &mut timely::worker::Worker,
    snapshot: &Snapshot,
    partition: &Arc<Partition>,
    params: WalkIndexParams,
    threads_per_process: usize,
) -> Result<Option<Built>, DistError> {
    let me = worker.index();
    let started = Instant::now();
    let range_graph = RangeGraph::new(snapshot, partition.range(me));
    let graph_seconds = started.elapsed().as_secs_f64();
    let stepper = Rc::new(Stepper {
        graph: Rc::new(range_graph),
        partition: Arc::clone(partition),
        params,
        me,
        threads_per_process,
    });
    let runs: Rc<RefCell<Runs>> = Rc::default();
    let counters: Rc<RefCell<Counters>> = Rc::default();
    {
        let (stepper, runs, counters) =
            (Rc::clone(&stepper), Rc::clone(&runs), Rc::clone(&counters));
        worker.dataflow::<u64, _, _>(move |scope| {
            let (handle, cycle) = scope.feedback::<Vec<Walker>>(1);
            let routing = Arc::clone(&stepper.partition);
            let walk_runs = Rc::clone(&runs);
            let activator_scope = scope;
            let leaving = cycle.unary::<CapacityContainerBuilder<Vec<Walker>>, _, _, _>(
                Exchange::new(move |w: &Walker| routing.owner(w.2) as u64),
                "Walk",
                move |capability, info| {
                    // The range's own walks are started a slice per activation, so walkers
                    // arriving from other ranges are taken up in between instead of waiting
                    // for the whole range (the other workers would idle meanwhile).
                    let activator = activator_scope.activator_for(info.address);
                    let mut initial = Some(capability);
                    let mut next_start = stepper.graph.lo;
                    let mut out: Vec<Walker> = Vec::new();
                    let mut scratch: Vec<NodeId> = Vec::new();
                    move |input, output| {
                        let counters = &mut *counters.borrow_mut();
                        let runs = &mut *walk_runs.borrow_mut();
                        let mut walk = |walker: Walker, out: &mut Vec<Walker>| {
                            stepper.advance(walker, &mut scratch, runs, counters, out)
                        };
                        input.for_each_stamp(|cap, data| {
                            if let Some(cap) = cap.retain_least(output.output_index()) {
                                for batch in data {
                                    for walker in batch.drain(..) {
                                        walk(walker, &mut out);
                                    }
                                }
                                output.session(&cap).give_iterator(out.drain(..));
                            }
                        });
                        if let Some(cap) = initial.as_ref() {
                            // The walks of this range's own nodes, in (node, k) order.
                            let graph = &stepper.graph;
                            let end = graph.lo + graph.node_count() as NodeId;
                            let mut started = 0usize;
                            while next_start < end && started < START_SLICE {
                                let u = next_start;
                                for k in 0..stepper.params.walks_for_degree(graph.degree(u)) {
                                    walk((u, k as u32, u, 0), &mut out);
                                    started += 1;
                                }
                                next_start += 1;
                            }
                            output.session(cap).give_iterator(out.drain(..));
                            if next_start < end {
                                activator.activate();
                            } else {
                                initial = None;
                            }
                        }
                    }
                },
            );
            leaving.connect_loop(handle);
        });
    }
    // Every worker steps until no walker is left anywhere (the loop's frontier is empty) and
    // every run has reached its walk's start owner.
    while worker.step() {}
    let walk_seconds = started.elapsed().as_secs_f64();
    let assembling = Instant::now();
    // The runs of walks that started elsewhere go to their start owners, one batch each.
    let mut runs = std::mem::take(&mut *runs.borrow_mut());
    let (kept, batches) = runs.split_by_owner(&stepper.partition, me);
    counters.borrow_mut().runs_sent = batches.iter().map(|b| b.meta.len() as u64).sum();
    let arrived: Rc<RefCell<Vec<RunBatch>>> = Rc::default();
    {
        let arrived = Rc::clone(&arrived);
        worker.dataflow::<u64, _, _>(move |scope| {
            batches
                .into_iter()
                .to_stream(scope)
                .container::<Vec<RunBatch>>()
                .sink(
                    Exchange::new(|b: &RunBatch| b.to as u64),
                    "ToStartOwner",
                    move |(input, _)| {
                        input.for_each(|_, data| arrived.borrow_mut().append(data));
                    },
                );
        });
    }
    while worker.step() {}
    runs = kept;
    for batch in std::mem::take(&mut *arrived.borrow_mut()) {
        let mut at = 0usize;
        for (start, k, first, end, len) in batch.meta {
            runs.push(start, k, first, end, &batch.nodes[at..at + len as usize]);
            at += len as usize;
        }
    }
    let c = std::mem::take(&mut *counters.borrow_mut());
    let mut chunks = assemble_range(runs, me)?;
    if let Some(first) = chunks.first_mut() {
        first.lsn = snapshot.lsn();
        first.steps = c.steps;
        first.walkers_sent = c.walkers_sent;
        first.walkers_sent_remote = c.walkers_sent_remote;
        first.runs_sent = c.runs_sent;
    }
    // Then each worker's walks go to worker 0, in a second dataflow.
    let received: Rc<RefCell<Vec<Assembled>>> = Rc::default();
    {
        let received = Rc::clone(&received);
        worker.dataflow::<u64, _, _>(move |scope| {
            chunks
                .into_iter()
                .to_stream(scope)
                .container::<Vec<Assembled>>()
                .sink(
                    Exchange::new(|_: &Assembled| 0),
                    "Gather",
                    move |(input, _)| {
                        input.for_each(|_, data| received.borrow_mut().append(data));
                    },
                );
        });
    }
    while worker.step() {}
    if me != 0 {
        return Ok(None);
    }
    let received = std::mem::take(&mut *received.borrow_mut());
    let mut built = concatenate(received, params, snapshot, worker.peers())?;
    built.summary.graph_seconds = graph_seconds;
    built.summary.walk_seconds = walk_seconds;
    built.summary.assemble_seconds = assembling.elapsed().as_secs_f64();
    Ok(Some(built))
}

/// One worker: its runs put together into the walks of its start nodes, in (start, k) order,
/// as columns in chunks of [`CHUNK_WALKS`] walks. Chunk 0 always exists (it carries the
/// worker's counters even when the range has no walks).
fn assemble_range(runs: Runs, me: usize) -> Result<Vec<Assembled>, DistError> {
    let Runs { mut meta, nodes } = runs;
    meta.sort_unstable_by_key(|r| (r.0, r.1, r.2));
    let mut chunks = vec![Assembled {
        worker: me,
        ..Assembled::default()
    }];
    let mut i = 0;
    while i < meta.len() {
        let (start, k) = (meta[i].0, meta[i].1);
        if chunks.last().is_some_and(|c| c.lens.len() == CHUNK_WALKS) {
            chunks.push(Assembled {
                worker: me,
                chunk: chunks.len(),
                ..Assembled::default()
            });
        }
        let Some(chunk) = chunks.last_mut() else {
            return Err(DistError::Internal("no chunk to assemble into".into()));
        };
        let (mut len, mut end) = (0u32, CONTINUES);
        while i < meta.len() && (meta[i].0, meta[i].1) == (start, k) {
            let (_, _, first, run_end, offset, run_len) = meta[i];
            if end != CONTINUES || first != len {
                return Err(DistError::Internal(format!(
                    "walk {k} of node {start}: a run at position {first} does not continue the walk"
                )));
            }
            chunk
                .nodes
                .extend_from_slice(&nodes[offset..offset + run_len as usize]);
            len += run_len;
            end = run_end;
            i += 1;
        }
        if end == CONTINUES {
            return Err(DistError::Internal(format!(
                "walk {k} of node {start} has no end"
            )));
        }
        chunk.lens.push(len);
        chunk.ends.push(end);
    }
    let count = chunks.len();
    for c in &mut chunks {
        c.chunks = count;
    }
    Ok(chunks)
}

/// Worker 0: every worker's walks, concatenated in worker order (the ranges are contiguous, so
/// this is (start, k) order over the whole graph), as the index.
fn concatenate(
    mut received: Vec<Assembled>,
    params: WalkIndexParams,
    snapshot: &Snapshot,
    peers: usize,
) -> Result<Built, DistError> {
    received.sort_unstable_by_key(|a| (a.worker, a.chunk));
    let mut summary = BuildSummary::default();
    for w in 0..peers {
        let got: Vec<&Assembled> = received.iter().filter(|a| a.worker == w).collect();
        let complete = got.first().is_some_and(|a| a.chunks == got.len())
            && got.iter().enumerate().all(|(i, a)| a.chunk == i);
        if !complete {
            return Err(DistError::Internal(format!(
                "worker {w} sent {} of its chunks of walks",
                got.len()
            )));
        }
        let head = got[0];
        if head.lsn != snapshot.lsn() {
            return Err(DistError::Conflict(format!(
                "worker {w} read version {} of the database, worker 0 read {}: a writer committed while the processes opened it; run the build again",
                head.lsn,
                snapshot.lsn()
            )));
        }
        summary.steps += head.steps;
        summary.walkers_sent += head.walkers_sent;
        summary.walkers_sent_remote += head.walkers_sent_remote;
        summary.runs_sent += head.runs_sent;
    }
    let walks: usize = received.iter().map(|a| a.lens.len()).sum();
    summary.walks = walks as u64;
    // Walk id -> (message, index in it, offset of its nodes), by a cursor over the messages.
    let (mut m, mut j, mut at) = (0usize, 0usize, 0usize);
    let index = WalkIndex::from_walks(params, snapshot.node_count() as usize, walks, |_| {
        while received.get(m).is_some_and(|a| j == a.lens.len()) {
            (m, j, at) = (m + 1, 0, 0);
        }
        let Some(a) = received.get(m) else {
            return Err(walkdb::walks::WalkIndexError::InvalidParams(
                "fewer walks arrived than counted".into(),
            ));
        };
        let len = a.lens[j] as usize;
        let end = if a.ends[j] == DIED {
            WalkEnd::Died
        } else {
            WalkEnd::Stopped
        };
        let nodes = &a.nodes[at..at + len];
        (j, at) = (j + 1, at + len);
        Ok((nodes, end))
    })
    .map_err(|e| DistError::Internal(format!("assembling the walk index: {e}")))?;
    Ok(Built {
        index,
        lsn: snapshot.lsn(),
        summary,
    })
}
