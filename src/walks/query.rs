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
pub struct WalkEstimate {
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
    ) -> Result<WalkEstimate, WalkIndexError> {
        let alpha = self.params.alpha;
        if !(alpha_query >= alpha && alpha_query < 1.0) {
            return Err(WalkIndexError::InvalidParams(format!(
                "query alpha {alpha_query} must be in [{alpha}, 1): a smaller alpha cannot be served from walks stored for alpha {alpha}"
            )));
        }
        let Some(ids) = self.starts.get(node as usize) else {
            return Err(WalkIndexError::InvalidParams(format!(
                "node {node} is not in the index ({} nodes)",
                self.node_count
            )));
        };
        if ids.is_empty() {
            // Only a node without links owns no walks, and its leaky walk stops at once with
            // probability alpha and otherwise dies: psi = alpha e_node exactly.
            return Ok(WalkEstimate {
                walks_used: 0,
                exact: true,
                scores: vec![(node, alpha_query)],
            });
        }
        let mut rng = Rng::from_parts(&[TAG_QUERY, seed, node as u64]);
        let chosen: Vec<u32> = if n_walks >= ids.len() {
            ids.clone()
        } else {
            // Partial Fisher-Yates: the first n_walks entries become a uniform subset.
            let mut pool = ids.clone();
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
            let Some(walk) = self.walk(id) else { continue };
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
        Ok(WalkEstimate {
            walks_used: chosen.len(),
            exact: false,
            scores,
        })
    }
}

/// How [`WalkIndex::spread_residual`] turns stored walks (kept for the index's alpha) into
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

    /// How many leading positions of a stored walk of `len` nodes the truncated walk keeps.
    ///
    /// The truncated walk stops after position `p < len - 1` (a position where the stored walk
    /// moved on) with probability `q`, independently per position: the number of positions it
    /// keeps is `min(G + 1, len)` with `G ~ Geometric(q)` counting the positions passed before
    /// the first extra stop. One draw per walk instead of one per position.
    #[inline]
    fn kept(&self, len: usize, rng: &mut Rng) -> usize {
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

impl WalkIndex {
    /// FORA's Monte-Carlo phase for one residual node: adds `mass * psi_node(t)`'s estimate to
    /// `sink(t, amount)` for every visited `t`, from the first `n_walks` walks stored for
    /// `node` (all of them when fewer are stored), and returns the total amount added (the
    /// estimated `mass * |psi_node|`).
    ///
    /// Each walk carries `mass / walks_used`, and each visit adds `alpha_query` times that (the
    /// visit estimator of PPR-NOTES, unbiased). Stored walks from a node are exchangeable (built
    /// from independent streams, and repairs keep their joint law), so the leading walks are as
    /// good as a random subset and need no random draws; only the truncation for a larger
    /// alpha (`alpha_query` of `truncation`) draws, from `rng`. A node without walks has no links (the index stores
    /// `walks_for_degree(degree) >= 1` walks for every node with a link): its leaky walk stops
    /// there with probability `alpha_query` and otherwise dies, so `psi = alpha_query e_node`
    /// exactly.
    ///
    /// No allocation: this is the inner loop of an index query.
    #[inline]
    pub(crate) fn spread_residual(
        &self,
        node: NodeId,
        mass: f64,
        n_walks: usize,
        truncation: Truncation,
        rng: &mut Rng,
        mut sink: impl FnMut(NodeId, f64),
    ) -> f64 {
        let alpha_query = truncation.alpha_query;
        let ids: &[u32] = self.starts.get(node as usize).map_or(&[], |v| v.as_slice());
        if ids.is_empty() {
            let amount = alpha_query * mass;
            sink(node, amount);
            return amount;
        }
        let used = &ids[..n_walks.clamp(1, ids.len())];
        let per_visit = alpha_query * mass / used.len() as f64;
        let mut visits = 0usize;
        for &id in used {
            let i = id as usize;
            let (start, len) = (self.offsets[i] as usize, self.lens[i] as usize);
            if len == 0 {
                continue;
            }
            let kept = truncation.kept(len, rng);
            for &t in &self.arena[start..start + kept] {
                sink(t, per_visit);
            }
            visits += kept;
        }
        per_visit * visits as f64
    }
}
