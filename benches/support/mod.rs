//! Helpers shared by the benches that run the `walkdb` binary as a user would.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the release `walkdb` binary (the CLI crate) and returns its path.
pub fn walkdb_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("cargo")
        .args(["build", "--release", "-p", "walkdb-tools"])
        .current_dir(root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building walkdb failed");
    root.join("target/release/walkdb")
}

/// WordNet 3.0 from the shared data (`$WALKDB_SHARED_DATA`, else `../shared/data`), if there.
pub fn shared_tsv() -> Option<PathBuf> {
    let dir = std::env::var_os("WALKDB_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")));
    let tsv = dir.join("wordnet30.tsv");
    tsv.exists().then_some(tsv)
}

/// The `q` quantile of `v` (nearest rank).
pub fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// The distinct source keys of an edge-list TSV, sorted.
pub fn source_keys(tsv: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(tsv).expect("the TSV reads");
    let mut keys: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split('\t').next().map(str::to_string))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
