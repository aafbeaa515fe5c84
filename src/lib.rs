//! walkdb: an embedded, crash-safe graph database for growing, weighted, typed knowledge
//! graphs, ranked with Personalized PageRank.

pub mod backend;
mod error;
pub mod graph;
pub mod rng;

pub use error::{CorruptionError, Error, InputError, Result};
mod adjacency;
mod format;
mod wal;
