//! Read-only handles following a writer in another process: [`Database::refresh`].
//!
//! A read-only handle owns no file. It reads the manifest from the catalog (redb's
//! single-writer mode shows it the writer's newest catalog commit), maps the generation's
//! immutable segment and walk files, and reads the WAL into memory up to its last complete
//! commit. A refresh replays the WAL records appended since (the same replay recovery runs),
//! or, when a checkpoint switched the manifest, loads the new generation.

use crate::error::ReadError;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::projection::Changed;
use super::walks::WalkState;
use super::{load_following, replay, Database, Names, ScanMode, Staging};
use crate::catalog::Manifest;
use crate::error::Result;
use crate::graph::NodeId;
use crate::wal::read_wal_dir;

/// What one refresh changed, per commit: its LSN and the nodes whose links it changed.
type Steps = Vec<(u64, Arc<[NodeId]>)>;

impl Database {
    /// Brings a read-only handle up to the newest commit a writer in another process has
    /// appended, and returns its LSN. Snapshots taken before keep their version. On a writable
    /// handle every commit is visible already, and this returns the newest LSN.
    pub fn refresh(&self) -> Result<u64, ReadError> {
        let Some(follower) = &self.inner.follower else {
            return Ok(self.inner.current.read().lsn);
        };
        let mut follower = follower.lock();
        // A handle that opened while no writer was live reads a private copy of the catalog;
        // it switches to the shared file once a writer is back.
        self.inner.catalog.follow_writer(&self.inner.backend)?;
        // Drop the cached key tables: their read transaction pins a catalog commit, which
        // would keep the writer from reusing pages it freed for as long as this handle lives.
        self.inner.catalog.renew();
        let (_, manifest) = self.inner.catalog.options_and_manifest()?;
        if manifest == follower.manifest {
            if let Some(lsn) = self.follow_wal(&manifest)? {
                return Ok(lsn);
            }
        }
        // A checkpoint or import in the writer switched the generation: load it whole.
        let (manifest, loaded) = load_following(
            &self.inner.backend,
            &self.inner.catalog,
            manifest,
            &self.inner.options,
        )?;
        // Key lookups from here on read a catalog commit at least as new as the generation
        // loaded (renewed after the load: a lookup during it may have cached an older one).
        self.inner.catalog.renew();
        *self.inner.names.write() =
            Names::loaded(manifest.node_count, loaded.new_keys, loaded.relations);
        let walks = WalkState::new(loaded.index, &manifest.walks);
        let mut version =
            loaded
                .staging
                .into_version(&loaded.segment, self.inner.options.undirected, walks);
        // Not a successor of the version before: the projection cache starts over.
        version.changed = Changed::Unknown;
        let lsn = version.lsn;
        self.publish(version);
        follower.manifest = manifest;
        Ok(lsn)
    }

    /// Replays the commits appended to the WAL of `manifest`'s generation since the newest
    /// version; `None` when that WAL is gone (a checkpoint deleted it).
    fn follow_wal(&self, manifest: &Manifest) -> Result<Option<u64>> {
        let current = Arc::clone(&self.inner.current.read());
        let scan = read_wal_dir(&self.inner.backend, current.lsn, ScanMode::Follow);
        // The writer commits a new manifest (checkpoint or import) before it changes the WAL
        // for it: a manifest unchanged after the scan means the scan read this generation's
        // WAL, and a changed one discards the scan, whatever it found (an import keeps the
        // LSN, so records after it would otherwise replay onto the graph before it).
        let (_, now) = self.inner.catalog.options_and_manifest()?;
        if now != *manifest {
            return Ok(None);
        }
        let scan = scan?;
        let continues = scan
            .files
            .first()
            .is_some_and(|(_, first)| *first <= current.lsn + 1);
        if !continues {
            return Ok(None);
        }
        if scan.txns.is_empty() {
            return Ok(Some(current.lsn));
        }
        let mut staging = Staging::from_version(&current);
        let mut index = (*current.walks.index).clone();
        let (mut new_keys, mut relations) = {
            let names = self.inner.names.read();
            (Vec::new(), names.relations.clone())
        };
        let known_relations = relations.len();
        let mut steps: Steps = Vec::new();
        replay(
            &mut staging,
            &mut index,
            &manifest.walks,
            &scan.txns,
            &mut new_keys,
            &mut relations,
            &mut |lsn, touched: &BTreeSet<NodeId>| {
                steps.push((lsn, touched.iter().copied().collect()));
            },
        )?;
        {
            // Names first: a reader that sees the new version must be able to resolve them.
            let mut names = self.inner.names.write();
            for key in new_keys {
                let id = names.new_keys_base + names.new_keys.len() as NodeId;
                names.new_key_ids.insert(key.clone(), id);
                names.new_keys.push(key);
            }
            for name in &relations[known_relations..] {
                names.add_relation(name);
            }
        }
        let segment = Arc::clone(&staging.segment);
        let walks = WalkState {
            index: Arc::new(index),
            file: Arc::clone(&current.walks.file),
        };
        let mut version = staging.into_version(&segment, self.inner.options.undirected, walks);
        let lsn = version.lsn;
        // One projection-cache step per commit, so the first query on the new version patches
        // the newest projection instead of rebuilding it.
        let last = steps.pop();
        self.remember_changes(steps);
        version.changed = last.map_or(Changed::Unknown, |(_, nodes)| Changed::Nodes(nodes));
        self.publish(version);
        Ok(Some(lsn))
    }

    /// Records commits' changed nodes in the projection cache, in LSN order.
    fn remember_changes(&self, steps: Steps) {
        let mut cache = self.inner.projections.cache.lock();
        for (lsn, nodes) in steps {
            cache.remember(lsn, nodes);
        }
    }
}
