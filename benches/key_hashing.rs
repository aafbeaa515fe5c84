#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Import and key lookup with key sets crafted against a fixed hash (shared prefixes, shared
//! suffixes, Wikidata-like ids) against random keys of the same length, in one run: the ratio
//! is what a hash-flooding document set would cost. Each set imports a chain of 300k nodes
//! (`k0 -> k1 -> ...`, one relation), directed, then looks every key up on a snapshot
//! (checkpointed keys: the catalog) and in a write transaction after the import (new keys:
//! the in-memory maps). Run: `cargo bench --bench key_hashing`. Printed, never asserted.

use std::time::Instant;

use walkdb::rng::Rng;
use walkdb::Database;

fn run(name: &str, keys: &[String]) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db")).create().unwrap();
    let started = Instant::now();
    let mut loader = db.bulk_loader().unwrap();
    for pair in keys.windows(2) {
        loader.add_edge(&pair[0], "next", &pair[1], 1.0).unwrap();
    }
    loader.finish().unwrap();
    let import = started.elapsed().as_secs_f64();
    let snapshot = db.begin_read().unwrap();
    let started = Instant::now();
    for key in keys {
        assert!(snapshot.node_id(key).unwrap().is_some());
    }
    let lookup = started.elapsed().as_secs_f64();
    // New keys held in memory until the next checkpoint: interning in one transaction.
    let started = Instant::now();
    let mut txn = db.begin_write().unwrap();
    for pair in keys.windows(2).take(100_000) {
        txn.add_edge(
            &format!("{}#", pair[0]),
            "next",
            &format!("{}#", pair[1]),
            1.0,
        )
        .unwrap();
    }
    drop(txn);
    let intern = started.elapsed().as_secs_f64();
    println!(
        "{name:<34} import {import:6.2} s  catalog lookups {:6.0} ns/key  transaction interning {:6.0} ns/edge",
        lookup / keys.len() as f64 * 1e9,
        intern / 100_000.0 * 1e9
    );
    (import, lookup, intern)
}

fn main() {
    let n = 300_000;
    let mut rng = Rng::new(11);
    println!("# key hashing: {n} keys per set, chain import, directed");
    let random: Vec<String> = (0..n)
        .map(|_| format!("{:08x}", rng.next_u64() as u32))
        .collect();
    let base = run("random 8-byte keys", &random);
    let sets: Vec<(&str, Vec<String>)> = vec![
        (
            "shared 3-byte prefix (xyz?????)",
            (0..n).map(|i| format!("xyz{i:05}")).collect(),
        ),
        (
            "Wikidata-like ids (Q1??????)",
            (0..n).map(|i| format!("Q1{i:06}")).collect(),
        ),
        (
            "shared suffix (???????-passage)",
            (0..n).map(|i| format!("{i:07}-passage")).collect(),
        ),
    ];
    for (name, keys) in &sets {
        let got = run(name, keys);
        println!(
            "  vs random: import {:.2}x, catalog lookups {:.2}x, interning {:.2}x (goal: within 2x)",
            got.0 / base.0,
            got.1 / base.1,
            got.2 / base.2
        );
    }
}
