//! The catalog, kept in redb: node key <-> id, relation name <-> id, the database options and
//! the manifest (current segment generation, checkpoint LSN).
//!
//! The catalog changes only at checkpoints and bulk imports, in one redb write transaction
//! that also switches the manifest: new keys and the generation that uses them become durable
//! together. Keys created since the last checkpoint live in the WAL and in memory.

use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::backend::{CatalogAccess, CatalogStorage, StorageBackend};
use crate::error::{Error, Result};
use crate::format::{put_str, Cursor};
use crate::graph::{NodeId, RelId};

pub(crate) use crate::layout::CATALOG_FILE;
const FORMAT_VERSION: u32 = 1;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const NODE_IDS: TableDefinition<&str, u32> = TableDefinition::new("node_ids");
const NODE_KEYS: TableDefinition<u32, &str> = TableDefinition::new("node_keys");
const REL_IDS: TableDefinition<&str, u32> = TableDefinition::new("relation_ids");
const REL_NAMES: TableDefinition<u32, &str> = TableDefinition::new("relation_names");

/// What a database keeps for life.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// Every edge walkable both ways.
    pub undirected: bool,
    /// Restart probability of the stored walks.
    pub alpha: f64,
    /// Walk-index density: walks stored per unit of node degree.
    pub walks_per_node: f64,
}

/// Which files hold the checkpointed state, and up to which LSN.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Manifest {
    pub(crate) generation: u64,
    pub(crate) checkpoint_lsn: u64,
    pub(crate) node_count: u32,
    pub(crate) relation_count: u32,
    pub(crate) edge_count: u64,
    /// Segment file name relative to the database directory.
    pub(crate) segment: String,
    /// Walk-index file name, empty when there is none.
    pub(crate) walks: String,
}

/// Appends the CRC32 of `out` to it: the manifest and options records carry their own
/// checksum, because redb does not checksum its pages and a flipped bit in these records would
/// otherwise point the database at the wrong LSN, counts or files, or flip its graph mode.
fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let crc = crate::format::crc32(&[&out]);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks and strips the trailing CRC32 of a record written by [`seal`].
fn unseal<'a>(bytes: &'a [u8], record: &str) -> Result<&'a [u8]> {
    let Some(body_len) = bytes.len().checked_sub(4) else {
        return Err(Error::corrupt(
            CATALOG_FILE,
            0,
            format!(
                "{record} record is {} bytes, too short for its checksum",
                bytes.len()
            ),
        ));
    };
    let (body, crc) = bytes.split_at(body_len);
    if crate::format::crc32(&[body]).to_le_bytes() != crc {
        return Err(Error::corrupt(
            CATALOG_FILE,
            0,
            format!("{record} record checksum mismatch"),
        ));
    }
    Ok(body)
}

impl Manifest {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.checkpoint_lsn.to_le_bytes());
        out.extend_from_slice(&(self.node_count as u64).to_le_bytes());
        out.extend_from_slice(&self.edge_count.to_le_bytes());
        out.extend_from_slice(&(self.relation_count as u64).to_le_bytes());
        put_str(&mut out, &self.segment);
        put_str(&mut out, &self.walks);
        seal(out)
    }

    fn decode(bytes: &[u8]) -> Result<Manifest> {
        let bad = |e: crate::format::DecodeError| {
            Error::corrupt(CATALOG_FILE, e.offset, format!("manifest: {}", e.what))
        };
        let mut c = Cursor::new(unseal(bytes, "manifest")?);
        let version = c.u32().map_err(bad)?;
        if version != FORMAT_VERSION {
            return Err(Error::corrupt(
                CATALOG_FILE,
                0,
                format!("manifest version {version} is not supported"),
            ));
        }
        let generation = c.u64().map_err(bad)?;
        let checkpoint_lsn = c.u64().map_err(bad)?;
        let node_count = c.u64().map_err(bad)?;
        let edge_count = c.u64().map_err(bad)?;
        let relation_count = c.u64().map_err(bad)?;
        let segment = c.str().map_err(bad)?.to_string();
        let walks = c.str().map_err(bad)?.to_string();
        if c.remaining() != 0 {
            return Err(Error::corrupt(CATALOG_FILE, 0, "manifest: trailing bytes"));
        }
        // The files are named after their generation (and none exist at generation 0): any
        // other name is damage, and must never lead open to read, or delete, another path.
        let (want_segment, want_walks) = if generation == 0 {
            (String::new(), String::new())
        } else {
            (
                crate::layout::segment_file(generation),
                crate::layout::walk_file(generation),
            )
        };
        if segment != want_segment || walks != want_walks {
            return Err(Error::corrupt(
                CATALOG_FILE,
                0,
                format!(
                    "manifest of generation {generation} names '{}' and '{}'",
                    segment.escape_debug(),
                    walks.escape_debug()
                ),
            ));
        }
        if node_count > u32::MAX as u64 || relation_count > u32::MAX as u64 {
            return Err(Error::corrupt(
                CATALOG_FILE,
                0,
                "manifest counts out of range",
            ));
        }
        Ok(Manifest {
            generation,
            checkpoint_lsn,
            node_count: node_count as u32,
            relation_count: relation_count as u32,
            edge_count,
            segment,
            walks,
        })
    }
}

fn encode_options(o: &Options) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.push(o.undirected as u8);
    out.extend_from_slice(&o.alpha.to_le_bytes());
    out.extend_from_slice(&o.walks_per_node.to_le_bytes());
    seal(out)
}

fn decode_options(bytes: &[u8]) -> Result<Options> {
    let bad = |e: crate::format::DecodeError| {
        Error::corrupt(CATALOG_FILE, e.offset, format!("options: {}", e.what))
    };
    let mut c = Cursor::new(unseal(bytes, "options")?);
    let version = c.u32().map_err(bad)?;
    if version != FORMAT_VERSION {
        return Err(Error::corrupt(
            CATALOG_FILE,
            0,
            format!("options version {version} is not supported"),
        ));
    }
    let undirected = match c.u8().map_err(bad)? {
        0 => false,
        1 => true,
        other => {
            return Err(Error::corrupt(
                CATALOG_FILE,
                0,
                format!("options: graph mode byte {other} is not 0 or 1"),
            ))
        }
    };
    let alpha = c.f64().map_err(bad)?;
    let walks_per_node = c.f64().map_err(bad)?;
    // Written so that NaN fails both checks.
    let alpha_ok = alpha > 0.0 && alpha < 1.0;
    let walks_ok = walks_per_node.is_finite() && walks_per_node > 0.0;
    if !alpha_ok || !walks_ok {
        return Err(Error::corrupt(CATALOG_FILE, 0, "options out of range"));
    }
    Ok(Options {
        undirected,
        alpha,
        walks_per_node,
    })
}

/// redb's integrity check: it verifies every page checksum and rebuilds the allocator state.
///
/// redb trusts the allocator state of a file it believes was closed cleanly, and a damaged
/// free list makes its next commit panic, then panic again in a destructor while unwinding: an
/// abort nothing can contain (found by the open_dir fuzz target). So a damaged catalog is
/// reported here, before any write.
fn check_integrity(db: &mut Redb) -> Result<()> {
    let Some(Handle::Write(db) | Handle::Copy(db)) = &mut db.0 else {
        // A handle on the shared file is checked through a copy (`Catalog::check_integrity`).
        return Ok(());
    };
    db.check_integrity().map(drop).map_err(|e| {
        Error::corrupt(
            CATALOG_FILE,
            0,
            format!("catalog fails redb's integrity check: {e}"),
        )
    })
}

/// Runs a catalog operation, turning a panic inside redb into a corruption error.
///
/// redb validates much of a damaged file but still asserts on some states (for example
/// "Malformed allocator state" for a flipped byte in its allocator pages); walkdb promises a
/// typed error for every damaged file, never a crash, so the catalog contains redb's panics
/// here. redb's state after such a panic is not trusted: the error reports the catalog as
/// damaged, and callers drop the handle.
fn contain<T>(operation: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(operation)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Error::corrupt(
                CATALOG_FILE,
                0,
                format!("redb rejected a damaged page: {what}"),
            ))
        }
    }
}

fn redb_err(e: impl Into<redb::Error>) -> Error {
    match e.into() {
        // redb reads only within the file it sized; a read past the end means a damaged
        // page reference (or a truncated file), not a failing disk.
        redb::Error::Io(source) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::corrupt(
                CATALOG_FILE,
                0,
                format!("a page reference points past the end of the file ({source})"),
            )
        }
        // redb reports a damaged file header ("Not a redb database: magic number mismatch")
        // as InvalidData; our backend never returns that kind for a failing disk.
        redb::Error::Io(source) if source.kind() == std::io::ErrorKind::InvalidData => {
            Error::corrupt(CATALOG_FILE, 0, source.to_string())
        }
        redb::Error::Io(source) => Error::io(format!("accessing {CATALOG_FILE}"), source),
        redb::Error::Corrupted(what) => Error::corrupt(CATALOG_FILE, 0, what),
        other => Error::corrupt(CATALOG_FILE, 0, other.to_string()),
    }
}

/// The redb catalog.
#[derive(Debug)]
pub(crate) struct Catalog {
    /// Declared before `db`, so its read transaction ends before the handle closes.
    ///
    /// The key tables of one read transaction, kept for point lookups: beginning a read
    /// transaction costs several lock system calls in redb's multi-process mode (3-5 us, a
    /// third of a streamed edge's cost on WordNet), and the tables change only when this
    /// process commits a checkpoint or a read-only handle loads a new generation, which both
    /// call [`Catalog::renew`].
    keys: parking_lot::RwLock<Option<Arc<KeyTables>>>,
    /// Behind a lock only so a read-only handle can trade a private copy for the shared file
    /// once a writer is live again ([`Catalog::follow_writer`]).
    db: parking_lot::RwLock<Redb>,
}

/// The node-key tables of one redb read transaction.
struct KeyTables {
    ids: redb::ReadOnlyTable<&'static str, u32>,
    keys: redb::ReadOnlyTable<u32, &'static str>,
}

impl std::fmt::Debug for KeyTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyTables")
    }
}

/// An open redb file: the writer's handle, or a read-only one.
enum Handle {
    Write(redb::Database),
    Read(redb::ReadOnlyDatabase),
    /// A read-only handle on a private in-memory copy (see `Catalog::open_copy`).
    Copy(redb::Database),
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handle::Write(_) => "Handle::Write",
            Handle::Read(_) => "Handle::Read",
            Handle::Copy(_) => "Handle::Copy",
        })
    }
}

/// A redb handle whose drop cannot panic: redb's `Drop` closes the file and may commit, and on
/// a damaged file that can hit the same assertions [`contain`] guards against.
#[derive(Debug)]
struct Redb(Option<Handle>);

impl Redb {
    fn handle(&self) -> &Handle {
        match &self.0 {
            Some(handle) => handle,
            // Only `drop` takes the handle out, and nothing uses it after that.
            None => unreachable!("the redb handle is taken only by drop"),
        }
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction> {
        match self.handle() {
            Handle::Write(db) | Handle::Copy(db) => db.begin_read(),
            Handle::Read(db) => db.begin_read(),
        }
        .map_err(redb_err)
    }

    /// The writer's handle; a read-only catalog refuses every write.
    fn writable(&self) -> Result<&redb::Database> {
        match self.handle() {
            Handle::Write(db) => Ok(db),
            Handle::Read(_) | Handle::Copy(_) => Err(Error::read_only("writing the catalog")),
        }
    }
}

impl Drop for Redb {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(db)));
        }
    }
}

/// redb's builder for a catalog on `storage`: the single-writer mode when other processes can
/// share the file (the writer and read-only processes follow each other through redb's
/// byte-range locks), the exclusive mode otherwise.
fn redb_builder(storage: &CatalogStorage) -> redb::Builder {
    let mut builder = redb::Builder::new();
    if storage.shared() {
        builder.set_concurrency_mode(redb::ConcurrencyMode::SingleWriter);
    }
    builder
}

impl Catalog {
    fn open_file(backend: &Arc<dyn StorageBackend>, name: &str, create: bool) -> Result<Redb> {
        let access = if create {
            CatalogAccess::Create
        } else {
            CatalogAccess::Write
        };
        let storage = backend
            .open_catalog(name, access)
            .map_err(|e| Error::io(format!("opening {name}"), e))?;
        redb_builder(&storage)
            .create_with_backend(storage)
            .map(|db| Redb(Some(Handle::Write(db))))
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => Error::locked(name.to_string()),
                e => redb_err(e),
            })
    }

    /// A private in-memory copy of the catalog, opened for writing so redb repairs the copy
    /// (never the file) and checked page by page: the read-only path when the file cannot be
    /// shared (a backend without locks) or a crashed writer left it unclean.
    fn open_copy(backend: &Arc<dyn StorageBackend>) -> Result<Redb> {
        let bytes = backend
            .read_all(CATALOG_FILE)
            .map_err(|e| Error::io(format!("reading {CATALOG_FILE}"), e))?;
        let storage = CatalogStorage::Memory(crate::backend::MemoryFile::new(bytes));
        let mut db = redb::Builder::new()
            .create_with_backend(storage)
            .map(|db| Redb(Some(Handle::Copy(db))))
            .map_err(redb_err)?;
        check_integrity(&mut db)?;
        Ok(db)
    }

    /// Writes a new catalog with the options and the first manifest, durably and atomically:
    /// it is built under a temporary name and renamed into place, because the catalog's
    /// existence is what marks a directory as a database.
    pub(crate) fn create(
        backend: &Arc<dyn StorageBackend>,
        options: &Options,
        manifest: &Manifest,
    ) -> Result<Catalog> {
        contain(|| {
            let tmp = format!("{CATALOG_FILE}.tmp");
            if backend
                .exists(&tmp)
                .map_err(|e| Error::io(format!("checking {tmp}"), e))?
            {
                backend
                    .remove(&tmp)
                    .map_err(|e| Error::io(format!("removing {tmp}"), e))?;
            }
            let db = Catalog::open_file(backend, &tmp, true)?;
            let txn = db.writable()?.begin_write().map_err(redb_err)?;
            {
                let mut meta = txn.open_table(META).map_err(redb_err)?;
                meta.insert("options", encode_options(options).as_slice())
                    .map_err(redb_err)?;
                meta.insert("manifest", manifest.encode().as_slice())
                    .map_err(redb_err)?;
                for table in [NODE_IDS, REL_IDS] {
                    txn.open_table(table).map_err(redb_err)?;
                }
                for table in [NODE_KEYS, REL_NAMES] {
                    txn.open_table(table).map_err(redb_err)?;
                }
            }
            txn.commit().map_err(redb_err)?;
            drop(db);
            backend
                .rename(&tmp, CATALOG_FILE)
                .map_err(|e| Error::io(format!("renaming {tmp}"), e))?;
            backend
                .sync_dir("")
                .map_err(|e| Error::io("syncing the database directory", e))?;
            Ok(Catalog::with(Catalog::open_file(
                backend,
                CATALOG_FILE,
                false,
            )?))
        })
    }

    /// Opens the catalog for writing and reads the options and manifest.
    pub(crate) fn open(backend: &Arc<dyn StorageBackend>) -> Result<(Catalog, Options, Manifest)> {
        contain(|| {
            let mut db = Catalog::open_file(backend, CATALOG_FILE, false)?;
            check_integrity(&mut db)?;
            Catalog::read_meta(db)
        })
    }

    /// Opens the catalog read-only: no byte of the file is written. Where the backend shares
    /// the file between processes, this follows a writer in another process (every read sees
    /// its newest commit); otherwise, or when the file was left unclean by a writer that is
    /// gone, it reads a private copy.
    pub(crate) fn open_read_only(
        backend: &Arc<dyn StorageBackend>,
    ) -> Result<(Catalog, Options, Manifest)> {
        contain(|| Catalog::read_meta(Catalog::read_only_handle(backend)?))
    }

    fn read_only_handle(backend: &Arc<dyn StorageBackend>) -> Result<Redb> {
        let storage = backend
            .open_catalog(CATALOG_FILE, CatalogAccess::Read)
            .map_err(|e| Error::io(format!("opening {CATALOG_FILE}"), e))?;
        if !storage.shared() {
            drop(storage);
            return Catalog::open_copy(backend);
        }
        match redb_builder(&storage).open_read_only_with_backend(storage) {
            Ok(db) => Ok(Redb(Some(Handle::Read(db)))),
            // Unclean, with no live writer to repair it: read a repaired copy.
            Err(redb::DatabaseError::RepairAborted) => Catalog::open_copy(backend),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                Err(Error::locked(CATALOG_FILE.to_string()))
            }
            Err(e) => Err(redb_err(e)),
        }
    }

    /// For a read-only handle reading a private copy (the writer was gone at open): once a
    /// writer is live again, reads the shared file instead, so later commits are seen. A
    /// copy is kept while no writer is live (then nothing changes the file).
    pub(crate) fn follow_writer(&self, backend: &Arc<dyn StorageBackend>) -> Result<()> {
        if !matches!(self.db.read().handle(), Handle::Copy(_)) {
            return Ok(());
        }
        if !backend
            .writer_active()
            .map_err(|e| Error::io("probing the directory lock", e))?
        {
            return Ok(());
        }
        let fresh = contain(|| Catalog::read_only_handle(backend))?;
        let copy = std::mem::replace(&mut *self.db.write(), fresh);
        self.renew();
        drop(copy);
        Ok(())
    }

    fn read_meta(db: Redb) -> Result<(Catalog, Options, Manifest)> {
        let catalog = Catalog::with(db);
        let (options, manifest) = catalog.options_and_manifest()?;
        Ok((catalog, options, manifest))
    }

    /// The options and the manifest as last committed.
    pub(crate) fn options_and_manifest(&self) -> Result<(Options, Manifest)> {
        contain(|| {
            let txn = self.db.read().begin_read()?;
            let meta = txn.open_table(META).map_err(redb_err)?;
            let get = |key: &str| -> Result<Vec<u8>> {
                meta.get(key)
                    .map_err(redb_err)?
                    .map(|v| v.value().to_vec())
                    .ok_or_else(|| Error::corrupt(CATALOG_FILE, 0, format!("catalog has no {key}")))
            };
            Ok((
                decode_options(&get("options")?)?,
                Manifest::decode(&get("manifest")?)?,
            ))
        })
    }

    /// Runs redb's page-by-page integrity check: on the writer's file, or on a private copy of
    /// a read-only handle's.
    pub(crate) fn check_integrity(&self, backend: &Arc<dyn StorageBackend>) -> Result<()> {
        match self.db.read().handle() {
            // The writer checked its file at open, and every commit since is redb's own; a
            // copy was checked when it was made.
            Handle::Write(_) | Handle::Copy(_) => Ok(()),
            Handle::Read(_) => contain(|| Catalog::open_copy(backend).map(drop)),
        }
    }

    fn with(db: Redb) -> Catalog {
        Catalog {
            db: parking_lot::RwLock::new(db),
            keys: parking_lot::RwLock::new(None),
        }
    }

    /// Makes the next lookup read the newest catalog commit (see [`Catalog::keys`]).
    pub(crate) fn renew(&self) {
        *self.keys.write() = None;
    }

    /// The cached key tables, opened on first use after [`Catalog::renew`].
    fn key_tables(&self) -> Result<Arc<KeyTables>> {
        if let Some(tables) = &*self.keys.read() {
            return Ok(Arc::clone(tables));
        }
        let mut slot = self.keys.write();
        if let Some(tables) = &*slot {
            return Ok(Arc::clone(tables));
        }
        let txn = self.db.read().begin_read()?;
        let tables = Arc::new(KeyTables {
            ids: txn.open_table(NODE_IDS).map_err(redb_err)?,
            keys: txn.open_table(NODE_KEYS).map_err(redb_err)?,
        });
        *slot = Some(Arc::clone(&tables));
        Ok(tables)
    }

    pub(crate) fn node_id(&self, key: &str) -> Result<Option<NodeId>> {
        contain(|| {
            let tables = self.key_tables()?;
            Ok(tables.ids.get(key).map_err(redb_err)?.map(|v| v.value()))
        })
    }

    pub(crate) fn node_key(&self, id: NodeId) -> Result<Option<String>> {
        contain(|| {
            let tables = self.key_tables()?;
            Ok(tables
                .keys
                .get(id)
                .map_err(redb_err)?
                .map(|v| v.value().to_string()))
        })
    }

    /// Ids of the checkpointed nodes whose key starts with `prefix` (a range scan).
    pub(crate) fn node_ids_with_prefix(&self, prefix: &str) -> Result<Vec<NodeId>> {
        contain(|| {
            let txn = self.db.read().begin_read()?;
            let table = txn.open_table(NODE_IDS).map_err(redb_err)?;
            let mut ids = Vec::new();
            for entry in table.range(prefix..).map_err(redb_err)? {
                let (key, id) = entry.map_err(redb_err)?;
                if !key.value().starts_with(prefix) {
                    break;
                }
                ids.push(id.value());
            }
            Ok(ids)
        })
    }

    /// Every checkpointed node key, indexed by id; fails if the ids are not dense.
    pub(crate) fn node_keys(&self) -> Result<Vec<String>> {
        contain(|| {
            let txn = self.db.read().begin_read()?;
            let table = txn.open_table(NODE_KEYS).map_err(redb_err)?;
            // The length comes from a redb page walkdb cannot checksum: a flipped high bit made
            // it ask for terabytes (an abort, not an error). Reserve only a bounded amount; the
            // loop grows the vector by what the table really holds.
            let len = table.len().map_err(redb_err)?;
            let mut keys = Vec::with_capacity(len.min(1 << 16) as usize);
            for entry in table.iter().map_err(redb_err)? {
                let (id, key) = entry.map_err(redb_err)?;
                if id.value() as usize != keys.len() {
                    return Err(Error::corrupt(
                        CATALOG_FILE,
                        0,
                        format!("node ids are not dense at id {}", id.value()),
                    ));
                }
                keys.push(key.value().to_string());
            }
            Ok(keys)
        })
    }

    /// Every relation name, indexed by id.
    pub(crate) fn relations(&self) -> Result<Vec<String>> {
        contain(|| {
            let txn = self.db.read().begin_read()?;
            let table = txn.open_table(REL_NAMES).map_err(redb_err)?;
            let mut names = Vec::new();
            for entry in table.iter().map_err(redb_err)? {
                let (id, name) = entry.map_err(redb_err)?;
                if id.value() as usize != names.len() {
                    return Err(Error::corrupt(
                        CATALOG_FILE,
                        0,
                        format!("relation ids are not dense at id {}", id.value()),
                    ));
                }
                names.push(name.value().to_string());
            }
            // Relation names are read at every open and served with every edge, from redb pages
            // walkdb cannot checksum: check each is a valid name that maps back to its id (a
            // flipped length byte once served relation "r" as "").
            let ids = txn.open_table(REL_IDS).map_err(redb_err)?;
            if ids.len().map_err(redb_err)? != names.len() as u64 {
                return Err(Error::corrupt(
                    CATALOG_FILE,
                    0,
                    "relation_ids and relation_names differ in size",
                ));
            }
            for (id, name) in names.iter().enumerate() {
                if crate::graph::validate_key(name, "relation name").is_err()
                    || ids.get(name.as_str()).map_err(redb_err)?.map(|v| v.value())
                        != Some(id as u32)
                {
                    return Err(Error::corrupt(
                        CATALOG_FILE,
                        0,
                        format!(
                            "relation {id} '{}' is invalid or does not map back to its id",
                            name.escape_debug()
                        ),
                    ));
                }
            }
            Ok(names)
        })
    }

    /// Checks that the key tables are inverse to each other and hold `node_count` nodes.
    pub(crate) fn verify(&self, node_count: u32, relation_count: u32) -> Result<()> {
        contain(|| {
            let keys = self.node_keys()?;
            if keys.len() != node_count as usize {
                return Err(Error::corrupt(
                    CATALOG_FILE,
                    0,
                    format!("{} node keys, manifest says {node_count}", keys.len()),
                ));
            }
            let txn = self.db.read().begin_read()?;
            let ids = txn.open_table(NODE_IDS).map_err(redb_err)?;
            if ids.len().map_err(redb_err)? != keys.len() as u64 {
                return Err(Error::corrupt(
                    CATALOG_FILE,
                    0,
                    "node_ids and node_keys differ in size",
                ));
            }
            for (id, key) in keys.iter().enumerate() {
                if crate::graph::validate_key(key, "node key").is_err()
                    || ids.get(key.as_str()).map_err(redb_err)?.map(|v| v.value())
                        != Some(id as u32)
                {
                    return Err(Error::corrupt(
                        CATALOG_FILE,
                        0,
                        format!("node key '{key}' does not map back to id {id}"),
                    ));
                }
            }
            let rels = self.relations()?;
            if rels.len() != relation_count as usize {
                return Err(Error::corrupt(
                    CATALOG_FILE,
                    0,
                    format!("{} relations, manifest says {relation_count}", rels.len()),
                ));
            }
            Ok(())
        })
    }

    /// Atomically adds the new keys and relations and switches the manifest.
    pub(crate) fn commit_checkpoint(
        &self,
        new_nodes: &[(NodeId, &str)],
        new_relations: &[(RelId, &str)],
        manifest: &Manifest,
    ) -> Result<()> {
        self.checkpoint_txn(new_nodes, new_relations, || Some(manifest.clone()))
            .map(|_| ())
    }

    /// Starts the catalog half of a generation switch: a helper thread of `scope` opens the
    /// write transaction and inserts `new_nodes` and `new_relations` while the caller writes
    /// the generation's files (the inserts are most of the catalog's time: 0.23 of 0.25 s
    /// for WordNet's 265k keys, on a core the walk build leaves idle part of the time);
    /// [`StagedCheckpoint::commit`] then adds the manifest and commits, once the files are in
    /// place. Nothing is visible before that commit; dropping the stage aborts the
    /// transaction. Where no thread can be started, everything happens at the commit.
    pub(crate) fn stage_checkpoint<'scope, 'env>(
        &'env self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        new_nodes: &'env [(NodeId, &'env str)],
        new_relations: &'env [(RelId, &'env str)],
    ) -> StagedCheckpoint<'env> {
        let (manifest_tx, manifest_rx) = std::sync::mpsc::sync_channel::<Manifest>(1);
        let (result_tx, result_rx) = std::sync::mpsc::sync_channel::<Result<bool>>(1);
        let spawned = std::thread::Builder::new()
            .name("walkdb-catalog".into())
            .spawn_scoped(scope, move || {
                // A closed manifest channel: the switch was abandoned.
                let outcome =
                    self.checkpoint_txn(new_nodes, new_relations, || manifest_rx.recv().ok());
                let _ = result_tx.send(outcome);
            });
        match spawned {
            Ok(_) => StagedCheckpoint::Staged {
                manifest: manifest_tx,
                result: result_rx,
            },
            Err(_) => StagedCheckpoint::Later {
                catalog: self,
                new_nodes,
                new_relations,
            },
        }
    }

    /// One checkpoint transaction: inserts the keys and relations, then asks `manifest` for
    /// the manifest; with one, writes it and commits (true), without, aborts (false).
    fn checkpoint_txn(
        &self,
        new_nodes: &[(NodeId, &str)],
        new_relations: &[(RelId, &str)],
        manifest: impl FnOnce() -> Option<Manifest>,
    ) -> Result<bool> {
        contain(|| {
            // Held while a staged transaction waits for its manifest (the whole walk build of
            // an import). Safe because the writer's handle is never write-locked: only a
            // read-only handle's `follow_writer` takes `db.write()`, and on a read-only handle
            // the transaction fails before it waits. A writer-side `db.write()` added later would block readers
            // behind this guard (parking_lot is fair) and could deadlock the switch.
            let db = self.db.read();
            let txn = db.writable()?.begin_write().map_err(redb_err)?;
            {
                let mut ids = txn.open_table(NODE_IDS).map_err(redb_err)?;
                let mut keys = txn.open_table(NODE_KEYS).map_err(redb_err)?;
                // In key order for the key -> id table and id order for the other: sequential
                // B-tree inserts touch each page once instead of at random (a bulk import of
                // 265k keys spent most of its catalog time on random inserts). The key sort
                // (0.33 s for 1.9M keys) runs on a helper thread while the id -> key table is
                // filled (0.8 s); without a thread it runs first.
                let mut by_key: Vec<(&str, NodeId)> =
                    new_nodes.iter().map(|&(id, key)| (key, id)).collect();
                let by_key = std::thread::scope(|scope| -> Result<Vec<(&str, NodeId)>> {
                    let sorting = std::thread::Builder::new()
                        .name("walkdb-catalog-sort".into())
                        .spawn_scoped(scope, || {
                            let mut sorted = std::mem::take(&mut by_key);
                            sorted.sort_unstable();
                            sorted
                        })
                        .ok();
                    let mut by_id: Vec<(NodeId, &str)> = new_nodes.to_vec();
                    by_id.sort_unstable_by_key(|&(id, _)| id);
                    for (id, key) in by_id {
                        keys.insert(id, key).map_err(redb_err)?;
                    }
                    Ok(match sorting.map(|thread| thread.join()) {
                        Some(Ok(sorted)) => sorted,
                        // No thread (or it panicked, leaving the list taken): sort here.
                        _ => {
                            let mut sorted: Vec<(&str, NodeId)> =
                                new_nodes.iter().map(|&(id, key)| (key, id)).collect();
                            sorted.sort_unstable();
                            sorted
                        }
                    })
                })?;
                for (key, id) in by_key {
                    ids.insert(key, id).map_err(redb_err)?;
                }
                let mut rel_ids = txn.open_table(REL_IDS).map_err(redb_err)?;
                let mut rel_names = txn.open_table(REL_NAMES).map_err(redb_err)?;
                for &(id, name) in new_relations {
                    rel_ids.insert(name, id).map_err(redb_err)?;
                    rel_names.insert(id, name).map_err(redb_err)?;
                }
            }
            let Some(manifest) = manifest() else {
                txn.abort().map_err(redb_err)?;
                return Ok(false);
            };
            {
                let mut meta = txn.open_table(META).map_err(redb_err)?;
                meta.insert("manifest", manifest.encode().as_slice())
                    .map_err(redb_err)?;
            }
            txn.commit().map_err(redb_err)?;
            self.renew();
            Ok(true)
        })
    }
}

/// The catalog half of a generation switch, staged by [`Catalog::stage_checkpoint`].
pub(crate) enum StagedCheckpoint<'a> {
    /// A helper thread holds the transaction, its keys inserted (or being inserted), and
    /// waits for the manifest; dropping the sender aborts the transaction.
    Staged {
        manifest: std::sync::mpsc::SyncSender<Manifest>,
        result: std::sync::mpsc::Receiver<Result<bool>>,
    },
    /// No helper thread: the whole transaction runs at the commit.
    Later {
        catalog: &'a Catalog,
        new_nodes: &'a [(NodeId, &'a str)],
        new_relations: &'a [(RelId, &'a str)],
    },
}

impl StagedCheckpoint<'_> {
    /// Adds `manifest` and commits: the new keys, relations and manifest, atomically.
    pub(crate) fn commit(self, manifest: &Manifest) -> Result<()> {
        match self {
            StagedCheckpoint::Staged {
                manifest: to_helper,
                result,
            } => {
                // A closed channel: the helper stopped at an error, which `result` holds.
                let _ = to_helper.send(manifest.clone());
                match result.recv() {
                    Ok(Ok(true)) => Ok(()),
                    Ok(Ok(false)) => Err(Error::internal(
                        "the catalog transaction ended without its manifest",
                    )),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(Error::internal(
                        "the catalog's helper thread stopped without an answer",
                    )),
                }
            }
            StagedCheckpoint::Later {
                catalog,
                new_nodes,
                new_relations,
            } => catalog.commit_checkpoint(new_nodes, new_relations, manifest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::SimBackend;

    #[test]
    fn manifest_and_keys_survive_reopen() {
        let backend: Arc<dyn StorageBackend> = Arc::new(SimBackend::new());
        let options = Options {
            undirected: true,
            alpha: 0.15,
            walks_per_node: 4.0,
        };
        let mut manifest = first_manifest();
        let catalog = Catalog::create(&backend, &options, &manifest).unwrap();
        manifest.node_count = 2;
        manifest.relation_count = 1;
        catalog
            .commit_checkpoint(&[(0, "a"), (1, "b")], &[(0, "r")], &manifest)
            .unwrap();
        drop(catalog);
        let (catalog, o, m) = Catalog::open(&backend).unwrap();
        assert_eq!((o, m), (options, manifest));
        assert_eq!(catalog.node_id("b").unwrap(), Some(1));
        assert_eq!(catalog.node_keys().unwrap(), vec!["a", "b"]);
        catalog.verify(2, 1).unwrap();
    }

    /// The manifest of a new database's first generation.
    fn first_manifest() -> Manifest {
        Manifest {
            generation: 1,
            checkpoint_lsn: 0,
            node_count: 0,
            relation_count: 0,
            edge_count: 0,
            segment: "adj/00000000000000000001.seg".into(),
            walks: "walks/00000000000000000001.wix".into(),
        }
    }

    /// A new catalog of generation 1 on a simulated backend, closed, with its manifest.
    fn empty_catalog() -> (Arc<dyn StorageBackend>, Manifest) {
        let backend: Arc<dyn StorageBackend> = Arc::new(SimBackend::new());
        let options = Options {
            undirected: false,
            alpha: 0.5,
            walks_per_node: 1.0,
        };
        let manifest = first_manifest();
        drop(Catalog::create(&backend, &options, &manifest).unwrap());
        (backend, manifest)
    }

    /// A staged checkpoint commits keys, relations and manifest together when given the
    /// manifest, and leaves the catalog as it was when dropped before that (a failed switch);
    /// the catalog then takes the next checkpoint as if nothing had happened.
    #[test]
    fn a_staged_checkpoint_commits_whole_or_not_at_all() {
        let (backend, first) = empty_catalog();
        let (catalog, _, _) = Catalog::open(&backend).unwrap();
        let keys: Vec<String> = (0..2000).map(|i| format!("k{}", 1999 - i)).collect();
        let nodes: Vec<(NodeId, &str)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (i as NodeId, k.as_str()))
            .collect();
        let relations = [(0, "r")];
        let second = Manifest {
            generation: 2,
            node_count: 2000,
            relation_count: 1,
            segment: "adj/00000000000000000002.seg".into(),
            walks: "walks/00000000000000000002.wix".into(),
            ..first.clone()
        };
        // Abandoned: the helper's transaction is aborted.
        std::thread::scope(|scope| {
            let staged = catalog.stage_checkpoint(scope, &nodes, &relations);
            assert!(matches!(staged, StagedCheckpoint::Staged { .. }));
            drop(staged);
        });
        assert_eq!(catalog.node_id("k5").unwrap(), None);
        assert_eq!(catalog.options_and_manifest().unwrap().1, first);
        // Committed: everything at once, seen after a reopen.
        std::thread::scope(|scope| {
            let staged = catalog.stage_checkpoint(scope, &nodes, &relations);
            staged.commit(&second).unwrap();
        });
        assert_eq!(catalog.node_id("k5").unwrap(), Some(1994));
        drop(catalog);
        let (catalog, _, manifest) = Catalog::open(&backend).unwrap();
        assert_eq!(manifest, second);
        assert_eq!(catalog.node_key(1999).unwrap().as_deref(), Some("k0"));
        catalog.verify(2000, 1).unwrap();
    }

    /// A failure of the helper's transaction (here: a read-only catalog refuses to write)
    /// is the commit's error.
    #[test]
    fn a_staged_checkpoint_reports_the_helpers_error() {
        let (backend, manifest) = empty_catalog();
        let (catalog, _, _) = Catalog::open_read_only(&backend).unwrap();
        let err = std::thread::scope(|scope| {
            catalog
                .stage_checkpoint(scope, &[(0, "a")], &[])
                .commit(&manifest)
        })
        .unwrap_err();
        assert!(matches!(err, Error::ReadOnly(_)), "{err}");
    }

    #[test]
    fn a_manifest_naming_another_path_is_damage() {
        let good = Manifest {
            generation: 3,
            checkpoint_lsn: 7,
            node_count: 1,
            relation_count: 1,
            edge_count: 1,
            segment: "adj/00000000000000000003.seg".into(),
            walks: "walks/00000000000000000003.wix".into(),
        };
        assert_eq!(Manifest::decode(&good.encode()).unwrap(), good);
        for (segment, walks) in [
            ("../../etc/passwd", "walks/00000000000000000003.wix"),
            (
                "adj/00000000000000000002.seg",
                "walks/00000000000000000003.wix",
            ),
            ("adj/00000000000000000003.seg", "/tmp/x"),
            ("", ""),
        ] {
            let bad = Manifest {
                segment: segment.into(),
                walks: walks.into(),
                ..good.clone()
            };
            assert!(
                Manifest::decode(&bad.encode()).is_err(),
                "{segment} {walks}"
            );
        }
        let mut flipped = good.encode();
        flipped[12] ^= 1;
        assert!(
            Manifest::decode(&flipped).is_err(),
            "the checksum covers every field"
        );
    }
}
