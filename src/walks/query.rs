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
