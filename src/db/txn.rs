//! Write transactions.

use crate::error::WriteError;
use std::sync::Arc;

use parking_lot::MutexGuard;

use super::intern::Interner;
use super::walks::WalkState;
use super::{Database, Durability, Staging, Writer};
use crate::adjacency::GraphView;
use crate::error::{Error, Result};
use crate::graph::validate_key;
use crate::graph::{NodeId, RelId};
use crate::wal::{encode_ops, Op};

/// What a commit made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// The transaction's log sequence number (its WAL commit record's).
    pub lsn: u64,
    /// Operations the transaction applied.
    pub ops: usize,
}

/// The single write transaction. Changes are visible to nobody until [`WriteTxn::commit`];
/// dropping it aborts.
pub struct WriteTxn<'db> {
    db: &'db Database,
    writer: MutexGuard<'db, Writer>,
    base: GraphView,
    staging: Staging,
    ops: Vec<Op>,
    nodes: Interner,
    relations: Interner,
}

impl std::fmt::Debug for WriteTxn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn")
            .field("ops", &self.ops.len())
            .finish()
    }
}

/// Operations from which a commit syncs the WAL on a thread of its own while it repairs.
const OVERLAP_SYNC_OPS: usize = 64;

impl<'db> WriteTxn<'db> {
    pub(crate) fn begin(
        db: &'db Database,
        writer: parking_lot::MutexGuard<'db, Writer>,
    ) -> Result<WriteTxn<'db>> {
        writer.check_poisoned()?;
        let mut staging = Staging::from_version(&db.inner.current.read());
        // Edits copy segment lists into the delta and repairs walk the graph: check the
        // segment once, and build its link projection so repairs step in O(1) per link.
        staging.segment.check()?;
        staging.segment.link_projection(staging.undirected);
        let base = staging.view();
        let (node_count, relation_count) = (staging.node_count, staging.relation_count);
        Ok(WriteTxn {
            db,
            writer,
            base,
            staging,
            ops: Vec::new(),
            nodes: Interner::nodes(node_count),
            relations: Interner::relations(relation_count),
        })
    }

    /// The id of a node key, including nodes created in this transaction.
    pub fn node_id(&self, key: &str) -> Result<Option<NodeId>, WriteError> {
        if let Some(id) = self.nodes.get(key) {
            return Ok(Some(id));
        }
        self.db
            .lookup_node(key, self.staging.node_count)
            .map_err(Into::into)
    }

    /// The id of a relation name, including relations created in this transaction.
    pub fn relation_id(&self, name: &str) -> Option<RelId> {
        self.relations
            .get(name)
            .or_else(|| self.db.inner.names.read().relation_ids.get(name).copied())
    }

    fn push(&mut self, op: Op) -> Result<()> {
        // Ops built here were validated; an inconsistency would be a bug in this module.
        self.staging.apply(&op).map_err(Error::internal)?;
        self.ops.push(op);
        Ok(())
    }

    fn intern_node(&mut self, key: &str) -> Result<NodeId> {
        let (db, base) = (self.db, self.staging.node_count);
        let (id, new) = self.nodes.intern(key, |k| db.lookup_node(k, base))?;
        if new {
            self.push(Op::NewNode {
                id,
                key: key.to_string(),
            })?;
        }
        Ok(id)
    }

    fn intern_relation(&mut self, name: &str) -> Result<RelId> {
        let db = self.db;
        let (id, new) = self.relations.intern(name, |n| {
            Ok(db.inner.names.read().relation_ids.get(n).copied())
        })?;
        if new {
            self.push(Op::NewRelation {
                id,
                name: name.to_string(),
            })?;
        }
        Ok(id)
    }

    /// Adds the edge `src -[rel]-> dst`, or replaces its weight if it exists. Unknown nodes
    /// and relations are created.
    pub fn add_edge(
        &mut self,
        src: &str,
        rel: &str,
        dst: &str,
        weight: f64,
    ) -> Result<(), WriteError> {
        crate::graph::check_weight(weight)?;
        validate_key(src, "node key")?;
        validate_key(dst, "node key")?;
        validate_key(rel, "relation name")?;
        let src = self.intern_node(src)?;
        let dst = self.intern_node(dst)?;
        let rel = self.intern_relation(rel)?;
        Ok(self.push(Op::PutEdge {
            src,
            rel,
            dst,
            weight,
        })?)
    }

    /// Adds or reweights an edge between existing ids (no key lookups): the fast path.
    pub fn add_edge_ids(
        &mut self,
        src: NodeId,
        rel: RelId,
        dst: NodeId,
        weight: f64,
    ) -> Result<(), WriteError> {
        crate::graph::check_edge_ids(
            src,
            rel,
            dst,
            weight,
            self.staging.node_count,
            self.staging.relation_count,
        )?;
        Ok(self.push(Op::PutEdge {
            src,
            rel,
            dst,
            weight,
        })?)
    }

    /// Creates the node `key` if it does not exist (a node with no edges yet) and returns its
    /// id either way.
    pub fn add_node(&mut self, key: &str) -> Result<NodeId, WriteError> {
        validate_key(key, "node key")?;
        self.intern_node(key).map_err(Into::into)
    }

    /// The out-edges of `u` as this transaction sees them (its own changes included):
    /// `(dst, relation, weight)` sorted by (dst, relation); empty for an unknown id.
    pub fn out_edges(&self, u: NodeId) -> Vec<(NodeId, RelId, f64)> {
        if u >= self.staging.node_count {
            return Vec::new();
        }
        match self.staging.delta.get(u) {
            Some(adj) => adj.out.clone(),
            None => self.staging.segment.out_edges(u).collect(),
        }
    }

    /// Deletes the edge; returns false (changing nothing) when it does not exist.
    pub fn delete_edge(&mut self, src: &str, rel: &str, dst: &str) -> Result<bool, WriteError> {
        let (Some(src), Some(dst), Some(rel)) = (
            self.node_id(src)?,
            self.node_id(dst)?,
            self.relation_id(rel),
        ) else {
            return Ok(false);
        };
        let exists = self.staging.delta.get(src).map_or_else(
            || {
                self.staging
                    .segment
                    .out_edges(src)
                    .any(|(d, r, _)| (d, r) == (dst, rel))
            },
            |adj| adj.out.iter().any(|&(d, r, _)| (d, r) == (dst, rel)),
        );
        if !exists {
            return Ok(false);
        }
        self.push(Op::DelEdge { src, rel, dst })?;
        Ok(true)
    }

    /// Deletes every edge incident to the node (its key stays known); false if unknown.
    pub fn delete_node(&mut self, key: &str) -> Result<bool, WriteError> {
        let Some(node) = self.node_id(key)? else {
            return Ok(false);
        };
        self.push(Op::DelNode { node })?;
        Ok(true)
    }

    /// Number of operations staged.
    pub fn op_count(&self) -> usize {
        self.ops.len()
    }

    /// Makes the transaction durable (per the database's [`Durability`]) and visible.
    pub fn commit(mut self) -> Result<CommitInfo, WriteError> {
        if self.ops.is_empty() {
            return Ok(CommitInfo {
                lsn: self.staging.lsn,
                ops: 0,
            });
        }
        let payload = encode_ops(&self.ops);
        let lsn = match self.writer.wal.append(&payload) {
            Ok(lsn) => lsn,
            Err(e) => {
                let error = Error::io(format!("appending to {}", self.writer.wal.file_name()), e);
                return Err(self.writer.poison(error).into());
            }
        };
        // Immediate durability syncs the WAL on a thread of its own while this one repairs the
        // walk index (the repair reads nothing the sync writes); the version is published only
        // once both are done, so an acknowledged commit is durable as before. The fdatasync is
        // idle time for the CPU (0.5-3 ms here). A small transaction's repair is shorter than
        // starting a thread: it syncs first, on this one.
        let overlap = self.ops.len() >= OVERLAP_SYNC_OPS;
        let syncing = match self.db.inner.durability {
            Durability::Immediate => Some(self.writer.wal.sync_handle()),
            Durability::Group => {
                let tail = self.writer.wal.sync_handle();
                self.db.inner.group.appended(tail, lsn);
                None
            }
            Durability::None => None,
        };
        self.staging.lsn = lsn;
        // Repair the walks this transaction touched (inside the commit, before publishing, so
        // a snapshot at this LSN finds the index at this LSN).
        let after = self.staging.view();
        let base = &self.base;
        let touched = &self.staging.touched;
        let walks = &mut self.writer.walks;
        let (synced, repaired) = std::thread::scope(|scope| {
            // A thread the system refuses (`spawn_scoped` fails) means syncing here, first.
            let thread = syncing.as_ref().filter(|_| overlap).and_then(|handle| {
                let handle = handle.clone();
                std::thread::Builder::new()
                    .name("walkdb-wal-sync".into())
                    .spawn_scoped(scope, move || handle.sync())
                    .ok()
            });
            let synced_first = match thread {
                Some(_) => None,
                None => syncing.as_ref().map(|handle| handle.sync()),
            };
            let sync = thread;
            let changes = super::walks::changes(base, &after, touched);
            // Into the writer's clone: published versions keep their own overlay.
            let repaired = walks.repair(&after, &changes, lsn);
            let synced = match (synced_first, sync) {
                (Some(synced), _) => synced,
                (None, Some(thread)) => thread
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("the WAL sync thread panicked"))),
                (None, None) => Ok(()),
            };
            (synced, repaired)
        });
        if let Err(e) = synced {
            let error = Error::io(format!("syncing {}", self.writer.wal.file_name()), e);
            return Err(self.writer.poison(error).into());
        }
        if self.db.inner.durability == Durability::Immediate {
            self.db.inner.group.mark_durable(lsn);
        }
        if let Err(e) = repaired {
            let file = Arc::clone(&self.db.inner.current.read().walks.file);
            let error = match e {
                crate::walks::WalkIndexError::Corrupt { .. } => super::walks::walk_error(&file, e),
                // Not damage of a file: the index in memory no longer matches its walks.
                e => Error::corrupt(
                    &*file,
                    0,
                    format!("repairing the walk index for LSN {lsn} failed: {e}"),
                ),
            };
            return Err(self.writer.poison(error).into());
        }
        {
            // Names first: a reader that sees the new version must be able to resolve them.
            let mut names = self.db.inner.names.write();
            for key in self.nodes.take_created() {
                let key = String::from(key);
                let id = names.new_keys_base + names.new_keys.len() as NodeId;
                names.new_key_ids.insert(key.clone(), id);
                names.new_keys.push(key);
            }
            for name in self.relations.take_created() {
                names.add_relation(&name);
            }
        }
        let ops = self.ops.len();
        let staging = std::mem::replace(&mut self.staging, Staging::new_empty());
        let segment = Arc::clone(&staging.segment);
        let walks = WalkState {
            index: Arc::new(self.writer.walks.clone()),
            file: Arc::clone(&self.db.inner.current.read().walks.file),
        };
        let previous = self.db.publish(staging.into_version(
            &segment,
            self.db.inner.options.undirected,
            walks,
        ));
        // Outside the lock readers take to begin: the last reference frees the superseded
        // copies of the version's overlay and delta.
        drop(previous);
        let checkpoint_due = self.db.inner.auto_checkpoint.is_some_and(|limit| {
            // The overlay may grow to the size of the file it overlays (then folding it
            // costs about what it holds), and at least to the WAL limit.
            let walks = &self.writer.walks;
            self.writer.wal.len() > limit
                || walks.overlay_live_bytes() as u64 > limit.max(walks.base_bytes() as u64)
        });
        // Release the writer: the next transaction may append while this one's group sync
        // runs, and the checkpoint takes the writer itself.
        let db = self.db;
        drop(self);
        if db.inner.durability == Durability::Group {
            db.inner
                .group
                .wait_durable(lsn, |error| db.inner.poison(error))?;
        }
        if checkpoint_due {
            // The transaction is durable and acknowledged whatever happens here; a failed
            // checkpoint poisons the writer, so the next write reports why.
            if let Err(error) = db.checkpoint() {
                db.inner.poison(error.into());
            }
        }
        Ok(CommitInfo { lsn, ops })
    }
}

impl Database {
    /// Resolves a node key to an id below `node_count`.
    pub(crate) fn lookup_node(&self, key: &str, node_count: u32) -> Result<Option<NodeId>> {
        let id = match self.inner.names.read().new_key_ids.get(key) {
            Some(&id) => Some(id),
            None => self.inner.catalog.node_id(key)?,
        };
        Ok(id.filter(|&id| id < node_count))
    }
}
