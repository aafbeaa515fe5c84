//! The handle API a service embeds: read-only handles that follow a writer (here in the same
//! process; `tools/tests/live_readers.rs` runs them in other processes), option checks at
//! open, `close`, `try_begin_write`, and a write transaction moved to another thread.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

#[path = "common/dir_files.rs"]
mod dir_files;

use dir_files::dir_files as files;
use walkdb::ppr::{Method, PprWorkspace};
use walkdb::{
    CheckpointError, CloseError, Database, InputError, OpenError, PprRequest, ReadError, WriteError,
};

fn add(db: &Database, edges: std::ops::Range<u64>) {
    let mut txn = db.begin_write().unwrap();
    for i in edges {
        txn.add_edge(
            &format!("k{}", i % 17),
            &format!("r{}", i % 3),
            &format!("e{}", i % 40),
            1.0 + (i % 5) as f64,
        )
        .unwrap();
    }
    txn.commit().unwrap();
}

fn index_answer(db: &Database, seed: &str) -> Vec<(String, f64)> {
    let mut request = PprRequest::new(vec![(seed.to_string(), 1.0)]);
    request.method = Method::Index;
    request.top_k = 20;
    let answer = db
        .begin_read()
        .unwrap()
        .ppr(&request, &mut PprWorkspace::default())
        .unwrap();
    assert_eq!(answer.method, Method::Index);
    answer.results
}

#[test]
fn a_read_only_handle_follows_commits_and_checkpoints_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let writer = Database::builder(&path)
        .undirected(true)
        .alpha(0.3)
        .create()
        .unwrap();
    add(&writer, 0..30);
    let reader = Database::builder(&path).open_read_only().unwrap();
    assert!(reader.is_read_only() && !writer.is_read_only());
    assert_eq!(reader.options(), writer.options());
    let first = reader.begin_read().unwrap();
    assert_eq!(
        first.edge_count(),
        writer.begin_read().unwrap().edge_count()
    );

    // Later commits appear on refresh; a snapshot keeps its version.
    add(&writer, 30..60);
    add(&writer, 60..61);
    assert_eq!(reader.begin_read().unwrap().lsn(), first.lsn());
    let lsn = reader.refresh().unwrap();
    assert_eq!(lsn, writer.begin_read().unwrap().lsn());
    let now = reader.begin_read().unwrap();
    assert_eq!(now.edge_count(), writer.begin_read().unwrap().edge_count());
    assert!(now.edge_count() > first.edge_count());
    // The reader replayed the writer's walk repairs: the index answers bit for bit the same.
    assert_eq!(index_answer(&reader, "k3"), index_answer(&writer, "k3"));

    // Across a checkpoint (the files the reader mapped are deleted) and more commits.
    writer.checkpoint().unwrap();
    add(&writer, 61..90);
    reader.refresh().unwrap();
    assert_eq!(
        reader.stats().unwrap().generation,
        writer.stats().unwrap().generation
    );
    assert_eq!(
        reader.begin_read().unwrap().edge_count(),
        writer.begin_read().unwrap().edge_count()
    );
    assert_eq!(index_answer(&reader, "e7"), index_answer(&writer, "e7"));
    let report = reader.verify().unwrap();
    assert_eq!(report.edges, writer.begin_read().unwrap().edge_count());

    // Every write is refused with a typed error, and nothing is written.
    let before = files(&path);
    assert!(matches!(reader.begin_write(), Err(WriteError::ReadOnly(_))));
    assert!(matches!(
        reader.try_begin_write(),
        Err(WriteError::ReadOnly(_))
    ));
    assert!(matches!(
        reader.checkpoint(),
        Err(CheckpointError::ReadOnly(_))
    ));
    assert!(matches!(reader.bulk_loader(), Err(WriteError::ReadOnly(_))));
    assert!(matches!(reader.sync(), Err(WriteError::ReadOnly(_))));
    reader.refresh().unwrap();
    reader.stats().unwrap();
    assert_eq!(files(&path), before);
    drop((first, now));
    reader.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn a_catalog_a_crashed_writer_left_open_is_read_through_a_private_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let writer = Database::builder(&path).create().unwrap();
    add(&writer, 0..50);
    writer.checkpoint().unwrap();
    add(&writer, 50..70);
    // The directory as a kill -9 of the writer would leave it: copied while the writer has
    // every file open (redb's catalog is marked in use, the LOCK is held).
    let copy = dir.path().join("copy");
    for (file, bytes) in files(&path) {
        let to = copy.join(file.strip_prefix(&path).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    let before = files(&copy);
    let reader = Database::builder(&copy).open_read_only().unwrap();
    assert_eq!(
        reader.begin_read().unwrap().edge_count(),
        writer.begin_read().unwrap().edge_count()
    );
    reader.verify().unwrap();
    drop(reader);
    assert_eq!(
        files(&copy),
        before,
        "the read-only handle wrote to the copy"
    );
    // The writer's own recovery of the copy still works afterwards, and a reader opened
    // while no writer was live (reading a private copy of the catalog) follows the new writer
    // once it is there, across its checkpoints and an import.
    let reader = Database::builder(&copy).open_read_only().unwrap();
    let recovered = Database::builder(&copy).open().unwrap();
    assert_eq!(
        recovered.begin_read().unwrap().edge_count(),
        writer.begin_read().unwrap().edge_count()
    );
    add(&recovered, 70..120);
    recovered.checkpoint().unwrap();
    add(&recovered, 120..140);
    let mut loader = recovered.bulk_loader().unwrap();
    loader.add_edge("imported", "r9", "k1", 1.0).unwrap();
    loader.finish().unwrap();
    add(&recovered, 140..150);
    reader.refresh().unwrap();
    let (seen, live) = (
        reader.begin_read().unwrap(),
        recovered.begin_read().unwrap(),
    );
    assert_eq!(
        (seen.lsn(), seen.edge_count()),
        (live.lsn(), live.edge_count())
    );
    assert!(seen.node_id("imported").unwrap().is_some());
    assert_eq!(seen.edge_weight("imported", "r9", "k1").unwrap(), Some(1.0));
    reader.verify().unwrap();
}

#[test]
fn open_refuses_options_that_differ_from_the_stored_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    Database::builder(&path)
        .undirected(true)
        .alpha(0.3)
        .walks_per_node(2.0)
        .create()
        .unwrap()
        .close()
        .unwrap();
    let refused = |builder: walkdb::DatabaseBuilder, option: &str| {
        for result in [builder.clone().open(), builder.open_read_only()] {
            match result {
                Err(OpenError::Input(InputError::OptionMismatch { option: o, .. })) => {
                    assert_eq!(o, option)
                }
                other => panic!("{option}: {other:?}"),
            }
        }
    };
    refused(Database::builder(&path).undirected(false), "undirected");
    refused(Database::builder(&path).alpha(0.5), "alpha");
    refused(
        Database::builder(&path).walks_per_node(1.0),
        "walks_per_node",
    );
    // Unset options take the stored ones; equal ones are accepted.
    let db = Database::builder(&path).open().unwrap();
    assert!(db.options().undirected && db.options().alpha == 0.3);
    db.close().unwrap();
    let db = Database::builder(&path)
        .undirected(true)
        .alpha(0.3)
        .walks_per_node(2.0)
        .open()
        .unwrap();
    db.close().unwrap();
}

#[test]
fn close_releases_the_directory_at_once_unless_other_handles_remain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Database::builder(&path).create().unwrap();
    add(&db, 0..10);
    assert!(matches!(
        Database::builder(&path).open(),
        Err(OpenError::Locked(_))
    ));
    let snapshot = db.begin_read().unwrap();
    match db.close() {
        Err(CloseError::InUse(e)) => assert_eq!(e.others, 1),
        other => panic!("close with a snapshot alive: {other:?}"),
    }
    // The snapshot still reads; dropping it, the last handle, closes the database.
    assert_eq!(snapshot.edge_count(), 10);
    drop(snapshot);
    let db = Database::builder(&path).open().unwrap();
    assert_eq!(db.begin_read().unwrap().edge_count(), 10);
    db.close().unwrap();
    let db = Database::builder(&path).open().unwrap();
    db.close().unwrap();
}

#[test]
fn try_begin_write_never_waits_and_a_transaction_moves_between_threads() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db")).create().unwrap();
    let txn = db.begin_write().unwrap();
    assert!(db.try_begin_write().unwrap().is_none());
    assert!(db
        .begin_write_timeout(Duration::from_millis(20))
        .unwrap()
        .is_none());
    // The open transaction is moved to another thread, which adds to it and commits.
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let mut txn = txn;
                txn.add_edge("a", "r", "b", 1.0).unwrap();
                txn.commit().unwrap();
            })
            .join()
            .unwrap();
    });
    let txn = db
        .try_begin_write()
        .unwrap()
        .expect("the writer is free again");
    drop(txn);
    assert_eq!(db.begin_read().unwrap().edge_count(), 1);
    assert!(!db.is_poisoned());
}

#[test]
fn a_service_reads_neighbors_edges_and_prefixes_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::builder(dir.path().join("db")).create().unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("passage:1", "mentions", "Turing", 1.5)
        .unwrap();
    txn.add_edge("passage:2", "mentions", "Turing", 2.0)
        .unwrap();
    txn.add_edge("Turing", "born_in", "London", 1.0).unwrap();
    txn.commit().unwrap();
    db.checkpoint().unwrap();
    // Keys after the checkpoint too: lookups combine the catalog and the WAL's new keys.
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("passage:3", "mentions", "London", 0.5)
        .unwrap();
    txn.commit().unwrap();
    let snap = db.begin_read().unwrap();
    let out = snap.out_neighbors("Turing").unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].key.as_str(), out[0].relation.as_str(), out[0].weight),
        ("London", "born_in", 1.0)
    );
    let mut into: Vec<(String, String, f64)> = snap
        .in_neighbors("Turing")
        .unwrap()
        .into_iter()
        .map(|n| (n.key, n.relation, n.weight))
        .collect();
    into.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        into,
        vec![
            ("passage:1".into(), "mentions".into(), 1.5),
            ("passage:2".into(), "mentions".into(), 2.0)
        ]
    );
    assert_eq!(
        snap.edge_weight("passage:2", "mentions", "Turing").unwrap(),
        Some(2.0)
    );
    assert_eq!(
        snap.edge_weight("Turing", "mentions", "passage:2").unwrap(),
        None
    );
    assert_eq!(
        snap.edge_weight("nobody", "mentions", "Turing").unwrap(),
        None
    );
    assert_eq!(
        snap.edge_weight("passage:2", "no_rel", "Turing").unwrap(),
        None
    );
    assert!(matches!(
        snap.out_neighbors("nobody"),
        Err(ReadError::Input(InputError::UnknownNode { .. }))
    ));
    let passages: Vec<String> = snap
        .nodes_with_prefix("passage:")
        .unwrap()
        .into_iter()
        .map(|id| snap.node_key(id).unwrap().unwrap())
        .collect();
    assert_eq!(passages, vec!["passage:1", "passage:2", "passage:3"]);
    assert!(snap.nodes_with_prefix("zzz").unwrap().is_empty());
    assert_eq!(snap.relation_names(), vec!["mentions", "born_in"]);
}
