//! Appending to the WAL.

use std::sync::Arc;

use super::{encode_file_header, encode_record, wal_file_name, RecordKind, MAX_PAYLOAD, WAL_DIR};
use crate::backend::{StorageBackend, StorageFile};

/// Syncs one WAL file, apart from its writer: the group-commit leader syncs while the writer
/// appends the next transaction.
#[derive(Clone, Debug)]
pub(crate) struct WalSync {
    file: Arc<dyn StorageFile>,
    name: String,
}

impl WalSync {
    /// Makes every record appended to the file so far durable (fdatasync).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// The file's name, for errors.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// Appends transactions to the current WAL file. Owned by the single writer.
#[derive(Debug)]
pub(crate) struct WalWriter {
    file: Arc<dyn StorageFile>,
    name: String,
    offset: u64,
    first_lsn: u64,
    next_lsn: u64,
    buf: Vec<u8>,
}

impl WalWriter {
    /// Starts a new WAL file whose first record will have `first_lsn`, durably (file and
    /// directory entry synced) before it returns.
    ///
    /// The header is written to `<name>.tmp`, synced, and only then renamed into place, so a
    /// WAL file under its real name always has a durable header: recovery can then treat a
    /// missing or damaged header as corruption. (Creating the file in place would leave, after
    /// a crash, an empty file indistinguishable from one whose committed records were lost.)
    pub(crate) fn create(
        backend: &dyn StorageBackend,
        first_lsn: u64,
    ) -> std::io::Result<WalWriter> {
        let name = wal_file_name(first_lsn);
        let tmp = format!("{name}.tmp");
        let file = backend.open(&tmp, true)?;
        file.set_len(0)?;
        let header = encode_file_header(first_lsn);
        file.write_at(0, &header)?;
        file.sync_data()?;
        backend.rename(&tmp, &name)?;
        backend.sync_dir(WAL_DIR)?;
        Ok(WalWriter {
            file,
            name,
            offset: header.len() as u64,
            first_lsn,
            next_lsn: first_lsn,
            buf: Vec::new(),
        })
    }

    /// Continues an existing file after recovery: cuts off the torn or uncommitted tail at
    /// `valid_len` (durably) so new records follow the last committed one.
    pub(crate) fn resume(
        backend: &dyn StorageBackend,
        name: &str,
        valid_len: u64,
        first_lsn: u64,
        next_lsn: u64,
    ) -> std::io::Result<WalWriter> {
        let file = backend.open(name, false)?;
        if file.len()? != valid_len {
            file.set_len(valid_len)?;
            file.sync_data()?;
        }
        Ok(WalWriter {
            file,
            name: name.to_string(),
            offset: valid_len,
            first_lsn,
            next_lsn,
            buf: Vec::new(),
        })
    }

    /// The LSN of the first record of the current file.
    pub(crate) fn first_lsn(&self) -> u64 {
        self.first_lsn
    }

    /// Name of the file being appended to.
    pub(crate) fn file_name(&self) -> &str {
        &self.name
    }

    /// Appends one transaction (split into records of at most `MAX_PAYLOAD` bytes) with a
    /// single write, and returns its LSN (the commit record's). Not durable until `sync`.
    pub(crate) fn append(&mut self, payload: &[u8]) -> std::io::Result<u64> {
        self.buf.clear();
        let mut chunks = payload.chunks(MAX_PAYLOAD).peekable();
        let mut lsn = self.next_lsn;
        if chunks.peek().is_none() {
            encode_record(lsn, RecordKind::Commit, &[], &mut self.buf);
        }
        while let Some(chunk) = chunks.next() {
            let kind = if chunks.peek().is_some() {
                RecordKind::Part
            } else {
                RecordKind::Commit
            };
            encode_record(lsn, kind, chunk, &mut self.buf);
            lsn += 1;
        }
        let commit_lsn = if payload.is_empty() { lsn } else { lsn - 1 };
        self.file.write_at(self.offset, &self.buf)?;
        self.offset += self.buf.len() as u64;
        self.next_lsn = commit_lsn + 1;
        Ok(commit_lsn)
    }

    /// Makes everything appended so far durable (fdatasync).
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    /// Bytes in the current file (header included).
    pub(crate) fn len(&self) -> u64 {
        self.offset
    }

    /// The LSN of the last record appended (to this file or, after a rotation, before it).
    pub(crate) fn last_lsn(&self) -> u64 {
        self.next_lsn.saturating_sub(1)
    }

    /// The file being appended to, for a group-commit leader to sync without the writer.
    /// A handle that syncs the current file (see [`WalSync`]).
    pub(crate) fn sync_handle(&self) -> WalSync {
        WalSync {
            file: Arc::clone(&self.file),
            name: self.name.clone(),
        }
    }
}
