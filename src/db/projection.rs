//! Link projections per version: the `CsrGraph` every query and walk steps on, built once per
//! version by patching the newest one built with the nodes the commits since changed.
//!
//! Who builds it: the first query on a version, or, while readers are asking for projections
//! (one asked within [`EAGER_PROJECTION_WINDOW`] commits), the writer, before it publishes
//! the commit's version; then no reader pays for it. A checkpoint's version reuses the
//! projection of the graph it folded. A patch copies every link; the buffers of a projection
//! no version holds any more are kept for the next patch (one spare), so a patch writes into
//! memory already mapped instead of faulting in fresh pages.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Inner, Version};
use crate::graph::{Adjacency, CsrGraph, NodeId};

/// Commits whose changed nodes the projection cache remembers.
pub(crate) const RECENT_CHANGES: usize = 256;

/// The writer builds each commit's projection while a reader asked for one within this many
/// commits: long enough to serve readers that query every few commits, short enough that a
/// writer whose readers went away stops paying after a few commits.
pub(crate) const EAGER_PROJECTION_WINDOW: u64 = 16;

/// How a published version's graph relates to the versions before it.
#[derive(Debug, Clone)]
pub(crate) enum Changed {
    /// A commit: the nodes whose walkable links differ from the graph at `lsn - 1`.
    Nodes(Arc<[NodeId]>),
    /// A checkpoint: the graph of the version before, at the same LSN, in a new generation.
    SameGraph,
    /// Not known: a version made by an import (a new graph under an old LSN) or by a reader
    /// handle's load of a new generation.
    Unknown,
}

/// The newest link projection built, and the nodes each recent commit changed.
#[derive(Debug, Default)]
pub(crate) struct ProjectionCache {
    /// Bumped by every version whose changes are not known, so an LSN names one graph within
    /// an epoch.
    pub(crate) epoch: u64,
    pub(crate) latest: Option<(u64, Arc<CsrGraph>)>,
    pub(crate) recent: VecDeque<(u64, Arc<[NodeId]>)>,
}

impl ProjectionCache {
    /// Remembers one commit's changed nodes (in LSN order).
    pub(crate) fn remember(&mut self, lsn: u64, nodes: Arc<[NodeId]>) {
        if self.recent.len() == RECENT_CHANGES {
            self.recent.pop_front();
        }
        self.recent.push_back((lsn, nodes));
    }

    /// The newest projection at or before `lsn` in `epoch`, with the nodes changed between
    /// it and `lsn`, when every commit in between is remembered.
    fn start_for(&self, epoch: u64, lsn: u64) -> Option<(Arc<CsrGraph>, Vec<NodeId>)> {
        let (at, graph) = self.latest.as_ref().filter(|_| self.epoch == epoch)?;
        if *at > lsn {
            return None;
        }
        let steps: Vec<&Arc<[NodeId]>> = self
            .recent
            .iter()
            .filter(|(l, _)| *l > *at && *l <= lsn)
            .map(|(_, c)| c)
            .collect();
        (steps.len() as u64 == lsn - at).then(|| {
            let nodes = steps.iter().flat_map(|c| c.iter().copied()).collect();
            (Arc::clone(graph), nodes)
        })
    }
}

/// What the projection machinery shares between the writer, readers and dropped versions.
#[derive(Debug, Default)]
pub(crate) struct Projections {
    pub(crate) cache: Mutex<ProjectionCache>,
    /// One more than the newest LSN whose projection a reader asked for (0: none yet).
    demand: AtomicU64,
    /// A projection no version holds any more, whose buffers the next patch reuses.
    spare: Mutex<Option<CsrGraph>>,
}

impl Projections {
    /// A reader asks for the projection of `lsn`.
    pub(crate) fn note_demand(&self, lsn: u64) {
        self.demand
            .fetch_max(lsn.saturating_add(1), Ordering::Relaxed);
    }

    /// Whether the writer should build the projection of a commit at `lsn`.
    pub(crate) fn in_demand(&self, lsn: u64) -> bool {
        match self.demand.load(Ordering::Relaxed) {
            0 => false,
            asked => (asked - 1).saturating_add(EAGER_PROJECTION_WINDOW) >= lsn,
        }
    }

    /// Keeps `graph`'s buffers for the next patch when nobody else holds it.
    pub(crate) fn recycle(&self, graph: Arc<CsrGraph>) {
        if let Some(graph) = Arc::into_inner(graph) {
            *self.spare.lock() = Some(graph);
        }
    }

    fn take_spare(&self) -> CsrGraph {
        self.spare.lock().take().unwrap_or_default()
    }
}

/// Builds the projection of `version` (not yet stored in its cell): the newest projection
/// patched when the cache reaches it, else the segment's projection patched with the delta.
/// Records it as the newest when it is.
pub(crate) fn build(inner: &Inner, version: &Version) -> Arc<CsrGraph> {
    let projections = &inner.projections;
    let lsn = version.lsn;
    let view = &version.view;
    let start = projections.cache.lock().start_for(version.epoch, lsn);
    let graph = match start {
        Some((graph, nodes))
            if nodes.is_empty() && graph.node_count() == view.node_count as usize =>
        {
            graph
        }
        Some((graph, nodes)) => {
            let mut changed = vec![0u64; (view.node_count as usize).div_ceil(64)];
            for u in nodes {
                if let Some(word) = changed.get_mut(u as usize / 64) {
                    *word |= 1 << (u % 64);
                }
            }
            let spare = projections.take_spare();
            Arc::new(CsrGraph::patched_into(&graph, view, &changed, spare))
        }
        None => {
            let base = view.segment.link_projection(view.undirected);
            // Without changes since the checkpoint the segment's projection is the
            // projection; otherwise patch it with the nodes the delta changed.
            if view.delta.is_empty() && base.node_count() == view.node_count as usize {
                base
            } else {
                let changed = view.delta.node_bitmap(view.node_count);
                let spare = projections.take_spare();
                Arc::new(CsrGraph::patched_into(&base, view, &changed, spare))
            }
        }
    };
    let replaced = {
        let mut cache = projections.cache.lock();
        if cache.epoch == version.epoch && cache.latest.as_ref().is_none_or(|(at, _)| *at < lsn) {
            cache.latest.replace((lsn, Arc::clone(&graph)))
        } else {
            None
        }
    };
    if let Some((_, old)) = replaced {
        projections.recycle(old);
    }
    graph
}
