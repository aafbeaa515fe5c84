//! Inspection of a database directory's files for `walkdb dump`: headers, versions,
//! checksums, WAL records, segment layout. It reads damaged files as far as it can and reports
//! where the damage is instead of stopping at the first error, and it never takes the
//! database lock or changes a byte.

use std::path::Path;
use std::sync::Arc;

use crate::adjacency::{Segment, SEGMENT_DIR};
use crate::backend::{FileBytes, FsBackend, StorageBackend};
use crate::catalog::CATALOG_FILE;
pub use crate::wal::RecordStatus;
use crate::wal::{inspect_file, WAL_DIR};

/// One section of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct SectionReport {
    /// Section name.
    pub name: String,
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// Stored CRC32.
    pub crc: u32,
    /// Whether the data matches the stored CRC.
    pub crc_ok: bool,
}

/// One file of the database.
#[derive(Clone, Debug, PartialEq)]
pub struct FileReport {
    /// Path relative to the database directory.
    pub name: String,
    /// `catalog`, `wal`, `segment`, `walk-index`, `lock` or `unknown`.
    pub kind: &'static str,
    /// Size in bytes.
    pub bytes: u64,
    /// Decoded header fields (name, value).
    pub header: Vec<(String, String)>,
    /// Sections with their checksums.
    pub sections: Vec<SectionReport>,
    /// Problems found; empty when the file checks out.
    pub problems: Vec<String>,
}

/// One WAL record.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordReport {
    /// Byte offset in the file.
    pub offset: u64,
    /// Log sequence number, when the frame header is intact.
    pub lsn: Option<u64>,
    /// `part` or `commit`.
    pub kind: Option<&'static str>,
    /// Payload length.
    pub payload_len: Option<u64>,
    /// Whole and valid, torn, or damaged (displayed `ok`, `torn: ...`, `damaged: ...`).
    pub status: RecordStatus,
    /// The decoded operations, one line each.
    pub ops: Vec<String>,
}

/// One WAL file and its records.
#[derive(Clone, Debug, PartialEq)]
pub struct WalReport {
    /// Path relative to the database directory.
    pub name: String,
    /// First LSN from the file header, or why the header is bad.
    pub first_lsn: Result<u64, String>,
    /// Records in file order.
    pub records: Vec<RecordReport>,
}

fn backend(dir: &Path) -> Arc<dyn StorageBackend> {
    Arc::new(FsBackend::new(dir))
}

fn all_files(backend: &Arc<dyn StorageBackend>) -> Vec<String> {
    let mut names = Vec::new();
    for sub in ["", WAL_DIR, SEGMENT_DIR, crate::db::WALK_DIR] {
        if let Ok(list) = backend.list(sub) {
            names.extend(list.into_iter().map(|n| {
                if sub.is_empty() {
                    n
                } else {
                    format!("{sub}/{n}")
                }
            }));
        }
    }
    names
}

/// A file's bytes, read so that a live writer can neither see a write nor fault this process:
/// generation files (immutable once renamed into place, never truncated) are mapped, every
/// other file (the WAL a writer appends to and truncates at recovery, `.tmp` files being
/// written, the catalog) is copied into memory.
fn read_only_bytes(backend: &Arc<dyn StorageBackend>, name: &str) -> std::io::Result<FileBytes> {
    if crate::layout::is_generation_file(name) {
        backend.map(name)
    } else {
        backend.read_all(name).map(FileBytes::from_vec)
    }
}

/// Reports on every file of the database directory `dir`. Read-only, and safe on a database a
/// writer in another process is using.
///
/// With a writer live, what its work in progress looks like is not reported as damage: a file
/// deleted between the listing and the read (a checkpoint's clean-up), a `.tmp` file being
/// written, and a record at the end of the newest WAL file still being appended.
pub fn files(dir: &Path) -> Vec<FileReport> {
    let backend = backend(dir);
    let live = backend.writer_active().unwrap_or(false);
    let mut reports = Vec::new();
    let names = all_files(&backend);
    let newest_wal = names
        .iter()
        .filter(|n| n.starts_with(WAL_DIR) && n.ends_with(".log"))
        .max()
        .cloned();
    for name in names {
        let bytes = match read_only_bytes(&backend, &name) {
            Ok(bytes) => bytes,
            Err(e) if live && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                reports.push(FileReport {
                    name,
                    kind: "unknown",
                    bytes: 0,
                    header: vec![],
                    sections: vec![],
                    problems: vec![format!("cannot read: {e}")],
                });
                continue;
            }
        };
        let mut report = FileReport {
            name: name.clone(),
            kind: "unknown",
            bytes: bytes.len() as u64,
            header: vec![],
            sections: vec![],
            problems: vec![],
        };
        if name == "LOCK" {
            report.kind = "lock";
        } else if name == CATALOG_FILE {
            report.kind = "catalog";
            report.header.push(("format".into(), "redb".into()));
        } else if name.starts_with(WAL_DIR) && name.ends_with(".log") {
            report.kind = "wal";
            let (header, records) = inspect_file(&bytes);
            match header {
                Ok(first) => report.header.push(("first_lsn".into(), first.to_string())),
                Err(e) => report.problems.push(format!("offset 0: {e}")),
            }
            report
                .header
                .push(("records".into(), records.len().to_string()));
            // The writer's append in progress: the trailing records that are not complete yet.
            let in_flight = if live && newest_wal.as_deref() == Some(name.as_str()) {
                records
                    .iter()
                    .rev()
                    .take_while(|r| !r.status.is_ok())
                    .count()
            } else {
                0
            };
            let (complete, appending) = records.split_at(records.len() - in_flight);
            for r in complete.iter().filter(|r| !r.status.is_ok()) {
                report
                    .problems
                    .push(format!("offset {}: {}", r.offset, r.status));
            }
            if let Some(first) = appending.first() {
                report.header.push((
                    "appending_at".into(),
                    format!("{} (a live writer's record in progress)", first.offset),
                ));
            }
        } else if name.starts_with(SEGMENT_DIR) && name.ends_with(".seg") {
            report.kind = "segment";
            match Segment::open(&name, bytes.clone()) {
                Err(e) => report.problems.push(e.to_string()),
                Ok(seg) => {
                    let h = seg.header();
                    for (k, v) in [
                        ("version", h.version.to_string()),
                        ("generation", h.generation.to_string()),
                        ("checkpoint_lsn", h.checkpoint_lsn.to_string()),
                        ("node_count", h.node_count.to_string()),
                        ("edge_count", h.edge_count.to_string()),
                        ("relation_count", h.relation_count.to_string()),
                        ("relation_width", h.rel_width.to_string()),
                        ("weight_width", h.weight_width.to_string()),
                    ] {
                        report.header.push((k.into(), v));
                    }
                    for &(section, offset, length, crc) in &h.sections {
                        let data = bytes
                            .get(offset as usize..(offset + length) as usize)
                            .unwrap_or(&[]);
                        let crc_ok = crate::format::crc32(&[data]) == crc;
                        if !crc_ok {
                            report.problems.push(format!(
                                "offset {offset}: section {section} checksum mismatch"
                            ));
                        }
                        report.sections.push(SectionReport {
                            name: section.into(),
                            offset,
                            length,
                            crc,
                            crc_ok,
                        });
                    }
                    if report.problems.is_empty() {
                        if let Err(e) = seg.check() {
                            report.problems.push(e.to_string());
                        }
                    }
                }
            }
        } else if name.starts_with(crate::db::WALK_DIR) && name.ends_with(".wix") {
            report.kind = "walk-index";
            crate::db::inspect_walk_file(&bytes, &mut report);
        } else if name.ends_with(".tmp") {
            if live {
                report.kind = "temporary";
                report
                    .header
                    .push(("state".into(), "being written by the live writer".into()));
            } else {
                report
                    .problems
                    .push("leftover of an interrupted write; removed on the next open".into());
            }
        }
        reports.push(report);
    }
    reports
}

/// Every WAL file with its records, decoded.
pub fn wal(dir: &Path) -> Vec<WalReport> {
    let backend = backend(dir);
    let mut out = Vec::new();
    for name in all_files(&backend)
        .into_iter()
        .filter(|n| n.starts_with(WAL_DIR) && n.ends_with(".log"))
    {
        let Ok(bytes) = read_only_bytes(&backend, &name) else {
            continue;
        };
        let (first_lsn, records) = inspect_file(&bytes);
        let records = records
            .into_iter()
            .map(|r| RecordReport {
                offset: r.offset,
                lsn: r.lsn,
                kind: r.kind.map(|k| match k {
                    crate::wal::RecordKind::Part => "part",
                    crate::wal::RecordKind::Commit => "commit",
                }),
                payload_len: r.payload_len,
                status: r.status,
                ops: r
                    .ops
                    .unwrap_or_default()
                    .iter()
                    .map(|op| format!("{op:?}"))
                    .collect(),
            })
            .collect();
        out.push(WalReport {
            name,
            first_lsn,
            records,
        });
    }
    out
}

/// The catalog's options and manifest as (name, value) pairs, read without taking the
/// database lock.
pub fn manifest(dir: &Path) -> crate::Result<Vec<(String, String)>> {
    let backend = backend(dir);
    let (_catalog, options, manifest) = crate::catalog::Catalog::open_read_only(&backend)?;
    Ok(vec![
        ("undirected".into(), options.undirected.to_string()),
        ("alpha".into(), options.alpha.to_string()),
        ("walks_per_node".into(), options.walks_per_node.to_string()),
        ("generation".into(), manifest.generation.to_string()),
        ("checkpoint_lsn".into(), manifest.checkpoint_lsn.to_string()),
        ("node_count".into(), manifest.node_count.to_string()),
        ("edge_count".into(), manifest.edge_count.to_string()),
        ("relation_count".into(), manifest.relation_count.to_string()),
        ("segment".into(), manifest.segment),
        ("walks".into(), manifest.walks),
    ])
}
