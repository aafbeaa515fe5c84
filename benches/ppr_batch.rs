#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Batch throughput at the default target: `ppr_batch` (certified-push queries share their
//! node-order sweeps in blocks, see `src/ppr/all.rs`) against the same queries answered one by
//! one with `ppr`, on one thread each, and the batch on two threads. Every batch answer is
//! checked to meet the target it reports; the table counts how many returned the same list as
//! the single query (the rest differ within what both guarantee: near-ties).
//!
//! Graphs: the families of `tests/common/families.rs` (`WALKDB_BENCH_FAMILIES`, default all
//! four), undirected, alpha `WALKDB_BENCH_ALPHA` (default 0.5), 200 distinct queries of each
//! shape (single seed; dense reset: HippoRAG 2's 8 entities plus every passage with a small
//! weight on the HippoRAG-shaped graph, 5 seeds plus 2,000 small ones elsewhere).
//!
//! Run: `cargo bench --bench ppr_batch`.

#[path = "../tests/common/families.rs"]
mod families;

use std::time::Instant;

use families::Shape;
use walkdb::graph::Adjacency;
use walkdb::ppr::{ppr, ppr_batch, Accuracy, PprQuery, PprWorkspace};

fn main() {
    let alpha: f64 = std::env::var("WALKDB_BENCH_ALPHA")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.5);
    let count = 200;
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
    };
    let (one, two) = (pool(1), pool(2));
    println!(
        "# ppr_batch vs one by one, undirected, alpha {alpha}, default target, {count} queries"
    );
    println!("| graph | nodes | shape | one by one, 1 thread | batch, 1 thread | ratio | batch, 2 threads | same list |");
    println!("|---|---|---|---|---|---|---|---|");
    for name in families::selected() {
        let Some(family) = families::load(name) else {
            println!("skipped {name}: data not found");
            continue;
        };
        let g = &family.undirected;
        for shape in [Shape::Single, Shape::Dense] {
            let queries: Vec<PprQuery<'_>> = families::queries(&family, g, shape, count, 3)
                .into_iter()
                .map(|seeds| PprQuery::new(seeds, alpha))
                .collect();
            let mut ws = PprWorkspace::new();
            let started = Instant::now();
            let single: Vec<_> = one.install(|| {
                queries
                    .iter()
                    .map(|q| ppr(g, q, &mut ws).expect("query"))
                    .collect()
            });
            let t_single = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let batch = one.install(|| ppr_batch(g, &queries));
            let t_batch = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let batch2 = two.install(|| ppr_batch(g, &queries));
            let t_batch2 = started.elapsed().as_secs_f64();
            let accuracy = Accuracy::default();
            let mut same = 0;
            for ((a, b), c) in single.iter().zip(&batch).zip(&batch2) {
                let b = b.as_ref().expect("batch query");
                let c = c.as_ref().expect("batch query");
                assert!(b.guarantee.meets(&accuracy), "{:?}", b.guarantee);
                assert_eq!(b.top, c.top, "batch answers do not depend on threads");
                let ids =
                    |t: &[(walkdb::graph::NodeId, f64)]| t.iter().map(|x| x.0).collect::<Vec<_>>();
                same += usize::from(ids(&a.top) == ids(&b.top));
            }
            let ms = |t: f64| t * 1e3 / count as f64;
            println!(
                "| {name} | {} | {shape:?} | {:.2} ms | {:.2} ms | {:.2}x | {:.2} ms | {same}/{count} |",
                g.node_count(),
                ms(t_single),
                ms(t_batch),
                t_single / t_batch,
                ms(t_batch2),
            );
        }
    }
}
