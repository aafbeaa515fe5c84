//! walkdb: an embedded, crash-safe graph database for growing, weighted, typed knowledge
//! graphs, ranked with Personalized PageRank.
//!
//! A [`Database`] is a directory: a redb catalog (node keys, relation names, manifest), a
//! write-ahead log, memory-mapped CSR segment files and a walk index of stored random walks
//! that every write transaction repairs. One writer ([`Database::begin_write`] ->
//! [`WriteTxn`]) and any number of readers ([`Database::begin_read`] -> [`Snapshot`]) work
//! at once; `Database` is `Send + Sync`.
//!
//! ```
//! use walkdb::ppr::{Method, PprWorkspace};
//! use walkdb::{Database, PprRequest};
//!
//! # fn main() -> walkdb::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let db = Database::builder(dir.path().join("kg")).undirected(true).create()?;
//! let mut txn = db.begin_write()?;
//! txn.add_edge("passage:1", "mentions", "Turing", 1.0)?;
//! txn.add_edge("passage:2", "mentions", "Turing", 1.0)?;
//! txn.add_edge("passage:2", "mentions", "Lovelace", 1.0)?;
//! txn.commit()?; // durable when it returns
//!
//! let snapshot = db.begin_read()?;
//! let mut request = PprRequest::new(vec![("Lovelace".into(), 1.0)]);
//! request.node_prefix = Some("passage:".into()); // rank passages only
//! request.method = Method::Exact;
//! let answer = snapshot.ppr(&request, &mut PprWorkspace::new())?;
//! assert_eq!(answer.results[0].0, "passage:2");
//! let total: f64 = answer.results.iter().map(|(_, s)| s).sum();
//! assert!(total < 1.0); // the seed's own score is not among the passages
//! # Ok(())
//! # }
//! ```
//!
//! Modules by layer: [`backend`] (every write goes through a [`backend::StorageBackend`];
//! walkdb's tests use `backend::SimBackend`, behind the `testing` feature, to crash and fail
//! storage), [`graph`] (ids and the
//! adjacency vocabulary), [`ppr`] (exact, push, Monte Carlo, index-backed queries), [`walks`]
//! (the walk index), [`tsv`] (the edge-list format), [`inspect`] (what `walkdb dump` shows).
//! The `testing` feature adds the simulated backend, `rng` and `synth` (generated graphs) for
//! walkdb's own tests and benchmarks.
//! `ARCHITECTURE.md` and `format-spec/` in the repository describe the design and every byte.
#![deny(missing_docs)]

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
mod layout;
mod memory;
pub mod ppr;
// Random streams and generated graphs: walkdb's own tests and benchmarks use them (feature
// `testing`); the engine uses `rng` privately.
#[cfg(any(test, feature = "testing"))]
pub mod rng;
#[cfg(not(any(test, feature = "testing")))]
mod rng;
#[cfg(any(test, feature = "testing"))]
pub mod synth;
pub mod tsv;
mod wal;
pub mod walks;

pub use catalog::Options;
pub use db::{
    BulkLoader, CheckpointInfo, CommitInfo, Database, DatabaseBuilder, Durability, Edges,
    ImportInfo, IndexInfo, Neighbor, PprAnswer, PprRequest, Snapshot, Stats, SwitchTimings,
    VerifyReport, WriteTxn, DEFAULT_ALPHA, DEFAULT_AUTO_CHECKPOINT_BYTES, DEFAULT_WALKS_PER_NODE,
    MAX_KEY_LEN,
};
pub use error::{
    CheckpointError, CloseError, ConflictError, CorruptionError, Error, ErrorKind, InUseError,
    InputError, InternalError, IoError, LockedError, OpenError, PoisonedError, ReadError,
    ReadOnlyError, Result, WriteError,
};

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
