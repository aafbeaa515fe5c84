//! Helpers shared by walkdb-dist's tests and its scale bench.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};

/// Free loopback ports for a hostfile.
pub(crate) fn hostfile(dir: &Path, processes: usize) -> PathBuf {
    let listeners: Vec<std::net::TcpListener> = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let lines: Vec<String> = listeners
        .iter()
        .map(|l| format!("127.0.0.1:{}", l.local_addr().unwrap().port()))
        .collect();
    drop(listeners);
    let path = dir.join(format!(
        "hosts-{}",
        lines.join("-").replace([':', '.'], "_")
    ));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}
