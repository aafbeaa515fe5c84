//! The team's shared data folder (WordNet 3.0, the Debian package graph, pykeen Kinships: the
//! datasets that are not committed), and what a test does when a dataset is missing from it.
//!
//! Loaded by `tests/common/families.rs` (by path, so that the benches that include
//! `families.rs` get it too), re-exported by `tests/common/mod.rs`, and included by path by
//! the CLI's tests (`tools/tests/common/mod.rs`).
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

/// The shared data folder: `$WALKDB_SHARED_DATA`, else `../shared/data` beside the repository
/// (found from the compiling crate's directory: the root crate, or `tools/`, which includes
/// this file by path).
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WALKDB_SHARED_DATA") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .unwrap_or(manifest);
    root.join("../shared/data")
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
    let path = shared_dir().join(name);
    if path.is_file() {
        Some(path)
    } else {
        missing_shared_data(&path, why);
        None
    }
}
