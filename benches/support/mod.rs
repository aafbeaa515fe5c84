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
