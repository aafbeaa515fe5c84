//! The in-memory delta: full adjacency lists of the nodes changed since the last checkpoint.
//!
//! A changed node's lists are copied from the segment on first touch and edited in place
//! afterwards, so a reader never merges segment and delta per edge: a node is read wholly
//! from one or the other. The map is 4096 shards in a two-level table of `Arc`s (64 groups of
//! 64 shards), copy-on-write at every level: cloning a delta (a snapshot, a transaction's
//! base) is one reference count; an edit copies the top table (64 pointers), the touched
//! group (64 pointers) and the touched shard on their first edit in a transaction. A
//! single-edge commit thus copies about 128 pointers and one small shard, and a 1000-edge
//! batch (about 2000 touched nodes) well under half of a large delta, never all of it; readers
//! holding an older version keep theirs untouched.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use super::Segment;
use crate::graph::{NodeId, RelId};
use crate::hash::IdHasher;

const GROUPS: usize = 64;
const SHARDS_PER_GROUP: usize = 64;
const SHARDS: usize = GROUPS * SHARDS_PER_GROUP;

type Shard = HashMap<NodeId, Arc<NodeAdj>, BuildHasherDefault<IdHasher>>;
type Group = Vec<Arc<Shard>>;

/// A node's complete adjacency: out-list sorted by (dst, rel), in-list by (src, rel), and the
/// weight sums of both, each summed in list order (as a walk sums its links).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NodeAdj {
    pub(crate) out: Vec<(NodeId, RelId, f64)>,
    pub(crate) inn: Vec<(NodeId, RelId, f64)>,
    out_sum: f64,
    all_sum: f64,
    /// Every out-edge (`out_unit`) or in-edge (`inn_unit`) weighs exactly 1.
    out_unit: bool,
    inn_unit: bool,
}

impl NodeAdj {
    fn new(out: Vec<(NodeId, RelId, f64)>, inn: Vec<(NodeId, RelId, f64)>) -> NodeAdj {
        let mut adj = NodeAdj {
            out,
            inn,
            out_sum: 0.0,
            all_sum: 0.0,
            out_unit: true,
            inn_unit: true,
        };
        adj.resum();
        adj
    }

    /// Recomputes the sums exactly as `Adjacency::weight_sum` defines them: the links' weights
    /// added in link order (out-edges, then in-edges).
    fn resum(&mut self) {
        let (mut sum, mut unit) = (0.0, true);
        for e in &self.out {
            sum += e.2;
            unit &= e.2.to_bits() == 1f64.to_bits();
        }
        (self.out_sum, self.out_unit) = (sum, unit);
        unit = true;
        for e in &self.inn {
            sum += e.2;
            unit &= e.2.to_bits() == 1f64.to_bits();
        }
        (self.all_sum, self.inn_unit) = (sum, unit);
    }

    /// [`crate::graph::Adjacency::unit_step`] on this node's links (out-edges, then in-edges
    /// when `undirected`).
    #[inline]
    pub(crate) fn unit_step(
        &self,
        undirected: bool,
        pick: impl FnOnce(usize) -> usize,
    ) -> Option<NodeId> {
        let inn: &[(NodeId, RelId, f64)] = if undirected { &self.inn } else { &[] };
        let d = self.out.len() + inn.len();
        if d == 0
            || !self.out_unit
            || (undirected && !self.inn_unit)
            || self.link_weight_sum(undirected).to_bits() != (d as f64).to_bits()
        {
            return None;
        }
        let i = pick(d).min(d - 1);
        match self.out.get(i) {
            Some(e) => Some(e.0),
            None => inn.get(i - self.out.len()).map(|e| e.0),
        }
    }

    /// The sum of the node's link weights.
    #[inline]
    pub(crate) fn link_weight_sum(&self, undirected: bool) -> f64 {
        if undirected {
            self.all_sum
        } else {
            self.out_sum
        }
    }
}

/// Changed nodes' adjacency since the last checkpoint.
#[derive(Clone, Debug)]
pub(crate) struct Delta {
    groups: Arc<Vec<Arc<Group>>>,
    touched: usize,
}

impl Default for Delta {
    fn default() -> Delta {
        // Every slot starts as the same empty shard and group; the first edit copies them.
        let empty = Arc::new(Shard::default());
        let group: Arc<Group> = Arc::new(vec![empty; SHARDS_PER_GROUP]);
        Delta {
            groups: Arc::new(vec![group; GROUPS]),
            touched: 0,
        }
    }
}

/// (group, shard in group) of node `u`.
fn slot_of(u: NodeId) -> (usize, usize) {
    let shard = (u as usize) % SHARDS;
    (shard / SHARDS_PER_GROUP, shard % SHARDS_PER_GROUP)
}

fn upsert(
    list: &mut Vec<(NodeId, RelId, f64)>,
    other: NodeId,
    rel: RelId,
    weight: f64,
) -> Option<f64> {
    match list.binary_search_by(|&(n, r, _)| (n, r).cmp(&(other, rel))) {
        Ok(i) => Some(std::mem::replace(&mut list[i].2, weight)),
        Err(i) => {
            list.insert(i, (other, rel, weight));
            None
        }
    }
}

fn remove(list: &mut Vec<(NodeId, RelId, f64)>, other: NodeId, rel: RelId) -> Option<f64> {
    let i = list
        .binary_search_by(|&(n, r, _)| (n, r).cmp(&(other, rel)))
        .ok()?;
    Some(list.remove(i).2)
}

impl Delta {
    /// The delta's lists for `u`, if `u` changed since the checkpoint.
    #[inline]
    pub(crate) fn get(&self, u: NodeId) -> Option<&NodeAdj> {
        let (g, i) = slot_of(u);
        let shard = &self.groups[g][i];
        if shard.is_empty() {
            return None;
        }
        shard.get(&u).map(|adj| &**adj)
    }

    /// Number of changed nodes.
    pub(crate) fn touched_nodes(&self) -> usize {
        self.touched
    }

    /// The changed nodes as a bitmap over `0..node_count` (bit `u % 64` of word `u / 64`).
    pub(crate) fn node_bitmap(&self, node_count: u32) -> Vec<u64> {
        let mut bits = vec![0u64; (node_count as usize).div_ceil(64)];
        for shard in self.groups.iter().flat_map(|g| g.iter()) {
            for &u in shard.keys() {
                if let Some(word) = bits.get_mut(u as usize / 64) {
                    *word |= 1 << (u % 64);
                }
            }
        }
        bits
    }

    /// True when nothing changed since the checkpoint.
    pub(crate) fn is_empty(&self) -> bool {
        self.touched == 0
    }

    fn node_mut(&mut self, u: NodeId, seg: &Segment) -> &mut NodeAdj {
        let (g, i) = slot_of(u);
        let group = Arc::make_mut(&mut Arc::make_mut(&mut self.groups)[g]);
        let shard = Arc::make_mut(&mut group[i]);
        let touched = &mut self.touched;
        let adj = shard.entry(u).or_insert_with(|| {
            *touched += 1;
            Arc::new(NodeAdj::new(
                seg.out_edges(u).collect(),
                seg.in_edges(u).collect(),
            ))
        });
        Arc::make_mut(adj)
    }

    /// Changes `u`'s lists (copying them from the segment on first touch) and keeps its sums.
    fn edit<T>(&mut self, u: NodeId, seg: &Segment, f: impl FnOnce(&mut NodeAdj) -> T) -> T {
        let adj = self.node_mut(u, seg);
        let out = f(adj);
        adj.resum();
        out
    }

    /// Adds the edge or replaces its weight; returns the previous weight.
    pub(crate) fn put_edge(
        &mut self,
        seg: &Segment,
        src: NodeId,
        rel: RelId,
        dst: NodeId,
        weight: f64,
    ) -> Option<f64> {
        let previous = self.edit(src, seg, |adj| upsert(&mut adj.out, dst, rel, weight));
        self.edit(dst, seg, |adj| upsert(&mut adj.inn, src, rel, weight));
        previous
    }

    /// Deletes the edge; returns its weight, or None when it did not exist.
    pub(crate) fn del_edge(
        &mut self,
        seg: &Segment,
        src: NodeId,
        rel: RelId,
        dst: NodeId,
    ) -> Option<f64> {
        let exists = match self.get(src) {
            Some(adj) => adj
                .out
                .binary_search_by(|&(n, r, _)| (n, r).cmp(&(dst, rel)))
                .is_ok(),
            None => seg.out_edges(src).any(|(n, r, _)| (n, r) == (dst, rel)),
        };
        if !exists {
            return None;
        }
        let weight = self.edit(src, seg, |adj| remove(&mut adj.out, dst, rel));
        self.edit(dst, seg, |adj| remove(&mut adj.inn, src, rel));
        weight
    }

    /// Deletes every edge incident to `u`; returns them as (src, rel, dst, weight).
    pub(crate) fn del_node(
        &mut self,
        seg: &Segment,
        u: NodeId,
    ) -> Vec<(NodeId, RelId, NodeId, f64)> {
        let (out, inn) = self.edit(u, seg, |adj| {
            (std::mem::take(&mut adj.out), std::mem::take(&mut adj.inn))
        });
        let mut removed = Vec::with_capacity(out.len() + inn.len());
        for (dst, rel, w) in out {
            if dst != u {
                self.edit(dst, seg, |adj| remove(&mut adj.inn, u, rel));
            }
            removed.push((u, rel, dst, w));
        }
        for (src, rel, w) in inn {
            if src != u {
                self.edit(src, seg, |adj| remove(&mut adj.out, u, rel));
                removed.push((src, rel, u, w));
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adjacency::segment::encode_segment;
    use crate::backend::FileBytes;

    fn seg() -> Segment {
        let lists = vec![vec![(1, 0, 1.0)], vec![(2, 0, 2.0)], vec![]];
        Segment::open(
            "s",
            FileBytes::from_vec(encode_segment(1, 0, 3, &mut lists.into_iter())),
        )
        .unwrap()
    }

    #[test]
    fn edits_copy_the_segment_lists_then_change_them() {
        let seg = seg();
        let mut d = Delta::default();
        assert_eq!(d.put_edge(&seg, 0, 1, 2, 5.0), None);
        assert_eq!(d.put_edge(&seg, 0, 1, 2, 6.0), Some(5.0));
        assert_eq!(d.get(0).unwrap().out, vec![(1, 0, 1.0), (2, 1, 6.0)]);
        assert_eq!(d.get(2).unwrap().inn, vec![(0, 1, 6.0), (1, 0, 2.0)]);
        assert_eq!(d.del_edge(&seg, 1, 0, 2), Some(2.0));
        assert_eq!(d.del_edge(&seg, 1, 0, 2), None);
        assert_eq!(d.get(1).unwrap().out, vec![]);
    }

    #[test]
    fn a_reader_clone_does_not_see_later_edits() {
        let seg = seg();
        let mut d = Delta::default();
        d.put_edge(&seg, 0, 0, 2, 1.0);
        let reader = d.clone();
        d.put_edge(&seg, 0, 0, 2, 9.0);
        assert_eq!(reader.get(0).unwrap().out[1], (2, 0, 1.0));
        assert_eq!(d.get(0).unwrap().out[1], (2, 0, 9.0));
    }

    /// The unit step picks the link the scan picks (the first whose running sum exceeds the
    /// draw times the weight sum), in both modes, and steps aside for any weight not 1.
    #[test]
    fn unit_steps_pick_what_the_scan_picks() {
        let seg = seg();
        let mut d = Delta::default();
        for (src, dst) in [(0, 0), (0, 2), (2, 0), (1, 0), (0, 1)] {
            d.put_edge(&seg, src, 1, dst, 1.0);
        }
        let scan = |adj: &NodeAdj, undirected: bool, x: f64| {
            let links = adj.out.iter().chain(adj.inn.iter().filter(|_| undirected));
            let mut acc = 0.0;
            let mut last = None;
            for e in links {
                acc += e.2;
                last = Some(e.0);
                if x * adj.link_weight_sum(undirected) < acc {
                    break;
                }
            }
            last
        };
        let mut picks = 0;
        for undirected in [false, true] {
            for u in 0..3 {
                let adj = d.get(u).unwrap();
                for k in 0..64 {
                    let x = k as f64 / 64.0;
                    let unit = adj.unit_step(undirected, |deg| (x * deg as f64) as usize);
                    // The segment's edge 1 -> 2 weighs 2: node 1 never steps by unit, node 2
                    // only directed (where its in-list is not among its links).
                    if u == 1 || (u == 2 && undirected) {
                        assert_eq!(unit, None, "node {u}, undirected {undirected}");
                        continue;
                    }
                    assert_eq!(unit, scan(adj, undirected, x), "node {u}, draw {x}");
                    picks += 1;
                }
            }
        }
        assert_eq!(picks, 3 * 64);
        // A weight of 3 in node 0's in-list: directed it still steps by unit, undirected not.
        d.put_edge(&seg, 2, 2, 0, 3.0);
        let adj = d.get(0).unwrap();
        assert!(adj.unit_step(false, |_| 0).is_some());
        assert_eq!(adj.unit_step(true, |_| 0), None);
    }

    #[test]
    fn deleting_a_node_removes_both_directions_and_self_loops() {
        let seg = seg();
        let mut d = Delta::default();
        d.put_edge(&seg, 1, 0, 1, 1.0);
        let removed = d.del_node(&seg, 1);
        assert_eq!(removed.len(), 3);
        assert!(d.get(0).unwrap().out.is_empty());
        assert!(d.get(2).unwrap().inn.is_empty());
    }
}
