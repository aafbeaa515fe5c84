//! Helpers shared by the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::Arc;

use walkdb::backend::{SimBackend, StorageBackend};
use walkdb::{Database, Durability};

/// The committed edge set as the model keeps it: (src, rel, dst) -> weight.
pub type EdgeSet = BTreeMap<(String, String, String), f64>;

/// Every live edge of the database's latest snapshot, by keys.
pub fn edge_set(db: &Database) -> EdgeSet {
    let snap = db.begin_read().expect("snapshot");
    let keys = snap.node_keys().expect("keys");
    let rels = snap.relation_names();
    let mut out = EdgeSet::new();
    for u in 0..snap.node_count() {
        for (v, r, w) in snap.out_edges(u) {
            out.insert(
                (
                    keys[u as usize].clone(),
                    rels[r as usize].clone(),
                    keys[v as usize].clone(),
                ),
                w,
            );
        }
        // The in-lists must mirror the out-lists exactly.
        for (s, r, w) in snap.in_edges(u) {
            let found = snap
                .out_edges(s)
                .any(|(d, r2, w2)| d == u && r2 == r && w2 == w);
            assert!(found, "in-edge {s} -[{r}]-> {u} has no out-edge");
        }
    }
    assert_eq!(out.len() as u64, snap.edge_count(), "edge count");
    // The sequential whole-graph scan yields exactly the per-node lists, in (src, dst, rel) order.
    let mut listed = Vec::new();
    for u in 0..snap.node_count() {
        for (v, r, w) in snap.out_edges(u) {
            listed.push((u, v, r, w));
        }
    }
    let mut scanned = Vec::new();
    snap.for_each_edge(|u, v, r, w| scanned.push((u, v, r, w)));
    assert_eq!(scanned, listed, "for_each_edge against out_edges");
    // The link count read from offsets is the number of links the walks step over.
    for u in 0..snap.node_count() {
        assert_eq!(
            snap.link_count(u),
            snap.links(u).count(),
            "link_count of {u}"
        );
    }
    out
}

pub fn sim_db(sim: &SimBackend, undirected: bool) -> walkdb::Result<Database> {
    Database::builder("sim")
        .backend(Arc::new(sim.clone()) as Arc<dyn StorageBackend>)
        .undirected(undirected)
        .durability(Durability::Immediate)
        .open_or_create()
        .map_err(Into::into)
}

/// Bulk-imports the small graph the corruption suites damage: 30 nodes, two relations,
/// weights 1.0 to 4.625 (a segment and a walk index with a little of everything).
pub fn import_small_graph(db: &Database) {
    let mut loader = db.bulk_loader().unwrap();
    for i in 0..30u32 {
        loader
            .add_edge(
                &format!("n{i}"),
                ["r", "s"][i as usize % 2],
                &format!("n{}", (i * 7 + 3) % 30),
                1.0 + i as f64 / 8.0,
            )
            .unwrap();
    }
    loader.finish().unwrap();
}

pub mod families;

/// The shared data folder and what a test does when a dataset is missing from it
/// (`shared_data.rs`, loaded by `families.rs` so that the benches including it get it too).
#[allow(unused_imports)]
pub use families::shared_data::{missing_shared_data, shared_dir, shared_file, under_ci};
