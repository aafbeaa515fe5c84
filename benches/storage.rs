//! Storage-engine benchmarks on WordNet 3.0 (778,434 edges), each figure measured in this run
//! and printed beside its goal:
//! - bulk import (parse, intern, sort, encode, write, catalog) vs the 1M edges/s goal;
//! - durable streaming add in batches of 1000, and single-edge durable commit latency against a
//!   bare fdatasync of the same disk;
//! - a full adjacency scan through the public API vs a plain in-memory `Vec` CSR, with and
//!   without 10% of the edges in the delta;
//! - open time of the checkpointed database and bytes per edge on disk.
//!
//! Run: `cargo bench --bench storage` (WALKDB_SHARED_DATA overrides ../shared/data).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use walkdb::tsv::TsvParser;
use walkdb::{Database, Durability};

fn shared_data() -> PathBuf {
    match std::env::var_os("WALKDB_SHARED_DATA") {
        Some(p) => p.into(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn goal(ok: bool) -> &'static str {
    if ok {
        "goal met"
    } else {
        "GOAL MISSED"
    }
}

/// Scans every out-edge through the public API (`Snapshot::for_each_edge`), summing weights.
fn scan_api(db: &Database) -> (f64, Duration) {
    let snapshot = db.begin_read().unwrap();
    let started = Instant::now();
    let mut sum = 0.0;
    snapshot.for_each_edge(|_, v, _, w| sum += w + v as f64 * 1e-12);
    (sum, started.elapsed())
}

/// The same through the per-node iterators (`Snapshot::out_edges`).
fn scan_per_node(db: &Database) -> (f64, Duration) {
    let snapshot = db.begin_read().unwrap();
    let started = Instant::now();
    let mut sum = 0.0;
    for u in 0..snapshot.node_count() {
        for (v, _, w) in snapshot.out_edges(u) {
            sum += w + v as f64 * 1e-12;
        }
    }
    (sum, started.elapsed())
}

fn main() {
    let tsv = shared_data().join("wordnet30.tsv");
    let bytes = std::fs::read(&tsv).expect("wordnet30.tsv");
    let dir = tempfile::tempdir_in(
        std::env::var("WALKDB_BENCH_DIR")
            .unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
    .unwrap();
    println!("walkdb storage benchmarks, {}", std::env::consts::ARCH);

    // Bulk import.
    let path = dir.path().join("wn");
    let db = Database::builder(&path)
        .undirected(true)
        .alpha(0.15)
        .walks_per_node(1.0)
        .create()
        .unwrap();
    let started = Instant::now();
    let mut loader = db.bulk_loader().unwrap();
    // As `walkdb import` does: records to `add_edges` 1024 at a time (keys looked up in
    // batches).
    let mut records = 0u64;
    let mut edges = Vec::with_capacity(1024);
    for r in TsvParser::new("wordnet30.tsv", &bytes) {
        let r = r.unwrap();
        edges.push((r.src, r.rel, r.dst, r.weight));
        if edges.len() == 1024 {
            loader.add_edges(&edges).unwrap();
            records += edges.len() as u64;
            edges.clear();
        }
    }
    loader.add_edges(&edges).unwrap();
    records += edges.len() as u64;
    let parse = started.elapsed().as_secs_f64();
    let info = loader.finish().unwrap();
    let total = started.elapsed().as_secs_f64();
    let storage = parse + info.storage_seconds + info.write.segment_file + info.write.catalog;
    println!("\n## bulk import of wordnet30.tsv ({records} edges)");
    println!("parse + intern keys     {parse:>8.3} s");
    println!("sort + encode segment   {:>8.3} s", info.storage_seconds);
    println!("write segment (fsync)   {:>8.3} s", info.write.segment_file);
    println!("catalog commit (redb)   {:>8.3} s", info.write.catalog);
    println!(
        "walk index build        {:>8.3} s  ({} walks)",
        info.index_seconds,
        db.walk_stats().unwrap().walks
    );
    println!("write walk index        {:>8.3} s", info.write.walk_file);
    println!("total                   {total:>8.3} s");
    let rate = records as f64 / storage;
    println!("storage import rate     {:>8.0} edges/s  (goal >= 1,000,000: {}; igraph parse+build 1.42 s = {:.0} edges/s)", rate, goal(rate >= 1e6), records as f64 / 1.42);
    println!(
        "with the walk index     {:>8.0} edges/s",
        records as f64 / total
    );

    // Scan.
    let (sum, _) = scan_api(&db);
    let snapshot = db.begin_read().unwrap();
    let n = snapshot.node_count() as usize;
    let mut offsets = vec![0usize; n + 1];
    let mut targets = Vec::new();
    let mut weights = Vec::new();
    for u in 0..n {
        for (v, _, w) in snapshot.out_edges(u as u32) {
            targets.push(v);
            weights.push(w);
        }
        offsets[u + 1] = targets.len();
    }
    drop(snapshot);
    let vec_scan = || {
        let started = Instant::now();
        let mut s = 0.0;
        for u in 0..n {
            for i in offsets[u]..offsets[u + 1] {
                s += weights[i] + targets[i] as f64 * 1e-12;
            }
        }
        (black_box(s), started.elapsed())
    };
    let vec_t = median((0..7).map(|_| vec_scan().1.as_secs_f64()).collect());
    let api_t = median((0..7).map(|_| scan_api(&db).1.as_secs_f64()).collect());
    assert!((vec_scan().0 - sum).abs() < 1e-6 * sum.abs());
    println!("\n## full adjacency scan ({records} edges)");
    println!("Vec CSR                 {:>8.2} ms", vec_t * 1e3);
    println!(
        "walkdb, all in segment  {:>8.2} ms  ratio {:.2}x of Vec speed (goal >= 0.8x: {})  [for_each_edge]",
        api_t * 1e3,
        vec_t / api_t,
        goal(vec_t / api_t >= 0.8)
    );
    let node_t = median((0..7).map(|_| scan_per_node(&db).1.as_secs_f64()).collect());
    println!(
        "walkdb, per-node lists  {:>8.2} ms  ratio {:.2}x  [out_edges(u) for every u]",
        node_t * 1e3,
        vec_t / node_t
    );

    // Durable streaming add in batches of 1000: 10% of the edges (new nodes and relations too).
    let lines: Vec<(String, String, String, f64)> = (0..records / 10)
        .map(|i| {
            (
                format!("new:{}", i % 50_000),
                format!("rel{}", i % 7),
                format!("new:{}", (i * 7919 + 13) % 60_000),
                1.0 + (i % 5) as f64,
            )
        })
        .collect();
    let started = Instant::now();
    for chunk in lines.chunks(1000) {
        let mut txn = db.begin_write().unwrap();
        for (s, r, d, w) in chunk {
            txn.add_edge(s, r, d, *w).unwrap();
        }
        txn.commit().unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = lines.len() as f64 / secs;
    println!("\n## durable streaming add, batches of 1000 ({} edges, fdatasync per commit, walk repairs included)", lines.len());
    println!(
        "rate                    {rate:>8.0} edges/s  (goal >= 100,000: {})",
        goal(rate >= 1e5)
    );
    let api_delta = median((0..7).map(|_| scan_api(&db).1.as_secs_f64()).collect());
    let stats = db.stats().unwrap();
    println!(
        "scan with {} of {} nodes in the delta: {:.2} ms, ratio {:.2}x of the Vec CSR (goal >= 0.5x: {})",
        stats.delta_nodes,
        stats.nodes,
        api_delta * 1e3,
        vec_t / api_delta,
        goal(vec_t / api_delta >= 0.5)
    );

    // Single-edge commit latency vs a bare fdatasync.
    let probe = dir.path().join("fsync-probe");
    let file = std::fs::File::create(&probe).unwrap();
    let mut fsyncs = Vec::new();
    for i in 0..200 {
        (&file).write_all(&[i as u8; 64]).unwrap();
        let t = Instant::now();
        file.sync_data().unwrap();
        fsyncs.push(t.elapsed().as_secs_f64());
    }
    let mut commits = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        let mut txn = db.begin_write().unwrap();
        txn.add_edge(&format!("single:{i}"), "rel0", "dog.n.01", 1.0)
            .unwrap();
        txn.commit().unwrap();
        commits.push(t.elapsed().as_secs_f64());
    }
    let (f, c) = (median(fsyncs), median(commits));
    println!("\n## single-edge durable commit (median of 200)");
    println!("bare write + fdatasync  {:>8.1} us", f * 1e6);
    println!(
        "walkdb commit           {:>8.1} us  ratio {:.2}x (goal <= 2x: {})",
        c * 1e6,
        c / f,
        goal(c / f <= 2.0)
    );

    // Group commit: 4 threads committing single edges, Immediate vs Group.
    println!("\n## concurrent single-edge commits, 4 threads x 100 (small database)");
    for durability in [walkdb::Durability::Immediate, walkdb::Durability::Group] {
        let gdir = tempfile::tempdir().unwrap();
        let gdb = std::sync::Arc::new(
            Database::builder(gdir.path().join("g"))
                .durability(durability)
                .create()
                .unwrap(),
        );
        let t = Instant::now();
        let threads: Vec<_> = (0..4)
            .map(|k| {
                let gdb = std::sync::Arc::clone(&gdb);
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let mut txn = gdb.begin_write().unwrap();
                        txn.add_edge(&format!("t{k}"), "r", &format!("n{i}"), 1.0)
                            .unwrap();
                        txn.commit().unwrap();
                    }
                })
            })
            .collect();
        for h in threads {
            h.join().unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        let syncs = match durability {
            walkdb::Durability::Group => gdb.group_sync_count(),
            _ => 400,
        };
        println!(
            "{:<10} {:>8.0} commits/s  ({syncs} fdatasyncs for 400 commits)",
            format!("{durability:?}"),
            400.0 / secs
        );
    }

    // Checkpoint, then open time and disk use.
    let started = Instant::now();
    let info = db.checkpoint().unwrap();
    println!(
        "\n## checkpoint of the delta: {:.3} s (generation {})",
        started.elapsed().as_secs_f64(),
        info.generation
    );
    let stats = db.stats().unwrap();
    drop(db);
    let mut opens = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        let db = Database::builder(&path)
            .durability(Durability::Immediate)
            .open()
            .unwrap();
        opens.push(t.elapsed().as_secs_f64());
        drop(db);
    }
    let open = median(opens);
    let db = Database::builder(&path).open().unwrap();
    let t = Instant::now();
    let snapshot = db.begin_read().unwrap();
    let first_read = t.elapsed().as_secs_f64();
    drop(snapshot);
    let seg = stats.bytes_under("adj/") as f64 / stats.edges as f64;
    println!(
        "open (checkpointed)     {:>8.2} ms  (goal < 50 ms: {})",
        open * 1e3,
        goal(open < 0.05)
    );
    println!(
        "first read (checks every segment checksum once) {:.2} ms",
        first_read * 1e3
    );
    println!(
        "segment                 {seg:>8.2} bytes/edge, both directions (goal <= 16: {})",
        goal(seg <= 16.0)
    );
    println!(
        "catalog (redb)          {:>8.2} bytes/edge",
        stats.bytes_under("catalog") as f64 / stats.edges as f64
    );
    println!(
        "walk index              {:>8.2} bytes/edge",
        stats.bytes_under("walks/") as f64 / stats.edges as f64
    );
}
