//! The storage backend: every write, sync, rename and delete walkdb makes goes through
//! [`StorageBackend`], so a test backend can simulate crashes and I/O errors.
//!
//! Paths are names relative to the database directory ("wal/00000001.log"). Reads of whole
//! immutable files go through [`StorageBackend::map`], which the file-system backend serves with
//! a read-only memory map; nothing is ever written through a mapping.
//!
//! Architecture invariant: only this module touches the operating system's file API.

mod fs;
#[cfg(any(test, feature = "testing"))]
mod sim;

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, Deref};
use std::sync::Arc;

use redb::BackendError;

pub use fs::FsBackend;
#[cfg(any(test, feature = "testing"))]
pub use sim::{CrashMode, FailMode, SimBackend};

/// A read-only view of a whole file: a memory map, or bytes held in memory.
#[derive(Clone)]
pub struct FileBytes(Arc<dyn Deref<Target = [u8]> + Send + Sync>);

impl FileBytes {
    /// Wraps any shared byte container.
    pub fn new(bytes: Arc<dyn Deref<Target = [u8]> + Send + Sync>) -> FileBytes {
        FileBytes(bytes)
    }

    /// Bytes held in memory.
    pub fn from_vec(bytes: Vec<u8>) -> FileBytes {
        FileBytes(Arc::new(bytes))
    }
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Debug for FileBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileBytes({} bytes)", self.len())
    }
}

/// An open file for positional reads and writes.
pub trait StorageFile: Send + Sync + Debug {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// True when the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Reads exactly `buf.len()` bytes at `offset`; an error past the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes all of `data` at `offset`, growing the file as needed (gaps read as zero).
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Truncates or zero-extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's data and length durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
}

/// A directory of files: the database's view of its storage.
pub trait StorageBackend: Send + Sync + Debug + 'static {
    /// Creates a sub-directory (idempotent).
    fn create_dir(&self, dir: &str) -> io::Result<()>;
    /// Names of the files directly in `dir` ("" for the root), sorted.
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;
    /// True if the file exists.
    fn exists(&self, name: &str) -> io::Result<bool>;
    /// Opens a file for reading and writing, creating it (empty) when `create` is set.
    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn StorageFile>>;
    /// A read-only view of the whole file as it is now. The caller guarantees the file is never
    /// written, truncated or renamed over while a view is alive (walkdb maps only immutable,
    /// generation-numbered files).
    fn map(&self, name: &str) -> io::Result<FileBytes>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Deletes a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, deletions) durable.
    fn sync_dir(&self, dir: &str) -> io::Result<()>;
    /// Takes the exclusive lock of the database directory; false when another handle holds it.
    fn try_lock(&self) -> io::Result<bool>;
    /// Releases the directory lock taken by [`StorageBackend::try_lock`] (a no-op without one).
    fn unlock(&self) -> io::Result<()>;
    /// True when some handle (of any process) holds the directory lock: a writer is live.
    fn writer_active(&self) -> io::Result<bool>;
    /// The whole file read into memory, without opening it for writing: how read-only handles
    /// and the inspection tool read files another process may still append to, truncate or
    /// delete (a map of such a file could fault).
    fn read_all(&self, name: &str) -> io::Result<Vec<u8>>;
    /// Length of a file, without opening it for writing.
    fn file_len(&self, name: &str) -> io::Result<u64>;
    /// Opens `name` as the catalog's redb storage. The default adapts [`StorageBackend::open`],
    /// which cannot take redb's byte-range locks, so only one process may use the catalog (redb's
    /// exclusive mode); a backend whose files other processes can open returns storage that
    /// takes them (see [`CatalogStorage::shared`]).
    fn open_catalog(&self, name: &str, access: CatalogAccess) -> io::Result<CatalogStorage> {
        if access == CatalogAccess::Read {
            // The adapter opens files read-write; a copy in memory keeps every byte unwritten.
            return Ok(CatalogStorage::Memory(MemoryFile::new(
                self.read_all(name)?,
            )));
        }
        let file = self.open(name, access == CatalogAccess::Create)?;
        Ok(CatalogStorage::Adapted(file))
    }
}

/// How the catalog file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatalogAccess {
    /// Created if missing, read and written.
    Create,
    /// Read and written.
    Write,
    /// Only read: no byte of the file is ever written.
    Read,
}

/// The storage redb runs the catalog on.
#[derive(Debug)]
pub enum CatalogStorage {
    /// A file of the local file system, with redb's byte-range locks: a writer in one process
    /// and read-only handles in others share it (redb's single-writer mode).
    Shared(redb::backends::FileBackend),
    /// A file of a [`StorageBackend`] without locks (its writes and syncs go through the
    /// backend, so crash tests cover redb too): one process only.
    Adapted(Arc<dyn StorageFile>),
    /// A private copy in memory: read-only handles of a backend without locks, and the
    /// read-only repair of a catalog a crashed writer left unclean.
    Memory(MemoryFile),
}

impl CatalogStorage {
    /// True when other processes may open the same catalog at the same time.
    pub fn shared(&self) -> bool {
        matches!(self, CatalogStorage::Shared(_))
    }
}

/// A file held in memory (never written back anywhere).
#[derive(Debug, Default)]
pub struct MemoryFile(parking_lot::RwLock<Vec<u8>>);

impl MemoryFile {
    /// A file holding `bytes`.
    pub fn new(bytes: Vec<u8>) -> MemoryFile {
        MemoryFile(parking_lot::RwLock::new(bytes))
    }
}

impl StorageFile for MemoryFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.read().len() as u64)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let bytes = self.0.read();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start
            .checked_add(buf.len())
            .and_then(|end| bytes.get(start..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read of {} bytes at {offset} past the end", buf.len()),
            )),
        }
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut bytes = self.0.write();
        let start = usize::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))?;
        let end = start
            .checked_add(data.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))?;
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(data);
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length out of range"))?;
        self.0.write().resize(len, 0);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
}

impl CatalogStorage {
    /// Runs `shared` on redb's file backend, or `plain` on a file without locks.
    fn with<T>(
        &self,
        shared: impl FnOnce(&redb::backends::FileBackend) -> T,
        plain: impl FnOnce(&dyn StorageFile) -> T,
    ) -> T {
        match self {
            CatalogStorage::Shared(s) => shared(s),
            CatalogStorage::Adapted(file) => plain(&**file),
            CatalogStorage::Memory(file) => plain(file),
        }
    }
}

impl redb::StorageBackend for CatalogStorage {
    fn len(&self) -> io::Result<u64> {
        self.with(|s| s.len(), |f| f.len())
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        match self {
            CatalogStorage::Shared(s) => s.read(offset, out),
            CatalogStorage::Adapted(file) => file.read_at(offset, out),
            CatalogStorage::Memory(file) => file.read_at(offset, out),
        }
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with(|s| s.set_len(len), |f| f.set_len(len))
    }
    fn sync_data(&self) -> io::Result<()> {
        self.with(|s| s.sync_data(), |f| f.sync_data())
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.with(|s| s.write(offset, data), |f| f.write_at(offset, data))
    }
    fn close(&self) -> io::Result<()> {
        match self {
            CatalogStorage::Shared(s) => s.close(),
            _ => Ok(()),
        }
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        match self {
            CatalogStorage::Shared(s) => s.try_lock_range(start, end),
            _ => Err(BackendError::Unsupported),
        }
    }
    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        match self {
            CatalogStorage::Shared(s) => s.try_lock_shared_range(start, end),
            _ => Err(BackendError::Unsupported),
        }
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        match self {
            CatalogStorage::Shared(s) => s.lock_range(start, end),
            _ => Err(BackendError::Unsupported),
        }
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        match self {
            CatalogStorage::Shared(s) => s.lock_shared_range(start, end),
            _ => Err(BackendError::Unsupported),
        }
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        match self {
            CatalogStorage::Shared(s) => s.unlock_range(start, end),
            _ => Err(BackendError::Unsupported),
        }
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        match self {
            CatalogStorage::Shared(s) => s.query_lock_range(start, end),
            _ => Err(BackendError::Unsupported),
        }
    }
}

/// Bytes a large file gets between the background syncs of [`with_eager_sync`].
pub(crate) const EAGER_SYNC_BYTES: u64 = 64 << 20;

/// A file being written whose written bytes are synced in the background as they go, so its
/// dirty pages reach the disk while the writer works on (see [`with_eager_sync`]).
pub(crate) struct EagerSync<'a> {
    file: &'a dyn StorageFile,
    every: u64,
    /// Bytes written since the last sync was asked for.
    unsynced: std::sync::atomic::AtomicU64,
    /// Asks the sync thread for a sync (capacity 1: a request already waiting covers this one).
    requests: Option<std::sync::mpsc::SyncSender<()>>,
    /// Set by the sync thread when a sync failed: later writes fail at once.
    failed: &'a std::sync::atomic::AtomicBool,
}

impl EagerSync<'_> {
    /// The file.
    pub(crate) fn file(&self) -> &dyn StorageFile {
        self.file
    }

    /// Writes `data` at `offset`, then asks for a background sync once `every` bytes have
    /// been written since the last request.
    pub(crate) fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        use std::sync::atomic::Ordering;
        if self.failed.load(Ordering::Relaxed) {
            // The sync's own error is what `with_eager_sync` returns.
            return Err(io::Error::other(
                "an earlier background sync of this file failed",
            ));
        }
        self.file.write_at(offset, data)?;
        let unsynced = self
            .unsynced
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if unsynced + data.len() as u64 >= self.every {
            self.unsynced.store(0, Ordering::Relaxed);
            if let Some(requests) = &self.requests {
                // Full: a sync is already waiting to start, and it will cover these bytes.
                let _ = requests.try_send(());
            }
        }
        Ok(())
    }
}

/// Runs `write` with `file` wrapped so that about every `every` bytes written are synced by a
/// background thread while `write` goes on; returns what `write` returned, or the first
/// error of a background sync (after which every write fails at once, so a long build
/// does not run on to its end on a file that cannot be made durable). The caller still
/// syncs the file at the end (that sync then finds little left to write).
///
/// Why: the kernel lets a file's dirty pages pile up until a tenth of the memory is dirty,
/// then writes them back while throttling the writer; the final sync of a multi-gigabyte
/// walk file waited on all of it. Syncing as the file grows keeps the disk busy while the
/// build computes (RocksDB's `bytes_per_sync` does the same). Files smaller than `every`
/// never start a sync, and without a thread (spawning failed) the writes go on unsynced.
pub(crate) fn with_eager_sync<T>(
    file: &dyn StorageFile,
    every: u64,
    write: impl FnOnce(&EagerSync<'_>) -> T,
) -> io::Result<T> {
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (requests, incoming) = std::sync::mpsc::sync_channel::<()>(1);
        let failed = &failed;
        let syncer = std::thread::Builder::new()
            .name("walkdb-sync".into())
            .spawn_scoped(scope, move || -> io::Result<()> {
                let mut first_error = Ok(());
                while incoming.recv().is_ok() {
                    if first_error.is_ok() {
                        first_error = file.sync_data();
                        if first_error.is_err() {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
                first_error
            })
            .ok();
        let eager = EagerSync {
            file,
            every: every.max(1),
            unsynced: Default::default(),
            requests: syncer.is_some().then_some(requests),
            failed,
        };
        let made = write(&eager);
        // Closing the channel ends the thread after the sync it may be running.
        drop(eager);
        if let Some(syncer) = syncer {
            syncer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the background sync thread panicked")))?;
        }
        Ok(made)
    })
}

/// Writes a new immutable file's bytes under `name.tmp`, synced, and returns that name: the
/// first half of an atomic write, whose rename into place (and directory sync) comes when
/// the file is to exist. A crash leaves no file or a stray `.tmp`, which open removes.
pub(crate) fn write_tmp(
    backend: &dyn StorageBackend,
    name: &str,
    bytes: &[u8],
) -> io::Result<String> {
    let tmp = format!("{name}.tmp");
    let file = backend.open(&tmp, true)?;
    file.set_len(0)?;
    // Large files are written in chunks so an injected failure can land mid-file.
    let mut offset = 0u64;
    for chunk in bytes.chunks(8 << 20) {
        file.write_at(offset, chunk)?;
        offset += chunk.len() as u64;
    }
    file.sync_data()?;
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eager_sync_syncs_as_the_file_grows_and_reports_a_failed_sync() {
        let backend = SimBackend::new();
        let file = backend.open("big.tmp", true).unwrap();
        backend.start_trace();
        let wrote = with_eager_sync(&*file, 1000, |eager| {
            for i in 0..10u64 {
                eager.write_at(i * 500, &[7u8; 500])?;
            }
            io::Result::Ok(())
        });
        assert!(matches!(wrote, Ok(Ok(()))));
        // 5,000 bytes at one request per 1,000: at least one sync ran, and no more than asked.
        let syncs = backend
            .trace()
            .iter()
            .filter(|op| op.starts_with("sync_data"))
            .count();
        assert!((1..=5).contains(&syncs), "{syncs} background syncs");
        // A small file starts no sync.
        let small = backend.open("small.tmp", true).unwrap();
        backend.start_trace();
        let wrote = with_eager_sync(&*small, 1000, |eager| eager.write_at(0, &[1u8; 999]));
        assert!(matches!(wrote, Ok(Ok(()))));
        assert!(!backend.trace().iter().any(|op| op.starts_with("sync_data")));
        // Every mutating operation fails from the first sync on: the write's own result is
        // what the writer saw, the sync's error comes back from the call.
        let failing = backend.open("failing.tmp", true).unwrap();
        let before = backend.op_count();
        // Operations: write 1, write 2 (reaches 1,000 and asks for a sync), the sync (3).
        backend.fail_at(before + 3, FailMode::FromThenOn, io::ErrorKind::Other);
        let wrote = with_eager_sync(&*failing, 1000, |eager| {
            eager.write_at(0, &[1u8; 500])?;
            eager.write_at(500, &[1u8; 500])
        });
        backend.clear_failures();
        let err = wrote.expect_err("the failed background sync is reported");
        assert_eq!(err.kind(), io::ErrorKind::Other);
        // A write after the failed sync fails at once, before reaching the file.
        let stopped = backend.open("stopped.tmp", true).unwrap();
        let before = backend.op_count();
        // Operations: the write (1), which asks for a sync, the sync (2).
        backend.fail_at(before + 2, FailMode::Once, io::ErrorKind::Other);
        let mut later = None;
        let wrote = with_eager_sync(&*stopped, 1000, |eager| {
            eager.write_at(0, &[1u8; 1000])?;
            // Wait (bounded) for the background sync to fail, then write again.
            for _ in 0..2000 {
                if eager.failed.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            later = Some(eager.write_at(1000, &[1u8; 10]));
            io::Result::Ok(())
        });
        backend.clear_failures();
        assert!(wrote.is_err(), "the failed sync is reported");
        assert!(matches!(later, Some(Err(_))), "the write after it failed");
        assert_eq!(
            backend.file_bytes("stopped.tmp").map(|b| b.len()),
            Some(1000)
        );
    }
}
