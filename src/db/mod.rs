//! The database: builder, open and recovery, the published version readers snapshot, and the
//! single writer's state.
//!
//! Concurrency: one writer at a time holds [`Inner::writer`]; readers clone the current
//! `Arc<Version>` under a read lock held only for that clone, so a reader never waits for a
//! writer longer than the pointer swap that publishes a commit.

mod checkpoint;
mod group;
mod import;
mod query;
mod snapshot;
mod staging;
mod stats;
mod txn;
mod verify;
mod walks;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::adjacency::{GraphView, Segment, SEGMENT_DIR};
use crate::backend::{FsBackend, StorageBackend};
use crate::catalog::{Catalog, Manifest, Options, CATALOG_FILE};
use crate::error::{Error, InputError, Result};
use crate::graph::{CsrGraph, NodeId, RelId};
use crate::wal::{read_wal_dir, WalWriter, WAL_DIR};
use crate::walks::WalkIndex;

pub use checkpoint::{CheckpointInfo, SwitchTimings};
pub use import::{BulkLoader, ImportInfo};
pub use query::{PprAnswer, PprRequest};
pub use snapshot::{Edges, Snapshot};
pub use stats::Stats;
pub use txn::{CommitInfo, WriteTxn};
pub use verify::VerifyReport;
pub(crate) use walks::inspect_walk_file;
pub use walks::IndexInfo;
use walks::WalkState;

pub(crate) use staging::Staging;
pub(crate) use txn::validate_key;

/// Directory of walk-index files inside the database directory.
pub(crate) const WALK_DIR: &str = "walks";

/// Longest node key or relation name, in bytes.
pub const MAX_KEY_LEN: usize = 65_535;

/// When a commit becomes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
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
/// One walk per link is what `Method::Index` at its default accuracy needs: a residual node
/// `v` uses at most `r_max * omega * degree(v)` walks, and `INDEX_PUSH_R_MAX *
/// INDEX_WALKS_PER_RESIDUAL = 1`. More walks per link would never be read by default queries,
/// and cost size (WordNet, undirected, alpha 0.15: 61 B/edge at 1 walk per link, 245 at 4) and
/// repair work on every insert.
pub const DEFAULT_WALKS_PER_NODE: f64 = 1.0;
/// Default WAL size after which a commit checkpoints: 64 MiB.
pub const DEFAULT_AUTO_CHECKPOINT_BYTES: u64 = 64 << 20;

/// Configures and opens or creates a database.
#[derive(Debug, Clone)]
pub struct DatabaseBuilder {
    path: PathBuf,
    backend: Option<Arc<dyn StorageBackend>>,
    options: Options,
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

    /// Graph mode of a new database: every edge walkable both ways.
    pub fn undirected(mut self, undirected: bool) -> Self {
        self.options.undirected = undirected;
        self
    }

    /// Restart probability of a new database's stored walks, in (0, 1).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.options.alpha = alpha;
        self
    }

    /// Walk-index density of a new database (> 0).
    pub fn walks_per_node(mut self, walks: f64) -> Self {
        self.options.walks_per_node = walks;
        self
    }

    /// When commits become durable.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Stores the database through `backend` instead of the file system (tests use
    /// [`crate::backend::SimBackend`] to simulate crashes).
    pub fn backend(mut self, backend: Arc<dyn StorageBackend>) -> Self {
        self.backend = Some(backend);
        self
    }

    fn backend_for(&self, create_dir: bool) -> Result<Arc<dyn StorageBackend>> {
        if let Some(backend) = &self.backend {
            return Ok(Arc::clone(backend));
        }
        if create_dir {
            std::fs::create_dir_all(&self.path)
                .map_err(|e| Error::io(format!("creating {}", self.path.display()), e))?;
        } else if !self.path.is_dir() {
            return Err(InputError::NotADatabase {
                path: self.path.display().to_string(),
            }
            .into());
        }
        Ok(Arc::new(FsBackend::new(&self.path)))
    }

    /// Creates a new, empty database; fails if one exists there.
    pub fn create(self) -> Result<Database> {
        let options = &self.options;
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
        let catalog = Catalog::create(&backend, &self.options, &manifest)?;
        let segment = Arc::new(Segment::empty());
        let index = walks::build(&CsrGraph::default(), &self.options, &|_, _| {})?;
        Ok(Database::assemble(
            self,
            backend,
            catalog,
            manifest,
            segment,
            index,
            wal,
            Staging::new_empty(),
            Vec::new(),
        ))
    }

    /// Opens an existing database, replaying the WAL after its last checkpoint.
    pub fn open(self) -> Result<Database> {
        let backend = self.backend_for(false)?;
        if !backend
            .exists(CATALOG_FILE)
            .map_err(|e| Error::io("checking for a catalog", e))?
        {
            return Err(InputError::NotADatabase {
                path: self.path.display().to_string(),
            }
            .into());
        }
        lock(&backend, &self.path)?;
        let (catalog, options, manifest) = Catalog::open(&backend)?;
        let builder = DatabaseBuilder { options, ..self };
        let segment = if manifest.segment.is_empty() {
            Arc::new(Segment::empty())
        } else {
            let bytes = backend
                .map(&manifest.segment)
                .map_err(|e| map_error(&manifest.segment, e))?;
            Arc::new(Segment::open(&manifest.segment, bytes)?)
        };
        if (segment.node_count() != manifest.node_count
            || segment.edge_count() != manifest.edge_count)
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
        remove_stray_files(&backend, &manifest)?;
        let scan = read_wal_dir(&backend, manifest.checkpoint_lsn)?;
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
                return Err(Error::corrupt(first, 16, format!(
                    "WAL starts at LSN {first_lsn}; records after checkpoint LSN {} are missing", manifest.checkpoint_lsn
                )));
            }
        }
        if !scan.txns.is_empty() {
            // Replay copies segment lists into the delta: they must be checked first.
            segment.check()?;
            segment.link_projection(builder.options.undirected);
        }
        let relations = catalog.relations()?;
        let mut staging = Staging::new(
            Arc::clone(&segment),
            manifest.node_count,
            manifest.edge_count,
            relations.len() as u32,
            builder.options.undirected,
        );
        let mut new_keys = Vec::new();
        let mut all_relations = relations;
        let mut index = if manifest.walks.is_empty() {
            // Generation 0 has no walk file: its index is that of the empty graph.
            walks::build(&CsrGraph::default(), &builder.options, &|_, _| {})?
        } else {
            // Served from the map: only the header and block checksums are read here.
            let bytes = backend
                .map(&manifest.walks)
                .map_err(|e| map_error(&manifest.walks, e))?;
            walks::open_file(
                &manifest.walks,
                bytes,
                &builder.options,
                manifest.node_count,
            )?
        };
        for txn in &scan.txns {
            let before = staging.view();
            staging.touched.clear();
            staging.replay(txn, &mut new_keys, &mut all_relations)?;
            let after = staging.view();
            let changes = walks::changes(&before, &after, &staging.touched);
            index
                .apply(&after, &changes, txn.lsn)
                .map_err(|e| match e {
                    // A damaged block of the walk file, met while repairing: blame the file.
                    crate::walks::WalkIndexError::Corrupt { .. } => {
                        walks::walk_error(&manifest.walks, e)
                    }
                    e => Error::corrupt(
                        &txn.file,
                        txn.offset,
                        format!("replaying walk repairs of LSN {}: {e}", txn.lsn),
                    ),
                })?;
        }
        staging.lsn = scan.last_lsn.max(manifest.checkpoint_lsn);
        let next_lsn = staging.lsn + 1;
        let wal = match &scan.resume {
            Some((name, len, first)) => WalWriter::resume(&*backend, name, *len, *first, next_lsn),
            None => WalWriter::create(&*backend, next_lsn),
        }
        .map_err(|e| Error::io("preparing the WAL for appends", e))?;
        let mut db = Database::assemble(
            builder, backend, catalog, manifest, segment, index, wal, staging, new_keys,
        );
        if let Some(inner) = Arc::get_mut(&mut db.inner) {
            let names = inner.names.get_mut();
            names.relation_ids = all_relations
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i as RelId))
                .collect();
            names.relations = all_relations;
        }
        Ok(db)
    }

    /// Opens the database, creating it first if the directory holds none.
    pub fn open_or_create(self) -> Result<Database> {
        let exists = match &self.backend {
            Some(b) => b
                .exists(CATALOG_FILE)
                .map_err(|e| Error::io("checking for a catalog", e))?,
            None => self.path.join(CATALOG_FILE).exists(),
        };
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

fn lock(backend: &Arc<dyn StorageBackend>, path: &Path) -> Result<()> {
    match backend.try_lock() {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::Locked {
            path: path.display().to_string(),
        }),
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
    pub(crate) relation_ids: HashMap<String, RelId>,
    /// Id of `new_keys[0]`: the checkpointed node count.
    pub(crate) new_keys_base: NodeId,
    pub(crate) new_keys: Vec<String>,
    pub(crate) new_key_ids: HashMap<String, NodeId>,
}

impl Names {
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
    pub(crate) view: GraphView,
    pub(crate) edge_count: u64,
    pub(crate) relation_count: u32,
    /// The walk index as of `lsn`.
    pub(crate) walks: WalkState,
    /// The graph's link projection at `lsn`, built by the version's first query.
    pub(crate) projection: std::sync::OnceLock<Arc<CsrGraph>>,
    /// The nodes whose walkable links differ from the graph at `lsn - 1` (`None` when not
    /// known: a version made by an import, a checkpoint or an open).
    pub(crate) changed: Option<Arc<[NodeId]>>,
    /// Projection-cache epoch, set by `publish`: bumped by every version whose changes are
    /// not known (an import changes the graph without a new LSN), so an LSN names one graph
    /// within an epoch.
    pub(crate) epoch: u64,
}

/// The newest link projection built, and the nodes each recent commit changed, so the first
/// query on a new version patches the newest projection instead of rebuilding it (see
/// `Snapshot::projection`).
#[derive(Debug, Default)]
pub(crate) struct ProjectionCache {
    pub(crate) epoch: u64,
    pub(crate) latest: Option<(u64, Arc<CsrGraph>)>,
    pub(crate) recent: std::collections::VecDeque<(u64, Arc<[NodeId]>)>,
}

/// Commits whose changed nodes the projection cache remembers.
pub(crate) const RECENT_CHANGES: usize = 256;

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
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
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

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) path: String,
    pub(crate) backend: Arc<dyn StorageBackend>,
    pub(crate) options: Options,
    pub(crate) durability: Durability,
    /// WAL size that triggers a checkpoint after a commit.
    pub(crate) auto_checkpoint: Option<u64>,
    pub(crate) catalog: Catalog,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) current: RwLock<Arc<Version>>,
    pub(crate) names: RwLock<Names>,
    /// Link projections: the newest built and recent commits' changes (held briefly, never
    /// across a build).
    pub(crate) projections: Mutex<ProjectionCache>,
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
            options: Options {
                undirected: false,
                alpha: DEFAULT_ALPHA,
                walks_per_node: DEFAULT_WALKS_PER_NODE,
            },
            durability: Durability::Immediate,
            auto_checkpoint: Some(DEFAULT_AUTO_CHECKPOINT_BYTES),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        builder: DatabaseBuilder,
        backend: Arc<dyn StorageBackend>,
        catalog: Catalog,
        manifest: Manifest,
        segment: Arc<Segment>,
        walks: WalkIndex,
        wal: WalWriter,
        staging: Staging,
        new_keys: Vec<String>,
    ) -> Database {
        let base = manifest.node_count;
        let new_key_ids = new_keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), base + i as NodeId))
            .collect();
        let names = Names {
            new_keys_base: base,
            new_keys,
            new_key_ids,
            ..Names::default()
        };
        let checkpointed_relations = manifest.relation_count;
        let walk_state = WalkState::new(walks.clone(), &manifest.walks);
        let version = staging.into_version(&segment, builder.options.undirected, walk_state);
        let inner = Inner {
            path: builder.path.display().to_string(),
            backend,
            options: builder.options,
            durability: builder.durability,
            auto_checkpoint: builder.auto_checkpoint,
            catalog,
            writer: Mutex::new(Writer {
                wal,
                poisoned: None,
                manifest,
                checkpointed_relations,
                walks,
            }),
            current: RwLock::new(Arc::new(version)),
            names: RwLock::new(names),
            projections: Mutex::new(ProjectionCache::default()),
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
    pub fn begin_read(&self) -> Result<Snapshot> {
        let version = Arc::clone(&self.inner.current.read());
        version.view.segment.check()?;
        Ok(Snapshot::new(Arc::clone(&self.inner), version))
    }

    /// Starts the write transaction; waits while another one is open.
    pub fn begin_write(&self) -> Result<WriteTxn<'_>> {
        WriteTxn::begin(self)
    }

    /// Makes every commit so far durable (useful with [`Durability::None`]).
    pub fn sync(&self) -> Result<()> {
        let mut writer = self.inner.writer.lock();
        writer.check_poisoned()?;
        if let Err(e) = writer.wal.sync() {
            return Err(writer.poison(Error::io("syncing the WAL", e)));
        }
        self.inner.group.mark_durable(writer.wal.last_lsn());
        Ok(())
    }

    /// Syncs made by group-commit leaders since open ([`Durability::Group`]): with several
    /// threads committing at once, fewer than the commits.
    pub fn group_sync_count(&self) -> u64 {
        self.inner.group.sync_count()
    }

    pub(crate) fn publish(&self, mut version: Version) {
        let mut cache = self.inner.projections.lock();
        match &version.changed {
            Some(changed) => {
                if cache.recent.len() == RECENT_CHANGES {
                    cache.recent.pop_front();
                }
                cache.recent.push_back((version.lsn, Arc::clone(changed)));
            }
            None => {
                cache.epoch += 1;
                cache.latest = None;
                cache.recent.clear();
            }
        }
        version.epoch = cache.epoch;
        *self.inner.current.write() = Arc::new(version);
    }
}
