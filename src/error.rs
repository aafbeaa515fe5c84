//! Errors, one small enum per kind of failure plus the umbrella [`Error`].
//!
//! Every message names what and where ("wal/00000002.log offset 77312: record checksum
//! mismatch"), so a user can act on it without a debugger. The CLI maps the kinds to its exit
//! codes: input -> 1, corruption -> 2, I/O and poisoning -> 3.

use std::fmt;
use std::io;

/// A file failed a checksum, bounds or invariant check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptionError {
    /// The file, relative to the database directory.
    pub file: String,
    /// Byte offset of the damage, as close as the check can tell.
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

impl CorruptionError {
    /// Builds a corruption report for `file` at `offset`.
    pub fn new(file: impl Into<String>, offset: u64, what: impl Into<String>) -> CorruptionError {
        CorruptionError {
            file: file.into(),
            offset,
            what: what.into(),
        }
    }
}

impl fmt::Display for CorruptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} offset {}: {}", self.file, self.offset, self.what)
    }
}

impl std::error::Error for CorruptionError {}

/// Bad input from the caller: nothing was changed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InputError {
    /// A malformed TSV line.
    Tsv(crate::tsv::TsvError),
    /// A PPR query was rejected.
    Query(crate::ppr::QueryError),
    /// A node key that is not in the database.
    UnknownNode {
        /// The key.
        key: String,
    },
    /// A relation name that is not in the database.
    UnknownRelation {
        /// The name.
        name: String,
    },
    /// A weight that is not finite and > 0.
    InvalidWeight {
        /// The weight given.
        weight: f64,
    },
    /// A node key or relation name that is empty, too long or holds a tab or newline.
    InvalidKey {
        /// Why.
        reason: String,
    },
    /// An option out of range (alpha not in (0, 1), zero walks per node, ...).
    InvalidOption {
        /// Why.
        reason: String,
    },
    /// The database holds as many of something as it can.
    LimitReached {
        /// What ("nodes").
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// `create` on a directory that already holds a database.
    AlreadyExists {
        /// The directory.
        path: String,
    },
    /// `open` on a directory that holds no database.
    NotADatabase {
        /// The directory.
        path: String,
    },
    /// `open` was given an option that differs from the one the database was created with.
    OptionMismatch {
        /// The option ("undirected", "alpha", "walks_per_node").
        option: &'static str,
        /// The database's value.
        stored: String,
        /// The value the builder asked for.
        requested: String,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Tsv(e) => write!(f, "{e}"),
            InputError::Query(e) => write!(f, "{e}"),
            InputError::UnknownNode { key } => write!(f, "unknown node '{key}'"),
            InputError::UnknownRelation { name } => write!(f, "unknown relation '{name}'"),
            InputError::InvalidWeight { weight } => {
                write!(f, "weight {weight} is not a finite number > 0")
            }
            InputError::InvalidKey { reason } => write!(f, "invalid key: {reason}"),
            InputError::InvalidOption { reason } => write!(f, "invalid option: {reason}"),
            InputError::LimitReached { what, limit } => {
                write!(f, "the database holds the maximum number of {what} ({limit})")
            }
            InputError::AlreadyExists { path } => {
                write!(f, "{path} already holds a walkdb database")
            }
            InputError::NotADatabase { path } => write!(f, "{path} holds no walkdb database"),
            InputError::OptionMismatch {
                option,
                stored,
                requested,
            } => write!(
                f,
                "the database was created with {option} {stored}, not {requested}; its options cannot change"
            ),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InputError::Tsv(e) => Some(e),
            InputError::Query(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::tsv::TsvError> for Error {
    fn from(e: crate::tsv::TsvError) -> Error {
        Error::Input(InputError::Tsv(e))
    }
}

/// The umbrella error of every walkdb operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input was rejected; nothing changed.
    Input(InputError),
    /// A file is damaged; nothing wrong was served.
    Corrupt(CorruptionError),
    /// An I/O operation failed.
    Io {
        /// What walkdb was doing, naming the file.
        context: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// An earlier write or sync failed, so the database refuses writes until it is reopened:
    /// a retried fsync can report success after the data is gone.
    Poisoned {
        /// The failure that poisoned the database.
        cause: String,
    },
    /// The database directory is locked by another process or handle.
    Locked {
        /// The directory.
        path: String,
    },
    /// walkdb found its own state inconsistent (a bug, not the caller's input and not a damaged
    /// file); the operation changed nothing.
    Internal {
        /// What was inconsistent.
        what: String,
    },
    /// The operation raced a concurrent change and was not applied; it can be retried.
    Conflict {
        /// What changed under it.
        what: String,
    },
    /// A write on a handle opened with [`crate::DatabaseBuilder::open_read_only`].
    ReadOnly {
        /// What was refused.
        operation: &'static str,
    },
    /// [`crate::Database::close`] while other handles (clones, snapshots, transactions) are
    /// alive: the database was synced and stays open until the last of them is dropped.
    InUse {
        /// Handles alive besides the one being closed.
        others: usize,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corrupt(file: impl Into<String>, offset: u64, what: impl Into<String>) -> Error {
        Error::Corrupt(CorruptionError::new(file, offset, what))
    }

    /// True for a damaged-file error.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt(_))
    }

    /// True for rejected input.
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Input(_))
    }

    /// True when an earlier write failure made the database refuse writes until reopened.
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Poisoned { .. })
    }

    /// True for an I/O error of the operating system.
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Io { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input(e) => write!(f, "{e}"),
            Error::Corrupt(e) => write!(f, "database damaged: {e}"),
            Error::Io { context, source } => write!(f, "I/O error while {context}: {source}"),
            Error::Poisoned { cause } => write!(
                f,
                "the database refuses writes after an earlier I/O failure ({cause}); reopen it"
            ),
            Error::Locked { path } => write!(f, "{path} is already open in another process"),
            Error::Conflict { what } => write!(f, "{what}"),
            Error::Internal { what } => write!(f, "internal error (a walkdb bug): {what}"),
            Error::ReadOnly { operation } => {
                write!(
                    f,
                    "{operation} needs a writable handle; this one is read-only"
                )
            }
            Error::InUse { others } => write!(
                f,
                "{others} other handles (clones, snapshots or transactions) are still open; \
                 the database was synced and closes when the last is dropped"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Input(e) => Some(e),
            Error::Corrupt(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Error {
        Error::Input(e)
    }
}

impl From<CorruptionError> for Error {
    fn from(e: CorruptionError) -> Error {
        Error::Corrupt(e)
    }
}

/// Result alias for walkdb operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
