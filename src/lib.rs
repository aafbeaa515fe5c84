//! walkdb: an embedded, crash-safe graph database for growing, weighted, typed knowledge
//! graphs, ranked with Personalized PageRank.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod graph;
pub mod rng;
pub mod walks;
