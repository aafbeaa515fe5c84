//! Errors: one struct per kind of failure ([`CorruptionError`], [`IoError`], [`LockedError`],
//! ...), one enum per kind of operation holding the kinds it can fail with ([`OpenError`],
//! [`WriteError`], [`ReadError`], [`CheckpointError`], [`CloseError`]), and the umbrella
//! [`Error`] every one of them converts into, so `?` works in code that calls several.
//!
//! Every message names what and where ("wal/00000002.log offset 77312: record checksum
//! mismatch"), so a user can act on it without a debugger. `kind()` and the `is_*` predicates
//! answer the same on every enum. The CLI maps the kinds to its exit codes: input -> 1,
//! corruption -> 2, I/O and poisoning -> 3.

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
    /// A walk index built elsewhere that cannot be installed: other parameters than the
    /// database's, or walks that do not fit the graph it claims to be built on.
    InvalidWalkIndex {
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
            InputError::InvalidWalkIndex { reason } => {
                write!(f, "walk index not installed: {reason}")
            }
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

/// An I/O operation of the operating system failed.
#[derive(Debug)]
pub struct IoError {
    /// What walkdb was doing, naming the file.
    pub context: String,
    /// The operating system's error.
    pub source: io::Error,
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I/O error while {}: {}", self.context, self.source)
    }
}

/// An earlier write or sync failed, so the database refuses writes until it is reopened: a
/// retried fsync can report success after the data is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoisonedError {
    /// The failure that poisoned the database.
    pub cause: String,
}

impl fmt::Display for PoisonedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the database refuses writes after an earlier I/O failure ({}); reopen it",
            self.cause
        )
    }
}

/// The database directory is locked by another process or handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedError {
    /// The directory.
    pub path: String,
}

impl fmt::Display for LockedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is already open in another process", self.path)
    }
}

/// walkdb found its own state inconsistent (a bug, not the caller's input and not a damaged
/// file); the operation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalError {
    /// What was inconsistent.
    pub what: String,
}

impl fmt::Display for InternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "internal error (a walkdb bug): {}", self.what)
    }
}

/// The operation raced a concurrent change and was not applied; it can be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictError {
    /// What changed under it.
    pub what: String,
}

impl fmt::Display for ConflictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.what)
    }
}

/// A write on a handle opened with [`crate::DatabaseBuilder::open_read_only`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOnlyError {
    /// What was refused.
    pub operation: &'static str,
}

impl fmt::Display for ReadOnlyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} needs a writable handle; this one is read-only",
            self.operation
        )
    }
}

/// [`crate::Database::close`] while other handles (clones, snapshots, transactions) are
/// alive: the database was synced and stays open until the last of them is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUseError {
    /// Handles alive besides the one being closed.
    pub others: usize,
}

impl fmt::Display for InUseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} other handles (clones, snapshots or transactions) are still open; \
             the database was synced and closes when the last is dropped",
            self.others
        )
    }
}

/// The kind of a failure, the same for [`Error`] and every per-operation error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input was rejected ([`InputError`]).
    Input,
    /// A file is damaged ([`CorruptionError`]).
    Corruption,
    /// The operating system failed an I/O operation ([`IoError`]).
    Io,
    /// The database refuses writes after an earlier failure ([`PoisonedError`]).
    Poisoned,
    /// The directory is locked elsewhere ([`LockedError`]).
    Locked,
    /// A walkdb bug ([`InternalError`]).
    Internal,
    /// A race with a concurrent change ([`ConflictError`]).
    Conflict,
    /// A write on a read-only handle ([`ReadOnlyError`]).
    ReadOnly,
    /// Other handles are still open ([`InUseError`]).
    InUse,
}

/// Defines the umbrella [`Error`] or one per-operation error: an enum of some of the failure
/// kinds, each variant holding that kind's struct, with conversions to and from [`Error`].
macro_rules! error_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident($payload:ty) = $kind:ident),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant($payload)),+
        }

        impl $name {
            /// The kind of failure.
            pub fn kind(&self) -> ErrorKind {
                match self {
                    $($name::$variant(_) => ErrorKind::$kind),+
                }
            }

            /// True for a damaged-file error.
            pub fn is_corruption(&self) -> bool {
                self.kind() == ErrorKind::Corruption
            }

            /// True for rejected input.
            pub fn is_input(&self) -> bool {
                self.kind() == ErrorKind::Input
            }

            /// True when an earlier write failure made the database refuse writes until
            /// reopened.
            pub fn is_poisoned(&self) -> bool {
                self.kind() == ErrorKind::Poisoned
            }

            /// True for an I/O error of the operating system.
            pub fn is_io(&self) -> bool {
                self.kind() == ErrorKind::Io
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(e) => error_enum!(@display $kind, e, f)),+
                }
            }
        }

        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    $($name::$variant(e) => error_enum!(@source $kind, e)),+
                }
            }
        }
    };
    (@display Corruption, $e:ident, $f:ident) => { write!($f, "database damaged: {}", $e) };
    (@display $other:ident, $e:ident, $f:ident) => { fmt::Display::fmt($e, $f) };
    (@source Input, $e:ident) => { Some($e) };
    (@source Corruption, $e:ident) => { Some($e) };
    (@source Io, $e:ident) => { Some(&$e.source) };
    (@source $other:ident, $e:ident) => {{
        let _ = $e;
        None
    }};
}

/// Defines a per-operation error: [`error_enum!`] plus the conversions. Into [`Error`] is
/// lossless; from [`Error`] keeps every kind the operation can fail with, and reports any other
/// (which the operation's code never produces) as an [`InternalError`] naming it.
macro_rules! operation_error {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident($payload:ty) = $kind:ident),+ $(,)? }
    ) => {
        error_enum!($(#[$meta])* $name { $($(#[$vmeta])* $variant($payload) = $kind),+ });

        impl From<$name> for Error {
            fn from(e: $name) -> Error {
                match e {
                    $($name::$variant(x) => Error::$variant(x)),+
                }
            }
        }

        impl From<Error> for $name {
            fn from(e: Error) -> $name {
                match e {
                    $(Error::$variant(x) => $name::$variant(x),)+
                    other => $name::Internal(InternalError {
                        what: format!("an operation failed in a way it cannot: {other}"),
                    }),
                }
            }
        }

        impl From<InputError> for $name {
            fn from(e: InputError) -> $name {
                Error::Input(e).into()
            }
        }

        impl From<CorruptionError> for $name {
            fn from(e: CorruptionError) -> $name {
                Error::Corrupt(e).into()
            }
        }
    };
}

error_enum! {
    /// The umbrella error: every failure of every walkdb operation. The per-operation errors
    /// ([`OpenError`], [`WriteError`], [`ReadError`], [`CheckpointError`], [`CloseError`])
    /// hold the kinds their operation can fail with and convert into it (`?` works).
    Error {
        /// The caller's input was rejected; nothing changed.
        Input(InputError) = Input,
        /// A file is damaged; nothing wrong was served.
        Corrupt(CorruptionError) = Corruption,
        /// An I/O operation failed.
        Io(IoError) = Io,
        /// The database refuses writes after an earlier write or sync failure.
        Poisoned(PoisonedError) = Poisoned,
        /// The database directory is locked by another process or handle.
        Locked(LockedError) = Locked,
        /// walkdb found its own state inconsistent (a bug).
        Internal(InternalError) = Internal,
        /// The operation raced a concurrent change; it can be retried.
        Conflict(ConflictError) = Conflict,
        /// A write on a read-only handle.
        ReadOnly(ReadOnlyError) = ReadOnly,
        /// `close` while other handles are alive.
        InUse(InUseError) = InUse,
    }
}

operation_error! {
    /// Why opening or creating a database failed ([`crate::DatabaseBuilder`]).
    OpenError {
        /// Bad options, a mismatch with the stored ones, no database (open) or one already
        /// there (create).
        Input(InputError) = Input,
        /// A file of the database is damaged.
        Corrupt(CorruptionError) = Corruption,
        /// The operating system failed a read or write.
        Io(IoError) = Io,
        /// Another process or handle has the database open for writing.
        Locked(LockedError) = Locked,
        /// A file changed under a read-only open so often that it gave up (a writer
        /// checkpointing without pause); it can be retried.
        Conflict(ConflictError) = Conflict,
        /// A walkdb bug.
        Internal(InternalError) = Internal,
    }
}

operation_error! {
    /// Why a write failed: starting a transaction, staging an operation, committing, a bulk
    /// load, a sync.
    WriteError {
        /// A bad key, weight or id; nothing was staged.
        Input(InputError) = Input,
        /// A file the write had to read is damaged.
        Corrupt(CorruptionError) = Corruption,
        /// The operating system failed a write or sync (the database is poisoned from then on).
        Io(IoError) = Io,
        /// An earlier failure made the database refuse writes until it is reopened.
        Poisoned(PoisonedError) = Poisoned,
        /// The handle is read-only.
        ReadOnly(ReadOnlyError) = ReadOnly,
        /// A walkdb bug; the transaction changed nothing.
        Internal(InternalError) = Internal,
    }
}

operation_error! {
    /// Why a read failed: a snapshot, a key lookup, a PPR query, stats, refresh, verify.
    ReadError {
        /// An unknown node or relation, a rejected query.
        Input(InputError) = Input,
        /// A file the read touched is damaged.
        Corrupt(CorruptionError) = Corruption,
        /// The operating system failed a read.
        Io(IoError) = Io,
        /// A read-only handle met a writer's checkpoint too often to finish; it can be
        /// retried.
        Conflict(ConflictError) = Conflict,
        /// A walkdb bug.
        Internal(InternalError) = Internal,
    }
}

operation_error! {
    /// Why a checkpoint (or walk-index rebuild or install) failed.
    CheckpointError {
        /// A bad option for a rebuild, or a walk index that cannot be installed.
        Input(InputError) = Input,
        /// The graph changed while a walk index was being built for it; build it again.
        Conflict(ConflictError) = Conflict,
        /// A file the checkpoint read is damaged.
        Corrupt(CorruptionError) = Corruption,
        /// The operating system failed a write or sync (the database is poisoned from then on).
        Io(IoError) = Io,
        /// An earlier failure made the database refuse writes until it is reopened.
        Poisoned(PoisonedError) = Poisoned,
        /// The handle is read-only.
        ReadOnly(ReadOnlyError) = ReadOnly,
        /// A walkdb bug.
        Internal(InternalError) = Internal,
    }
}

operation_error! {
    /// Why [`crate::Database::close`] did not close the database.
    CloseError {
        /// Other handles are alive; everything was synced, and the database closes with the
        /// last of them.
        InUse(InUseError) = InUse,
        /// The final sync failed.
        Io(IoError) = Io,
        /// An earlier failure poisoned the database; commits since the last sync may be lost.
        Poisoned(PoisonedError) = Poisoned,
        /// A walkdb bug.
        Internal(InternalError) = Internal,
    }
}

/// Converts between per-operation errors where one operation runs another (a commit that
/// checkpoints): through [`Error`], keeping the kind when the outer operation has it.
macro_rules! nested_operation {
    ($($inner:ident => $outer:ident),+ $(,)?) => {
        $(impl From<$inner> for $outer {
            fn from(e: $inner) -> $outer {
                Error::from(e).into()
            }
        })+
    };
}

nested_operation! {
    CheckpointError => WriteError,
    WriteError => CheckpointError,
    ReadError => WriteError,
    ReadError => CheckpointError,
    ReadError => OpenError,
    OpenError => ReadError,
    WriteError => OpenError,
    CheckpointError => OpenError,
    CheckpointError => CloseError,
    WriteError => CloseError,
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io(IoError {
            context: context.into(),
            source,
        })
    }

    pub(crate) fn corrupt(file: impl Into<String>, offset: u64, what: impl Into<String>) -> Error {
        Error::Corrupt(CorruptionError::new(file, offset, what))
    }

    pub(crate) fn poisoned(cause: impl Into<String>) -> Error {
        Error::Poisoned(PoisonedError {
            cause: cause.into(),
        })
    }

    pub(crate) fn locked(path: impl Into<String>) -> Error {
        Error::Locked(LockedError { path: path.into() })
    }

    pub(crate) fn internal(what: impl Into<String>) -> Error {
        Error::Internal(InternalError { what: what.into() })
    }

    pub(crate) fn conflict(what: impl Into<String>) -> Error {
        Error::Conflict(ConflictError { what: what.into() })
    }

    pub(crate) fn read_only(operation: &'static str) -> Error {
        Error::ReadOnly(ReadOnlyError { operation })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_errors_keep_kind_and_message_through_the_umbrella() {
        let cases = [
            Error::Input(InputError::InvalidWeight { weight: -1.0 }),
            Error::corrupt("adj/1.seg", 77, "section checksum mismatch"),
            Error::io("syncing wal/2.log", io::Error::other("disk gone")),
            Error::poisoned("an earlier sync failed"),
            Error::read_only("a checkpoint"),
        ];
        for error in cases {
            let (kind, message) = (error.kind(), error.to_string());
            let write = WriteError::from(error);
            assert_eq!(write.kind(), kind);
            assert_eq!(write.to_string(), message);
            let back = Error::from(write);
            assert_eq!((back.kind(), back.to_string()), (kind, message));
        }
    }

    #[test]
    fn a_kind_an_operation_cannot_fail_with_becomes_internal_naming_it() {
        let open = OpenError::from(Error::poisoned("an earlier sync failed"));
        assert_eq!(open.kind(), ErrorKind::Internal);
        assert!(
            open.to_string().contains("an earlier sync failed"),
            "{open}"
        );
        let close = CloseError::from(Error::corrupt("adj/1.seg", 0, "bad"));
        assert_eq!(close.kind(), ErrorKind::Internal);
        // A checkpoint run inside a commit keeps its kind in the commit's error.
        let nested = WriteError::from(CheckpointError::from(Error::io(
            "writing walks/3.wix",
            io::Error::other("disk full"),
        )));
        assert!(nested.is_io());
    }

    #[test]
    fn sources_chain_to_the_underlying_error() {
        use std::error::Error as _;
        let error = ReadError::from(Error::io("reading adj/1.seg", io::Error::other("EIO")));
        assert_eq!(
            error.source().map(|s| s.to_string()),
            Some("EIO".to_string())
        );
        let error = ReadError::from(Error::corrupt("adj/1.seg", 8, "bad magic"));
        assert!(error.source().is_some());
        assert!(error
            .to_string()
            .starts_with("database damaged: adj/1.seg offset 8"));
    }
}
