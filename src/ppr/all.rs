//! Fully personalized PPR and batches: certified top-k queries answered in blocks that share
//! their node-order sweeps (`ppr_all_top_k` asks one query per source it does not derive from
//! another's answer, `ppr_batch` its certified-push queries).
//!
//! A single certified query ([`super::certified`]) pushes from its seed until sweeps are the
//! cheaper way on (at the latest after a sweep's worth of link visits), then sweeps the whole
//! graph in node order until the answer is certified. On hub-heavy graphs most sources reach the sweeps, and a sweep costs
//! every link of the graph for one source. A [`Block`] runs up to [`MAX_LANES`] sources side
//! by side: each node's estimates and residuals for all lanes sit in one row (eight lanes:
//! one cache line), so a sweep reads each link once for all of them and updates the target's
//! row with a few vector operations. Sources join a free lane as others finish, so the block
//! stays full. The rows are written in random order, so a block only pays while they stay
//! near a core's caches ([`lanes_for`]); on larger graphs sources are answered one by one.
//!
//! Each lane does exactly what a single query's sweep phase does, with the same arithmetic
//! in the same order (lanes never mix), so an answer does not depend on which queries share
//! its block: ppr-all is deterministic and resumable at any source, and with a single query's
//! rules a lane's answer equals the single query's bit for bit (checked by unit tests). The
//! block's own rules ([`BlockJob::shared`]) differ in cost, never in the target, so answers
//! may differ from a single query's within what both guarantee: a push that is no longer
//! local hands off earlier ([`block_hand_off`]), since the block's sweeps cost each query a
//! fraction of one, and a lane spaces its full checks by what the last one asked for
//! ([`Progress::predict_checks`]), since a check costs it more than a sweep.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::certified::{abs_sums, certified_run, Candidate, Certified, HandOff, Progress, Run};
use super::{Accuracy, PprWorkspace};
use crate::graph::{Adjacency, CsrGraph, NodeId};

/// Most sources per block: eight `f64` lanes make a row of one 64-byte cache line.
pub(crate) const MAX_LANES: usize = 8;

/// The most bytes of residual rows a block may take: the rows are read and written in
/// random order, and a block whose rows spill far past a core's caches loses what sharing
/// the links gains (on this machine, 1 MiB of L2 per core: a lane's link visit cost 0.32 ns
/// with 1.3 MB of rows, 0.58 ns with 3.4 MB and 1.24 ns with 6.9 MB, against about 3 ns in
/// a single query's sweep).
const ROW_BYTES_LIMIT: usize = 4 << 20;

/// Lanes per block for a graph of `n` nodes: the most (up to [`MAX_LANES`], a power of two)
/// whose rows fit [`ROW_BYTES_LIMIT`]; 1 means sources are better answered one by one.
pub(crate) fn lanes_for(n: usize) -> usize {
    let fit = ROW_BYTES_LIMIT / (8 * n.max(1));
    let mut lanes = MAX_LANES;
    while lanes > 1 && lanes > fit {
        lanes /= 2;
    }
    lanes
}

/// When a source's push joins a block's sweeps: as a single query's does, or earlier, once
/// its frontier covers a quarter of the graph: a block sweep costs each of its sources a
/// fraction of a single sweep, so a push that is no longer local hands off early. Looked at
/// from 1/64 of a sweep's link visits on: chosen on the power-law and HippoRAG-shaped
/// families at alpha 0.5, where 1/64 to 1/512 cost within 10% of one another and 1/8 to 1/16
/// a third more on the power-law graph; the quarter-of-the-graph test, added when a fixed
/// budget made WordNet's mostly local pushes hand off too, keeps local pushes going.
///
/// The single query's price rule ([`HandOff::sweeps_are_cheaper`]) applies too, with the
/// block's price: a lane's link visit in a block sweep costs 1/5 to 1/9 of one in a single
/// sweep (see [`ROW_BYTES_LIMIT`]), about one over the lane count, so a push's visit costs
/// about `2 L` of them, and waits for a wide region (`HandOff::gate_by_volume`). Measured
/// after the fact, one thread, 400 sources from `n / 3`, undirected: HippoRAG-shaped 1.16-1.36
/// -> 0.94-0.98 ms per source at alpha 0.5, Debian 4.4-4.7 -> 3.7-3.9 ms; the power-law graph,
/// whose pushes the quarter rule hands off already, unchanged. Directed, the region test kept
/// the Debian graph at alpha 0.15 from losing 2x (1.27 -> 2.5-2.9 ms without it, 1.43 with
/// it), while the HippoRAG-shaped graph gained 2x either way; single queries do without it,
/// where it cost the HippoRAG-shaped graph and WordNet directed their gains (1.1 -> 2.8 ms,
/// 28 -> 39 ms at alpha 0.15).
pub(crate) fn block_hand_off(graph: &CsrGraph) -> HandOff {
    let single = HandOff::single(graph);
    let lanes = lanes_for(graph.node_count()) as f64;
    HandOff {
        early: Some((single.budget / 64, graph.node_count() / 4)),
        price: single.price.map(|price| price * lanes),
        gate_by_volume: true,
        ..single
    }
}

/// Scratch space for answering `L` sources in a block: about `16 L + 20` bytes per node.
#[derive(Debug, Default)]
pub(crate) struct Block<const L: usize> {
    estimate: Vec<[f64; L]>,
    residual: Vec<[f64; L]>,
    /// One lane's column, gathered for assessing it.
    column_estimate: Vec<f64>,
    column_residual: Vec<f64>,
    /// `0..n`, the node list of a dense lane.
    all_nodes: Vec<NodeId>,
    /// The push phase's workspace.
    ws: PprWorkspace,
    candidates: Vec<Candidate>,
}

impl<const L: usize> Block<L> {
    fn ensure(&mut self, n: usize) {
        if self.estimate.len() < n {
            self.estimate.resize(n, [0.0; L]);
            self.residual.resize(n, [0.0; L]);
            self.column_estimate.resize(n, 0.0);
            self.column_residual.resize(n, 0.0);
        }
        if self.all_nodes.len() != n {
            self.all_nodes.clear();
            self.all_nodes.extend(0..n as NodeId);
        }
    }

    /// Zeroes lane `j` over the first `n` rows.
    fn clear_lane(&mut self, j: usize, n: usize) {
        for row in &mut self.estimate[..n] {
            row[j] = 0.0;
        }
        for row in &mut self.residual[..n] {
            row[j] = 0.0;
        }
    }

    /// True when every entry is zero (the state between runs).
    #[cfg(test)]
    fn is_clean(&self) -> bool {
        self.estimate
            .iter()
            .chain(&self.residual)
            .all(|row| row.iter().all(|&x| x.to_bits() == 0))
            && self.ws.is_clean()
    }
}

/// A query being swept.
#[derive(Debug)]
struct Lane {
    /// Index of the query in its batch.
    index: usize,
    k: usize,
    accuracy: Accuracy,
    progress: Progress,
    /// When its push started.
    started: Instant,
}

/// One query of a block: normalised seeds, results wanted, target. Every node may rank.
#[derive(Clone, Debug)]
pub(crate) struct LaneQuery {
    pub(crate) seeds: Vec<(NodeId, f64)>,
    pub(crate) k: usize,
    pub(crate) accuracy: Accuracy,
}

/// How a block runs its queries (all at one `alpha`).
pub(crate) struct BlockJob<'a> {
    pub(crate) graph: &'a CsrGraph,
    pub(crate) alpha: f64,
    pub(crate) hand_off: HandOff,
    /// Space each lane's full checks by what its last one asked for
    /// ([`Progress::predict_checks`]); off, a lane checks as a single query does.
    pub(crate) predict_checks: bool,
}

impl BlockJob<'_> {
    /// The block's own rules: pushes that are no longer local hand off early
    /// ([`block_hand_off`]), and lanes space their checks ([`Progress::predict_checks`]).
    pub(crate) fn shared(graph: &CsrGraph, alpha: f64) -> BlockJob<'_> {
        BlockJob {
            graph,
            alpha,
            hand_off: block_hand_off(graph),
            predict_checks: true,
        }
    }

    /// Lanes that answer exactly as single queries do, bit for bit: a single query's hand-off
    /// and checks (what the tests compare lanes with).
    #[cfg(test)]
    pub(crate) fn as_single_queries(graph: &CsrGraph, alpha: f64) -> BlockJob<'_> {
        BlockJob {
            graph,
            alpha,
            hand_off: HandOff::single(graph),
            predict_checks: false,
        }
    }
}

/// Answers queries `0..count` (`query(i)` gives each), returning the answers in that order;
/// leaves the block clean.
// Lane `j` is both an entry of `lanes` and a column of the rows: indexed loops say so.
#[allow(clippy::needless_range_loop)]
pub(crate) fn answer_queries<const L: usize>(
    job: &BlockJob<'_>,
    count: usize,
    query: impl Fn(usize) -> LaneQuery,
    block: &mut Block<L>,
) -> Vec<(Certified, Duration)> {
    let graph = job.graph;
    let n = graph.node_count();
    block.ensure(n);
    block.ws.ensure(n);
    let passes = |_: NodeId| true;
    let mut answers: Vec<Option<(Certified, Duration)>> = Vec::new();
    answers.resize_with(count, || None);
    let mut lanes: [Option<Lane>; L] = std::array::from_fn(|_| None);
    let mut next = 0;
    loop {
        for j in 0..L {
            while lanes[j].is_none() && next < count {
                let index = next;
                next += 1;
                let started = Instant::now();
                let LaneQuery { seeds, k, accuracy } = query(index);
                let run = certified_run(
                    graph,
                    &seeds,
                    job.alpha,
                    k,
                    &passes,
                    &accuracy,
                    job.hand_off,
                    &mut block.ws,
                );
                match run {
                    Run::Done(answer) => answers[index] = Some((answer, started.elapsed())),
                    Run::HandOff(progress) => {
                        for &v in &block.ws.touched {
                            let i = v as usize;
                            block.estimate[i][j] = block.ws.estimate[i];
                            block.residual[i][j] = block.ws.residual[i];
                        }
                        block.ws.clear_touched();
                        let mut lane = Lane {
                            index,
                            k,
                            accuracy,
                            progress,
                            started,
                        };
                        if job.predict_checks {
                            lane.progress.predict_checks();
                        }
                        // First assessed after its first sweep, as a single query is.
                        lanes[j] = Some(lane);
                    }
                }
            }
        }
        if lanes.iter().all(Option::is_none) {
            break;
        }
        let mut omega = [1.0; L];
        for (j, lane) in lanes.iter().enumerate() {
            if let Some(lane) = lane {
                omega[j] = lane.progress.relaxation.omega;
            }
        }
        let work = block_sweep(
            graph,
            job.alpha,
            &omega,
            &mut block.estimate,
            &mut block.residual,
        );
        // Each lane's residual sum with the bits `certified::bounds` gives it, so that the
        // lanes whose full check is not due skip it without gathering their column.
        let residual_sum = abs_sums(&block.residual[..n]);
        for j in 0..L {
            let Some(lane) = lanes[j].as_mut() else {
                continue;
            };
            lane.progress.work += work[j];
            lane.progress.sweeps += 1;
            if !lane.progress.check_due(residual_sum[j]) {
                continue;
            }
            if let Some(answer) = assess_lane(job, block, j, lane) {
                answers[lane.index] = Some((answer, lane.started.elapsed()));
                lanes[j] = None;
            }
        }
    }
    // Every query got its answer: each was either answered by its push or held a lane until
    // assessed done (the loop ends only when no lane is held and none is left).
    answers.into_iter().flatten().collect()
}

/// Blocks of each lane count, reused by the tasks of a run.
#[derive(Debug, Default)]
pub(crate) struct BlockPool {
    eight: Mutex<Vec<Block<8>>>,
    four: Mutex<Vec<Block<4>>>,
    two: Mutex<Vec<Block<2>>>,
}

impl BlockPool {
    /// [`answer_queries`] in a block of `lanes` lanes (8, 4 or 2) taken from the pool.
    pub(crate) fn answer(
        &self,
        lanes: usize,
        job: &BlockJob<'_>,
        count: usize,
        query: impl Fn(usize) -> LaneQuery,
    ) -> Vec<(Certified, Duration)> {
        fn run<const L: usize>(
            blocks: &Mutex<Vec<Block<L>>>,
            job: &BlockJob<'_>,
            count: usize,
            query: impl Fn(usize) -> LaneQuery,
        ) -> Vec<(Certified, Duration)> {
            let mut block = blocks.lock().pop().unwrap_or_default();
            let answers = answer_queries(job, count, query, &mut block);
            blocks.lock().push(block);
            answers
        }
        match lanes {
            8 => run(&self.eight, job, count, query),
            4 => run(&self.four, job, count, query),
            _ => run(&self.two, job, count, query),
        }
    }
}

/// Assesses lane `j` as a single query's sweep phase would once its full check is due (its
/// sweep bookkeeping done); on an answer the lane is zeroed.
fn assess_lane<const L: usize>(
    job: &BlockJob<'_>,
    block: &mut Block<L>,
    j: usize,
    lane: &mut Lane,
) -> Option<Certified> {
    let Lane {
        k,
        accuracy,
        progress,
        ..
    } = lane;
    let n = job.graph.node_count();
    for (v, (e, r)) in block.estimate[..n]
        .iter()
        .zip(&block.residual[..n])
        .enumerate()
    {
        block.column_estimate[v] = e[j];
        block.column_residual[v] = r[j];
    }
    let passes = |_: NodeId| true;
    let answer = progress.assess_due(
        job.graph,
        *k,
        &passes,
        accuracy,
        &block.all_nodes,
        &block.column_estimate,
        &block.column_residual,
        &mut block.candidates,
    );
    if answer.is_some() {
        block.clear_lane(j, n);
    }
    answer
}

/// One over-relaxed sweep in node order for every lane (`omega` per lane), each lane doing
/// what `certified::sweep` does for one source, with the same arithmetic; returns each
/// lane's link visits as that sweep counts them.
fn block_sweep<const L: usize>(
    graph: &CsrGraph,
    alpha: f64,
    omega: &[f64; L],
    estimate: &mut [[f64; L]],
    residual: &mut [[f64; L]],
) -> [u64; L] {
    let n = graph.node_count();
    let mut work = [n as u64; L];
    for v in 0..n {
        let rv = residual[v];
        if rv.iter().all(|&r| r == 0.0) {
            continue;
        }
        let node = v as NodeId;
        let weight_sum = graph.weight_sum(node);
        let cost = graph.degree(node) as u64 + 1;
        if weight_sum <= 0.0 {
            // A dangling node is pushed exactly (see `exact::sor_push_node`).
            for j in 0..L {
                if rv[j] != 0.0 {
                    residual[v][j] = 0.0;
                    estimate[v][j] += alpha * rv[j];
                    work[j] += cost;
                }
            }
            continue;
        }
        let mut scale = [0.0; L];
        for j in 0..L {
            if rv[j] != 0.0 {
                let amount = omega[j] * rv[j];
                residual[v][j] = rv[j] - amount;
                estimate[v][j] += alpha * amount;
                scale[j] = (1.0 - alpha) * amount / weight_sum;
                work[j] += cost;
            }
        }
        let (targets, weights) = graph.link_slices(node);
        for (&x, &w) in targets.iter().zip(weights) {
            let row = &mut residual[x as usize];
            for j in 0..L {
                // A lane with no residual here adds 0: its entries do not change.
                row[j] += scale[j] * w;
            }
        }
    }
    work
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ppr::certified::certified_top_k;

    /// Every source of `range`, single seed, top 10.
    fn sources<const L: usize>(
        job: &BlockJob<'_>,
        accuracy: &Accuracy,
        range: std::ops::Range<usize>,
        block: &mut Block<L>,
    ) -> Vec<(Certified, Duration)> {
        let query = |i: usize| LaneQuery {
            seeds: vec![((range.start + i) as NodeId, 1.0)],
            k: 10,
            accuracy: *accuracy,
        };
        answer_queries(job, range.len(), query, block)
    }

    /// With the single query's push budget, every lane's answer is the single query's, bit
    /// for bit, whichever sources share the block; with the block's shorter push the answers
    /// still meet the target. Both leave the block clean.
    #[test]
    fn lanes_answer_as_single_queries_do() {
        let synth = crate::synth::barabasi_albert(600, 6, 3);
        let accuracy = Accuracy::default();
        // Directed too: links from newer to older nodes, so the oldest are dangling.
        for (undirected, alpha) in [(true, 0.5), (true, 0.15), (false, 0.5), (false, 0.15)] {
            let graph = synth.csr(undirected);
            let mut ws = PprWorkspace::new();
            let single: Vec<Certified> = (0..graph.node_count())
                .map(|s| {
                    certified_top_k(
                        &graph,
                        &[(s as NodeId, 1.0)],
                        alpha,
                        10,
                        &|_| true,
                        &accuracy,
                        &mut ws,
                    )
                })
                .collect();
            let mut block = Block::<8>::default();
            let full = BlockJob::as_single_queries(&graph, alpha);
            // Two ranges that group the sources differently.
            for range in [0..graph.node_count(), 37..411] {
                let answers = sources(&full, &accuracy, range.clone(), &mut block);
                assert!(block.is_clean());
                assert_eq!(answers.len(), range.len());
                for ((answer, _), s) in answers.iter().zip(range) {
                    let expected = &single[s];
                    assert_eq!(
                        answer.top, expected.top,
                        "undirected {undirected} alpha {alpha} source {s}"
                    );
                    assert_eq!(answer.guarantee, expected.guarantee);
                    assert_eq!(answer.work, expected.work);
                    assert_eq!(answer.sweeps, expected.sweeps);
                }
            }
            let swept = single.iter().filter(|a| a.sweeps > 0).count();
            assert!(
                swept > 100,
                "undirected {undirected} alpha {alpha}: only {swept} sources reached the sweeps"
            );
            let short = BlockJob::shared(&graph, alpha);
            let answers = sources(&short, &accuracy, 0..graph.node_count(), &mut block);
            assert!(block.is_clean());
            assert!(answers.iter().all(|a| a.0.guarantee.meets(&accuracy)));
        }
    }

    /// Lanes of different queries (multi-seed, different k and targets) answer each as its
    /// single query does, bit for bit.
    #[test]
    fn lanes_of_different_queries_answer_as_single_queries_do() {
        let graph = crate::synth::barabasi_albert(500, 5, 9).csr(true);
        let n = graph.node_count();
        let mut rng = crate::rng::Rng::from_parts(&[41]);
        let queries: Vec<LaneQuery> = (0..60)
            .map(|i| {
                let mut seeds: Vec<(NodeId, f64)> = (0..1 + i % 4)
                    .map(|_| (rng.below(n as u64) as NodeId, 0.5 + rng.next_f64()))
                    .collect();
                seeds.sort_unstable_by_key(|s| s.0);
                seeds.dedup_by_key(|s| s.0);
                let total: f64 = seeds.iter().map(|s| s.1).sum();
                seeds.iter_mut().for_each(|s| s.1 /= total);
                let accuracy = if i % 3 == 0 {
                    Accuracy::with_max_error(1e-3)
                } else {
                    Accuracy::default()
                };
                LaneQuery {
                    seeds,
                    k: [1, 10, 25][i % 3],
                    accuracy,
                }
            })
            .collect();
        let mut ws = PprWorkspace::new();
        let mut block = Block::<4>::default();
        let job = BlockJob::as_single_queries(&graph, 0.3);
        let answers = answer_queries(&job, queries.len(), |i| queries[i].clone(), &mut block);
        assert!(block.is_clean());
        for (q, (answer, _)) in queries.iter().zip(&answers) {
            let single =
                certified_top_k(&graph, &q.seeds, 0.3, q.k, &|_| true, &q.accuracy, &mut ws);
            assert_eq!(answer.top, single.top);
            assert_eq!(answer.guarantee, single.guarantee);
            assert_eq!(answer.work, single.work);
        }
    }
}
