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
    /// Calls `f(src, dst, rel, weight)` for every edge, by source then (dst, rel): one
    /// sequential pass over the segment's columns, with the delta's lists in place of the
    /// nodes it changed.
    pub(crate) fn for_each_edge(&self, mut f: impl FnMut(NodeId, NodeId, RelId, f64)) {
        if self.delta.is_empty() {
            self.segment.for_each_out_edge(|_| false, f);
            return;
        }
        let changed = self.delta.node_bitmap(self.node_count);
        let is_changed = |u: NodeId| bit(&changed, u);
        let mut next: NodeId = 0;
        self.segment.for_each_out_edge(is_changed, |u, v, r, w| {
            if next <= u {
                self.emit_delta(&changed, &mut next, u, &mut f);
                next = u + 1;
            }
            f(u, v, r, w);
        });
        self.emit_delta(&changed, &mut next, self.node_count, &mut f);
    }

    /// Emits the delta lists of the changed nodes in `next..until`, advancing `next`.
    fn emit_delta(
        &self,
        changed: &[u64],
        next: &mut NodeId,
        until: NodeId,
        f: &mut impl FnMut(NodeId, NodeId, RelId, f64),
    ) {
        while *next < until {
            if bit(changed, *next) {
                if let Some(adj) = self.delta.get(*next) {
                    for &(v, r, w) in &adj.out {
                        f(*next, v, r, w);
                    }
                }
            }
            *next += 1;
        }
    }

    /// Number of walkable links of `u` (`links(u).count()`) without reading them: from the
    /// delta's list lengths or the segment's offsets.
    pub(crate) fn link_count(&self, u: NodeId) -> usize {
        match self.delta.get(u) {
            Some(adj) => adj.out.len() + if self.undirected { adj.inn.len() } else { 0 },
            None => self.segment.edge_count_of(u, self.undirected),
        }
    }

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

#[inline]
fn bit(bits: &[u64], u: NodeId) -> bool {
    bits.get(u as usize / 64)
        .is_some_and(|word| word & (1 << (u % 64)) != 0)
}

/// The walkable links of one node, from the segment's link projection, or from its edge lists.
// The iterator lives briefly on the stack; boxing the larger variant would allocate on every
// call for delta nodes, the hot path of walk repairs.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum LinkIter<'a> {
    Projected {
        targets: &'a [NodeId],
        rels: &'a [RelId],
        weights: &'a [f64],
        next: usize,
    },
    Lists {
        out: EdgeIter<'a>,
        inn: Option<EdgeIter<'a>>,
    },
}

impl Iterator for LinkIter<'_> {
    type Item = Link;

    #[inline]
    fn next(&mut self) -> Option<Link> {
        match self {
            LinkIter::Projected {
                targets,
                rels,
                weights,
                next,
            } => {
                let i = *next;
                let target = *targets.get(i)?;
                *next += 1;
                Some(Link {
                    target,
                    rel: rels.get(i).copied().unwrap_or(0),
                    weight: weights.get(i).copied().unwrap_or(0.0),
                })
            }
            LinkIter::Lists { out, inn } => {
                let (target, rel, weight) = match out.next() {
                    Some(edge) => edge,
                    None => inn.as_mut()?.next()?,
                };
                Some(Link {
                    target,
                    rel,
                    weight,
                })
            }
        }
    }
}

impl Adjacency for GraphView {
    fn node_count(&self) -> usize {
        self.node_count as usize
    }

    fn links(&self, u: NodeId) -> impl Iterator<Item = Link> + '_ {
        match self.delta.get(u) {
            Some(adj) => LinkIter::Lists {
                out: EdgeIter::Delta(adj.out.iter()),
                inn: self.undirected.then(|| EdgeIter::Delta(adj.inn.iter())),
            },
            None => match self.segment.link_projection_if_built() {
                Some(csr) if (u as usize) < csr.node_count() => {
                    let (targets, weights) = csr.link_slices(u);
                    LinkIter::Projected {
                        targets,
                        rels: csr.link_rels(u),
                        weights,
                        next: 0,
                    }
                }
                _ => LinkIter::Lists {
                    out: EdgeIter::Segment(self.segment.out_edges(u)),
                    inn: self
                        .undirected
                        .then(|| EdgeIter::Segment(self.segment.in_edges(u))),
                },
            },
        }
    }

    fn weight_sum(&self, u: NodeId) -> f64 {
        match self.delta.get(u) {
            Some(adj) => adj.link_weight_sum(self.undirected),
            None => match self.segment.link_projection_if_built() {
                Some(csr) if (u as usize) < csr.node_count() => csr.weight_sum(u),
                _ => self.links(u).map(|l| l.weight).sum(),
            },
        }
    }

    fn degree(&self, u: NodeId) -> usize {
        if self.delta.get(u).is_none() {
            if let Some(csr) = self.segment.link_projection_if_built() {
                if (u as usize) < csr.node_count() {
                    return csr.degree(u);
                }
            }
            // `links(u)` is the segment's out-list then (undirected) its in-list.
            return self.segment.edge_count_of(u, self.undirected);
        }
        self.links(u).count()
    }

    fn is_symmetric(&self) -> bool {
        self.undirected
    }

    #[inline]
    fn unit_step(&self, u: NodeId, pick: impl FnOnce(usize) -> usize) -> Option<NodeId> {
        match self.delta.get(u) {
            Some(adj) => adj.unit_step(self.undirected, pick),
            None => match self.segment.link_projection_if_built() {
                Some(csr) if (u as usize) < csr.node_count() => csr.unit_step(u, pick),
                _ => None,
            },
        }
    }
}
