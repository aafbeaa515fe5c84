//! Installing a walk index built outside the database (walkdb-dist's path): the build entry
//! points give the walks `rebuild_walk_index` makes, and `install_walk_index` refuses an index
//! with other parameters, one that does not fit the graph, or one built on an older version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use walkdb::graph::{Adjacency, NodeId};
use walkdb::walks::{build_step, BuildDraws, BuildStep, WalkEnd, WalkIndex, WalkIndexParams};
use walkdb::{Database, ErrorKind};

fn db(dir: &std::path::Path, name: &str) -> Database {
    let db = Database::builder(dir.join(name))
        .undirected(true)
        .alpha(0.2)
        .create()
        .unwrap();
    let mut txn = db.begin_write().unwrap();
    for i in 0..60u32 {
        txn.add_edge(
            &format!("n{i}"),
            "r",
            &format!("n{}", (i * 7 + 3) % 60),
            1.0 + (i % 3) as f64,
        )
        .unwrap();
        txn.add_edge(&format!("n{i}"), "s", &format!("n{}", (i + 1) % 60), 0.5)
            .unwrap();
    }
    txn.add_edge("n0", "self", "n0", 2.0).unwrap();
    txn.commit().unwrap();
    db
}

/// Every walk built one step at a time with the public entry points, in (node, k) order.
fn walks_by_steps(graph: &impl Adjacency, params: WalkIndexParams) -> Vec<(Vec<NodeId>, WalkEnd)> {
    let mut walks = Vec::new();
    for u in 0..graph.node_count() as NodeId {
        for k in 0..params.walks_for_degree(graph.degree(u)) {
            let draws = BuildDraws::new(params.seed, u, k as u32);
            let mut nodes = vec![u];
            let end = loop {
                let at = *nodes.last().unwrap();
                let position = (nodes.len() - 1) as u32;
                match build_step(
                    params.alpha,
                    &draws,
                    position,
                    graph.links(at),
                    graph.weight_sum(at),
                ) {
                    BuildStep::Stop => break WalkEnd::Stopped,
                    BuildStep::Die => break WalkEnd::Died,
                    BuildStep::Move(v) => nodes.push(v),
                }
            };
            walks.push((nodes, end));
        }
    }
    walks
}

fn index_of(walks: &[(Vec<NodeId>, WalkEnd)], params: WalkIndexParams, n: usize) -> WalkIndex {
    WalkIndex::from_walks(params, n, walks.len(), |id| {
        let (nodes, end) = &walks[id as usize];
        Ok((nodes.as_slice(), *end))
    })
    .unwrap()
}

#[test]
fn a_step_by_step_build_installs_as_the_rebuild_would() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (db(dir.path(), "a"), db(dir.path(), "b"));
    b.rebuild_walk_index(&|_, _| {}).unwrap();
    let snapshot = a.begin_read().unwrap();
    let params = a.walk_index_params();
    let graph = snapshot.projection();
    let walks = walks_by_steps(&*graph, params);
    let info = a
        .install_walk_index(index_of(&walks, params, graph.node_count()), snapshot.lsn())
        .unwrap();
    assert_eq!(info.walks as usize, walks.len());
    let (ia, _) = a.walk_index_copy().unwrap();
    let (ib, _) = b.walk_index_copy().unwrap();
    assert!(ia == ib, "installed index differs from the rebuild");
    // An index decoded from bytes (tables not derived here) is checked whole, and installs.
    let mut bytes = Vec::new();
    ib.encode_to(&mut bytes).unwrap();
    let decoded = WalkIndex::decode(&bytes).unwrap();
    assert!(!decoded.tables_derived_here());
    assert!(index_of(&walks, params, graph.node_count()).tables_derived_here());
    b.install_walk_index(decoded, b.begin_read().unwrap().lsn())
        .unwrap();
    // Repairs continue from the installed index.
    let mut txn = a.begin_write().unwrap();
    txn.add_edge("n3", "later", "n40", 4.0).unwrap();
    txn.commit().unwrap();
    a.verify().unwrap();
}

#[test]
fn install_refuses_other_parameters_misfit_walks_and_stale_versions() {
    let dir = tempfile::tempdir().unwrap();
    let a = db(dir.path(), "a");
    let snapshot = a.begin_read().unwrap();
    let params = a.walk_index_params();
    let graph = snapshot.projection();
    let n = graph.node_count();
    let walks = walks_by_steps(&*graph, params);

    // Another alpha: refused as input.
    let other = WalkIndexParams {
        alpha: 0.3,
        ..params
    };
    let e = a
        .install_walk_index(
            index_of(&walks_by_steps(&*graph, other), other, n),
            snapshot.lsn(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input, "{e}");
    assert!(e.to_string().contains("walk index not installed"), "{e}");

    // A step that follows no link.
    let mut bad = walks.clone();
    let at = bad.iter().position(|(nodes, _)| nodes.len() >= 2).unwrap();
    let from = bad[at].0[0];
    let stray = (0..n as NodeId)
        .find(|&v| v != from && graph.links(from).all(|l| l.target != v))
        .unwrap();
    bad[at].0[1] = stray;
    let e = a
        .install_walk_index(index_of(&bad, params, n), snapshot.lsn())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input, "{e}");
    assert!(e.to_string().contains("without a link"), "{e}");

    // A node missing one of its walks.
    let mut short = walks.clone();
    short.pop();
    let e = a
        .install_walk_index(index_of(&short, params, n), snapshot.lsn())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input, "{e}");

    // Built on a version the database has moved past.
    let mut txn = a.begin_write().unwrap();
    txn.add_edge("n1", "later", "n2", 1.0).unwrap();
    txn.commit().unwrap();
    let e = a
        .install_walk_index(index_of(&walks, params, n), snapshot.lsn())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    // Nothing was installed: the database still verifies with its own index.
    a.verify().unwrap();
}
