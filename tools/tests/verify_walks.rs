#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `walkdb verify` checks the walk index against the graph: a walk-index file whose every
//! checksum is valid but whose walks step along edges the graph does not have must fail
//! verification with exit code 2, naming the walk-index file and the bad step.
//!
//! The damaged file is made without byte surgery: two undirected databases with the same
//! node ids, degrees and options but different edges get walk files of the same shape, and the
//! first one's file is put in place of the second one's.

use std::path::Path;
use std::process::Command;

fn walkdb(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_walkdb"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn walk_files(db: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(db.join("walks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn verify_rejects_walks_that_step_along_missing_edges() {
    let dir = tempfile::tempdir().unwrap();
    // Same node ids (numbered by first appearance) and every degree 2 in both: a hexagon and
    // two triangles. Walks of the hexagon step 2 -> 3, which the triangles do not have.
    let graph_a = "n0\tr\tn1\nn1\tr\tn2\nn2\tr\tn3\nn3\tr\tn4\nn4\tr\tn5\nn5\tr\tn0\n";
    let graph_b = "n0\tr\tn1\nn1\tr\tn2\nn2\tr\tn0\nn3\tr\tn4\nn4\tr\tn5\nn5\tr\tn3\n";
    let mut dbs = Vec::new();
    for (name, tsv) in [("a", graph_a), ("b", graph_b)] {
        let file = dir.path().join(format!("{name}.tsv"));
        std::fs::write(&file, tsv).unwrap();
        let db = dir.path().join(name);
        let (code, _, err) = walkdb(&[
            "import",
            db.to_str().unwrap(),
            file.to_str().unwrap(),
            "--undirected",
        ]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = walkdb(&["verify", db.to_str().unwrap()]);
        assert_eq!(code, 0, "a freshly imported database verifies: {err}");
        dbs.push(db);
    }
    let (files_a, files_b) = (walk_files(&dbs[0]), walk_files(&dbs[1]));
    assert_eq!(files_a.len(), 1, "{files_a:?}");
    assert_eq!(
        files_a, files_b,
        "both databases name their walk file alike"
    );
    let name = &files_a[0];
    std::fs::copy(
        dbs[0].join("walks").join(name),
        dbs[1].join("walks").join(name),
    )
    .unwrap();
    let (code, _, err) = walkdb(&["verify", dbs[1].to_str().unwrap()]);
    assert_eq!(code, 2, "verify must fail with code 2: {err}");
    assert!(
        err.contains(name.as_str()),
        "the message names the file: {err}"
    );
    assert!(
        err.contains("without a link"),
        "the message names the bad step: {err}"
    );
}
