//! Bulk import: edges go straight into a new segment generation, not through the WAL.

use super::intern::Interner;
use crate::error::WriteError;
use std::time::Instant;

use parking_lot::MutexGuard;
use rayon::slice::ParallelSliceMut;

use super::checkpoint::{view_columns, EncodedWalks, NewGeneration, SwitchTimings};
use super::walks;
use super::{Database, Writer};
use crate::adjacency::encode_segment_columns;
use crate::adjacency::{GraphView, Segment};
use crate::backend::FileBytes;
use crate::error::Result;
use crate::graph::CsrGraph;
use crate::graph::{NodeId, RelId};

/// What an import did.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportInfo {
    /// Nodes in the database afterwards.
    pub nodes: u32,
    /// Edges in the database afterwards.
    pub edges: u64,
    /// Edge records read (duplicates included).
    pub records: u64,
    /// Seconds `finish` took (parsing time is the caller's).
    pub seconds: f64,
    /// Of which: sorting the edges and encoding the segment.
    pub storage_seconds: f64,
    /// Of which: building and encoding the walk index.
    pub index_seconds: f64,
    /// Of which: writing the files and the catalog.
    pub write: SwitchTimings,
}

/// Collects edges and writes them as one new generation. Atomic: until [`BulkLoader::finish`]
/// returns, nothing is visible or durable; dropping the loader imports nothing.
pub struct BulkLoader<'db> {
    db: &'db Database,
    writer: MutexGuard<'db, Writer>,
    base_nodes: u32,
    nodes: Interner,
    relations: Interner,
    edges: Vec<(NodeId, NodeId, RelId, f64)>,
    progress: &'db (dyn Fn(usize, usize) + Sync),
}

impl std::fmt::Debug for BulkLoader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkLoader")
            .field("edges", &self.edges.len())
            .finish()
    }
}

impl Database {
    /// Starts a bulk import; holds the writer lock until finished or dropped.
    pub fn bulk_loader(&self) -> Result<BulkLoader<'_>, WriteError> {
        let writer = self.inner.writer("a bulk import")?;
        writer.check_poisoned()?;
        let current = self.inner.current.read();
        let (base_nodes, base_relations) = (current.view.node_count, current.relation_count);
        drop(current);
        Ok(BulkLoader {
            db: self,
            writer,
            base_nodes,
            nodes: Interner::nodes(base_nodes),
            relations: Interner::relations(base_relations),
            edges: Vec::new(),
            progress: &|_, _| {},
        })
    }
}

impl<'db> BulkLoader<'db> {
    fn node(&mut self, key: &str) -> Result<NodeId> {
        let (db, base) = (self.db, self.base_nodes);
        let stored = |k: &str| match base {
            0 => Ok(None),
            _ => db.lookup_node(k, base),
        };
        Ok(self.nodes.intern(key, stored)?.0)
    }

    fn relation(&mut self, name: &str) -> Result<RelId> {
        let db = self.db;
        let stored = |n: &str| Ok(db.inner.names.read().relation_ids.get(n).copied());
        Ok(self.relations.intern(name, stored)?.0)
    }

    /// Creates the relation `name` if it does not exist and returns its id either way.
    pub fn add_relation(&mut self, name: &str) -> Result<RelId, WriteError> {
        Ok(self.relation(name)?)
    }

    /// Adds one edge between ids this loader returned (from [`BulkLoader::add_node`] and
    /// [`BulkLoader::add_relation`]) or stored ones: no key lookups, the fast path.
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
            self.nodes.next_id(),
            self.relations.next_id(),
        )?;
        self.edges.push((src, dst, rel, weight));
        Ok(())
    }

    /// Adds one edge; a later edge with the same (src, rel, dst) replaces the weight.
    pub fn add_edge(
        &mut self,
        src: &str,
        rel: &str,
        dst: &str,
        weight: f64,
    ) -> Result<(), WriteError> {
        crate::graph::check_weight(weight)?;
        let src = self.node(src)?;
        let dst = self.node(dst)?;
        let rel = self.relation(rel)?;
        self.edges.push((src, dst, rel, weight));
        Ok(())
    }

    /// Creates the node `key` if it does not exist (a node with no edges yet) and returns its
    /// id either way.
    pub fn add_node(&mut self, key: &str) -> Result<NodeId, WriteError> {
        self.node(key).map_err(Into::into)
    }

    /// Reports walk-index build progress as `(nodes done, nodes)` (the CLI draws a bar).
    pub fn on_index_progress(&mut self, progress: &'db (dyn Fn(usize, usize) + Sync)) {
        self.progress = progress;
    }

    /// Edge records added so far.
    pub fn record_count(&self) -> u64 {
        self.edges.len() as u64
    }

    /// Writes the new generation durably and publishes it.
    pub fn finish(mut self) -> Result<ImportInfo, WriteError> {
        let started = Instant::now();
        let records = self.edges.len() as u64;
        let version = std::sync::Arc::clone(&self.db.inner.current.read());
        let node_count = self.nodes.next_id();
        let relation_count = self.relations.next_id();
        // Existing edges first, so that a stable sort followed by "last of each run wins" gives
        // imported weights precedence.
        let mut all = Vec::with_capacity(version.edge_count as usize + self.edges.len());
        if version.edge_count > 0 {
            let (offsets, dst, rel, weight) = view_columns(&version.view);
            for u in 0..version.view.node_count as usize {
                for p in offsets[u] as usize..offsets[u + 1] as usize {
                    all.push((u as NodeId, dst[p], rel[p], weight[p]));
                }
            }
        }
        all.append(&mut self.edges);
        all.par_sort_by_key(|&(s, d, r, _)| (s, d, r));
        let mut offsets = vec![0u32; node_count as usize + 1];
        let (mut dst, mut rel, mut weight) = (
            Vec::with_capacity(all.len()),
            Vec::with_capacity(all.len()),
            Vec::with_capacity(all.len()),
        );
        for i in 0..all.len() {
            let (s, d, r, w) = all[i];
            if all
                .get(i + 1)
                .is_some_and(|&(s2, d2, r2, _)| (s2, d2, r2) == (s, d, r))
            {
                continue;
            }
            offsets[s as usize + 1] += 1;
            dst.push(d);
            rel.push(r);
            weight.push(w);
        }
        drop(all);
        for i in 0..node_count as usize {
            offsets[i + 1] += offsets[i];
        }
        let generation = self.writer.manifest.generation + 1;
        let segment_bytes = encode_segment_columns(
            generation,
            version.lsn,
            node_count as usize,
            &offsets,
            &dst,
            &rel,
            &weight,
        );
        let edge_count = dst.len() as u64;
        // The columns live on in the segment's bytes: free them before the index build, the
        // import's peak.
        drop((offsets, dst, rel, weight));
        // Keys created through the WAL since the last checkpoint are folded in too.
        let names = self.db.inner.names.read();
        let mut new_nodes: Vec<(NodeId, &str)> = names
            .new_keys
            .iter()
            .enumerate()
            .map(|(i, k)| (names.new_keys_base + i as NodeId, k.as_str()))
            .collect();
        new_nodes.extend(self.nodes.created());
        let first_new_rel = self.writer.checkpointed_relations as usize;
        let mut new_relations: Vec<(RelId, &str)> = names
            .relations
            .iter()
            .enumerate()
            .skip(first_new_rel)
            .map(|(i, n)| (i as RelId, n.as_str()))
            .collect();
        new_relations.extend(self.relations.created());
        let storage_seconds = started.elapsed().as_secs_f64();
        // The walk index of the new graph, built on the same link order commits will use.
        let index_started = Instant::now();
        // The segment is read from the very bytes the switch will write (shared, not copied),
        // and only to build the link projection; both are gone before the walks are built.
        let shared = std::sync::Arc::new(segment_bytes);
        let segment = Segment::open("(import)", FileBytes::new(shared.clone()))?;
        let view = GraphView {
            segment: std::sync::Arc::new(segment),
            delta: Default::default(),
            node_count,
            undirected: self.db.inner.options.undirected,
        };
        let links = CsrGraph::from_adjacency(&view);
        drop(view);
        // The view held the only other reference; were one kept, the bytes are copied.
        let segment_bytes = std::sync::Arc::try_unwrap(shared).unwrap_or_else(|s| (*s).clone());
        let index = walks::build(&links, &self.db.inner.options, self.progress)?;
        drop(links);
        // The generation switch writes the file from the built index's own bytes (no encoded
        // copy beside it), then maps the file and serves that.
        let walk_bytes = EncodedWalks::Built(Box::new(index));
        let index_seconds = index_started.elapsed().as_secs_f64();
        let new = NewGeneration {
            segment_bytes,
            walk_bytes,
            lsn: version.lsn,
            node_count,
            edge_count,
            relation_count,
            new_nodes,
            new_relations,
        };
        let db = self.db;
        let result = db.switch_generation(&mut self.writer, generation, new);
        drop(names);
        let timings = result?;
        let mut names = db.inner.names.write();
        names.forget_checkpointed_keys(node_count);
        for (_, name) in self.relations.created() {
            names.add_relation(name);
        }
        Ok(ImportInfo {
            nodes: node_count,
            edges: edge_count,
            records,
            seconds: started.elapsed().as_secs_f64(),
            storage_seconds,
            index_seconds,
            write: timings,
        })
    }
}
