//! The real file-system backend: positional I/O with `std::fs`, read-only memory maps.
//!
//! This is the one module that needs `unsafe`: mapping a file.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{CatalogAccess, CatalogStorage, FileBytes, StorageBackend, StorageFile};

/// Files in a directory of the local file system.
#[derive(Debug)]
pub struct FsBackend {
    root: PathBuf,
    lock: Mutex<Option<File>>,
}

impl FsBackend {
    /// A backend rooted at `root` (which must exist).
    pub fn new(root: impl AsRef<Path>) -> FsBackend {
        FsBackend {
            root: root.as_ref().to_path_buf(),
            lock: Mutex::new(None),
        }
    }

    /// A backend rooted at `root`, creating the directory (and its parents) if needed.
    pub fn create(root: impl AsRef<Path>) -> io::Result<FsBackend> {
        std::fs::create_dir_all(root.as_ref())?;
        Ok(FsBackend::new(root))
    }

    /// A backend rooted at `root` if it is an existing directory.
    pub fn existing(root: impl AsRef<Path>) -> Option<FsBackend> {
        root.as_ref().is_dir().then(|| FsBackend::new(root))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

#[derive(Debug)]
struct FsFile(File);

impl StorageFile for FsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl StorageBackend for FsBackend {
    fn create_dir(&self, dir: &str) -> io::Result<()> {
        std::fs::create_dir_all(self.path(dir))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.path(dir))? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        self.path(name).try_exists()
    }

    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .open(self.path(name))?;
        Ok(Arc::new(FsFile(file)))
    }

    fn map(&self, name: &str) -> io::Result<FileBytes> {
        let file = File::open(self.path(name))?;
        if file.metadata()?.len() == 0 {
            return Ok(FileBytes::from_vec(Vec::new()));
        }
        // SAFETY: the map is read-only, and walkdb maps only immutable generation files that
        // it never writes, truncates or renames over while a `FileBytes` is alive (a new
        // generation is a new file; old ones are deleted only when no view remains). Another
        // process truncating the file would raise SIGBUS; the directory lock keeps other walkdb
        // processes out, and the format spec tells operators not to edit files of an open
        // database.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(FileBytes::new(Arc::new(map)))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.path(from), self.path(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.path(name))
    }

    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        File::open(self.path(dir))?.sync_all()
    }

    fn try_lock(&self) -> io::Result<bool> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.path(crate::layout::LOCK_FILE))?;
        match file.try_lock() {
            Ok(()) => {
                *self.lock.lock() = Some(file);
                Ok(true)
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn unlock(&self) -> io::Result<()> {
        match self.lock.lock().take() {
            Some(file) => file.unlock(),
            None => Ok(()),
        }
    }

    fn writer_active(&self) -> io::Result<bool> {
        if self.lock.lock().is_some() {
            return Ok(true);
        }
        // Opened for reading only: a missing LOCK file means no writer ever opened it.
        let file = match File::open(self.path(crate::layout::LOCK_FILE)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        // A shared lock is refused only while a writer holds the exclusive one; it is
        // released at once (a writer opening in that instant would see the directory busy).
        match file.try_lock_shared() {
            Ok(()) => {
                file.unlock()?;
                Ok(false)
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(name))
    }

    fn file_len(&self, name: &str) -> io::Result<u64> {
        Ok(std::fs::metadata(self.path(name))?.len())
    }

    fn open_catalog(&self, name: &str, access: CatalogAccess) -> io::Result<CatalogStorage> {
        let mut options = OpenOptions::new();
        options.read(true);
        match access {
            CatalogAccess::Create => options.write(true).create(true).truncate(false),
            CatalogAccess::Write => options.write(true),
            CatalogAccess::Read => &mut options,
        };
        let file = options.open(self.path(name))?;
        // Infallible without redb's experimental API; its error type is redb's own.
        redb::backends::FileBackend::new(file)
            .map(CatalogStorage::Shared)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}
