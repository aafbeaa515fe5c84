//! Group commit: many committers, one fdatasync.
//!
//! With [`super::Durability::Group`] a commit appends its WAL records and publishes its version
//! under the writer lock, then releases the writer and waits until a sync covers its LSN. The
//! first waiter to find no sync running becomes the leader: it takes the WAL file and the last
//! LSN appended to it, syncs the file without holding any lock, records that LSN as durable and
//! wakes the others. Commits that arrived during the sync are covered by the next leader's
//! single sync, so N concurrent committers share far fewer than N syncs while each `commit`
//! still returns only once its own transaction is durable.
//!
//! A failed sync is fatal (never retried: the kernel may have dropped the dirty pages): the
//! leader records the failure, every waiter gets [`Error::Poisoned`], and the writer is
//! poisoned until the database is reopened.

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::wal::WalSync;

/// Shared state of the group-commit protocol.
#[derive(Debug, Default)]
pub(crate) struct GroupSync {
    state: Mutex<GroupState>,
    synced: Condvar,
}

#[derive(Debug, Default)]
struct GroupState {
    /// Every transaction up to this LSN is durable.
    durable_lsn: u64,
    /// The WAL file appended to last and the LSN of its last record.
    tail: Option<(WalSync, u64)>,
    /// A leader is syncing.
    syncing: bool,
    /// The failure of a sync; once set, nothing becomes durable through this process.
    failed: Option<String>,
    /// Syncs made by leaders (figures for benchmarks and tests).
    syncs: u64,
}

impl GroupSync {
    /// Records an append (called under the writer lock, after the write).
    pub(crate) fn appended(&self, file: WalSync, lsn: u64) {
        let mut state = self.state.lock();
        state.tail = Some((file, lsn));
    }

    /// Records that every transaction up to `lsn` is durable by other means (an immediate sync,
    /// a checkpoint that folded them into a synced generation).
    pub(crate) fn mark_durable(&self, lsn: u64) {
        let mut state = self.state.lock();
        if lsn > state.durable_lsn {
            state.durable_lsn = lsn;
        }
        drop(state);
        self.synced.notify_all();
    }

    /// Number of syncs group-commit leaders made so far.
    pub(crate) fn sync_count(&self) -> u64 {
        self.state.lock().syncs
    }

    /// Returns once `lsn` is durable, syncing as the leader when no sync is running.
    /// `on_failure` is called once, by the leader whose sync failed, without any lock of this
    /// module held (it poisons the writer).
    pub(crate) fn wait_durable(
        &self,
        lsn: u64,
        on_failure: impl FnOnce(Error) -> Error,
    ) -> Result<()> {
        let mut state = self.state.lock();
        loop {
            if let Some(cause) = &state.failed {
                return Err(Error::poisoned(cause.clone()));
            }
            if state.durable_lsn >= lsn {
                return Ok(());
            }
            if state.syncing {
                self.synced.wait(&mut state);
                continue;
            }
            let Some((file, target)) = state.tail.clone() else {
                // Nothing was appended through this path: the LSN was made durable another
                // way, or the caller's append never happened (a bug); fail rather than hang.
                return Err(Error::poisoned(format!(
                    "group commit: LSN {lsn} was never appended"
                )));
            };
            state.syncing = true;
            drop(state);
            let result = file.sync();
            state = self.state.lock();
            state.syncing = false;
            state.syncs += 1;
            match result {
                Ok(()) => {
                    if target > state.durable_lsn {
                        state.durable_lsn = target;
                    }
                    drop(state);
                    self.synced.notify_all();
                }
                Err(e) => {
                    let error = Error::io(format!("syncing {}", file.name()), e);
                    state.failed = Some(error.to_string());
                    drop(state);
                    self.synced.notify_all();
                    return Err(on_failure(error));
                }
            }
            state = self.state.lock();
        }
    }
}
