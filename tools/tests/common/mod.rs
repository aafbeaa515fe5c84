//! Helpers shared by the CLI tests that need the shared WordNet data.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

#[path = "../../../tests/common/shared_data.rs"]
mod shared_data;
// Each test binary uses a different part of it.
#[allow(unused_imports)]
pub use shared_data::{missing_shared_data, shared_dir as shared_data, shared_file, under_ci};

/// Runs the `walkdb` binary with `stdin`; returns (exit code, stdout, stderr).
pub fn walkdb(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_walkdb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The `(node, score)` pairs of a `walkdb ppr --json` answer (or batch line), in order.
pub fn ranked(answer: &serde_json::Value) -> Vec<(String, f64)> {
    answer["results"]
        .as_array()
        .expect("a results array")
        .iter()
        .map(|r| {
            (
                r["node"].as_str().expect("a node key").to_string(),
                r["score"].as_f64().expect("a score"),
            )
        })
        .collect()
}

/// Writes `graph` as TSV into `dir` and imports it as an undirected database at alpha 0.5;
/// returns the database path.
pub fn import_synth(
    dir: &std::path::Path,
    name: &str,
    graph: &walkdb::synth::SynthGraph,
) -> String {
    let tsv = dir.join(format!("{name}.tsv"));
    std::fs::write(&tsv, graph.to_tsv()).unwrap();
    let db = dir.join(name).to_string_lossy().into_owned();
    let (code, _, err) = walkdb(
        &[
            "import",
            &db,
            tsv.to_str().unwrap(),
            "--undirected",
            "--alpha",
            "0.5",
        ],
        None,
    );
    assert_eq!(code, 0, "import of {name}: {err}");
    db
}
