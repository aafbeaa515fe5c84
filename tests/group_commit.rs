//! Group commit ([`Durability::Group`]): commits from several threads share syncs, and every
//! commit that returned is durable. Writer threads commit concurrently while the storage is
//! crashed under them at varying moments with every crash mode; the reopened database must
//! hold every acknowledged edge, and each thread's edges must form a prefix of what it sent.
//! A failed sync must fail the waiting commits and poison the database until reopened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::edge_set;
use parking_lot::{Condvar, Mutex};
use walkdb::backend::{CrashMode, FailMode, FileBytes, SimBackend, StorageBackend, StorageFile};
use walkdb::{Database, Durability, WriteError};

const THREADS: usize = 4;
const COMMITS: usize = 60;

fn group_db(sim: &SimBackend) -> walkdb::Result<Database> {
    group_db_on(Arc::new(sim.clone()))
}

fn group_db_on(backend: Arc<dyn StorageBackend>) -> walkdb::Result<Database> {
    Database::builder("sim")
        .backend(backend)
        .undirected(true)
        .durability(Durability::Group)
        .open_or_create()
        .map_err(Into::into)
}

fn key(thread: usize, i: usize) -> (String, String) {
    (format!("t{thread}"), format!("t{thread}-{i}"))
}

/// Starts the writers: THREADS threads, each committing COMMITS one-edge transactions and
/// recording each acknowledged (thread, i) in `acked`, until a commit fails.
fn start_writers(
    db: &Arc<Database>,
    acked: &Arc<Mutex<Vec<(usize, usize)>>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..THREADS)
        .map(|t| {
            let db = Arc::clone(db);
            let acked = Arc::clone(acked);
            std::thread::spawn(move || {
                for i in 0..COMMITS {
                    let (src, dst) = key(t, i);
                    let mut txn = match db.begin_write() {
                        Ok(txn) => txn,
                        Err(_) => return,
                    };
                    txn.add_edge(&src, "next", &dst, 1.0 + i as f64).unwrap();
                    if txn.commit().is_err() {
                        return;
                    }
                    acked.lock().push((t, i));
                }
            })
        })
        .collect()
}

/// Runs the writers; returns the acknowledged (thread, i) pairs recorded up to the crash
/// and the crashed image.
fn run_and_crash(
    db: &Arc<Database>,
    sim: &SimBackend,
    delay: Duration,
    mode: CrashMode,
) -> (Vec<(usize, usize)>, SimBackend) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let handles = start_writers(db, &acked);
    std::thread::sleep(delay);
    // Acknowledgements read before the crash were durable before it.
    let before = acked.lock().clone();
    let image = sim.crash(mode);
    for h in handles {
        h.join().unwrap();
    }
    (before, image)
}

#[test]
fn acknowledged_group_commits_survive_crashes_at_any_moment() {
    let mut rounds = 0;
    for (round, mode) in [
        CrashMode::DropAll,
        CrashMode::RandomSubset { seed: 7 },
        CrashMode::TornTail { seed: 11 },
    ]
    .into_iter()
    .cycle()
    .take(12)
    .enumerate()
    {
        let sim = SimBackend::new();
        let db = Arc::new(group_db(&sim).unwrap());
        let delay = Duration::from_micros(200 * round as u64);
        let (acked, image) = run_and_crash(&db, &sim, delay, mode);
        eprintln!(
            "round {round}: {} of {} commits acknowledged before the crash",
            acked.len(),
            THREADS * COMMITS
        );
        drop(db);
        image.release_lock();
        let reopened = group_db(&image).unwrap();
        let edges = edge_set(&reopened);
        for &(t, i) in &acked {
            let (src, dst) = key(t, i);
            assert!(
                edges.contains_key(&(src.clone(), "next".into(), dst.clone())),
                "round {round} {mode:?}: acknowledged {src}->{dst} lost"
            );
        }
        // Per thread, the recovered edges are a prefix of what it sent, with its weights.
        for t in 0..THREADS {
            let mine: Vec<usize> = (0..COMMITS)
                .filter(|&i| {
                    let (src, dst) = key(t, i);
                    edges.contains_key(&(src, "next".into(), dst))
                })
                .collect();
            assert_eq!(
                mine,
                (0..mine.len()).collect::<Vec<_>>(),
                "round {round}: thread {t}"
            );
        }
        assert_eq!(
            edges.len(),
            (0..THREADS)
                .map(|t| edges.keys().filter(|k| k.0 == format!("t{t}")).count())
                .sum::<usize>(),
            "no edge that was never sent"
        );
        reopened.verify().unwrap();
        rounds += 1;
    }
    assert_eq!(rounds, 12);
}

/// WAL appends seen by [`SlowSyncBackend`], and the condition its syncs wait on.
#[derive(Debug, Default)]
struct Appends {
    count: Mutex<u64>,
    arrived: Condvar,
}

/// The simulated storage with WAL syncs slow the way a disk's are: a sync of a WAL file first
/// waits until two more WAL appends arrived (commits of two other threads, which the next sync
/// then covers together: neither can be covered by this one), or 10 ms passed (when fewer
/// writers are free to commit). The test asserts counts only; the wait makes the overlap it
/// counts on a certainty on a loaded machine rather than a matter of scheduling.
#[derive(Debug)]
struct SlowSyncBackend {
    inner: SimBackend,
    appends: Arc<Appends>,
}

#[derive(Debug)]
struct SlowSyncFile {
    inner: Arc<dyn StorageFile>,
    wal: bool,
    appends: Arc<Appends>,
}

impl StorageFile for SlowSyncFile {
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write_at(offset, data)?;
        if self.wal {
            *self.appends.count.lock() += 1;
            self.appends.arrived.notify_all();
        }
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.wal {
            let mut count = self.appends.count.lock();
            let target = *count + 2;
            let deadline = Instant::now() + Duration::from_millis(10);
            while *count < target {
                if self
                    .appends
                    .arrived
                    .wait_until(&mut count, deadline)
                    .timed_out()
                {
                    break;
                }
            }
        }
        self.inner.sync_data()
    }
}

impl StorageBackend for SlowSyncBackend {
    fn create_dir(&self, dir: &str) -> io::Result<()> {
        self.inner.create_dir(dir)
    }
    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn exists(&self, name: &str) -> io::Result<bool> {
        self.inner.exists(name)
    }
    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        Ok(Arc::new(SlowSyncFile {
            inner: self.inner.open(name, create)?,
            wal: name.starts_with("wal/"),
            appends: Arc::clone(&self.appends),
        }))
    }
    fn map(&self, name: &str) -> io::Result<FileBytes> {
        self.inner.map(name)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)
    }
    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn try_lock(&self) -> io::Result<bool> {
        self.inner.try_lock()
    }
    fn unlock(&self) -> io::Result<()> {
        self.inner.unlock()
    }
    fn writer_active(&self) -> io::Result<bool> {
        self.inner.writer_active()
    }
    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        self.inner.read_all(name)
    }
    fn file_len(&self, name: &str) -> io::Result<u64> {
        self.inner.file_len(name)
    }
}

/// THREADS writers commit concurrently: every commit is acknowledged and lands, and they share
/// syncs - fewer group syncs than commits. Each commit waits for a sync covering its LSN, so
/// without sharing there would be one sync per commit; with syncs as slow as a disk's (see
/// [`SlowSyncBackend`]) commits of other threads arrive during every sync and the next one
/// covers them together.
#[test]
fn concurrent_group_commits_all_land_and_share_syncs() {
    let sim = SimBackend::new();
    let backend = SlowSyncBackend {
        inner: sim.clone(),
        appends: Arc::default(),
    };
    let db = Arc::new(group_db_on(Arc::new(backend)).unwrap());
    let before = db.group_sync_count();
    let acked = Arc::new(Mutex::new(Vec::new()));
    for h in start_writers(&db, &acked) {
        h.join().unwrap();
    }
    let commits = THREADS * COMMITS;
    assert_eq!(acked.lock().len(), commits, "every commit was acknowledged");
    assert_eq!(edge_set(&db).len(), commits);
    let syncs = db.group_sync_count() - before;
    eprintln!("{commits} group commits used {syncs} syncs");
    assert!(syncs >= 1, "group commits never synced");
    assert!(
        syncs < commits as u64,
        "{commits} concurrent group commits used {syncs} syncs: no sync was shared"
    );
    // Everything acknowledged is durable: a crash that drops every unsynced write loses nothing.
    let image = sim.crash(CrashMode::DropAll);
    drop(db);
    image.release_lock();
    assert_eq!(edge_set(&group_db(&image).unwrap()).len(), commits);
}

#[test]
fn a_failed_group_sync_fails_the_waiters_and_poisons_until_reopen() {
    let sim = SimBackend::new();
    let db = group_db(&sim).unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("a", "r", "b", 1.0).unwrap();
    txn.commit().unwrap();
    // The next commit's append succeeds, its sync fails.
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("b", "r", "c", 1.0).unwrap();
    sim.fail_at(sim.op_count() + 1, FailMode::Once, ErrorKind::StorageFull);
    let error = txn.commit().unwrap_err();
    assert!(matches!(error, WriteError::Io(_)), "{error:?}");
    match db.begin_write() {
        Err(WriteError::Poisoned(_)) => {}
        other => panic!("expected poisoned, got {other:?}"),
    }
    drop(db);
    sim.clear_failures();
    let image = sim.crash(CrashMode::DropAll);
    image.release_lock();
    let reopened = group_db(&image).unwrap();
    let edges = edge_set(&reopened);
    assert!(edges.contains_key(&("a".into(), "r".into(), "b".into())));
    // After reopening, writes work again.
    let mut txn = reopened.begin_write().unwrap();
    txn.add_edge("c", "r", "d", 1.0).unwrap();
    txn.commit().unwrap();
}
