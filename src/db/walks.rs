//! The walk index as database state: served from its generation file's map (opening reads
//! only its header and block checksums), repaired inside every commit into the writer's
//! copy-on-write clone (and identically during WAL replay), published with each version, and
//! folded into a new file by checkpoints.
//!
//! The index is derived, checkpointed state beside the adjacency: it is never logged itself.
//! Its repairs are a pure function of (index, graph after, changes, LSN), so replaying the WAL
//! into the checkpointed index reproduces the live index walk for walk.

use crate::error::{CheckpointError, ReadError};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::Database;
use crate::adjacency::GraphView;
use crate::catalog::Options;
use crate::error::{Error, Result};
use crate::graph::{Adjacency, CsrGraph, NodeId};
use crate::inspect::{FileReport, SectionReport};
use crate::walks::{pair_changes, NodeChange, WalkIndex, WalkIndexError, WalkIndexParams};

/// Seed of every database's walk build; repairs are seeded by LSN.
const BUILD_SEED: u64 = 0x5741_4C4B_4442;

/// The walk index of one published version: read by that version's snapshots without a
/// lock, never changed (the writer repairs its own copy-on-write clone).
#[derive(Clone, Debug)]
pub(crate) struct WalkState {
    pub(crate) index: Arc<WalkIndex>,
    /// The generation file its base was read from, for error messages ("(walk index)" when
    /// the base was built in memory).
    pub(crate) file: Arc<str>,
}

impl WalkState {
    pub(crate) fn new(index: WalkIndex, file: &str) -> WalkState {
        WalkState {
            index: Arc::new(index),
            file: Arc::from(if file.is_empty() {
                "(walk index)"
            } else {
                file
            }),
        }
    }

    /// A walk-index error as a database error naming the file.
    pub(crate) fn error(&self, e: WalkIndexError) -> Error {
        walk_error(&self.file, e)
    }
}

pub(crate) fn params(options: &Options) -> WalkIndexParams {
    WalkIndexParams {
        alpha: options.alpha,
        walks_per_node: options.walks_per_node,
        seed: BUILD_SEED,
    }
}

pub(crate) fn walk_error(file: &str, e: WalkIndexError) -> Error {
    match e {
        WalkIndexError::Corrupt {
            section,
            offset,
            reason,
        } => Error::corrupt(
            file,
            offset,
            format!("walk index section {section}: {reason}"),
        ),
        WalkIndexError::Io(source) => Error::io(format!("writing {file}"), source),
        other => Error::corrupt(file, 0, other.to_string()),
    }
}

/// Touched nodes from which the change list is computed on the thread pool.
const PARALLEL_NODES: usize = 64;

/// The changes of the touched nodes between two views: every node whose pair weights or whose
/// link count changed. Pair weights can stay equal while the link count changes (a self-loop
/// of weight 3 replaced by parallel self-loops of 2 and 1): no walk needs rerouting then, but
/// the node's walk count follows its degree, so the change must still reach the repair.
pub(crate) fn changes(
    before: &GraphView,
    after: &GraphView,
    touched: &BTreeSet<NodeId>,
) -> Vec<NodeChange> {
    // `NodeChange::between` on the views' sorted lists, merged instead of collected and
    // sorted (a hub touched by every commit has thousands of links).
    let change = |&u: &NodeId| NodeChange {
        node: u,
        weight_sum_before: if u < before.node_count {
            before.weight_sum(u)
        } else {
            0.0
        },
        pairs: pair_changes(before.pair_weights(u), after.pair_weights(u)),
    };
    let changed =
        |c: &NodeChange| !c.pairs.is_empty() || before.degree(c.node) != after.degree(c.node);
    // A few nodes cost less than handing them to the thread pool.
    if touched.len() < PARALLEL_NODES {
        return touched.iter().map(change).filter(changed).collect();
    }
    let touched: Vec<NodeId> = touched.iter().copied().collect();
    touched
        .par_iter()
        .with_min_len(PARALLEL_NODES)
        .map(change)
        .filter(changed)
        .collect()
}

/// Serves a walk-index file from its map, checking it belongs to this database (whose
/// checkpointed graph has `node_count` nodes: the index never covers more). Reads the header
/// and block checksums only; a version 1 file is migrated into memory.
pub(crate) fn open_file(
    name: &str,
    bytes: crate::backend::FileBytes,
    options: &Options,
    node_count: u32,
) -> Result<WalkIndex> {
    let index = WalkIndex::open_bytes(bytes, node_count as u64).map_err(|e| walk_error(name, e))?;
    let p = index.params();
    if p.alpha != options.alpha || p.walks_per_node != options.walks_per_node {
        return Err(Error::corrupt(
            name,
            16,
            "walk index parameters differ from the database's options",
        ));
    }
    Ok(index)
}

/// Builds the index of a graph.
pub(crate) fn build(
    graph: &CsrGraph,
    options: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<WalkIndex> {
    WalkIndex::build_with_progress(graph, params(options), progress)
        .map_err(|e| walk_error("(walk index build)", e))
}

/// Summary of an index (re)build.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexInfo {
    /// Stored walks.
    pub walks: u64,
    /// Steps over all walks.
    pub steps: u64,
    /// Seconds the build took.
    pub seconds: f64,
}

impl Database {
    /// Runs `f` on the walk index of the newest version and that version's LSN.
    pub(crate) fn with_walks<T>(
        &self,
        f: impl FnOnce(&WalkIndex, u64) -> std::result::Result<T, WalkIndexError>,
    ) -> Result<T> {
        let version = Arc::clone(&self.inner.current.read());
        f(&version.walks.index, version.lsn).map_err(|e| version.walks.error(e))
    }

    /// A copy of the walk index of the newest version and its LSN. Copies the whole index: for
    /// tests (crash recovery must reproduce the live index walk for walk) and tools, not for
    /// queries.
    #[cfg(any(test, feature = "testing"))]
    pub fn walk_index_copy(&self) -> Result<(WalkIndex, u64), ReadError> {
        self.with_walks(|index, lsn| Ok((index.clone(), lsn)))
            .map_err(Into::into)
    }

    /// Statistics of the walk index.
    pub fn walk_stats(&self) -> Result<crate::walks::WalkIndexStats, ReadError> {
        self.with_walks(|index, _| index.stats())
            .map_err(Into::into)
    }

    /// A snapshot and the id of `key` in it; an unknown key is an input error.
    fn snapshot_and_node(&self, key: &str) -> Result<(crate::Snapshot, NodeId)> {
        let snapshot = self.begin_read()?;
        let node = snapshot
            .node_id(key)?
            .ok_or_else(|| crate::InputError::UnknownNode {
                key: key.to_string(),
            })?;
        Ok((snapshot, node))
    }

    /// The walks stored from a node, as node-key paths with how each ended.
    pub fn walks_from(
        &self,
        key: &str,
    ) -> Result<Vec<(Vec<String>, crate::walks::WalkEnd)>, ReadError> {
        let (snapshot, node) = self.snapshot_and_node(key)?;
        let paths: Vec<(Vec<NodeId>, crate::walks::WalkEnd)> = self.with_walks(|index, _| {
            Ok(index
                .walks_from(node)?
                .into_iter()
                .map(|w| (w.nodes.to_vec(), w.end))
                .collect())
        })?;
        let keys = snapshot.node_keys()?;
        Ok(paths
            .into_iter()
            .map(|(nodes, end)| {
                (
                    nodes
                        .iter()
                        .map(|&v| {
                            keys.get(v as usize)
                                .cloned()
                                .unwrap_or_else(|| format!("#{v}"))
                        })
                        .collect(),
                    end,
                )
            })
            .collect())
    }

    /// The visit records at a node: the ids of the walks that move on from it (or died there),
    /// one entry per visit, ascending.
    pub fn visit_records_at(&self, key: &str) -> Result<Vec<u32>, ReadError> {
        let (_, node) = self.snapshot_and_node(key)?;
        self.with_walks(|index, _| Ok(index.visit_records_at(node)?.to_vec()))
            .map_err(Into::into)
    }

    /// Rebuilds the walk index from scratch on the current graph and checkpoints it.
    pub fn rebuild_walk_index(
        &self,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<IndexInfo, CheckpointError> {
        let started = std::time::Instant::now();
        let snapshot = self.begin_read()?;
        let graph = snapshot.projection();
        let index = build(&graph, &self.inner.options, progress)?;
        self.install_built(index, snapshot.lsn(), started)
    }

    /// The parameters every walk-index build of this database uses (its alpha, walks per
    /// node and build seed): what a build elsewhere (walkdb-dist) must use to make the walks
    /// [`Database::rebuild_walk_index`] would.
    pub fn walk_index_params(&self) -> WalkIndexParams {
        params(&self.inner.options)
    }

    /// Installs a walk index built outside this handle (by walkdb-dist, on the graph of version
    /// `lsn`) as the next generation, through the same checkpoint a rebuild uses; repairs take
    /// over from there. The index must have this database's parameters, and it is verified
    /// against the graph of version `lsn` first (every step a link, a walk dies only at a
    /// dangling node, every node's walk count its degree's; the derived tables too unless this
    /// process derived them from the walks, see [`WalkIndex::verify_walks`]): a wrong index is
    /// refused, never installed.
    /// Fails with a conflict if the graph has changed since `lsn`.
    pub fn install_walk_index(
        &self,
        index: WalkIndex,
        lsn: u64,
    ) -> Result<IndexInfo, CheckpointError> {
        let started = std::time::Instant::now();
        let snapshot = self.begin_read()?;
        if snapshot.lsn() != lsn {
            return Err(Error::conflict(format!(
                "the walk index was built on version {lsn}, the database is at {}; build it again",
                snapshot.lsn()
            ))
            .into());
        }
        let want = self.walk_index_params();
        let got = index.params();
        if got != want {
            return Err(Error::from(crate::InputError::InvalidWalkIndex {
                reason: format!("it was built with {got:?}, this database's builds use {want:?}"),
            })
            .into());
        }
        // An index whose tables were derived here from its walks (from_walks, a build) needs
        // only its walks checked; any other (a decoded file, one with an overlay) is checked
        // whole.
        let graph = snapshot.projection();
        let checked = if index.tables_derived_here() {
            index.verify_walks(&*graph)
        } else {
            index.verify(&*graph)
        };
        checked.map_err(|e| {
            Error::from(crate::InputError::InvalidWalkIndex {
                reason: format!("it does not fit the graph of version {lsn}: {e}"),
            })
        })?;
        self.install_built(index, lsn, started)
    }

    /// Publishes `index`, built on version `lsn`, as the next generation's walk index.
    fn install_built(
        &self,
        index: WalkIndex,
        lsn: u64,
        started: std::time::Instant,
    ) -> Result<IndexInfo, CheckpointError> {
        let stats = index
            .stats()
            .map_err(|e| walk_error("(walk index build)", e))?;
        {
            let mut writer = self.inner.writer("installing a walk index")?;
            writer.check_poisoned()?;
            if self.inner.current.read().lsn != lsn {
                return Err(Error::conflict(
                    "the graph changed during the walk-index build; run it again",
                )
                .into());
            }
            // The checkpoint below writes this index and publishes it with the new generation.
            writer.walks = index;
            drop(writer);
        }
        self.checkpoint_forced()?;
        Ok(IndexInfo {
            walks: stats.walks,
            steps: stats.steps,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Fills a dump report for a walk-index file.
pub(crate) fn inspect_walk_file(bytes: &[u8], report: &mut FileReport) {
    match WalkIndex::read_header(bytes) {
        Err(e) => report.problems.push(e.to_string()),
        Ok(h) => {
            for (k, v) in [
                ("version", h.version.to_string()),
                ("alpha", h.alpha.to_string()),
                ("walks_per_node", h.walks_per_node.to_string()),
                ("seed", h.seed.to_string()),
                ("node_count", h.node_count.to_string()),
                ("walk_slots", h.walk_slots.to_string()),
                ("walk_nodes", h.walk_nodes.to_string()),
            ] {
                report.header.push((k.into(), v));
            }
            if h.version >= 2 {
                report
                    .header
                    .push(("block_size".into(), h.block_size.to_string()));
            }
            let status = crate::walks::section_status(bytes, &h);
            for (s, problem) in h.sections.iter().zip(status) {
                let data = bytes
                    .get(s.offset as usize..(s.offset + s.length) as usize)
                    .unwrap_or(&[]);
                if let Some(problem) = &problem {
                    report.problems.push(problem.clone());
                }
                report.sections.push(SectionReport {
                    name: s.name.into(),
                    offset: s.offset,
                    length: s.length,
                    crc: crate::format::crc32(&[data]),
                    crc_ok: problem.is_none(),
                });
            }
            if report.problems.is_empty() {
                if let Err(e) = WalkIndex::decode(bytes) {
                    report.problems.push(e.to_string());
                }
            }
        }
    }
}
