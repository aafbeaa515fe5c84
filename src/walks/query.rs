//! Query support for FORA: the Monte-Carlo estimate of `psi_v` from the walks stored for `v`.

use crate::graph::NodeId;
use crate::rng::Rng;

use super::build::TAG_QUERY;
use super::store::{WalkEnd, WalkIndex};
use super::WalkIndexError;

/// A Monte-Carlo estimate of the *leaky* PPR vector `psi_v` of one node.
///
/// `scores` holds `(t, alpha_query * visits_to_t / walks_used)` for every visited `t`,
/// ascending by `t`: the visit estimator, unbiased for `psi_v(t)`. The scores sum to the
/// estimated mass `|psi_v| = 1 - P(walk dies)`, which is below 1 when dangling nodes are
/// reachable; a caller that wants PageRank probabilities combines its estimates linearly
/// (FORA: `est + sum_v r(v) * psi_v`) and divides the result by its total, never by 1.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexEstimate {
    /// Number of stored walks the estimate averages (0 when `exact` is true).
    pub walks_used: usize,
    /// True when the node has no walks because it is dangling: then `psi_v = alpha e_v`
    /// exactly and `scores` is that vector.
    pub exact: bool,
    /// `(node, estimated psi_v(node))`, ascending by node, zero entries omitted.
    pub scores: Vec<(NodeId, f64)>,
}

impl WalkIndex {
    /// Estimates `psi_node` for restart probability `alpha_query` from up to `n_walks` (at least one) of the
    /// walks stored for `node`.
    ///
    /// When fewer walks are wanted than are stored, the subset is drawn uniformly with a stream
    /// seeded by `seed` and `node` (stored walks are exchangeable, so any subset is unbiased);
    /// the same arguments always give the same answer. `alpha_query` must be at least the
    /// index's alpha: a stored walk serves a larger alpha by stopping, at each position where it
    /// moved on, with extra probability `(alpha_query - alpha) / (1 - alpha)` (PPR-NOTES), which
    /// makes each stop chance `alpha_query`.
    pub fn estimate_from(
        &self,
        node: NodeId,
        n_walks: usize,
        alpha_query: f64,
        seed: u64,
    ) -> Result<IndexEstimate, WalkIndexError> {
        let alpha = self.params.alpha;
        if !(alpha_query >= alpha && alpha_query < 1.0) {
            return Err(WalkIndexError::InvalidParams(format!(
                "query alpha {alpha_query} must be in [{alpha}, 1): a smaller alpha cannot be served from walks stored for alpha {alpha}"
            )));
        }
        if node as usize >= self.node_count {
            return Err(WalkIndexError::InvalidParams(format!(
                "node {node} is not in the index ({} nodes)",
                self.node_count
            )));
        }
        let ids = self.walk_ids_from(node)?;
        if ids.is_empty() {
            // Only a node without links owns no walks, and its leaky walk stops at once with
            // probability alpha and otherwise dies: psi = alpha e_node exactly.
            return Ok(IndexEstimate {
                walks_used: 0,
                exact: true,
                scores: vec![(node, alpha_query)],
            });
        }
        let mut rng = Rng::from_parts(&[TAG_QUERY, seed, node as u64]);
        let chosen: Vec<u32> = if n_walks >= ids.len() {
            ids.to_vec()
        } else {
            // Partial Fisher-Yates: the first n_walks entries become a uniform subset.
            let mut pool = ids.to_vec();
            for i in 0..n_walks.max(1) {
                let j = i + rng.below((pool.len() - i) as u64) as usize;
                pool.swap(i, j);
            }
            pool.truncate(n_walks.max(1));
            pool.sort_unstable();
            pool
        };
        let extra_stop = (alpha_query - alpha) / (1.0 - alpha);
        let mut visits: Vec<NodeId> = Vec::new();
        for &id in &chosen {
            let Some(walk) = self.walk(id)? else { continue };
            let moved = match walk.end {
                WalkEnd::Stopped | WalkEnd::Died => walk.nodes.len() - 1,
            };
            for (pos, &t) in walk.nodes.iter().enumerate() {
                visits.push(t);
                if pos < moved && extra_stop > 0.0 && rng.bernoulli(extra_stop) {
                    break;
                }
            }
        }
        visits.sort_unstable();
        let scale = alpha_query / chosen.len() as f64;
        let mut counts: Vec<(NodeId, u64)> = Vec::new();
        for t in visits {
            match counts.last_mut() {
                Some((last, c)) if *last == t => *c += 1,
                _ => counts.push((t, 1)),
            }
        }
        let scores = counts
            .into_iter()
            .map(|(t, c)| (t, c as f64 * scale))
            .collect();
        Ok(IndexEstimate {
            walks_used: chosen.len(),
            exact: false,
            scores,
        })
    }
}

/// How the index method turns stored walks (kept for the index's alpha) into
/// walks for a larger query alpha.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Truncation {
    /// The query's restart probability `alpha'`.
    alpha_query: f64,
    /// `ln(1 - q)` for the extra stop probability `q = (alpha' - alpha) / (1 - alpha)`, or
    /// `None` when `alpha' == alpha` (no truncation, no random draws).
    ln_keep: Option<f64>,
}

impl Truncation {
    /// The truncation serving `alpha_query` from walks stored for `alpha_index`; `None` when
    /// `alpha_query` cannot be served (smaller than the index's, or not below 1).
    pub(crate) fn new(alpha_index: f64, alpha_query: f64) -> Option<Truncation> {
        if !(alpha_query >= alpha_index && alpha_query < 1.0) {
            return None;
        }
        let q = (alpha_query - alpha_index) / (1.0 - alpha_index);
        Some(Truncation {
            alpha_query,
            ln_keep: (q > 0.0).then(|| (1.0 - q).ln()),
        })
    }

    /// Where the truncated walk of a stored walk of `len` nodes stops, as a position, or `None`
    /// when it dies: the end-point form of [`Truncation::kept`]. The extra stop applies at every
    /// position where the stored walk did not stop: where it moved on, and at its last node
    /// when it died there (it tried to move on from a node without links), which makes the
    /// chance of stopping there `alpha'` too.
    #[inline]
    pub(crate) fn end_point(&self, len: usize, died: bool, rng: &mut Rng) -> Option<usize> {
        let last = len - 1;
        let passed = match self.ln_keep {
            None => f64::INFINITY,
            Some(ln_keep) => {
                let u = 1.0 - rng.next_f64(); // in (0, 1]
                (u.ln() / ln_keep).floor()
            }
        };
        if passed < last as f64 {
            Some(passed as usize)
        } else if !died || passed == last as f64 {
            Some(last)
        } else {
            None
        }
    }

    /// How many leading positions of a stored walk of `len` nodes the truncated walk keeps.
    ///
    /// The truncated walk stops after position `p < len - 1` (a position where the stored walk
    /// moved on) with probability `q`, independently per position: the number of positions it
    /// keeps is `min(G + 1, len)` with `G ~ Geometric(q)` counting the positions passed before
    /// the first extra stop. One draw per walk instead of one per position.
    #[inline]
    pub(crate) fn kept(&self, len: usize, rng: &mut Rng) -> usize {
        match self.ln_keep {
            None => len,
            Some(ln_keep) => {
                let u = 1.0 - rng.next_f64(); // in (0, 1]
                let passed = (u.ln() / ln_keep).floor();
                if passed >= (len - 1) as f64 {
                    len
                } else {
                    passed as usize + 1
                }
            }
        }
    }
}

/// Scratch space of an index query's walk phase, kept in the query workspace so a query does
/// not allocate once it has warmed up.
#[derive(Clone, Debug, Default)]
pub(crate) struct WalkQueue {
    /// `(walk id, amount each visit adds)` of the walks queued so far.
    walks: Vec<(u32, f64)>,
}

impl WalkIndex {
    /// FORA's Monte-Carlo phase, first half: queues the first `n_walks` walks stored for `node`
    /// (all of them when fewer are stored) to spread `mass * psi_node`, each walk carrying
    /// `mass / walks_used` and each of its visits adding `alpha_query` times that (the visit
    /// estimator of PPR-NOTES, unbiased). Returns nothing for a node without walks: such a node
    /// has no links (every node with a link stores `walks_for_degree(degree) >= 1` walks), so
    /// its leaky walk stops there with probability `alpha_query` and otherwise dies, and
    /// `psi = alpha_query e_node` exactly: that amount goes to `sink` at once and is returned.
    ///
    /// Stored walks from a node are exchangeable (built from independent streams, and repairs
    /// keep their joint law), so the leading walks are as good as a random subset and need no
    /// random draws.
    #[inline]
    pub(crate) fn queue_walks(
        &self,
        node: NodeId,
        mass: f64,
        n_walks: usize,
        truncation: Truncation,
        queue: &mut WalkQueue,
        mut sink: impl FnMut(NodeId, f64),
    ) -> Result<f64, WalkIndexError> {
        let ids = self.walk_ids_from(node)?;
        if ids.is_empty() {
            let amount = truncation.alpha_query * mass;
            sink(node, amount);
            return Ok(amount);
        }
        let used = &ids[..n_walks.clamp(1, ids.len())];
        let per_visit = truncation.alpha_query * mass / used.len() as f64;
        queue.walks.extend(used.iter().map(|&id| (id, per_visit)));
        Ok(0.0)
    }

    /// FORA's Monte-Carlo phase, second half: runs the queued walks, truncated for a larger
    /// alpha with draws from `rng`, calling `sink(t, amount)` for every visit, and returns the
    /// total amount added. The queue is left empty.
    ///
    /// The work is split into a gather pass (walk table and offsets of every queued walk)
    /// and a visit pass, with no dependency between iterations of the first, so the processor
    /// overlaps the cache misses (or page faults) of many walks instead of chasing one walk's
    /// pointers at a time: the walk phase is memory-latency bound.
    pub(crate) fn run_queued_walks(
        &self,
        truncation: Truncation,
        rng: &mut Rng,
        queue: &mut WalkQueue,
        mut sink: impl FnMut(NodeId, f64),
    ) -> Result<f64, WalkIndexError> {
        let mut spans: Vec<(&[NodeId], f64)> = Vec::with_capacity(queue.walks.len());
        for &(id, amount) in &queue.walks {
            if let Some(w) = self.walk(id)? {
                spans.push((w.nodes, amount));
            }
        }
        queue.walks.clear();
        let mut total = 0.0;
        for &(nodes, amount) in &spans {
            let kept = truncation.kept(nodes.len(), rng);
            for &t in &nodes[..kept] {
                sink(t, amount);
            }
            total += amount * kept as f64;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod end_point_tests {
    use super::Truncation;
    use crate::rng::Rng;

    /// The truncated walk's end point has the law of a walk at the query alpha: for a stored
    /// walk of 4 nodes, position `i < 3` ends it with probability `q (1 - q)^i`; the last node
    /// ends it with probability `(1 - q)^3` when the stored walk stopped there, and `q (1 -
    /// q)^3` when it died there (it tried to move on; else the truncated walk dies too). Each
    /// frequency within 5 standard errors over 200,000 draws.
    #[test]
    fn end_points_stop_with_the_query_alpha() {
        let (index_alpha, query_alpha) = (0.2, 0.5);
        let q: f64 = (query_alpha - index_alpha) / (1.0 - index_alpha);
        let truncation = Truncation::new(index_alpha, query_alpha).unwrap();
        let draws = 200_000;
        for died in [false, true] {
            let mut rng = Rng::new(if died { 5 } else { 6 });
            let mut counts = [0u64; 5]; // positions 0..=3, then "died"
            for _ in 0..draws {
                match truncation.end_point(4, died, &mut rng) {
                    Some(p) => counts[p] += 1,
                    None => counts[4] += 1,
                }
            }
            let last = if died {
                q * (1.0 - q).powi(3)
            } else {
                (1.0 - q).powi(3)
            };
            let expected = [
                q,
                q * (1.0 - q),
                q * (1.0 - q).powi(2),
                last,
                if died { (1.0 - q).powi(4) } else { 0.0 },
            ];
            for (i, (&c, &p)) in counts.iter().zip(&expected).enumerate() {
                let f = c as f64 / draws as f64;
                let se = (p * (1.0 - p) / draws as f64).sqrt();
                assert!(
                    (f - p).abs() <= 5.0 * se + 1e-12,
                    "died {died}, outcome {i}: {f} vs {p}"
                );
            }
        }
        // No truncation: the stored end point, or death.
        let same = Truncation::new(0.3, 0.3).unwrap();
        let mut rng = Rng::new(1);
        assert_eq!(same.end_point(5, false, &mut rng), Some(4));
        assert_eq!(same.end_point(5, true, &mut rng), None);
    }
}
