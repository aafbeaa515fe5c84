//! The storage backend: every write, sync, rename and delete walkdb makes goes through
//! [`StorageBackend`], so a test backend can simulate crashes and I/O errors.
//!
//! Paths are names relative to the database directory ("wal/00000001.log"). Reads of whole
//! immutable files go through [`StorageBackend::map`], which the file-system backend serves with
//! a read-only memory map; nothing is ever written through a mapping.
//!
//! Architecture invariant: only this module touches the operating system's file API.

mod fs;
mod sim;

use std::fmt::Debug;
use std::io;
use std::ops::Deref;
use std::sync::Arc;

pub use fs::FsBackend;
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
}

/// Adapts one of our files to redb's backend trait, so the catalog's writes and syncs also go
/// through the backend (and crash tests cover redb too).
#[derive(Debug)]
pub(crate) struct RedbFile(pub(crate) Arc<dyn StorageFile>);

impl redb::StorageBackend for RedbFile {
    fn len(&self) -> io::Result<u64> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.read_at(offset, out)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write_at(offset, data)
    }
}

/// Writes a new immutable file atomically: to `name.tmp`, synced, renamed into place, and the
/// directory synced. A crash leaves either no file or the whole file (a stray `.tmp` is
/// deleted on the next open).
pub(crate) fn write_file_atomic(
    backend: &dyn StorageBackend,
    dir: &str,
    name: &str,
    bytes: &[u8],
) -> io::Result<()> {
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
    drop(file);
    backend.rename(&tmp, name)?;
    backend.sync_dir(dir)
}
