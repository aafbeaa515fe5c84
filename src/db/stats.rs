//! Figures about a database: counts and storage.

use super::Database;
use crate::error::ReadError;
use crate::error::{Error, Result};

/// Counts and storage figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Node ids in use.
    pub nodes: u32,
    /// Live edges.
    pub edges: u64,
    /// Relations.
    pub relations: u32,
    /// Graph mode.
    pub undirected: bool,
    /// Walk restart probability.
    pub alpha: f64,
    /// Walk-index density.
    pub walks_per_node: f64,
    /// LSN of the latest commit.
    pub lsn: u64,
    /// LSN the last checkpoint covers.
    pub checkpoint_lsn: u64,
    /// Current segment generation.
    pub generation: u64,
    /// Stored walks of the walk index (its shape: [`Database::walk_stats`]).
    pub walks: u64,
    /// Nodes changed since the last checkpoint (held in memory).
    pub delta_nodes: usize,
    /// Every file with its size in bytes.
    pub files: Vec<(String, u64)>,
}

impl Stats {
    /// Total bytes of the files whose name starts with `prefix`.
    pub fn bytes_under(&self, prefix: &str) -> u64 {
        self.files
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, b)| b)
            .sum()
    }
}

impl Database {
    /// Counts and storage figures of the newest version. Takes no lock a writer holds and reads
    /// no walk (see [`Database::walk_stats`] for the index's shape).
    pub fn stats(&self) -> Result<Stats, ReadError> {
        let version = std::sync::Arc::clone(&self.inner.current.read());
        let (checkpoint_lsn, generation) = (version.checkpoint_lsn, version.generation);
        let backend = &self.inner.backend;
        let mut files = Vec::new();
        for dir in [
            "",
            crate::wal::WAL_DIR,
            crate::adjacency::SEGMENT_DIR,
            super::WALK_DIR,
        ] {
            let names = match backend.list(dir) {
                Ok(names) => names,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(format!("listing {dir}"), e).into()),
            };
            for name in names {
                let full = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                if full == "LOCK" {
                    continue;
                }
                match backend.file_len(&full) {
                    Ok(len) => files.push((full, len)),
                    // Deleted since the listing (a checkpoint in another process).
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(Error::io(format!("reading the size of {full}"), e).into())
                    }
                }
            }
        }
        Ok(Stats {
            walks: version.walks.index.walk_count() as u64,
            nodes: version.view.node_count,
            edges: version.edge_count,
            relations: version.relation_count,
            undirected: self.inner.options.undirected,
            alpha: self.inner.options.alpha,
            walks_per_node: self.inner.options.walks_per_node,
            lsn: version.lsn,
            checkpoint_lsn,
            generation,
            delta_nodes: version.view.delta.touched_nodes(),
            files,
        })
    }
}
