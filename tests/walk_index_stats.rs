//! Statistical equivalence of a repaired walk index and a freshly built one, through the
//! public API: 10,000 random weighted inserts, weight changes and deletes (nodes becoming
//! dangling and regaining links included), in directed and undirected mode, then the walks are
//! compared with the exact leaky-walk distribution on the final graph (per-depth pair step
//! counts and walk lengths, Pearson chi-square at p = 1e-6). A freshly built index on the final
//! graph must pass the same check (the control that the check is calibrated), and the
//! unit tests in src/walks/tests.rs show that biased repairs fail it.

#![allow(clippy::expect_used, clippy::unwrap_used, unreachable_pub)]

// The test kit addresses the crate as `crate::...`; map those paths onto walkdb's public API.
mod graph {
    pub use walkdb::graph::*;
}
mod rng {
    pub use walkdb::rng::*;
}
mod walks {
    pub use walkdb::walks::*;
}
#[path = "../src/walks/testkit.rs"]
mod testkit;

use testkit::{run_random_ops, statistical_check, GraphModel};
use walkdb::rng::Rng;
use walkdb::walks::{WalkIndex, WalkIndexParams};

fn run(undirected: bool) {
    let params = WalkIndexParams {
        alpha: 0.2,
        walks_per_node: 150.0,
        seed: 3,
    };
    let mut rng = Rng::new(if undirected { 50 } else { 60 });
    // Undirected nodes go dangling only when every pair at them is gone: a sparser graph
    // (about 1.5 links per node) makes that happen often enough to exercise those repairs.
    let edges = if undirected { 18 } else { 60 };
    let mut model = GraphModel::random(24, edges, undirected, &mut rng);
    let mut index = WalkIndex::build(&model.csr(), params).expect("build");
    let (mut dangling_events, mut was_dangling) = (0usize, vec![false; 24]);
    let graph = run_random_ops(&mut index, &mut model, 10_000, 77, |_, g| {
        use walkdb::graph::Adjacency;
        for u in 0..24u32 {
            let d = g.weight_sum(u) <= 0.0;
            if d != was_dangling[u as usize] {
                dangling_events += 1;
                was_dangling[u as usize] = d;
            }
        }
    });
    assert!(
        dangling_events > 20,
        "the op stream must make nodes dangling and back ({dangling_events})"
    );
    index.verify(&graph).expect("repaired index verifies");
    let repaired = statistical_check(&index, &graph, 8);
    assert!(
        repaired.is_ok(),
        "undirected={undirected}: repaired index: {repaired:?}"
    );
    let fresh = WalkIndex::build(&graph, WalkIndexParams { seed: 4, ..params }).expect("build");
    let control = statistical_check(&fresh, &graph, 8);
    assert!(
        control.is_ok(),
        "undirected={undirected}: fresh index: {control:?}"
    );
    // Same walk counts per node (degree rule) in both.
    for u in 0..graph_node_count(&graph) {
        assert_eq!(
            index.walk_count_from(u).unwrap(),
            fresh.walk_count_from(u).unwrap()
        );
    }
    // Mean walk length of repaired and fresh agree within 5 standard errors.
    let (a, b) = (index.stats().unwrap(), fresh.stats().unwrap());
    let mean = |s: &walkdb::walks::WalkIndexStats| 1.0 + s.steps as f64 / s.walks as f64;
    let var_bound = (1.0 - params.alpha) / (params.alpha * params.alpha); // geometric variance
    let se = (var_bound / a.walks as f64 + var_bound / b.walks as f64).sqrt();
    assert!(
        (mean(&a) - mean(&b)).abs() < 5.0 * se,
        "mean length {} vs {}",
        mean(&a),
        mean(&b)
    );
}

fn graph_node_count(g: &walkdb::graph::CsrGraph) -> u32 {
    use walkdb::graph::Adjacency;
    g.node_count() as u32
}

#[test]
fn repaired_index_matches_fresh_distribution_directed() {
    run(false);
}

#[test]
fn repaired_index_matches_fresh_distribution_undirected() {
    run(true);
}
