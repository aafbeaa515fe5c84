//! Contiguous node-id ranges, one per worker, balanced by link count.
//!
//! Every process computes the same boundaries from the same snapshot (the link counts come from
//! the segment's offsets, so no edge column is read), so a walker's owner is known everywhere
//! without asking: the worker whose range holds its current node.

use walkdb::graph::NodeId;

/// The node ranges of `workers` workers: worker `w` owns `bounds[w]..bounds[w + 1]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Partition {
    bounds: Vec<NodeId>,
}

impl Partition {
    /// Splits nodes `0..links.len()` into `workers` contiguous ranges whose costs (a node's
    /// links plus one, so runs of isolated nodes are spread too) are as even as a split at
    /// node boundaries allows: range `w` ends at the first node where the running cost
    /// reaches `(w + 1) / workers` of the total.
    pub(crate) fn balanced(links: impl Iterator<Item = usize>, workers: usize) -> Partition {
        let costs: Vec<u64> = links.map(|l| l as u64 + 1).collect();
        let n = costs.len();
        let workers = workers.max(1);
        let total: u64 = costs.iter().sum();
        let mut bounds = Vec::with_capacity(workers + 1);
        bounds.push(0 as NodeId);
        let (mut u, mut acc) = (0usize, 0u64);
        for w in 1..workers {
            // u128: total * w cannot overflow.
            let target = (total as u128 * w as u128 / workers as u128) as u64;
            while u < n && acc < target {
                acc += costs[u];
                u += 1;
            }
            bounds.push(u as NodeId);
        }
        bounds.push(n as NodeId);
        Partition { bounds }
    }

    /// The range of worker `w`.
    pub(crate) fn range(&self, w: usize) -> std::ops::Range<NodeId> {
        self.bounds[w]..self.bounds[w + 1]
    }

    /// The worker owning node `v` (the last worker for ids past the end).
    pub(crate) fn owner(&self, v: NodeId) -> usize {
        // The first bound > v, minus one; bounds[0] = 0 <= v, so the result is >= 0.
        let i = self.bounds.partition_point(|&b| b <= v);
        (i - 1).min(self.bounds.len() - 2)
    }

    /// Number of ranges.
    #[cfg(test)]
    pub(crate) fn workers(&self) -> usize {
        self.bounds.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_node_once_and_balance_links() {
        // A hub at node 0 and a tail of small nodes.
        let mut links = vec![1000usize];
        links.extend(std::iter::repeat_n(10, 200));
        for workers in 1..6 {
            let p = Partition::balanced(links.iter().copied(), workers);
            assert_eq!(p.workers(), workers);
            let mut next = 0;
            for w in 0..workers {
                let r = p.range(w);
                assert_eq!(r.start, next, "ranges are contiguous");
                next = r.end;
                for v in r.clone() {
                    assert_eq!(p.owner(v), w);
                }
            }
            assert_eq!(next as usize, links.len());
            if workers == 2 {
                // Total cost 1001 + 200 * 11 = 3201: the hub alone nearly fills a half.
                let first: usize = p.range(0).map(|v| links[v as usize] + 1).sum();
                assert!(
                    (1001..=1601 + 11).contains(&first),
                    "first half costs {first}"
                );
            }
        }
    }

    #[test]
    fn more_workers_than_nodes_leaves_empty_ranges() {
        let p = Partition::balanced([3usize, 3].into_iter(), 5);
        let sizes: Vec<usize> = (0..5).map(|w| p.range(w).len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 2);
        assert!(p.owner(1) < 5 && p.range(p.owner(1)).contains(&1));
        assert!(p.range(p.owner(0)).contains(&0));
    }
}
