//! Bulk import: edges go straight into a new segment generation, not through the WAL.

use super::intern::Interner;
use crate::error::WriteError;
use std::time::Instant;

use parking_lot::MutexGuard;
use rayon::slice::ParallelSliceMut;

use super::checkpoint::{view_columns, write_walk_tmp, NewGeneration, SwitchTimings, WalkTmp};
use super::runs::{self, Record, RunFile};
use super::walks;
use super::{Database, Writer};
use crate::adjacency::encode_segment_columns;
use crate::adjacency::Segment;
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
    /// Of which: building and writing the walk index.
    pub index_seconds: f64,
    /// Walks in the new index.
    pub walks: u64,
    /// Sorted runs of edge records spilled to disk to stay within the memory budget (0 when
    /// the records fit), merged into the new segment.
    pub spilled_runs: u32,
    /// Sequential reads of the written walks the index build made to fill the per-node
    /// visit lists within the memory budget (see [`BulkLoader::set_memory_budget`]).
    pub index_visit_passes: u32,
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
    /// The records since the last spill (all of them if none).
    edges: Vec<(NodeId, NodeId, RelId, f64)>,
    /// Sorted runs spilled to disk when `edges` outgrew its share of the budget.
    runs: Vec<RunFile>,
    /// The run being sorted and written on a helper thread, with its file's name.
    spilling: Option<(String, Spill)>,
    /// The run file whose spill failed: its records are lost, so every later call fails.
    spill_failed: Option<String>,
    /// Records added, spilled ones included.
    records: u64,
    progress: &'db (dyn Fn(usize, usize) + Sync),
    memory_budget: usize,
}

/// The error of every call after the spill to `name` failed.
fn spill_lost(name: &str) -> crate::error::Error {
    crate::error::Error::io(
        format!("writing {name}"),
        std::io::Error::other("this spill failed earlier and its records are lost: import again"),
    )
}

/// A spill on its helper thread: the run's file and the record list, emptied (to reuse) when
/// the run was written.
type Spill = std::thread::JoinHandle<(std::io::Result<RunFile>, Vec<runs::Record>)>;

impl Drop for BulkLoader<'_> {
    fn drop(&mut self) {
        // An import dropped or failed: its scratch runs go (an open removes any left),
        // the one being written too once its thread is done.
        if let Some((_, spill)) = self.spilling.take() {
            if let Ok((Ok(run), _)) = spill.join() {
                self.runs.push(run);
            }
        }
        runs::remove(&*self.db.inner.backend, &self.runs);
    }
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
            runs: Vec::new(),
            spilling: None,
            spill_failed: None,
            records: 0,
            progress: &|_, _| {},
            memory_budget: default_memory_budget(),
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
        self.push((src, dst, rel, weight))
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
        self.push((src, dst, rel, weight))
    }

    /// Adds `edges` (src, rel, dst, weight) in order, exactly as [`BulkLoader::add_edge`]
    /// called on each in turn would (the same ids, the same checks in the same order), with
    /// the node keys looked up a batch at a time first: on a key table larger than the
    /// caches, a loop of independent lookups overlaps their cache misses, where lookups
    /// spread between parsing and checks wait on one miss after another. On an error, the
    /// edges before the failing one are added, and the error comes with its index.
    pub fn add_edges(
        &mut self,
        edges: &[(&str, &str, &str, f64)],
    ) -> Result<(), (usize, WriteError)> {
        const BATCH: usize = 256;
        let mut hashes = [0u64; 2 * BATCH];
        let mut found = [None; 2 * BATCH];
        for (b, batch) in edges.chunks(BATCH).enumerate() {
            for (i, &(src, _, dst, _)) in batch.iter().enumerate() {
                hashes[2 * i] = self.nodes.hash(src);
                hashes[2 * i + 1] = self.nodes.hash(dst);
            }
            for (i, &(src, _, dst, _)) in batch.iter().enumerate() {
                found[2 * i] = self.nodes.created_id(src, hashes[2 * i]);
                found[2 * i + 1] = self.nodes.created_id(dst, hashes[2 * i + 1]);
            }
            for (i, &(src, rel, dst, weight)) in batch.iter().enumerate() {
                let at = b * BATCH + i;
                let fail = |e: crate::error::Error| (at, WriteError::from(e));
                crate::graph::check_weight(weight).map_err(|e| (at, e.into()))?;
                // A key found above keeps its id; one not found (new, stored, or created by
                // an earlier edge of this batch) takes the one-by-one path.
                let src = match found[2 * i] {
                    Some(id) => id,
                    None => self.node(src).map_err(fail)?,
                };
                let dst = match found[2 * i + 1] {
                    Some(id) => id,
                    None => self.node(dst).map_err(fail)?,
                };
                let rel = self.relation(rel).map_err(fail)?;
                self.push((src, dst, rel, weight)).map_err(|e| (at, e))?;
            }
        }
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

    /// Bounds the heap of the import's two tables that grow with the edge list (default: an
    /// eighth of physical memory, at least 64 MiB). Edge records past a third of the budget
    /// are sorted and spilled to disk as runs (on a helper thread, whose sort takes another
    /// third, while the next run fills), merged into the segment at the end. The walk index
    /// is written to its file as it is built, and its per-node visit lists, the one table
    /// that needs a transpose, are filled one node range at a time: at most the budget plus
    /// the memory of the graph projection, which is freed first. A smaller budget costs more
    /// run files and more sequential reads of the written walks; the files are the same. Not
    /// bounded: the new segment's columns and encoding (gone before the walks are built) and
    /// the graph projection the walk build steps on.
    pub fn set_memory_budget(&mut self, bytes: usize) {
        self.memory_budget = bytes;
    }

    /// Edge records added so far.
    pub fn record_count(&self) -> u64 {
        self.records
    }

    /// Records an edge; past a third of the memory budget the list is sorted and spilled as
    /// a run.
    fn push(&mut self, record: Record) -> Result<(), WriteError> {
        if let Some(name) = &self.spill_failed {
            return Err(spill_lost(name).into());
        }
        self.edges.push(record);
        self.records += 1;
        // A third: while one run is sorted (its merge sort takes a buffer as long as the run)
        // and written, the next fills, and the three stay within the budget.
        let run_records = (self.memory_budget / 3 / std::mem::size_of::<Record>()).max(1024);
        if self.edges.len() >= run_records {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts and writes the records as a run. On a helper thread while the next run fills (at
    /// most one at a time): in line, interning stood still for the sort and the write (about
    /// 8 s of a 100M-edge import). In line on a rayon worker (waiting for the thread there
    /// could wait on a sort queued behind the waiting worker, in a one-thread pool) or when
    /// the system refuses the thread.
    fn spill(&mut self) -> Result<(), WriteError> {
        let spare = self.finish_spill()?.unwrap_or_default();
        let name = format!(
            "{}.run{}.tmp",
            crate::layout::segment_file(self.writer.manifest.generation + 1),
            self.runs.len()
        );
        let mut full = std::mem::replace(&mut self.edges, spare);
        if rayon::current_thread_index().is_none() {
            // The records reach the thread once it runs, so a refused thread leaves them here.
            let (hand_over, records) = std::sync::mpsc::channel::<Vec<Record>>();
            let backend = std::sync::Arc::clone(&self.db.inner.backend);
            let file = name.clone();
            let spawned = std::thread::Builder::new()
                .name("walkdb-spill".into())
                .spawn(move || match records.recv() {
                    Ok(mut run) => (runs::spill(&*backend, file, &mut run), run),
                    Err(_) => (Err(std::io::Error::other("no records arrived")), Vec::new()),
                });
            if let Ok(spill) = spawned {
                // The thread's receiver lives until it has received, so the send succeeds;
                // were it to fail, the records come back with the error and spill in line.
                match hand_over.send(full) {
                    Ok(()) => {
                        self.spilling = Some((name, spill));
                        return Ok(());
                    }
                    Err(std::sync::mpsc::SendError(back)) => full = back,
                }
            }
        }
        match runs::spill(&*self.db.inner.backend, name.clone(), &mut full) {
            Ok(run) => {
                self.runs.push(run);
                self.edges = full;
                Ok(())
            }
            Err(e) => Err(self.lose_spill(name, e)),
        }
    }

    /// Waits for the spill in flight, if any: its run joins the others, and its emptied record
    /// list comes back for reuse.
    fn finish_spill(&mut self) -> Result<Option<Vec<Record>>, WriteError> {
        let Some((name, spill)) = self.spilling.take() else {
            return Ok(None);
        };
        match spill.join() {
            Ok((Ok(run), spare)) => {
                self.runs.push(run);
                Ok(Some(spare))
            }
            Ok((Err(e), _)) => Err(self.lose_spill(name, e)),
            Err(_) => {
                let e = std::io::Error::other("the thread writing it panicked");
                Err(self.lose_spill(name, e))
            }
        }
    }

    /// The error of a failed spill, whose records are gone: later calls fail too, so the
    /// import cannot finish without them.
    fn lose_spill(&mut self, name: String, e: std::io::Error) -> WriteError {
        let error = crate::error::Error::io(format!("writing {name}"), e);
        self.spill_failed = Some(name);
        error.into()
    }

    /// Writes the new generation durably and publishes it.
    pub fn finish(mut self) -> Result<ImportInfo, WriteError> {
        let started = Instant::now();
        let records = self.records;
        let version = std::sync::Arc::clone(&self.db.inner.current.read());
        let node_count = self.nodes.next_id();
        let relation_count = self.relations.next_id();
        if let Some(name) = &self.spill_failed {
            return Err(spill_lost(name).into());
        }
        self.finish_spill()?;
        let spilled_runs = self.runs.len() as u32;
        let (offsets, dst, rel, weight) = if self.runs.is_empty() {
            self.sort_in_memory(&version, node_count as usize)
        } else {
            // An external merge: the spilled runs, the rest in memory, the existing edges.
            let mut last = std::mem::take(&mut self.edges);
            last.par_sort_by_key(|&(s, d, r, _)| (s, d, r));
            let view = &version.view;
            let existing = (0..view.node_count)
                .flat_map(move |u| view.out_edges(u).map(move |(d, r, w)| (u, d, r, w)));
            let backend = &*self.db.inner.backend;
            let columns = runs::merge(
                backend,
                Box::new(existing),
                version.edge_count as usize,
                &self.runs,
                last,
                node_count as usize,
            )
            .map_err(|e| crate::error::Error::io("reading the import's sorted runs", e))?;
            runs::remove(backend, &self.runs);
            self.runs.clear();
            columns
        };
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
        let db = self.db;
        let writer = &mut self.writer;
        let (budget, progress) = (self.memory_budget, self.progress);
        let catalog = &db.inner.catalog;
        let built = std::thread::scope(|scope| -> Result<_, WriteError> {
            // The new keys go into the catalog's transaction on a helper thread while the
            // index is built; the switch commits it once the files are in place.
            let staged = catalog.stage_checkpoint(scope, &new_nodes, &new_relations);
            // The walk index of the new graph, built on the same link order commits will use.
            let index_started = Instant::now();
            // The segment is read from the very bytes written to its file, only to build the
            // link projection; both are gone before the walks are built.
            let shared = std::sync::Arc::new(segment_bytes);
            let segment = Segment::open("(import)", FileBytes::new(shared.clone()))?;
            // The segment goes to its file while the projection is built from the same bytes
            // (a helper thread: at 100M edges, 3 s of copying into the page cache that stood
            // alone before), so its bytes are not held beside the walk build (the import's
            // peak); the switch renames it into place. In line if the thread is refused.
            let segment_name = crate::layout::segment_file(generation);
            let backend = &*db.inner.backend;
            let (name, bytes) = (segment_name.clone(), shared.clone());
            let writing = std::thread::Builder::new()
                .name("walkdb-segment".into())
                .spawn_scoped(scope, move || {
                    crate::backend::write_tmp(backend, &name, &bytes)
                });
            // The projection a fresh database's view (this segment, no delta) walks on.
            let links = segment.build_projection(db.inner.options.undirected);
            drop(segment);
            let written = match writing {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("the writing thread panicked"))),
                Err(_) => crate::backend::write_tmp(backend, &segment_name, &shared),
            };
            let segment_tmp = match written {
                Ok(tmp) => tmp,
                Err(e) => {
                    let e = crate::error::Error::io(format!("writing {segment_name}"), e);
                    return Err(writer.poison(e).into());
                }
            };
            drop(shared);
            // The index goes straight to its file (a temporary name the switch renames), in
            // bounded memory: nothing of it is held in the heap beside the graph, which goes
            // before the visit ids are filled, so their share of the memory is the budget
            // plus what the graph held: no more than the fill held before, when the graph
            // stayed beside a budget's worth of ids.
            let fill_budget = budget.saturating_add(links.heap_bytes());
            let (walk_tmp, summary) =
                match write_walk_file(db, Box::new(links), generation, fill_budget, progress) {
                    Ok(written) => written,
                    Err(e) => return Err(writer.poison(e).into()),
                };
            let index_seconds = index_started.elapsed().as_secs_f64();
            let new = NewGeneration {
                segment_tmp,
                walk_tmp,
                lsn: version.lsn,
                node_count,
                edge_count,
                relation_count,
                same_graph: false,
            };
            let timings = db.switch_generation(writer, generation, new, staged)?;
            Ok((index_seconds, summary, timings))
        });
        drop(names);
        let (index_seconds, summary, timings) = built?;
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
            walks: summary.walks,
            spilled_runs,
            index_visit_passes: summary.visit_passes,
            write: timings,
        })
    }

    /// The new segment's columns from the edges in memory and the existing ones: one stable
    /// sort, the last record of each key kept.
    fn sort_in_memory(&mut self, version: &super::Version, node_count: usize) -> runs::Columns {
        // Existing edges first, so that a stable sort followed by "last of each run wins"
        // gives imported weights precedence. Into a fresh database the loader's own list is
        // sorted in place (no copy).
        let mut all = Vec::new();
        if version.edge_count > 0 {
            all.reserve_exact(version.edge_count as usize + self.edges.len());
            let (offsets, dst, rel, weight) = view_columns(&version.view);
            for u in 0..version.view.node_count as usize {
                for p in offsets[u] as usize..offsets[u + 1] as usize {
                    all.push((u as NodeId, dst[p], rel[p], weight[p]));
                }
            }
        }
        if all.is_empty() {
            all = std::mem::take(&mut self.edges);
        } else {
            // Taken, not appended: `append` would leave the loader's capacity allocated.
            all.extend(std::mem::take(&mut self.edges));
        }
        all.par_sort_by_key(|&(s, d, r, _)| (s, d, r));
        let mut offsets = vec![0u32; node_count + 1];
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
        for i in 0..node_count {
            offsets[i + 1] += offsets[i];
        }
        (offsets, dst, rel, weight)
    }
}

/// Builds the walk index of `links` into the new generation's temporary walk file, synced;
/// the switch renames it into place. `links` is dropped before the visit ids are filled.
fn write_walk_file(
    db: &Database,
    links: Box<CsrGraph>,
    generation: u64,
    budget: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(WalkTmp, crate::walks::StreamSummary)> {
    let params = walks::params(&db.inner.options);
    write_walk_tmp(&*db.inner.backend, generation, |sink| {
        crate::walks::write_built(links, params, sink, budget, progress)
    })
}

/// The default [`BulkLoader::set_memory_budget`]: an eighth of physical memory (from
/// `/proc/meminfo`; 512 MiB where it cannot be read), at least 64 MiB.
fn default_memory_budget() -> usize {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib.saturating_mul(1024))
        })
        .unwrap_or(4 << 30);
    usize::try_from(total / 8)
        .unwrap_or(usize::MAX)
        .max(64 << 20)
}
