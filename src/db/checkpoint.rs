//! Checkpoints: fold the delta into a new segment generation, switch the manifest, trim the
//! WAL. Bulk import reuses the same generation switch.
//!
//! Protocol (format-spec/protocol.md): 1. write the new segment as `adj/<gen>.seg.tmp`, fsync,
//! rename, fsync the directory; 2. in one redb transaction add the new keys and relations and
//! point the manifest at the new generation and checkpoint LSN; 3. start a new WAL file at
//! LSN + 1 and delete the older ones; 4. publish; 5. delete the old generation once no reader
//! maps it. A crash before 2 leaves the old manifest, whose files are intact (the new file is
//! removed as stray on open); a crash after 2 replays nothing twice, because WAL records at or
//! below the checkpoint LSN are skipped.

use crate::error::CheckpointError;
use std::sync::Arc;
use std::time::Instant;

use super::walks::{walk_error, WalkState};
use super::{Database, Version, Writer, WALK_DIR};
use crate::adjacency::{encode_segment_columns, GraphView, Segment, SEGMENT_DIR};
use crate::backend::write_tmp;
use crate::catalog::{Manifest, StagedCheckpoint};
use crate::error::{Error, Result};
use crate::graph::{NodeId, RelId};
use crate::wal::{WalWriter, WAL_DIR};

/// What a checkpoint did.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointInfo {
    /// The new segment generation (unchanged when there was nothing to fold).
    pub generation: u64,
    /// The LSN the checkpoint covers.
    pub lsn: u64,
    /// Size of the new segment file.
    pub segment_bytes: u64,
    /// False when nothing had changed since the last checkpoint.
    pub wrote: bool,
    /// Seconds the checkpoint took.
    pub seconds: f64,
}

/// Where a generation switch spent its time, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SwitchTimings {
    /// Writing and syncing the walk-index file.
    pub walk_file: f64,
    /// Writing and syncing the segment file.
    pub segment_file: f64,
    /// The catalog commit at the switch: the manifest and the commit, plus any wait for the
    /// key and relation inserts staged while the files were written
    /// (`Catalog::stage_checkpoint`).
    pub catalog: f64,
}

/// A new generation's walk-index file, written and synced under its temporary name (by
/// [`write_walk_tmp`]); the switch renames it into place.
pub(crate) struct WalkTmp(String);

/// Writes generation `generation`'s walk-index file under its temporary name through `write`
/// (the streaming writers of `walks::stream`: nothing of the file is held in memory), synced.
pub(crate) fn write_walk_tmp<T>(
    backend: &dyn crate::backend::StorageBackend,
    generation: u64,
    write: impl FnOnce(&dyn crate::walks::IndexSink) -> Result<T, crate::walks::WalkIndexError>,
) -> Result<(WalkTmp, T)> {
    let tmp = format!("{}.tmp", crate::layout::walk_file(generation));
    let io = |e| Error::io(format!("writing {tmp}"), e);
    let file = backend.open(&tmp, true).map_err(io)?;
    file.set_len(0).map_err(io)?;
    let made = crate::backend::with_eager_sync(&*file, crate::backend::EAGER_SYNC_BYTES, |eager| {
        write(&BackendSink(eager))
    })
    .map_err(io)?
    .map_err(|e| walk_error(&tmp, e))?;
    file.sync_data().map_err(io)?;
    Ok((WalkTmp(tmp), made))
}

/// The storage backend's file as the streaming index writers' sink.
struct BackendSink<'a>(&'a crate::backend::EagerSync<'a>);

impl crate::walks::IndexSink for BackendSink<'_> {
    fn write_at(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        // Large writes in chunks, so an injected failure can land mid-write.
        for (i, chunk) in data.chunks(8 << 20).enumerate() {
            self.0.write_at(offset + (i as u64) * (8 << 20), chunk)?;
        }
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.file().read_at(offset, buf)
    }
}

/// A new generation to switch to.
pub(crate) struct NewGeneration {
    /// The segment file, written and synced under its temporary name (`write_tmp`).
    pub(crate) segment_tmp: String,
    pub(crate) walk_tmp: WalkTmp,
    pub(crate) lsn: u64,
    pub(crate) node_count: u32,
    pub(crate) edge_count: u64,
    pub(crate) relation_count: u32,
    /// True for a checkpoint: the generation holds the current version's graph, at its LSN
    /// (an import's holds a new graph under the same LSN).
    pub(crate) same_graph: bool,
}

/// Out-CSR columns of a view: offsets, dst, rel, weight.
pub(crate) fn view_columns(view: &GraphView) -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<f64>) {
    let n = view.node_count as usize;
    let m_hint = view.segment.edge_count() as usize;
    let mut offsets = Vec::with_capacity(n + 1);
    let (mut dst, mut rel, mut weight) = (
        Vec::with_capacity(m_hint),
        Vec::with_capacity(m_hint),
        Vec::with_capacity(m_hint),
    );
    offsets.push(0u32);
    for u in 0..n as NodeId {
        for (d, r, w) in view.out_edges(u) {
            dst.push(d);
            rel.push(r);
            weight.push(w);
        }
        offsets.push(dst.len() as u32);
    }
    (offsets, dst, rel, weight)
}

impl Database {
    /// Folds the WAL into a new segment generation and trims the WAL.
    pub fn checkpoint(&self) -> Result<CheckpointInfo, CheckpointError> {
        self.checkpoint_impl(false).map_err(Into::into)
    }

    /// Checkpoints even when nothing changed (after the walk index was rebuilt).
    pub(crate) fn checkpoint_forced(&self) -> Result<CheckpointInfo> {
        self.checkpoint_impl(true)
    }

    fn checkpoint_impl(&self, force: bool) -> Result<CheckpointInfo> {
        let started = Instant::now();
        let mut writer = self.inner.writer("a checkpoint")?;
        writer.check_poisoned()?;
        let version = Arc::clone(&self.inner.current.read());
        if !force
            && version.lsn == writer.manifest.checkpoint_lsn
            && version.view.delta.is_empty()
            && writer.manifest.generation > 0
        {
            return Ok(CheckpointInfo {
                generation: writer.manifest.generation,
                lsn: version.lsn,
                segment_bytes: version.view.segment.file_len(),
                wrote: false,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        let generation = writer.manifest.generation + 1;
        let (offsets, dst, rel, weight) = view_columns(&version.view);
        let segment_bytes = encode_segment_columns(
            generation,
            version.lsn,
            version.view.node_count as usize,
            &offsets,
            &dst,
            &rel,
            &weight,
        );
        let names = self.inner.names.read();
        let new_nodes: Vec<(NodeId, &str)> = names
            .new_keys
            .iter()
            .enumerate()
            .map(|(i, k)| (names.new_keys_base + i as NodeId, k.as_str()))
            .collect();
        let first_new_rel = writer.checkpointed_relations as usize;
        let new_relations: Vec<(RelId, &str)> = names
            .relations
            .iter()
            .enumerate()
            .skip(first_new_rel)
            .take(
                version.relation_count as usize
                    - first_new_rel.min(version.relation_count as usize),
            )
            .map(|(i, n)| (i as RelId, n.as_str()))
            .collect();
        let segment_len = segment_bytes.len() as u64;
        let segment_name = crate::layout::segment_file(generation);
        let catalog = &self.inner.catalog;
        let result = std::thread::scope(|scope| {
            // The new keys go into the catalog's transaction while the files are written.
            let staged = catalog.stage_checkpoint(scope, &new_nodes, &new_relations);
            let segment_tmp = match write_tmp(&*self.inner.backend, &segment_name, &segment_bytes) {
                Ok(tmp) => tmp,
                Err(e) => {
                    return Err(writer.poison(Error::io(format!("writing {segment_name}"), e)))
                }
            };
            drop(segment_bytes);
            // The index goes to its file section by section (no encoded copy in memory); a
            // failed write poisons the writer as a failed file write of the switch does.
            let walk_tmp = match write_walk_tmp(&*self.inner.backend, generation, |sink| {
                crate::walks::write_index(&writer.walks, sink)
            }) {
                Ok((tmp, _)) => tmp,
                Err(e) => return Err(writer.poison(e)),
            };
            let new = NewGeneration {
                segment_tmp,
                walk_tmp,
                lsn: version.lsn,
                node_count: version.view.node_count,
                edge_count: version.edge_count,
                relation_count: version.relation_count,
                same_graph: true,
            };
            // The names lock is held across the switch so no commit can add keys in between
            // (the writer lock already excludes commits; this keeps the borrow of `names`
            // simple).
            self.switch_generation(&mut writer, generation, new, staged)
        });
        drop(names);
        result?;
        self.inner
            .names
            .write()
            .forget_checkpointed_keys(version.view.node_count);
        Ok(CheckpointInfo {
            generation,
            lsn: version.lsn,
            segment_bytes: segment_len,
            wrote: true,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Writes a generation's files, switches the manifest, rotates the WAL and publishes.
    pub(crate) fn switch_generation(
        &self,
        writer: &mut Writer,
        generation: u64,
        new: NewGeneration,
        catalog: StagedCheckpoint<'_>,
    ) -> Result<SwitchTimings> {
        let mut timings = SwitchTimings::default();
        let started = Instant::now();
        let backend = &*self.inner.backend;
        let name = crate::layout::segment_file(generation);
        let walk_name = crate::layout::walk_file(generation);
        let written = backend
            .rename(&new.walk_tmp.0, &walk_name)
            .and_then(|()| backend.sync_dir(WALK_DIR));
        if let Err(e) = written {
            return Err(writer.poison(Error::io(format!("writing {walk_name}"), e)));
        }
        timings.walk_file = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let written = backend
            .rename(&new.segment_tmp, &name)
            .and_then(|()| backend.sync_dir(SEGMENT_DIR));
        if let Err(e) = written {
            return Err(writer.poison(Error::io(format!("writing {name}"), e)));
        }
        timings.segment_file = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let manifest = Manifest {
            generation,
            checkpoint_lsn: new.lsn,
            node_count: new.node_count,
            relation_count: new.relation_count,
            edge_count: new.edge_count,
            segment: name.clone(),
            walks: walk_name.clone(),
        };
        if let Err(e) = catalog.commit(&manifest) {
            return Err(writer.poison(e));
        }
        timings.catalog = started.elapsed().as_secs_f64();
        // The manifest names the new generation: every failure from here on leaves the
        // writer's state (WAL file, index, published version) behind the files, so it poisons
        // the writer; the next open recovers from the files.
        if let Err(e) = self.after_switch(writer, manifest, &new, &name, &walk_name) {
            return Err(writer.poison(e));
        }
        Ok(timings)
    }

    /// The steps of a generation switch after its manifest commit: new WAL file, old ones
    /// deleted, the new files mapped and published, the old ones retired.
    fn after_switch(
        &self,
        writer: &mut Writer,
        manifest: Manifest,
        new: &NewGeneration,
        name: &str,
        walk_name: &str,
    ) -> Result<()> {
        let backend = &*self.inner.backend;
        let generation = manifest.generation;
        let old_manifest = std::mem::replace(&mut writer.manifest, manifest);
        // Everything up to the checkpoint LSN is now in a synced generation.
        self.inner.group.mark_durable(new.lsn);
        writer.checkpointed_relations = new.relation_count;
        // A WAL file that already starts at the next LSN holds no records yet: keep it rather
        // than rewrite a durable file in place.
        if writer.wal.first_lsn() != new.lsn + 1 {
            match WalWriter::create(backend, new.lsn + 1) {
                Ok(wal) => writer.wal = wal,
                Err(e) => return Err(Error::io("starting a new WAL file", e)),
            }
        }
        let keep = writer.wal.file_name().to_string();
        let stale: Vec<String> = backend
            .list(WAL_DIR)
            .map_err(|e| Error::io("listing wal/", e))?
            .into_iter()
            .map(|n| format!("{WAL_DIR}/{n}"))
            .filter(|n| *n != keep)
            .collect();
        for file in &stale {
            if let Err(e) = backend.remove(file) {
                return Err(Error::io(format!("removing {file}"), e));
            }
        }
        if let Err(e) = backend.sync_dir(WAL_DIR) {
            return Err(Error::io("syncing wal/", e));
        }
        let bytes = backend
            .map(name)
            .map_err(|e| Error::io(format!("mapping {name}"), e))?;
        let segment = Arc::new(Segment::open(name, bytes)?);
        // The new walk file replaces the writer's index (base plus overlay) by its map: same
        // logical content, an empty overlay, and no heap copy.
        let walk_map = backend
            .map(walk_name)
            .map_err(|e| Error::io(format!("mapping {walk_name}"), e))?;
        let walks =
            super::walks::open_file(walk_name, walk_map, &self.inner.options, new.node_count)?;
        writer.walks = walks.clone();
        let old = Arc::clone(&self.inner.current.read().view.segment);
        self.publish(Version {
            lsn: new.lsn,
            generation,
            checkpoint_lsn: new.lsn,
            view: GraphView {
                segment,
                delta: Default::default(),
                node_count: new.node_count,
                undirected: self.inner.options.undirected,
            },
            edge_count: new.edge_count,
            relation_count: new.relation_count,
            walks: WalkState::new(walks, walk_name),
            projection: Default::default(),
            recycle_to: None,
            changed: if new.same_graph {
                super::projection::Changed::SameGraph
            } else {
                super::projection::Changed::Unknown
            },
            epoch: 0,
        });
        // The old walk file can go at once: older versions that still serve it keep reading
        // through their map (an unlinked file stays readable while mapped; the simulated
        // backend's maps are copies). A failed delete leaves a stray file that the next open
        // removes.
        if !old_manifest.walks.is_empty() {
            let _ = backend.remove(&old_manifest.walks);
        }
        if !old_manifest.segment.is_empty() {
            // Deleted when the last snapshot that maps it lets go (a failed delete leaves a
            // stray file that the next open removes).
            let backend = Arc::clone(&self.inner.backend);
            let name = old_manifest.segment;
            old.on_last_drop(Box::new(move || {
                let _ = backend.remove(&name);
            }));
        }
        Ok(())
    }
}

/// Encodes the writer's walk index (current at the newest version: the writer lock is held).
impl super::Names {
    /// After a checkpoint wrote the keys below `node_count` to the catalog.
    pub(crate) fn forget_checkpointed_keys(&mut self, node_count: NodeId) {
        let keep_from = (node_count - self.new_keys_base) as usize;
        let rest: Vec<String> = self.new_keys.drain(..).skip(keep_from).collect();
        self.new_keys_base = node_count;
        self.new_key_ids = rest
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), node_count + i as NodeId))
            .collect();
        self.new_keys = rest;
    }
}
