//! Errors of the walk index: each names what a caller can act on (which byte of a file is bad,
//! which walk contradicts the graph, which change is malformed).

/// Everything that can go wrong while building, repairing, verifying or decoding a walk index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalkIndexError {
    /// An encoded index failed a validity rule: the bytes cannot be trusted, so nothing from
    /// them is returned. `offset` is the byte offset in the encoded file where the rule failed.
    #[error("walk index file corrupt in section {section} at byte {offset}: {reason}")]
    Corrupt {
        /// The name of the header field or section that failed the check.
        section: &'static str,
        /// Byte offset within the encoded file.
        offset: u64,
        /// What rule failed.
        reason: String,
    },
    /// A parameter is out of its documented range (for example `alpha` outside `(0, 1)`).
    #[error("invalid walk index parameter: {0}")]
    InvalidParams(String),
    /// A transaction's change list is malformed (unknown node, duplicated node, bad weight).
    #[error("invalid change in the transaction at LSN {lsn}: {reason}")]
    InvalidChange {
        /// The LSN of the rejected transaction.
        lsn: u64,
        /// What is wrong with the change list.
        reason: String,
    },
    /// [`super::WalkIndex::verify`] found the index inconsistent with the graph or with itself.
    #[error("walk index inconsistent{}: {reason}", walk.map(|w| format!(" (walk {w})")).unwrap_or_default())]
    Inconsistent {
        /// The offending walk, when one walk is to blame.
        walk: Option<u32>,
        /// What rule failed.
        reason: String,
    },
    /// Writing the encoded index failed.
    #[error("I/O error while writing the walk index: {0}")]
    Io(#[from] std::io::Error),
}
