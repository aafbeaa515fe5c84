//! `open` on a damaged database directory: a small valid database (checkpointed segment, walk
//! index, catalog, WAL with records after the checkpoint) is patched by the input - bytes
//! xor-ed, files truncated, replaced by arbitrary bytes, deleted, or added - and then opened,
//! verified, read and queried. Every step must return Ok or a typed error: never panic, never
//! hang, never run out of memory.
//!
//! Input: a sequence of commands `tag file_index ...`:
//! - tag % 5 == 0: xor `len` (u8) bytes at offset (u32, modulo the file length)
//! - 1: truncate to offset (u32, modulo the length + 1)
//! - 2: replace the whole file by the next `len` (u16) bytes
//! - 3: delete the file
//! - 4: write a bit flip at offset (u32) bit (u8)
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use walkdb::backend::{SimBackend, StorageBackend};
use walkdb::{Database, ErrorKind, PprRequest};

/// Names the commands can address: the base image's files, then extra names that a damaged
/// directory could hold.
fn names(base: &SimBackend) -> Vec<String> {
    let mut names = base.file_names();
    names.retain(|n| n != "LOCK");
    for extra in [
        "wal/00000000000000000001.log",
        "wal/00000000000000000099.log",
        "adj/00000000000000000009.seg",
        "walks/00000000000000000009.wix",
        "catalog.redb.tmp",
        "adj/00000000000000000002.seg.tmp",
    ] {
        if !names.iter().any(|n| n == extra) {
            names.push(extra.to_string());
        }
    }
    names
}

/// redb asserts on some damaged pages; walkdb's catalog contains those panics and reports
/// the catalog as corrupt (`catalog::contain`). libFuzzer's panic hook would abort on them
/// before the unwind reaches that containment, so panics raised inside redb's source are let
/// through to be caught; every other panic still aborts (a finding).
fn let_contained_redb_panics_unwind() {
    let fuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_redb = info.location().is_some_and(|l| l.file().contains("/redb-"));
        if !in_redb {
            fuzzer_hook(info);
        }
    }));
}

fn base() -> &'static SimBackend {
    static BASE: OnceLock<SimBackend> = OnceLock::new();
    BASE.get_or_init(|| {
        let_contained_redb_panics_unwind();
        let sim = SimBackend::new();
        let db = open(&sim).expect("creates the base database");
        let mut loader = db.bulk_loader().expect("loader");
        for i in 0..12u32 {
            loader
                .add_edge(
                    &format!("n{i}"),
                    ["r", "s"][i as usize % 2],
                    &format!("n{}", (i * 5 + 3) % 12),
                    1.0 + i as f64,
                )
                .expect("edge");
        }
        loader.finish().expect("import");
        for t in 0..3u32 {
            let mut txn = db.begin_write().expect("txn");
            txn.add_edge(&format!("m{t}"), "r", "n1", 0.5 + t as f64)
                .expect("edge");
            if t == 1 {
                assert!(txn.delete_edge("n0", "r", "n3").expect("delete"));
            }
            txn.commit().expect("commit");
        }
        drop(db);
        sim.release_lock();
        sim
    })
}

fn open(sim: &SimBackend) -> Result<Database, walkdb::OpenError> {
    Database::builder("fuzz")
        .backend(Arc::new(sim.clone()) as Arc<dyn StorageBackend>)
        .open_or_create()
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

fn typed(kind: ErrorKind) {
    // Every error is one the CLI maps to exit code 1, 2 or 3; a panic is the only failure.
    assert!(
        matches!(
            kind,
            ErrorKind::Corruption | ErrorKind::Io | ErrorKind::Input | ErrorKind::Poisoned
        ),
        "unexpected error kind: {kind:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let sim = base.crash(walkdb::backend::CrashMode::KeepAll);
    let names = names(base);
    let mut input = Input(data);
    while let (Some(tag), Some(file)) = (input.u8(), input.u8()) {
        let name = &names[file as usize % names.len()];
        let mut bytes = sim.file_bytes(name).unwrap_or_default();
        match tag % 5 {
            0 => {
                let Some(at) = input.u32() else { break };
                let Some(len) = input.u8() else { break };
                let patch = input.bytes(len as usize).to_vec();
                if !bytes.is_empty() {
                    let at = at as usize % bytes.len();
                    for (i, p) in patch.iter().enumerate() {
                        if let Some(b) = bytes.get_mut(at + i) {
                            *b ^= p;
                        }
                    }
                }
            }
            1 => {
                let Some(at) = input.u32() else { break };
                bytes.truncate(at as usize % (bytes.len() + 1));
            }
            2 => {
                let Some(len) = input.u16() else { break };
                bytes = input.bytes(len as usize).to_vec();
            }
            3 => {
                let _ = sim.remove(name);
                continue;
            }
            _ => {
                let Some(at) = input.u32() else { break };
                let Some(bit) = input.u8() else { break };
                if !bytes.is_empty() {
                    let at = at as usize % bytes.len();
                    bytes[at] ^= 1 << (bit % 8);
                }
            }
        }
        sim.set_file_bytes(name, bytes);
    }
    let db = match Database::builder("fuzz")
        .backend(Arc::new(sim.clone()) as Arc<dyn StorageBackend>)
        .open()
    {
        Ok(db) => db,
        Err(e) => return typed(e.kind()),
    };
    if let Err(e) = db.verify() {
        typed(e.kind());
    }
    match db.begin_read() {
        Ok(snapshot) => {
            if let Ok(keys) = snapshot.node_keys() {
                for u in 0..snapshot.node_count() {
                    for (v, r, w) in snapshot.out_edges(u) {
                        let _ = (keys.get(v as usize), r, w);
                    }
                }
                if let Some(seed) = keys.first() {
                    let mut workspace = Default::default();
                    if let Err(e) =
                        snapshot.ppr(&PprRequest::new(vec![(seed.clone(), 1.0)]), &mut workspace)
                    {
                        typed(e.kind());
                    }
                }
            }
        }
        Err(e) => typed(e.kind()),
    }
    if let Err(e) = db.walk_stats() {
        typed(e.kind());
    }
    // Writes after a damaged open must fail cleanly too.
    match db.begin_write() {
        Ok(mut txn) => {
            if txn.add_edge("x", "r", "y", 1.0).is_ok() {
                if let Err(e) = txn.commit() {
                    typed(e.kind());
                }
            }
        }
        Err(e) => typed(e.kind()),
    }
    if let Err(e) = db.checkpoint() {
        typed(e.kind());
    }
});
