//! The database: builder, open and recovery, the published version readers snapshot, and the
//! single writer's state.
//!
//! Concurrency: one writer at a time holds [`Inner::writer`]; readers clone the current
//! `Arc<Version>` under a read lock held only for that clone, so a reader never waits for a
//! writer longer than the pointer swap that publishes a commit.

mod checkpoint;
mod follow;
mod group;
mod import;
mod intern;
mod projection;
mod query;
mod runs;
mod snapshot;
mod staging;
mod stats;
mod txn;
mod verify;
mod walks;

use crate::error::{CloseError, OpenError, ReadError, WriteError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::adjacency::{GraphView, Segment, SEGMENT_DIR};
use crate::backend::{FsBackend, StorageBackend};
use crate::catalog::{Catalog, Manifest, Options, CATALOG_FILE};
use crate::error::{Error, InputError, Result};
use crate::graph::{Adjacency, CsrGraph, NodeId, RelId};
pub(crate) use crate::wal::ScanMode;
use crate::wal::{read_wal_dir, WalWriter, WAL_DIR};
use crate::walks::WalkIndex;
use projection::{Changed, Projections};

pub use checkpoint::{CheckpointInfo, SwitchTimings};
pub use import::{BulkLoader, ImportInfo};
pub use query::{PprAnswer, PprRequest};
pub use snapshot::{Edges, Neighbor, Snapshot};
pub use stats::Stats;
pub use txn::{CommitInfo, WriteTxn};
pub use verify::VerifyReport;
pub(crate) use walks::inspect_walk_file;
pub use walks::IndexInfo;
use walks::WalkState;

pub(crate) use staging::Staging;

pub(crate) use crate::layout::WALK_DIR;

pub use crate::graph::MAX_KEY_LEN;

/// When a commit becomes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `commit` returns after the WAL is fdatasync'ed: survives power loss.
    #[default]
    Immediate,
    /// Group commit: `commit` returns once the WAL is fdatasync'ed, like `Immediate`, but
    /// commits that wait at the same time share one sync. The transaction is visible to
    /// readers from its append, before it is durable (a crash in that window loses it, and
    /// its `commit` never returned). Pays off with several threads committing.
    Group,
    /// `commit` returns after the WAL write: survives a process crash, not power loss, until
    /// the next [`Database::sync`], checkpoint or immediate commit.
    None,
}

/// Default restart probability of the stored walks (HippoRAG's damping 0.5).
pub const DEFAULT_ALPHA: f64 = 0.5;
/// Default walk-index density: stored walks per walkable link of a node.
///
/// `Method::Index` draws walks once its push threshold per link is the walks per link times
/// the share one walk carries (so that, after a finished push, no node needs more walks than
/// it stores), so more walks per link let it stop pushing earlier, at a cost in size (WordNet,
/// undirected, alpha 0.15: 136 B/edge at 1 walk per link in format 2) and in repair work on
/// every insert; the certified push, `Auto`'s method, reads no walks at all.
pub const DEFAULT_WALKS_PER_NODE: f64 = 1.0;
/// Default WAL size after which a commit checkpoints: 64 MiB.
pub const DEFAULT_AUTO_CHECKPOINT_BYTES: u64 = 64 << 20;

/// Configures and opens or creates a database.
///
/// The graph options (`undirected`, `alpha`, `walks_per_node`) are fixed when a database is
/// created: `open` refuses any that is set and differs from the stored one, and leaving them
/// unset opens the database with whatever it holds.
#[derive(Debug, Clone)]
pub struct DatabaseBuilder {
    path: PathBuf,
    backend: Option<Arc<dyn StorageBackend>>,
    undirected: Option<bool>,
    alpha: Option<f64>,
    walks_per_node: Option<f64>,
    durability: Durability,
    auto_checkpoint: Option<u64>,
}

impl DatabaseBuilder {
    /// Checkpoint automatically once the WAL holds more than `bytes` since the last
    /// checkpoint, or the live part of the walk index's overlay (the walks and lists repairs
    /// changed since the last checkpoint, held on the heap) outgrows both `bytes` and the walk
    /// file it overlays
    /// (the commit that crosses either runs the checkpoint after it is durable), or never with
    /// `None`. Default [`DEFAULT_AUTO_CHECKPOINT_BYTES`]: a service that streams
    /// facts for months keeps a bounded WAL, delta and recovery time without calling
    /// [`Database::checkpoint`] itself.
    pub fn auto_checkpoint(mut self, bytes: Option<u64>) -> Self {
        self.auto_checkpoint = bytes;
        self
    }

    /// Graph mode of a new database: every edge walkable both ways (default directed).
    pub fn undirected(mut self, undirected: bool) -> Self {
        self.undirected = Some(undirected);
        self
    }

    /// Restart probability of a new database's stored walks, in (0, 1) (default
    /// [`DEFAULT_ALPHA`]).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = Some(alpha);
        self
    }

    /// Walk-index density of a new database, > 0 (default [`DEFAULT_WALKS_PER_NODE`]).
    pub fn walks_per_node(mut self, walks: f64) -> Self {
        self.walks_per_node = Some(walks);
        self
    }

    /// The options a new database gets: those set, defaults for the rest.
    fn new_options(&self) -> Options {
        Options {
            undirected: self.undirected.unwrap_or(false),
            alpha: self.alpha.unwrap_or(DEFAULT_ALPHA),
            walks_per_node: self.walks_per_node.unwrap_or(DEFAULT_WALKS_PER_NODE),
        }
    }

    /// Refuses options that were set and differ from the stored ones.
    fn check_stored(&self, stored: &Options) -> Result<()> {
        let mismatch = |option: &'static str, stored: String, requested: String| {
            Err(InputError::OptionMismatch {
                option,
                stored,
                requested,
            }
            .into())
        };
        if let Some(undirected) = self.undirected.filter(|&u| u != stored.undirected) {
            return mismatch(
                "undirected",
                stored.undirected.to_string(),
                undirected.to_string(),
            );
        }
        // Bit equality: the stored value is the f64 given at creation.
        if let Some(alpha) = self.alpha.filter(|a| a.to_bits() != stored.alpha.to_bits()) {
            return mismatch("alpha", stored.alpha.to_string(), alpha.to_string());
        }
        if let Some(walks) = self
            .walks_per_node
            .filter(|w| w.to_bits() != stored.walks_per_node.to_bits())
        {
            return mismatch(
                "walks_per_node",
                stored.walks_per_node.to_string(),
                walks.to_string(),
            );
        }
        Ok(())
    }

    /// Fails with `NotADatabase` unless the directory holds a catalog.
    fn require_database(&self, backend: &Arc<dyn StorageBackend>) -> Result<()> {
        if backend
            .exists(CATALOG_FILE)
            .map_err(|e| Error::io("checking for a catalog", e))?
        {
            Ok(())
        } else {
            Err(InputError::NotADatabase {
                path: self.path.display().to_string(),
            }
            .into())
        }
    }

    /// When commits become durable.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Stores the database through `backend` instead of the file system (tests use
    /// `backend::SimBackend` (feature `testing`) to simulate crashes).
    pub fn backend(mut self, backend: Arc<dyn StorageBackend>) -> Self {
        self.backend = Some(backend);
        self
    }

    fn backend_for(&self, create_dir: bool) -> Result<Arc<dyn StorageBackend>> {
        if let Some(backend) = &self.backend {
            return Ok(Arc::clone(backend));
        }
        let backend = if create_dir {
            FsBackend::create(&self.path)
                .map_err(|e| Error::io(format!("creating {}", self.path.display()), e))?
        } else {
            FsBackend::existing(&self.path).ok_or_else(|| InputError::NotADatabase {
                path: self.path.display().to_string(),
            })?
        };
        Ok(Arc::new(backend))
    }

    /// Creates a new, empty database; fails if one exists there.
    pub fn create(self) -> Result<Database, OpenError> {
        let options = &self.new_options();
        if !(options.alpha > 0.0 && options.alpha < 1.0) {
            return Err(InputError::InvalidOption {
                reason: format!("alpha {} is not in (0, 1)", options.alpha),
            }
            .into());
        }
        if !(options.walks_per_node.is_finite() && options.walks_per_node > 0.0) {
            return Err(InputError::InvalidOption {
                reason: format!("walks per node {} is not > 0", options.walks_per_node),
            }
            .into());
        }
        let backend = self.backend_for(true)?;
        lock(&backend, &self.path)?;
        if backend
            .exists(CATALOG_FILE)
            .map_err(|e| Error::io("checking for a catalog", e))?
        {
            return Err(InputError::AlreadyExists {
                path: self.path.display().to_string(),
            }
            .into());
        }
        let io = |what: &str| {
            let what = what.to_string();
            move |e| Error::io(what, e)
        };
        for dir in [WAL_DIR, SEGMENT_DIR, WALK_DIR] {
            backend
                .create_dir(dir)
                .map_err(io("creating directories"))?;
        }
        backend
            .sync_dir("")
            .map_err(io("syncing the database directory"))?;
        // The catalog is written last: its existence is what makes the directory a database.
        let wal = WalWriter::create(&*backend, 1).map_err(io("creating the first WAL file"))?;
        let manifest = Manifest {
            generation: 0,
            checkpoint_lsn: 0,
            node_count: 0,
            relation_count: 0,
            edge_count: 0,
            segment: String::new(),
            walks: String::new(),
        };
        let catalog = Catalog::create(&backend, options, &manifest)?;
        let index = walks::build(&CsrGraph::default(), options, &|_, _| {})?;
        let loaded = Loaded {
            segment: Arc::new(Segment::empty()),
            staging: Staging::new_empty(),
            index,
            new_keys: Vec::new(),
            relations: Vec::new(),
            resume: None,
        };
        let options = options.clone();
        Ok(Database::assemble(
            self,
            options,
            backend,
            catalog,
            manifest,
            loaded,
            Some(wal),
        ))
    }

    /// Opens an existing database, replaying the WAL after its last checkpoint.
    pub fn open(self) -> Result<Database, OpenError> {
        let backend = self.backend_for(false)?;
        self.require_database(&backend)?;
        lock(&backend, &self.path)?;
        let (catalog, options, manifest) = Catalog::open(&backend)?;
        self.check_stored(&options)?;
        let loaded = load(&backend, &catalog, &manifest, &options, ScanMode::Recover)?;
        let next_lsn = loaded.staging.lsn + 1;
        let wal = match &loaded.resume {
            Some((name, len, first)) => WalWriter::resume(&*backend, name, *len, *first, next_lsn),
            None => WalWriter::create(&*backend, next_lsn),
        }
        .map_err(|e| Error::io("preparing the WAL for appends", e))?;
        Ok(Database::assemble(
            self,
            options,
            backend,
            catalog,
            manifest,
            loaded,
            Some(wal),
        ))
    }

    /// Opens an existing database read-only, also while another process has it open for
    /// writing: the handle sees every commit that process acknowledged before this call, and
    /// later ones after [`Database::refresh`]. It never writes a byte: no lock file, no
    /// recovery (the WAL is read up to its last complete commit), no clean-up; writes fail
    /// with [`Error::ReadOnly`].
    pub fn open_read_only(self) -> Result<Database, OpenError> {
        let backend = self.backend_for(false)?;
        self.require_database(&backend)?;
        let (catalog, options, manifest) = Catalog::open_read_only(&backend)?;
        self.check_stored(&options)?;
        let (manifest, loaded) = load_following(&backend, &catalog, manifest, &options)?;
        Ok(Database::assemble(
            self, options, backend, catalog, manifest, loaded, None,
        ))
    }

    /// Opens the database, creating it first if the directory holds none.
    pub fn open_or_create(self) -> Result<Database, OpenError> {
        let exists = match &self.backend {
            Some(b) => b.exists(CATALOG_FILE),
            None => FsBackend::new(&self.path).exists(CATALOG_FILE),
        }
        .map_err(|e| Error::io("checking for a catalog", e))?;
        if exists {
            self.open()
        } else {
            self.create()
        }
    }
}

/// The error for a file the manifest names that cannot be mapped: missing is damage (the
/// manifest switches only after its files are durable), anything else an I/O error.
pub(crate) fn map_error(name: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::corrupt(
            name,
            0,
            "the manifest names this file, but it does not exist",
        )
    } else {
        Error::io(format!("mapping {name}"), e)
    }
}

/// The state a handle opens with: the checkpointed files a manifest names plus the WAL after
/// them.
pub(crate) struct Loaded {
    pub(crate) segment: Arc<Segment>,
    pub(crate) staging: Staging,
    pub(crate) index: WalkIndex,
    /// Keys of the nodes created after the checkpoint, in id order.
    pub(crate) new_keys: Vec<String>,
    /// Every relation name, in id order.
    pub(crate) relations: Vec<String>,
    /// Where the writer resumes appending (see `WalScan::resume`).
    pub(crate) resume: Option<(String, u64, u64)>,
}

/// Maps the generation `manifest` names and replays the WAL after its checkpoint.
pub(crate) fn load(
    backend: &Arc<dyn StorageBackend>,
    catalog: &Catalog,
    manifest: &Manifest,
    options: &Options,
    mode: ScanMode,
) -> Result<Loaded> {
    let segment = if manifest.segment.is_empty() {
        Arc::new(Segment::empty())
    } else {
        let bytes = backend
            .map(&manifest.segment)
            .map_err(|e| map_error(&manifest.segment, e))?;
        Arc::new(Segment::open(&manifest.segment, bytes)?)
    };
    if (segment.node_count() != manifest.node_count || segment.edge_count() != manifest.edge_count)
        && !manifest.segment.is_empty()
    {
        // Replay counts edges from the manifest's number: a mismatch would make it wrong
        // (or underflow on deletes).
        return Err(Error::corrupt(
            &manifest.segment,
            32,
            format!(
                "segment holds {} nodes and {} edges, the manifest says {} and {}",
                segment.node_count(),
                segment.edge_count(),
                manifest.node_count,
                manifest.edge_count
            ),
        ));
    }
    if mode == ScanMode::Recover {
        remove_stray_files(backend, manifest)?;
    }
    let scan = read_wal_dir(backend, manifest.checkpoint_lsn, mode)?;
    if scan.files.is_empty() {
        // Creation and checkpoints make a new WAL file durable before deleting older ones,
        // so a database always has one: without it, commits after the checkpoint are gone.
        return Err(Error::corrupt(
            WAL_DIR,
            0,
            format!(
                "no WAL file: the log after checkpoint LSN {} is missing",
                manifest.checkpoint_lsn
            ),
        ));
    }
    if let Some((first, first_lsn)) = scan.files.first() {
        if *first_lsn > manifest.checkpoint_lsn + 1 {
            return Err(Error::corrupt(
                first,
                16,
                format!(
                    "WAL starts at LSN {first_lsn}; records after checkpoint LSN {} are missing",
                    manifest.checkpoint_lsn
                ),
            ));
        }
    }
    if !scan.txns.is_empty() {
        // Replay copies segment lists into the delta: they must be checked first.
        segment.check()?;
        segment.link_projection(options.undirected);
    }
    let mut staging = Staging::new(
        Arc::clone(&segment),
        manifest.node_count,
        manifest.edge_count,
        manifest.relation_count,
        options.undirected,
    );
    staging.generation = manifest.generation;
    staging.checkpoint_lsn = manifest.checkpoint_lsn;
    let mut index = if manifest.walks.is_empty() {
        // Generation 0 has no walk file: its index is that of the empty graph.
        walks::build(&CsrGraph::default(), options, &|_, _| {})?
    } else {
        // Served from the map: only the header and block checksums are read here.
        let bytes = backend
            .map(&manifest.walks)
            .map_err(|e| map_error(&manifest.walks, e))?;
        walks::open_file(&manifest.walks, bytes, options, manifest.node_count)?
    };
    let mut new_keys = Vec::new();
    // A read-only handle's catalog may already hold a later checkpoint's relations.
    let mut relations = catalog.relations()?;
    if relations.len() < manifest.relation_count as usize {
        return Err(Error::corrupt(
            CATALOG_FILE,
            0,
            format!(
                "{} relation names, the manifest says {}",
                relations.len(),
                manifest.relation_count
            ),
        ));
    }
    relations.truncate(manifest.relation_count as usize);
    replay(
        &mut staging,
        &mut index,
        &manifest.walks,
        &scan.txns,
        &mut new_keys,
        &mut relations,
        &mut |_, _| {},
    )?;
    staging.lsn = scan.last_lsn.max(manifest.checkpoint_lsn);
    Ok(Loaded {
        segment,
        staging,
        index,
        new_keys,
        relations,
        resume: scan.resume,
    })
}

/// Replays recovered transactions into a staged graph and its walk index; `each` gets every
/// transaction's LSN and the nodes whose links it changed.
pub(crate) fn replay(
    staging: &mut Staging,
    index: &mut WalkIndex,
    walk_file: &str,
    txns: &[crate::wal::RecoveredTxn],
    new_keys: &mut Vec<String>,
    relations: &mut Vec<String>,
    each: &mut dyn FnMut(u64, &std::collections::BTreeSet<NodeId>),
) -> Result<()> {
    for txn in txns {
        let before = staging.view();
        staging.touched.clear();
        staging.replay(txn, new_keys, relations)?;
        let after = staging.view();
        let changes = walks::changes(&before, &after, &staging.touched);
        index
            .repair(&after, &changes, txn.lsn)
            .map_err(|e| match e {
                // A damaged block of the walk file, met while repairing: blame the file.
                crate::walks::WalkIndexError::Corrupt { .. } => walks::walk_error(walk_file, e),
                e => Error::corrupt(
                    &txn.file,
                    txn.offset,
                    format!("replaying walk repairs of LSN {}: {e}", txn.lsn),
                ),
            })?;
        each(txn.lsn, &staging.touched);
    }
    Ok(())
}

/// [`load`] for a read-only handle, which races a live writer: a checkpoint in another process
/// may delete the files a manifest names between reading the manifest and opening them. On any
/// failure the manifest is read again, and a changed one is loaded instead; a failure under an
/// unchanged manifest is the answer.
pub(crate) fn load_following(
    backend: &Arc<dyn StorageBackend>,
    catalog: &Catalog,
    mut manifest: Manifest,
    options: &Options,
) -> Result<(Manifest, Loaded)> {
    /// Checkpoints a reader tolerates during one load before reporting the failure.
    const ATTEMPTS: usize = 16;
    let mut attempt = 0;
    loop {
        let result = load(backend, catalog, &manifest, options, ScanMode::Follow);
        // Checked after the load whatever it found: the writer commits a new manifest before
        // it changes or deletes any file of the old one, so an unchanged manifest means the
        // files read were this generation's (an import keeps the LSN: WAL records after it
        // would otherwise replay onto the graph before it).
        let (_, now) = catalog.options_and_manifest()?;
        attempt += 1;
        match result {
            Ok(loaded) if now == manifest => return Ok((manifest, loaded)),
            Err(error) if now == manifest || attempt == ATTEMPTS => return Err(error),
            Ok(_) if attempt == ATTEMPTS => {
                return Err(Error::conflict(format!(
                    "the writer switched generations {ATTEMPTS} times during one load"
                )))
            }
            _ => manifest = now,
        }
    }
}

fn lock(backend: &Arc<dyn StorageBackend>, path: &Path) -> Result<()> {
    match backend.try_lock() {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::locked(path.display().to_string())),
        Err(e) => Err(Error::io("locking the database directory", e)),
    }
}

/// Deletes what an interrupted checkpoint or import left behind: `.tmp` files and segment or
/// walk generations the manifest does not name, and WAL files whose creation was interrupted
/// before the rename (`wal/*.tmp`).
fn remove_stray_files(backend: &Arc<dyn StorageBackend>, manifest: &Manifest) -> Result<()> {
    match backend.list(WAL_DIR) {
        Ok(names) => {
            for name in names.into_iter().filter(|n| n.ends_with(".tmp")) {
                let full = format!("{WAL_DIR}/{name}");
                backend
                    .remove(&full)
                    .map_err(|e| Error::io(format!("removing stray file {full}"), e))?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("listing {WAL_DIR}/"), e)),
    }
    for dir in [SEGMENT_DIR, WALK_DIR] {
        let names = match backend.list(dir) {
            Ok(names) => names,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(format!("listing {dir}/"), e)),
        };
        for name in names {
            let full = format!("{dir}/{name}");
            if full != manifest.segment && full != manifest.walks {
                backend
                    .remove(&full)
                    .map_err(|e| Error::io(format!("removing stray file {full}"), e))?;
            }
        }
    }
    Ok(())
}

/// Names created since the last checkpoint, and all relation names.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub(crate) relations: Vec<String>,
    pub(crate) relation_ids: crate::hash::KeyMap<String, RelId>,
    /// Id of `new_keys[0]`: the checkpointed node count.
    pub(crate) new_keys_base: NodeId,
    pub(crate) new_keys: Vec<String>,
    pub(crate) new_key_ids: crate::hash::KeyMap<String, NodeId>,
}

impl Names {
    /// The names of a freshly loaded state: checkpointed keys below `base` (in the catalog),
    /// `new_keys` after them.
    pub(crate) fn loaded(base: NodeId, new_keys: Vec<String>, relations: Vec<String>) -> Names {
        let new_key_ids = new_keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), base + i as NodeId))
            .collect();
        let relation_ids = relations
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as RelId))
            .collect();
        Names {
            relations,
            relation_ids,
            new_keys_base: base,
            new_keys,
            new_key_ids,
        }
    }

    pub(crate) fn add_relation(&mut self, name: &str) {
        let id = self.relations.len() as RelId;
        self.relation_ids.insert(name.to_string(), id);
        self.relations.push(name.to_string());
    }
}

/// One published state of the database.
#[derive(Debug)]
pub(crate) struct Version {
    pub(crate) lsn: u64,
    /// The checkpointed generation the version is built on, and that checkpoint's LSN.
    pub(crate) generation: u64,
    pub(crate) checkpoint_lsn: u64,
    pub(crate) view: GraphView,
    pub(crate) edge_count: u64,
    pub(crate) relation_count: u32,
    /// The walk index as of `lsn`.
    pub(crate) walks: WalkState,
    /// The graph's link projection at `lsn`, built by the version's first query or by the
    /// writer before publishing it (see `projection`).
    pub(crate) projection: std::sync::OnceLock<Arc<CsrGraph>>,
    /// Where the projection's buffers go when the version is dropped (set by `publish`).
    pub(crate) recycle_to: Option<Arc<Projections>>,
    /// How the version's graph differs from the one published before it.
    pub(crate) changed: Changed,
    /// Projection-cache epoch, set by `publish`: bumped by every version whose changes are
    /// not known (an import changes the graph without a new LSN), so an LSN names one graph
    /// within an epoch.
    pub(crate) epoch: u64,
}

/// The writer's state, behind the writer lock.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) wal: WalWriter,
    pub(crate) poisoned: Option<String>,
    pub(crate) manifest: Manifest,
    /// Relation names checkpointed in the catalog.
    pub(crate) checkpointed_relations: u32,
    /// The walk index as of the newest version, repaired in place by the next commit (its
    /// overlay is copy-on-write: published versions keep their own).
    pub(crate) walks: WalkIndex,
}

impl Writer {
    pub(crate) fn check_poisoned(&self) -> Result<()> {
        match &self.poisoned {
            Some(cause) => Err(Error::poisoned(cause.clone())),
            None => Ok(()),
        }
    }

    /// Records an I/O failure: after it the database refuses writes until reopened.
    pub(crate) fn poison(&mut self, error: Error) -> Error {
        if self.poisoned.is_none() {
            self.poisoned = Some(error.to_string());
        }
        error
    }
}

/// A read-only handle's position in the files of a writer (see [`Database::refresh`]).
#[derive(Debug)]
pub(crate) struct Follower {
    /// The manifest the current version was loaded from.
    pub(crate) manifest: Manifest,
}

impl Inner {
    /// The writer's state, or [`Error::ReadOnly`] for a read-only handle.
    pub(crate) fn writer(
        &self,
        operation: &'static str,
    ) -> Result<parking_lot::MutexGuard<'_, Writer>> {
        match &self.writer {
            Some(writer) => Ok(writer.lock()),
            None => Err(Error::read_only(operation)),
        }
    }

    /// Records a failure that makes the writer refuse writes until reopened.
    pub(crate) fn poison(&self, error: Error) -> Error {
        match &self.writer {
            Some(writer) => writer.lock().poison(error),
            None => error,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) path: String,
    pub(crate) backend: Arc<dyn StorageBackend>,
    pub(crate) options: Options,
    pub(crate) durability: Durability,
    /// WAL size that triggers a checkpoint after a commit.
    pub(crate) auto_checkpoint: Option<u64>,
    pub(crate) catalog: Catalog,
    /// The writer's state; `None` for a read-only handle.
    pub(crate) writer: Option<Mutex<Writer>>,
    /// What a read-only handle follows; `None` for the writer.
    pub(crate) follower: Option<Mutex<Follower>>,
    pub(crate) current: RwLock<Arc<Version>>,
    pub(crate) names: RwLock<Names>,
    /// Link projections: the newest built and recent commits' changes (locks held briefly,
    /// never across a build), readers' demand, a spare for the next patch.
    pub(crate) projections: Arc<Projections>,
    /// Group-commit state ([`Durability::Group`]).
    pub(crate) group: group::GroupSync,
}

/// An open walkdb database. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

impl Database {
    /// Starts configuring a database in directory `path`.
    pub fn builder(path: impl AsRef<Path>) -> DatabaseBuilder {
        DatabaseBuilder {
            path: path.as_ref().to_path_buf(),
            backend: None,
            undirected: None,
            alpha: None,
            walks_per_node: None,
            durability: Durability::Immediate,
            auto_checkpoint: Some(DEFAULT_AUTO_CHECKPOINT_BYTES),
        }
    }

    fn assemble(
        builder: DatabaseBuilder,
        options: Options,
        backend: Arc<dyn StorageBackend>,
        catalog: Catalog,
        manifest: Manifest,
        loaded: Loaded,
        wal: Option<WalWriter>,
    ) -> Database {
        let names = Names::loaded(manifest.node_count, loaded.new_keys, loaded.relations);
        let walk_state = WalkState::new(loaded.index.clone(), &manifest.walks);
        let version = loaded
            .staging
            .into_version(&loaded.segment, options.undirected, walk_state);
        let writer = wal.map(|wal| {
            Mutex::new(Writer {
                wal,
                poisoned: None,
                checkpointed_relations: manifest.relation_count,
                manifest: manifest.clone(),
                walks: loaded.index,
            })
        });
        let follower = match writer {
            Some(_) => None,
            None => Some(Mutex::new(Follower { manifest })),
        };
        let inner = Inner {
            path: builder.path.display().to_string(),
            backend,
            options,
            durability: builder.durability,
            auto_checkpoint: builder.auto_checkpoint,
            catalog,
            writer,
            follower,
            current: RwLock::new(Arc::new(version)),
            names: RwLock::new(names),
            projections: Arc::default(),
            group: group::GroupSync::default(),
        };
        Database {
            inner: Arc::new(inner),
        }
    }

    /// The options the database was created with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The directory (or backend description) of the database.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// A consistent read-only snapshot of the latest committed state.
    pub fn begin_read(&self) -> Result<Snapshot, ReadError> {
        let version = Arc::clone(&self.inner.current.read());
        version.view.segment.check()?;
        Ok(Snapshot::new(Arc::clone(&self.inner), version))
    }

    /// Starts the write transaction; waits while another one is open.
    pub fn begin_write(&self) -> Result<WriteTxn<'_>, WriteError> {
        WriteTxn::begin(self, self.inner.writer("a write transaction")?).map_err(Into::into)
    }

    /// Starts the write transaction if no other one is open, `None` otherwise.
    pub fn try_begin_write(&self) -> Result<Option<WriteTxn<'_>>, WriteError> {
        self.begin_write_timeout(std::time::Duration::ZERO)
    }

    /// Starts the write transaction, waiting at most `timeout` for another one to end; `None`
    /// when it did not.
    pub fn begin_write_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> Result<Option<WriteTxn<'_>>, WriteError> {
        let Some(writer) = &self.inner.writer else {
            return Err(Error::read_only("a write transaction").into());
        };
        match writer.try_lock_for(timeout) {
            Some(guard) => WriteTxn::begin(self, guard).map(Some).map_err(Into::into),
            None => Ok(None),
        }
    }

    /// True for a handle opened with [`DatabaseBuilder::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.inner.writer.is_none()
    }

    /// True when an earlier I/O failure made the database refuse writes until reopened (the
    /// error that did it is returned by the next write).
    pub fn is_poisoned(&self) -> bool {
        self.inner
            .writer
            .as_ref()
            .is_some_and(|w| w.lock().poisoned.is_some())
    }

    /// Makes every commit durable and closes the handle. When it is the last handle (no clone,
    /// snapshot or transaction alive) the files and the directory lock are released before
    /// this returns, so another process can open the database at once; otherwise
    /// [`Error::InUse`] says how many remain, and the database closes when the last is dropped.
    pub fn close(self) -> Result<(), CloseError> {
        if self.inner.writer.is_some() {
            self.sync()?;
        }
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => {
                let backend = Arc::clone(&inner.backend);
                let writer = inner.writer.is_some();
                drop(inner);
                if !writer {
                    // A read-only handle holds no lock (and may share its backend with a
                    // writer's).
                    return Ok(());
                }
                backend
                    .unlock()
                    .map_err(|e| Error::io("releasing the directory lock", e).into())
            }
            Err(inner) => Err(CloseError::InUse(crate::error::InUseError {
                others: Arc::strong_count(&inner) - 1,
            })),
        }
    }

    /// Makes every commit so far durable (useful with [`Durability::None`]).
    pub fn sync(&self) -> Result<(), WriteError> {
        let mut writer = self.inner.writer("sync")?;
        writer.check_poisoned()?;
        if let Err(e) = writer.wal.sync() {
            return Err(writer.poison(Error::io("syncing the WAL", e)).into());
        }
        self.inner.group.mark_durable(writer.wal.last_lsn());
        Ok(())
    }

    /// Syncs made by group-commit leaders since open ([`Durability::Group`]): with several
    /// threads committing at once, fewer than the commits.
    pub fn group_sync_count(&self) -> u64 {
        self.inner.group.sync_count()
    }

    /// Makes `version` the current one and returns the version it replaced, for the caller to
    /// drop outside the lock (the last reference frees an overlay's and a delta's superseded
    /// copies). Called by one publisher at a time (the writer, or a reader handle's refresh,
    /// under their locks).
    ///
    /// While readers ask for link projections, a commit's version is published with its
    /// projection built (patched from the newest one), so no reader pays for it: the writer
    /// does, before it returns. A checkpoint's version keeps the projection of the graph it
    /// folded.
    pub(crate) fn publish(&self, mut version: Version) -> Arc<Version> {
        let projections = &self.inner.projections;
        version.recycle_to = Some(Arc::clone(projections));
        {
            let mut cache = projections.cache.lock();
            match &version.changed {
                Changed::Nodes(changed) => cache.remember(version.lsn, Arc::clone(changed)),
                // Same LSN, same graph: the epoch's rule (an LSN names one graph) still holds,
                // and the projection of that LSN is this version's.
                Changed::SameGraph => {
                    if let Some((at, graph)) = &cache.latest {
                        if *at == version.lsn
                            && graph.node_count() == version.view.node_count as usize
                        {
                            // The cell is new and unshared: this set cannot find it filled.
                            let _ = version.projection.set(Arc::clone(graph));
                        }
                    }
                }
                Changed::Unknown => {
                    cache.epoch += 1;
                    cache.latest = None;
                    cache.recent.clear();
                }
            }
            version.epoch = cache.epoch;
        }
        if matches!(version.changed, Changed::Nodes(_)) && projections.in_demand(version.lsn) {
            let graph = projection::build(&self.inner, &version);
            // The cell is new and unshared: this set cannot find it filled.
            let _ = version.projection.set(graph);
        }
        std::mem::replace(&mut *self.inner.current.write(), Arc::new(version))
    }
}

impl Drop for Version {
    fn drop(&mut self) {
        if let (Some(to), Some(graph)) = (&self.recycle_to, self.projection.take()) {
            to.recycle(graph);
        }
    }
}

/// Compile-time proof of the thread-safety the API promises: handles and snapshots are shared
/// between threads, and a write transaction or bulk load may move to another thread (a worker,
/// or across an `.await`).
const _: () = {
    const fn send<T: Send>() {}
    const fn sync<T: Sync>() {}
    send::<Database>();
    sync::<Database>();
    send::<Snapshot>();
    sync::<Snapshot>();
    send::<WriteTxn<'static>>();
    send::<BulkLoader<'static>>();
    send::<crate::walks::WalkIndex>();
    sync::<crate::walks::WalkIndex>();
};
