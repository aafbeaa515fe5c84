//! The incrementally maintained walk index: stored leaky random walks that answer the
//! Monte-Carlo part of a Personalized PageRank query (FORA) without generating walks at query
//! time, and that a transaction repairs in expected O(1) work per changed edge instead of a
//! rebuild.
//!
//! # Model
//! A *leaky walk* from `s` (format-spec/walk-index.md, PPR-NOTES "Walks") stops at each node with
//! probability `alpha`; otherwise it dies at a dangling node or moves to `v` with probability
//! `a(u, v) / W(u)`, where `a(u, v)` is the *pair weight* (the sum of the weights of the parallel
//! links from `u` to `v`) and `W(u)` the sum of `u`'s link weights. A walk is stored as its node
//! sequence and the way it ended ([`WalkEnd`]); parallel links are indistinguishable for PPR, so
//! nothing else is kept.
//!
//! Every node `u` owns `ceil(walks_per_node * degree(u))` walks started at it (FIRM's rule, and
//! the count FORA needs: a query with push threshold `r_max` and `omega` walks per unit of
//! residue uses about `r(u) * omega <= r_max * omega * degree(u)` walks from `u`).
//!
//! # Repairs
//! The repair inside every commit (`WalkIndex::apply` in tests) takes, per changed node, the pair weights that changed (`NodeChange`)
//! and repairs every stored visit with the optimal coupling between the old and the new step
//! distribution (see `repair.rs`). Repairs are a pure function of the logical index content,
//! the graph after the transaction, the changes and the transaction's LSN, so a WAL replay into a
//! reloaded index reproduces the live index walk for walk.
//!
//! Architecture invariant: this module reads graphs only through [`crate::graph::Adjacency`]
//! and never performs I/O except through the `std::io::Write` handed to
//! [`WalkIndex::encode_to`] or the `IndexSink` handed to the streaming build (`stream.rs`).

mod base;
mod build;
mod change;
mod error;
mod format;
mod query;
mod repair;
mod store;
mod stream;
mod verify;

#[cfg(test)]
pub(crate) mod testkit;

pub use build::{
    build_guide, build_step, build_step_guided, build_step_prefix, build_step_unit, BuildDraws,
    BuildStep,
};
pub(crate) use change::pair_changes;
#[cfg(not(any(test, feature = "testing")))]
pub(crate) use change::NodeChange;
#[cfg(any(test, feature = "testing"))]
pub use change::{NodeChange, PairChange};
pub use error::WalkIndexError;
pub use format::{read_header, section_status, FileHeader, SectionInfo, FORMAT_VERSION, MAGIC};
pub use query::IndexEstimate;
pub(crate) use query::{Truncation, WalkQueue};
pub use repair::RepairSummary;
pub use store::{WalkEnd, WalkIndex, WalkIndexParams, WalkRef};
pub(crate) use stream::{write_built, write_index, IndexSink, StreamSummary};
pub use verify::WalkIndexStats;

#[cfg(test)]
pub(crate) use repair::RepairMode;

#[cfg(test)]
mod tests;

#[cfg(test)]
thread_local! {
    /// Set by tests that compare a repair's parallel steps with their sequential form.
    pub(crate) static TEST_SEQUENTIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a repair on this thread may split its work over the thread pool (always, outside
/// tests that ask for the sequential form).
#[inline]
pub(crate) fn may_split() -> bool {
    #[cfg(test)]
    return !TEST_SEQUENTIAL.with(|c| c.get());
    #[cfg(not(test))]
    true
}
