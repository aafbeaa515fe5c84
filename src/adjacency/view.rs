//! The merged graph a snapshot reads: segment plus delta, as [`Adjacency`].

use std::sync::Arc;

use super::segment::SegEdges;
use super::{Delta, Segment};
use crate::graph::{Adjacency, Link, NodeId, RelId};

/// A consistent view of the adjacency at one version.
#[derive(Clone, Debug)]
pub(crate) struct GraphView {
    pub(crate) segment: Arc<Segment>,
    pub(crate) delta: Delta,
    pub(crate) node_count: u32,
    pub(crate) undirected: bool,
}

/// Edges of one node from the segment or from the delta.
#[derive(Clone, Debug)]
pub(crate) enum EdgeIter<'a> {
    Segment(SegEdges<'a>),
    Delta(std::slice::Iter<'a, (NodeId, RelId, f64)>),
}

impl Iterator for EdgeIter<'_> {
    type Item = (NodeId, RelId, f64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            EdgeIter::Segment(it) => it.next(),
            EdgeIter::Delta(it) => it.next().copied(),
        }
    }
}

impl GraphView {
    /// Out-edges of `u` as (dst, rel, weight), sorted by (dst, rel).
    pub(crate) fn out_edges(&self, u: NodeId) -> EdgeIter<'_> {
        match self.delta.get(u) {
            Some(adj) => EdgeIter::Delta(adj.out.iter()),
            None => EdgeIter::Segment(self.segment.out_edges(u)),
        }
    }

    /// In-edges of `v` as (src, rel, weight), sorted by (src, rel).
    pub(crate) fn in_edges(&self, v: NodeId) -> EdgeIter<'_> {
        match self.delta.get(v) {
            Some(adj) => EdgeIter::Delta(adj.inn.iter()),
            None => EdgeIter::Segment(self.segment.in_edges(v)),
        }
    }
}

impl Adjacency for GraphView {
    fn node_count(&self) -> usize {
        self.node_count as usize
    }

    fn links(&self, u: NodeId) -> impl Iterator<Item = Link> + '_ {
        let incoming = if self.undirected {
            Some(self.in_edges(u))
        } else {
            None
        };
        self.out_edges(u)
            .chain(incoming.into_iter().flatten())
            .map(|(target, rel, weight)| Link {
                target,
                rel,
                weight,
            })
    }

    fn weight_sum(&self, u: NodeId) -> f64 {
        self.links(u).map(|l| l.weight).sum()
    }
}
