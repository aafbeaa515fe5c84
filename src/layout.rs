//! The database directory's layout: every directory and file name, spelled in this one place.
//!
//! ```text
//! DB/
//!   LOCK                     the writer's advisory lock
//!   catalog.redb             redb: keys, relation names, options, manifest (catalog.md)
//!   wal/<first LSN>.log      write-ahead log files (wal.md)
//!   adj/<generation>.seg     adjacency segment of a generation (segment.md)
//!   walks/<generation>.wix   walk index of a generation (walk-index.md)
//!   adj/<generation>.seg.run<i>.tmp   scratch: sorted edge runs of a bulk import over its
//!                            memory budget (`db::runs`), never part of a generation
//! ```
//!
//! Numbers are zero-padded to 20 digits, so names sort as numbers. A file being written has
//! `.tmp` appended until it is complete and renamed into place.

/// The catalog.
pub(crate) const CATALOG_FILE: &str = "catalog.redb";
/// The writer's directory lock.
pub(crate) const LOCK_FILE: &str = "LOCK";
/// Write-ahead log files.
pub(crate) const WAL_DIR: &str = "wal";
/// Adjacency segment files.
pub(crate) const SEGMENT_DIR: &str = "adj";
/// Walk-index files.
pub(crate) const WALK_DIR: &str = "walks";

/// The WAL file whose first record has `first_lsn`.
pub(crate) fn wal_file(first_lsn: u64) -> String {
    format!("{WAL_DIR}/{first_lsn:020}.log")
}

/// The segment file of `generation`.
pub(crate) fn segment_file(generation: u64) -> String {
    format!("{SEGMENT_DIR}/{generation:020}.seg")
}

/// The walk-index file of `generation`.
pub(crate) fn walk_file(generation: u64) -> String {
    format!("{WALK_DIR}/{generation:020}.wix")
}

/// True for a generation file (segment or walk index) that is complete: immutable from its
/// rename into place until it is deleted, never truncated, so it may be mapped by any process.
pub(crate) fn is_generation_file(name: &str) -> bool {
    (name.starts_with(SEGMENT_DIR) && name.ends_with(".seg"))
        || (name.starts_with(WALK_DIR) && name.ends_with(".wix"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_as_numbers_and_generation_files_are_recognised() {
        assert!(wal_file(9) < wal_file(10));
        assert_eq!(segment_file(2), "adj/00000000000000000002.seg");
        assert!(is_generation_file(&segment_file(3)) && is_generation_file(&walk_file(3)));
        assert!(!is_generation_file(&format!("{}.tmp", walk_file(3))));
        assert!(!is_generation_file(&wal_file(3)) && !is_generation_file(CATALOG_FILE));
    }
}
