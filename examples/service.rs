//! A small long-running service embedding walkdb: one writer thread streams new facts as
//! durable transactions (and checkpoints now and then) while reader threads answer PPR
//! queries on snapshots. Readers never wait for the writer longer than a pointer swap, and
//! every answer comes from one consistent snapshot (the LSN it reports).
//!
//! Data: the WordNet demo graph in data/wordnet-demo (WordNet 3.0 licence). The writer
//! streams the 940 held-out dog-breed facts; readers ask "what is closest to w:dog?" and watch
//! the breeds arrive.
//!
//! Run: `cargo run --release --example service`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use walkdb::ppr::PprWorkspace;
use walkdb::tsv::TsvParser;
use walkdb::{Database, Durability, PprRequest};

type Error = Box<dyn std::error::Error + Send + Sync>;

const BASE: &str = include_str!("../data/wordnet-demo/base.tsv");
const NEW_FACTS: &str = include_str!("../data/wordnet-demo/new-facts.tsv");
const READERS: usize = 2;

fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let db = Arc::new(
        Database::builder(dir.path().join("service"))
            .undirected(true)
            .durability(Durability::Immediate)
            .create()?,
    );
    let mut loader = db.bulk_loader()?;
    for record in TsvParser::new("base.tsv", BASE.as_bytes()) {
        let record = record?;
        loader.add_edge(record.src, record.rel, record.dst, record.weight)?;
    }
    let info = loader.finish()?;
    println!("service up: {} nodes, {} edges", info.nodes, info.edges);

    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let db = Arc::clone(&db);
            let done = Arc::clone(&done);
            std::thread::spawn(move || -> Result<(usize, Vec<f64>, u64), Error> {
                let mut workspace = PprWorkspace::new();
                let request = PprRequest::new(vec![("w:dog".into(), 1.0)]);
                let mut latencies = Vec::new();
                let mut last_lsn = 0;
                while !done.load(Ordering::Acquire) {
                    let started = Instant::now();
                    let snapshot = db.begin_read()?;
                    let answer = snapshot.ppr(&request, &mut workspace)?;
                    latencies.push(started.elapsed().as_secs_f64() * 1e3);
                    if snapshot.lsn() != last_lsn {
                        last_lsn = snapshot.lsn();
                    }
                    if r == 0 && latencies.len() % 40 == 1 {
                        let third = answer.results.get(2).map_or("-", |(k, _)| k.as_str());
                        println!(
                            "  reader {r}: snapshot LSN {:>3}, {} edges, rank 3 for w:dog = {third}",
                            snapshot.lsn(),
                            snapshot.edge_count()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok((r, latencies, last_lsn))
            })
        })
        .collect();

    // The writer: batches of 20 facts, a checkpoint half-way.
    let writer = {
        let db = Arc::clone(&db);
        std::thread::spawn(move || -> Result<(usize, usize), Error> {
            let records: Vec<_> = TsvParser::new("new-facts.tsv", NEW_FACTS.as_bytes())
                .collect::<Result<Vec<_>, _>>()?;
            let mut commits = 0;
            for (i, batch) in records.chunks(20).enumerate() {
                let mut txn = db.begin_write()?;
                for r in batch {
                    txn.add_edge(r.src, r.rel, r.dst, r.weight)?;
                }
                txn.commit()?;
                commits += 1;
                if i == 20 {
                    let cp = db.checkpoint()?;
                    println!("  writer: checkpoint to generation {}", cp.generation);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok((records.len(), commits))
        })
    };
    let (facts, commits) = writer.join().map_err(|_| "writer panicked")??;
    done.store(true, Ordering::Release);
    println!("writer: {facts} facts in {commits} durable transactions");
    for reader in readers {
        let (r, mut latencies, lsn) = reader.join().map_err(|_| "reader panicked")??;
        latencies.sort_by(f64::total_cmp);
        let median = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
        let p99 = latencies
            .get(latencies.len() * 99 / 100)
            .copied()
            .unwrap_or(0.0);
        println!(
            "reader {r}: {} queries, median {median:.2} ms, p99 {p99:.2} ms, last LSN seen {lsn}",
            latencies.len()
        );
    }
    let report = db.verify()?;
    println!(
        "verify: ok ({} edges, {} walks)",
        report.edges, report.walks
    );
    Ok(())
}
