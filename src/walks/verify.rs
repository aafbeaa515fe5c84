//! Consistency checks against a graph, and statistics.

use crate::graph::{Adjacency, NodeId};

use super::store::{WalkEnd, WalkIndex};
use super::WalkIndexError;

/// Size and shape figures of an index, for the CLI, logs and benchmarks.
#[derive(Clone, Debug, PartialEq)]
pub struct WalkIndexStats {
    /// Stored walks.
    pub walks: u64,
    /// Free walk slots awaiting reuse.
    pub free_slots: u64,
    /// Steps taken (nodes minus walks).
    pub steps: u64,
    /// Visit records (steps plus walks that died).
    pub visit_records: u64,
    /// Walks that ended by stopping.
    pub stopped: u64,
    /// Walks that died at a dangling node.
    pub died: u64,
    /// Bytes of memory held by the in-memory index.
    pub memory_bytes: u64,
    /// Bytes of the encoded file ([`WalkIndex::encode_to`]).
    pub encoded_bytes: u64,
    /// `length_histogram[k]` = walks of `k` nodes for `k < 64`; entry 64 counts longer walks.
    pub length_histogram: Vec<u64>,
}

impl WalkIndex {
    /// Computes [`WalkIndexStats`] in one pass over the walk table.
    pub fn stats(&self) -> WalkIndexStats {
        let mut s = WalkIndexStats {
            walks: 0,
            free_slots: 0,
            steps: 0,
            visit_records: self.visits.iter().map(|v| v.len() as u64).sum(),
            stopped: 0,
            died: 0,
            memory_bytes: self.memory_bytes() as u64,
            encoded_bytes: self.encoded_len() as u64,
            length_histogram: vec![0; 65],
        };
        for i in 0..self.lens.len() {
            let len = self.lens[i] as u64;
            if len == 0 {
                s.free_slots += 1;
                continue;
            }
            s.walks += 1;
            s.steps += len - 1;
            match self.ends[i] {
                WalkEnd::Stopped => s.stopped += 1,
                WalkEnd::Died => s.died += 1,
            }
            s.length_histogram[(len as usize).min(64)] += 1;
        }
        s
    }

    /// Checks the index against `graph` and against itself: every stored step follows a link
    /// of the graph (pair weight > 0), a walk dies only at a dangling node, visit records and
    /// start lists match the walks exactly, the free-slot heap holds exactly the free slots,
    /// and every node owns `ceil(walks_per_link * degree)` walks. Costs O(index + graph).
    pub fn verify<G: Adjacency>(&self, graph: &G) -> Result<(), WalkIndexError> {
        let fail =
            |walk: Option<u32>, reason: String| Err(WalkIndexError::Inconsistent { walk, reason });
        if graph.node_count() != self.node_count {
            return fail(
                None,
                format!(
                    "index has {} nodes, graph {}",
                    self.node_count,
                    graph.node_count()
                ),
            );
        }
        let targets: Vec<Vec<NodeId>> = (0..self.node_count as NodeId)
            .map(|u| {
                let mut t: Vec<NodeId> = graph
                    .links(u)
                    .filter(|l| l.weight > 0.0)
                    .map(|l| l.target)
                    .collect();
                t.sort_unstable();
                t.dedup();
                t
            })
            .collect();
        let mut starts = vec![Vec::new(); self.node_count];
        let mut visits: Vec<Vec<u32>> = vec![Vec::new(); self.node_count];
        for id in 0..self.lens.len() as u32 {
            let Some(walk) = self.walk(id) else { continue };
            if let Some(&bad) = walk.nodes.iter().find(|&&n| n as usize >= self.node_count) {
                return fail(Some(id), format!("node {bad} is out of range"));
            }
            for (pos, pair) in walk.nodes.windows(2).enumerate() {
                if targets[pair[0] as usize].binary_search(&pair[1]).is_err() {
                    return fail(
                        Some(id),
                        format!("step {pos} goes {} -> {} without a link", pair[0], pair[1]),
                    );
                }
            }
            let last = walk.nodes[walk.nodes.len() - 1];
            if walk.end == WalkEnd::Died && graph.weight_sum(last) > 0.0 {
                return fail(
                    Some(id),
                    format!("walk died at node {last}, which has links"),
                );
            }
            starts[walk.nodes[0] as usize].push(id);
            for &n in &walk.nodes[..WalkIndex::recorded_len(walk.nodes.len(), walk.end)] {
                visits[n as usize].push(id);
            }
        }
        for u in 0..self.node_count {
            if starts[u] != self.starts[u] {
                return fail(
                    None,
                    format!("start list of node {u} does not match the walks"),
                );
            }
            if visits[u] != self.visits[u] {
                return fail(
                    None,
                    format!("visit records of node {u} do not match the walks"),
                );
            }
            let want = self.params.walks_for_degree(graph.degree(u as NodeId));
            if starts[u].len() != want {
                return fail(
                    None,
                    format!(
                        "node {u} owns {} walks, its degree asks for {want}",
                        starts[u].len()
                    ),
                );
            }
        }
        let mut free: Vec<u32> = self.free.iter().map(|r| r.0).collect();
        free.sort_unstable();
        let want_free: Vec<u32> = (0..self.lens.len() as u32)
            .filter(|&i| self.lens[i as usize] == 0)
            .collect();
        if free != want_free {
            return fail(
                None,
                "free-slot heap does not match the free slots".to_string(),
            );
        }
        Ok(())
    }

    /// Test hook: overwrites one stored node so `verify` has something to catch.
    #[cfg(test)]
    pub(crate) fn inject_node(&mut self, walk: u32, pos: usize, node: NodeId) {
        let at = self.offsets[walk as usize] as usize + pos;
        self.arena[at] = node;
    }
}
