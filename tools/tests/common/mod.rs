//! Helpers shared by the CLI tests that need the shared WordNet data.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where the shared data lives: `$WALKDB_SHARED_DATA`, else `../shared/data` beside the
/// repository.
pub fn shared_data() -> PathBuf {
    match std::env::var_os("WALKDB_SHARED_DATA") {
        Some(p) => p.into(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    }
}

/// True under CI: the `CI` environment variable is set. CI always has the shared data.
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Called when the dataset at `path` is missing: under CI the test fails naming the path;
/// elsewhere it says `SKIPPED` on stderr (with `why`, what the test would have checked) and the
/// caller returns without checking.
pub fn missing_shared_data(path: &Path, why: &str) {
    assert!(
        !under_ci(),
        "{} is missing, and CI (`CI` is set) must have the shared data: point \
         WALKDB_SHARED_DATA at the shared data folder ({why})",
        path.display()
    );
    eprintln!(
        "SKIPPED: {} is not here (set WALKDB_SHARED_DATA to the shared data folder; under CI \
         this fails): {why}",
        path.display()
    );
}

/// `name` in the shared data folder, or `None` after [`missing_shared_data`] when it is not
/// there (a failure under CI).
pub fn shared_file(name: &str, why: &str) -> Option<PathBuf> {
    let path = shared_data().join(name);
    if path.is_file() {
        Some(path)
    } else {
        missing_shared_data(&path, why);
        None
    }
}

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
