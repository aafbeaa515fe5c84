//! A simulated backend for crash and failure tests.
//!
//! Every file keeps a *durable* image (what survives power loss) and a list of writes made since
//! its last `sync_data`; the directory keeps a durable namespace and the creations, renames and
//! deletions made since the last `sync_dir`. [`SimBackend::crash`] returns the storage as a
//! machine would find it after losing power: the durable images plus, by [`CrashMode`], none, a
//! random subset or a torn prefix of the unsynced operations. [`SimBackend::fail_at`] makes the
//! N-th mutating operation fail (once, or from then on) with an I/O error or ENOSPC.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileBytes, StorageBackend, StorageFile};
use crate::rng::Rng;

/// What a simulated crash keeps of the operations that were not yet synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashMode {
    /// Power loss that keeps nothing unsynced.
    DropAll,
    /// Power loss that keeps each unsynced write or namespace operation with probability 1/2.
    RandomSubset {
        /// Seed of the choice.
        seed: u64,
    },
    /// Power loss in the middle of writing: a prefix of the unsynced operations, the last of
    /// them cut short.
    TornTail {
        /// Seed of the cut.
        seed: u64,
    },
    /// The process died (kill -9) but the operating system kept everything written.
    KeepAll,
}

/// How an injected failure repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// Only the chosen operation fails.
    Once,
    /// The chosen operation and every later mutating operation fail.
    FromThenOn,
}

#[derive(Clone, Debug)]
enum FileOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<FileOp>,
}

fn apply(image: &mut Vec<u8>, op: &FileOp) {
    match op {
        FileOp::Write { offset, data } => {
            let end = *offset as usize + data.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[*offset as usize..end].copy_from_slice(data);
        }
        FileOp::SetLen(len) => image.resize(*len as usize, 0),
    }
}

#[derive(Clone, Debug)]
enum NsOp {
    Link { name: String, inode: u64 },
    Rename { from: String, to: String },
    Remove { name: String },
}

impl NsOp {
    fn dir(&self) -> &str {
        let name = match self {
            NsOp::Link { name, .. } | NsOp::Remove { name } => name,
            NsOp::Rename { to, .. } => to,
        };
        name.rsplit_once('/').map_or("", |(dir, _)| dir)
    }

    fn apply(&self, names: &mut BTreeMap<String, u64>) {
        match self {
            NsOp::Link { name, inode } => {
                names.insert(name.clone(), *inode);
            }
            NsOp::Rename { from, to } => {
                if let Some(inode) = names.remove(from) {
                    names.insert(to.clone(), inode);
                }
            }
            NsOp::Remove { name } => {
                names.remove(name);
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    live: BTreeMap<String, u64>,
    durable: BTreeMap<String, u64>,
    pending_ns: Vec<NsOp>,
    dirs: Vec<String>,
    ops: u64,
    fail: Option<(u64, FailMode, io::ErrorKind)>,
    locked: bool,
    /// When tracing, what each mutating operation was, in order.
    trace: Option<Vec<String>>,
}

impl State {
    /// Counts a mutating operation and decides whether it fails.
    fn tick(&mut self, what: impl FnOnce() -> String) -> io::Result<()> {
        self.ops += 1;
        if let Some(trace) = &mut self.trace {
            trace.push(what());
        }
        if let Some((at, mode, kind)) = self.fail {
            let fails = match mode {
                FailMode::Once => self.ops == at,
                FailMode::FromThenOn => self.ops >= at,
            };
            if fails {
                return Err(io::Error::new(
                    kind,
                    format!("injected failure at operation {}", self.ops),
                ));
            }
        }
        Ok(())
    }
}

/// The simulated storage. Clones share the same state.
#[derive(Clone, Debug, Default)]
pub struct SimBackend {
    state: Arc<Mutex<State>>,
}

impl SimBackend {
    /// An empty simulated directory.
    pub fn new() -> SimBackend {
        SimBackend::default()
    }

    /// Number of mutating operations so far (writes, syncs, renames, removes, creations).
    pub fn op_count(&self) -> u64 {
        self.state.lock().ops
    }

    /// Makes operation number `n` (1-based, counted as by [`SimBackend::op_count`]) fail.
    pub fn fail_at(&self, n: u64, mode: FailMode, kind: io::ErrorKind) {
        self.state.lock().fail = Some((n, mode, kind));
    }

    /// Starts recording a description of every mutating operation (see [`SimBackend::trace`]).
    pub fn start_trace(&self) {
        self.state.lock().trace = Some(Vec::new());
    }

    /// The operations recorded since [`SimBackend::start_trace`]; entry `i` is operation
    /// number `i + 1` counted from the start of the trace.
    pub fn trace(&self) -> Vec<String> {
        self.state.lock().trace.clone().unwrap_or_default()
    }

    /// Stops injecting failures.
    pub fn clear_failures(&self) {
        self.state.lock().fail = None;
    }

    /// The storage as found after a crash now, as a fresh backend (this one is left as is).
    pub fn crash(&self, mode: CrashMode) -> SimBackend {
        let state = self.state.lock();
        let mut rng = match mode {
            CrashMode::RandomSubset { seed } | CrashMode::TornTail { seed } => Rng::new(seed),
            _ => Rng::new(0),
        };
        let mut names = state.durable.clone();
        let ns_keep = match mode {
            CrashMode::DropAll => 0,
            CrashMode::KeepAll => state.pending_ns.len(),
            CrashMode::RandomSubset { .. } | CrashMode::TornTail { .. } => {
                rng.below(state.pending_ns.len() as u64 + 1) as usize
            }
        };
        for op in &state.pending_ns[..ns_keep] {
            op.apply(&mut names);
        }
        let mut inodes = BTreeMap::new();
        for (&id, inode) in &state.inodes {
            let mut image = inode.durable.clone();
            match mode {
                CrashMode::DropAll => {}
                CrashMode::KeepAll => image = inode.live.clone(),
                CrashMode::RandomSubset { .. } => {
                    for op in &inode.pending {
                        if rng.bernoulli(0.5) {
                            apply(&mut image, op);
                        }
                    }
                }
                CrashMode::TornTail { .. } => {
                    let keep = rng.below(inode.pending.len() as u64 + 1) as usize;
                    for op in &inode.pending[..keep] {
                        apply(&mut image, op);
                    }
                    if let Some(FileOp::Write { offset, data }) = inode.pending.get(keep) {
                        let cut = rng.below(data.len() as u64 + 1) as usize;
                        apply(
                            &mut image,
                            &FileOp::Write {
                                offset: *offset,
                                data: data[..cut].to_vec(),
                            },
                        );
                    }
                }
            }
            inodes.insert(
                id,
                Inode {
                    live: image.clone(),
                    durable: image,
                    pending: Vec::new(),
                },
            );
        }
        let crashed = State {
            inodes,
            next_inode: state.next_inode,
            live: names.clone(),
            durable: names,
            pending_ns: Vec::new(),
            dirs: state.dirs.clone(),
            ops: 0,
            fail: None,
            locked: false,
            trace: None,
        };
        SimBackend {
            state: Arc::new(Mutex::new(crashed)),
        }
    }

    /// The live bytes of a file, for tests that corrupt or inspect it.
    pub fn file_bytes(&self, name: &str) -> Option<Vec<u8>> {
        let state = self.state.lock();
        let id = state.live.get(name)?;
        Some(state.inodes[id].live.clone())
    }

    /// Replaces a file's contents durably, bypassing failure injection: the test's hammer for
    /// corrupting files.
    pub fn set_file_bytes(&self, name: &str, bytes: Vec<u8>) {
        let mut state = self.state.lock();
        let id = match state.live.get(name) {
            Some(&id) => id,
            None => {
                let id = state.next_inode;
                state.next_inode += 1;
                state.live.insert(name.to_string(), id);
                state.durable.insert(name.to_string(), id);
                id
            }
        };
        state.inodes.insert(
            id,
            Inode {
                live: bytes.clone(),
                durable: bytes,
                pending: Vec::new(),
            },
        );
    }

    /// Names of all live files, sorted.
    pub fn file_names(&self) -> Vec<String> {
        self.state.lock().live.keys().cloned().collect()
    }

    /// Releases the directory lock, as process exit would.
    pub fn release_lock(&self) {
        self.state.lock().locked = false;
    }
}

#[derive(Debug)]
struct SimFile {
    state: Arc<Mutex<State>>,
    inode: u64,
}

impl SimFile {
    fn with_inode<T>(&self, f: impl FnOnce(&mut Inode) -> T) -> io::Result<T> {
        let mut state = self.state.lock();
        let inode = state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "file was deleted"))?;
        Ok(f(inode))
    }

    fn mutate(&self, op: FileOp) -> io::Result<()> {
        self.state.lock().tick(|| {
            let what = match &op {
                FileOp::Write { offset, data } => format!("write {} bytes at {offset}", data.len()),
                FileOp::SetLen(len) => format!("set_len {len}"),
            };
            format!("{what} of inode {}", self.inode)
        })?;
        self.with_inode(|inode| {
            apply(&mut inode.live, &op);
            inode.pending.push(op);
        })
    }
}

impl StorageFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        self.with_inode(|inode| inode.live.len() as u64)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.with_inode(|inode| {
            let end = offset as usize + buf.len();
            if end > inode.live.len() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past end of file",
                ));
            }
            buf.copy_from_slice(&inode.live[offset as usize..end]);
            Ok(())
        })?
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.mutate(FileOp::Write {
            offset,
            data: data.to_vec(),
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.mutate(FileOp::SetLen(len))
    }

    fn sync_data(&self) -> io::Result<()> {
        self.state
            .lock()
            .tick(|| format!("sync_data of inode {}", self.inode))?;
        self.with_inode(|inode| {
            for op in std::mem::take(&mut inode.pending) {
                apply(&mut inode.durable, &op);
            }
        })
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

impl StorageBackend for SimBackend {
    fn create_dir(&self, dir: &str) -> io::Result<()> {
        let mut state = self.state.lock();
        if !state.dirs.iter().any(|d| d == dir) {
            state.dirs.push(dir.to_string());
        }
        Ok(())
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let state = self.state.lock();
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        Ok(state
            .live
            .keys()
            .filter_map(|name| name.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect())
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        Ok(self.state.lock().live.contains_key(name))
    }

    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn StorageFile>> {
        let mut state = self.state.lock();
        let inode = match state.live.get(name) {
            Some(&id) => id,
            None if create => {
                let next = state.next_inode;
                state.tick(|| format!("create {name} (inode {next})"))?;
                let id = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(id, Inode::default());
                state.live.insert(name.to_string(), id);
                state.pending_ns.push(NsOp::Link {
                    name: name.to_string(),
                    inode: id,
                });
                id
            }
            None => return Err(not_found(name)),
        };
        Ok(Arc::new(SimFile {
            state: Arc::clone(&self.state),
            inode,
        }))
    }

    fn map(&self, name: &str) -> io::Result<FileBytes> {
        let state = self.state.lock();
        let id = state.live.get(name).ok_or_else(|| not_found(name))?;
        Ok(FileBytes::from_vec(state.inodes[id].live.clone()))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut state = self.state.lock();
        state.tick(|| format!("rename {from} to {to}"))?;
        let id = state.live.remove(from).ok_or_else(|| not_found(from))?;
        state.live.insert(to.to_string(), id);
        state.pending_ns.push(NsOp::Rename {
            from: from.to_string(),
            to: to.to_string(),
        });
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut state = self.state.lock();
        state.tick(|| format!("remove {name}"))?;
        state.live.remove(name).ok_or_else(|| not_found(name))?;
        state.pending_ns.push(NsOp::Remove {
            name: name.to_string(),
        });
        Ok(())
    }

    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        let mut state = self.state.lock();
        state.tick(|| format!("sync_dir '{dir}'"))?;
        let pending = std::mem::take(&mut state.pending_ns);
        let mut kept = Vec::new();
        for op in pending {
            if op.dir() == dir {
                op.apply(&mut state.durable);
            } else {
                kept.push(op);
            }
        }
        state.pending_ns = kept;
        Ok(())
    }

    fn try_lock(&self) -> io::Result<bool> {
        let mut state = self.state.lock();
        if state.locked {
            return Ok(false);
        }
        state.locked = true;
        Ok(true)
    }

    fn unlock(&self) -> io::Result<()> {
        self.state.lock().locked = false;
        Ok(())
    }

    fn writer_active(&self) -> io::Result<bool> {
        Ok(self.state.lock().locked)
    }

    fn read_all(&self, name: &str) -> io::Result<Vec<u8>> {
        let state = self.state.lock();
        let id = state.live.get(name).ok_or_else(|| not_found(name))?;
        Ok(state.inodes[id].live.clone())
    }

    fn file_len(&self, name: &str) -> io::Result<u64> {
        let state = self.state.lock();
        let id = state.live.get(name).ok_or_else(|| not_found(name))?;
        Ok(state.inodes[id].live.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_writes_are_lost_and_synced_ones_kept() {
        let sim = SimBackend::new();
        let f = sim.open("a", true).unwrap();
        f.write_at(0, b"hello").unwrap();
        f.sync_data().unwrap();
        sim.sync_dir("").unwrap();
        f.write_at(5, b" world").unwrap();
        let after = sim.crash(CrashMode::DropAll);
        assert_eq!(after.file_bytes("a").unwrap(), b"hello");
        let kept = sim.crash(CrashMode::KeepAll);
        assert_eq!(kept.file_bytes("a").unwrap(), b"hello world");
    }

    #[test]
    fn a_file_whose_directory_was_not_synced_disappears() {
        let sim = SimBackend::new();
        let f = sim.open("wal/1", true).unwrap();
        f.write_at(0, b"x").unwrap();
        f.sync_data().unwrap();
        assert!(sim.crash(CrashMode::DropAll).file_bytes("wal/1").is_none());
        sim.sync_dir("wal").unwrap();
        assert_eq!(
            sim.crash(CrashMode::DropAll).file_bytes("wal/1").unwrap(),
            b"x"
        );
    }

    #[test]
    fn torn_tail_keeps_a_prefix() {
        let sim = SimBackend::new();
        let f = sim.open("a", true).unwrap();
        sim.sync_dir("").unwrap();
        f.write_at(0, &[1; 100]).unwrap();
        for seed in 0..20 {
            let bytes = sim
                .crash(CrashMode::TornTail { seed })
                .file_bytes("a")
                .unwrap();
            assert!(bytes.len() <= 100 && bytes.iter().all(|&b| b == 1));
        }
    }

    #[test]
    fn injected_failures_fire_once_or_forever() {
        let sim = SimBackend::new();
        let f = sim.open("a", true).unwrap(); // op 1
        sim.fail_at(3, FailMode::Once, io::ErrorKind::StorageFull);
        f.write_at(0, b"a").unwrap(); // op 2
        let err = f.write_at(1, b"b").unwrap_err(); // op 3
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        f.write_at(1, b"b").unwrap(); // op 4
        sim.fail_at(5, FailMode::FromThenOn, io::ErrorKind::Other);
        assert!(f.sync_data().is_err());
        assert!(f.sync_data().is_err());
    }
}
