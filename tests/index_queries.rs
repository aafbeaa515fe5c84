#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `Method::Index` through the database API on a synthetic graph made here (so it runs on a
//! fresh clone without the shared data): a preferential-attachment graph with weighted edges,
//! 80% bulk-imported and 20% streamed in through write transactions (every query then reads
//! repaired walks), in both graph modes. Index answers must run the index method and meet the
//! accuracy goals against the exact solver on the same snapshot; stale snapshots, relation
//! weights and a smaller alpha must fall back and say so.

use walkdb::ppr::{Method, PprWorkspace};
use walkdb::rng::Rng;
use walkdb::{Database, PprRequest};

type Edge = (String, String, String, f64);

/// A preferential-attachment multigraph of `n` nodes, about 3 edges per node, random weights
/// and two relations; deterministic for a seed.
fn synthetic_edges(n: usize, seed: u64) -> Vec<Edge> {
    let mut rng = Rng::new(seed);
    let mut ends: Vec<usize> = vec![0, 1];
    let mut edges = vec![("n0".into(), "r".into(), "n1".into(), 1.0)];
    for v in 2..n {
        for k in 0..3 {
            let u = ends[rng.below(ends.len() as u64) as usize];
            if u == v {
                continue;
            }
            let weight = 0.5 + rng.below(4) as f64;
            let rel = if k == 0 { "r" } else { "s" };
            let (src, dst) = if rng.bernoulli(0.5) { (v, u) } else { (u, v) };
            edges.push((format!("n{src}"), rel.into(), format!("n{dst}"), weight));
            ends.push(u);
            ends.push(v);
        }
    }
    edges.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    edges.dedup_by(|a, b| (&a.0, &a.1, &a.2) == (&b.0, &b.1, &b.2));
    edges
}

fn precision_and_error(exact: &[(String, f64)], got: &[(String, f64)]) -> (f64, f64) {
    let k = 10.min(exact.len());
    let cutoff = exact[k - 1].1 - 1e-12;
    let floor = exact.last().map_or(0.0, |e| e.1);
    let mut hits = 0;
    let mut max_error = 0.0f64;
    for (key, score) in got.iter().take(k) {
        match exact.iter().find(|e| &e.0 == key) {
            Some(&(_, s)) => {
                hits += usize::from(s >= cutoff);
                max_error = max_error.max((score - s).abs());
            }
            None => max_error = max_error.max(score - floor),
        }
    }
    (hits as f64 / k as f64, max_error)
}

fn check_mode(undirected: bool) {
    let edges = synthetic_edges(4000, 11 + undirected as u64);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db"))
        .undirected(undirected)
        .alpha(0.2)
        .create()
        .unwrap();
    let mut loader = db.bulk_loader().unwrap();
    let mut streamed = Vec::new();
    for (i, (s, r, d, w)) in edges.iter().enumerate() {
        if i % 5 == 4 {
            streamed.push((s, r, d, *w));
        } else {
            loader.add_edge(s, r, d, *w).unwrap();
        }
    }
    loader.finish().unwrap();
    for batch in streamed.chunks(500) {
        let mut txn = db.begin_write().unwrap();
        for (s, r, d, w) in batch {
            txn.add_edge(s, r, d, *w).unwrap();
        }
        txn.commit().unwrap();
    }
    let snapshot = db.begin_read().unwrap();
    let mut ws = PprWorkspace::new();
    let (mut precision, mut max_error, mut n) = (0.0, 0.0f64, 0);
    for q in 0..60u64 {
        let seeds: Vec<(String, f64)> = if q % 4 == 3 {
            (0..5)
                .map(|k| (format!("n{}", (q * 53 + k * 17) % 4000), 1.0 + k as f64))
                .collect()
        } else {
            vec![(format!("n{}", (q * 67) % 4000), 1.0)]
        };
        for alpha in [0.2, 0.5] {
            let mut request = PprRequest::new(seeds.clone());
            request.alpha = Some(alpha);
            request.method = Method::Index;
            let got = snapshot.ppr(&request, &mut ws).unwrap();
            assert_eq!(got.method, Method::Index, "the index served alpha {alpha}");
            request.method = Method::Exact;
            request.top_k = 200;
            let exact = snapshot.ppr(&request, &mut ws).unwrap();
            let (p, e) = precision_and_error(&exact.results, &got.results);
            precision += p;
            max_error = max_error.max(e);
            n += 1;
        }
    }
    let precision = precision / n as f64;
    println!("undirected {undirected}: precision@10 {precision:.4}, max abs error {max_error:.2e}");
    assert!(precision >= 0.99, "precision@10 {precision}");
    assert!(max_error <= 1e-4, "max abs error {max_error}");

    // Fallbacks, each reported in the answer.
    let seed = vec![("n7".to_string(), 1.0)];
    let mut request = PprRequest::new(seed);
    request.method = Method::Index;
    request.alpha = Some(0.1);
    assert_eq!(
        snapshot.ppr(&request, &mut ws).unwrap().method,
        Method::Exact,
        "alpha below the index's"
    );
    request.alpha = None;
    request.rel_weights = vec![("s".into(), 2.0)];
    assert_eq!(
        snapshot.ppr(&request, &mut ws).unwrap().method,
        Method::Exact,
        "relation weights"
    );
    request.rel_weights.clear();
    // A snapshot older than the newest commit keeps reading its own version's index: the
    // commit repairs the writer's copy, never the one the snapshot holds.
    let before = snapshot.ppr(&request, &mut ws).unwrap();
    assert_eq!(before.method, Method::Index);
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("n7", "r", "n8", 1.0).unwrap();
    txn.add_edge("n7", "r", "n9", 5.0).unwrap();
    txn.commit().unwrap();
    let after = snapshot.ppr(&request, &mut ws).unwrap();
    assert_eq!(
        after.method,
        Method::Index,
        "an older snapshot uses its index"
    );
    assert_eq!(after.results, before.results, "and reads it unchanged");
    let fresh = db.begin_read().unwrap();
    let now = fresh.ppr(&request, &mut ws).unwrap();
    assert_eq!(now.method, Method::Index);
    assert_ne!(
        now.results, before.results,
        "the new version sees the new edges"
    );
}

#[test]
fn index_queries_on_a_streamed_synthetic_graph_directed() {
    check_mode(false);
}

#[test]
fn index_queries_on_a_streamed_synthetic_graph_undirected() {
    check_mode(true);
}
