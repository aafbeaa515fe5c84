//! walkdb: an embedded, crash-safe graph database for growing, weighted, typed knowledge
//! graphs, ranked with Personalized PageRank.

mod adjacency;
pub mod backend;
mod catalog;
mod db;
mod error;
mod format;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_api;
pub mod graph;
mod hash;
pub mod inspect;
pub mod ppr;
pub mod rng;
pub mod tsv;
pub mod walks;
mod wal;

pub use catalog::Options;
pub use db::{
    BulkLoader, CheckpointInfo, CommitInfo, Database, DatabaseBuilder, Durability, Edges,
    ImportInfo, PprAnswer, PprRequest, Snapshot, Stats, SwitchTimings, VerifyReport, WriteTxn, DEFAULT_ALPHA, DEFAULT_WALKS_PER_NODE,
    MAX_KEY_LEN,
};
pub use error::{CorruptionError, Error, InputError, Result};
