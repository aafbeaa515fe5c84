//! Reading the WAL back: recovery and inspection.
//!
//! Recovery trusts a record only when both of its checksums hold and its LSN is the next one.
//! A bad record decides between two stories: a torn write (the process or machine died while
//! appending: the record is cut short, or its tail from a sector boundary on reads as zeros,
//! and nothing valid follows) is dropped, because it was never acknowledged; anything else
//! (a flipped byte, a bad record with valid records after it) is corruption and is reported.

use crate::format::le;
use std::sync::Arc;

use super::{
    decode_ops, frame_header_crc, Op, RecordKind, FILE_HEADER_LEN, FRAME_HEADER_LEN, MAX_PAYLOAD,
    WAL_DIR, WAL_MAGIC, WAL_VERSION,
};
use crate::backend::{FileBytes, StorageBackend};
use crate::error::{Error, Result};
use crate::format::crc32;

/// Sector size assumed for torn writes (format-spec/wal.md, storage assumptions).
const SECTOR: usize = 512;

/// What one position of a WAL file holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Frame {
    /// A complete record with valid checksums.
    Valid {
        lsn: u64,
        kind: RecordKind,
        payload_start: usize,
        end: usize,
    },
    /// The end of written data, or a record cut short by a torn write.
    Torn { reason: &'static str },
    /// A record that is damaged (not explainable by a torn write).
    Damaged { reason: String },
}

fn zero_tail_from_sector(bytes: &[u8], from: usize) -> bool {
    // True when everything from some sector boundary at or after `from` to the end is zero, and
    // that zero run covers the last 8 bytes: what a torn, zero-filled append leaves.
    let end = bytes.len();
    if end < from + 8 || bytes[end - 8..].iter().any(|&b| b != 0) {
        return false;
    }
    let first_nonzero_from_end = bytes[from..]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(from, |i| from + i + 1);
    let boundary = first_nonzero_from_end.div_ceil(SECTOR) * SECTOR;
    boundary <= end - 8 || first_nonzero_from_end % SECTOR == 0
}

/// Parses the record at `pos` of a WAL file's bytes.
pub(crate) fn parse_frame(bytes: &[u8], pos: usize) -> Frame {
    let rest = &bytes[pos..];
    if rest.len() < FRAME_HEADER_LEN {
        return Frame::Torn {
            reason: "incomplete record header",
        };
    }
    let header = &rest[..FRAME_HEADER_LEN];
    if header.iter().all(|&b| b == 0) {
        return Frame::Torn {
            reason: "zero-filled space",
        };
    }
    // Reads inside the FRAME_HEADER_LEN bytes just checked to be present: the 0 fallback is
    // never taken.
    let field = |at: usize| le::u32(header, at).unwrap_or(0);
    if field(4) != frame_header_crc(header) {
        if zero_tail_from_sector(bytes, pos) {
            return Frame::Torn {
                reason: "record header cut by a torn write",
            };
        }
        return Frame::Damaged {
            reason: "record header checksum mismatch".into(),
        };
    }
    let len = field(0) as usize;
    let lsn = le::u64(header, 8).unwrap_or(0);
    let Some(kind) = RecordKind::from_u8(header[16]) else {
        return Frame::Damaged {
            reason: format!("unknown record kind {}", header[16]),
        };
    };
    if len > MAX_PAYLOAD {
        return Frame::Damaged {
            reason: format!("payload length {len} exceeds the maximum"),
        };
    }
    let payload_start = pos + FRAME_HEADER_LEN;
    let end = payload_start + len;
    if end > bytes.len() {
        return Frame::Torn {
            reason: "payload cut short",
        };
    }
    if crc32(&[&bytes[payload_start..end]]) != field(24) {
        if end == bytes.len() && zero_tail_from_sector(bytes, payload_start) {
            return Frame::Torn {
                reason: "payload cut by a torn write",
            };
        }
        return Frame::Damaged {
            reason: "payload checksum mismatch".into(),
        };
    }
    Frame::Valid {
        lsn,
        kind,
        payload_start,
        end,
    }
}

/// Checks a WAL file header; returns its first LSN.
pub(crate) fn parse_file_header(bytes: &[u8]) -> std::result::Result<u64, String> {
    if bytes.len() < FILE_HEADER_LEN {
        return Err(format!(
            "file is {} bytes, shorter than its header",
            bytes.len()
        ));
    }
    let h = &bytes[..FILE_HEADER_LEN];
    if &h[0..8] != WAL_MAGIC {
        return Err("bad magic: not a walkdb WAL file".into());
    }
    // Reads inside the FILE_HEADER_LEN bytes just checked to be present.
    let stored = le::u32(h, 28).unwrap_or(0);
    if stored != crc32(&[&h[0..28]]) {
        return Err("file header checksum mismatch".into());
    }
    let version = le::u32(h, 8).unwrap_or(0);
    if version != WAL_VERSION {
        return Err(format!("unsupported WAL version {version}"));
    }
    Ok(le::u64(h, 16).unwrap_or(0))
}

/// A committed transaction read back from the WAL.
#[derive(Debug, Clone)]
pub(crate) struct RecoveredTxn {
    pub(crate) lsn: u64,
    pub(crate) ops: Vec<Op>,
    /// The WAL file and offset of the transaction's first record, for error messages.
    pub(crate) file: String,
    pub(crate) offset: u64,
}

/// The result of reading the WAL directory.
#[derive(Debug, Default)]
pub(crate) struct WalScan {
    /// Committed transactions with an LSN above the checkpoint, in order.
    pub(crate) txns: Vec<RecoveredTxn>,
    /// LSN of the last committed record (or the checkpoint LSN when there is none).
    pub(crate) last_lsn: u64,
    /// WAL files, sorted, as (name, first LSN).
    pub(crate) files: Vec<(String, u64)>,
    /// Where appending resumes: the last file, the end of its last committed record, and the
    /// file's first LSN.
    pub(crate) resume: Option<(String, u64, u64)>,
    /// Bytes of torn or uncommitted tail that recovery drops.
    pub(crate) dropped_tail_bytes: u64,
}

/// True if a valid record with an LSN above `after_lsn` starts anywhere in `bytes[from..]`.
fn valid_record_follows(bytes: &[u8], from: usize, after_lsn: u64) -> Option<usize> {
    let mut pos = from;
    while pos + FRAME_HEADER_LEN <= bytes.len() {
        // Cheap filter before the checksum: plausible kind and zero reserved bytes.
        if matches!(bytes[pos + 16], 1 | 2) && bytes[pos + 17..pos + 24].iter().all(|&b| b == 0) {
            if let Frame::Valid { lsn, .. } = parse_frame(bytes, pos) {
                if lsn > after_lsn {
                    return Some(pos);
                }
            }
        }
        pos += 1;
    }
    None
}

/// How a handle reads the WAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScanMode {
    /// The writer's open: the files are its own (mapped), a torn tail is a crash to recover
    /// from, stray files of interrupted checkpoints are deleted.
    Recover,
    /// A read-only handle: files are read into memory (a live writer appends to, and a
    /// checkpoint deletes, them), a record still being appended at the end of the last file is
    /// not committed yet, and nothing is written or deleted.
    Follow,
    /// A read-only check of a database no process is writing: files read into memory as in
    /// `Follow`, a damaged tail reported as in `Recover`.
    Check,
}

/// Reads every WAL file, returning the committed transactions after `checkpoint_lsn`.
pub(crate) fn read_wal_dir(
    backend: &Arc<dyn StorageBackend>,
    checkpoint_lsn: u64,
    mode: ScanMode,
) -> Result<WalScan> {
    let mut scan = WalScan {
        last_lsn: checkpoint_lsn,
        ..WalScan::default()
    };
    let names: Vec<String> = backend
        .list(WAL_DIR)
        .map_err(|e| Error::io(format!("listing {WAL_DIR}/"), e))?
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .map(|n| format!("{WAL_DIR}/{n}"))
        .collect();
    let mut contents = Vec::with_capacity(names.len());
    let mut present = Vec::with_capacity(names.len());
    for name in names {
        let bytes = match mode {
            ScanMode::Recover => backend.map(&name),
            ScanMode::Follow | ScanMode::Check => backend.read_all(&name).map(FileBytes::from_vec),
        };
        match bytes {
            Ok(bytes) => {
                contents.push(bytes);
                present.push(name);
            }
            // Deleted since the listing by a writer's checkpoint, which deletes only files
            // wholly below its checkpoint LSN; were it needed, the LSN chain checks below
            // and the caller's check against the checkpoint LSN report the gap.
            Err(e) if mode != ScanMode::Recover && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("reading {name}"), e)),
        }
    }
    let names = present;
    let mut expected: Option<u64> = None;
    let mut pending: Vec<Op> = Vec::new();
    let mut pending_offset = 0u64;
    for (index, (name, bytes)) in names.iter().zip(&contents).enumerate() {
        let is_last = index + 1 == names.len();
        // The writer renames a WAL file into place only after its header is durable
        // (`WalWriter::create`), so a missing or damaged header is damage, never a crash: a
        // file cut to nothing must not pass for a new, empty one and drop its commits.
        let first_lsn =
            parse_file_header(bytes).map_err(|reason| Error::corrupt(name, 0, reason))?;
        scan.files.push((name.clone(), first_lsn));
        if let Some(exp) = expected {
            if first_lsn != exp {
                return Err(Error::corrupt(
                    name,
                    16,
                    format!("file starts at LSN {first_lsn}, expected {exp}"),
                ));
            }
        }
        let mut next_lsn = first_lsn;
        let mut pos = FILE_HEADER_LEN;
        let mut committed_end = FILE_HEADER_LEN;
        while pos < bytes.len() {
            match parse_frame(bytes, pos) {
                Frame::Valid {
                    lsn,
                    kind,
                    payload_start,
                    end,
                } => {
                    if lsn != next_lsn {
                        return Err(Error::corrupt(
                            name,
                            pos as u64 + 8,
                            format!("record LSN {lsn}, expected {next_lsn}"),
                        ));
                    }
                    next_lsn += 1;
                    if lsn > checkpoint_lsn {
                        if pending.is_empty() {
                            pending_offset = pos as u64;
                        }
                        let ops = decode_ops(&bytes[payload_start..end]).map_err(|e| {
                            Error::corrupt(
                                name,
                                (payload_start as u64) + e.offset,
                                format!("record LSN {lsn}: {}", e.what),
                            )
                        })?;
                        pending.extend(ops);
                        if kind == RecordKind::Commit {
                            scan.txns.push(RecoveredTxn {
                                lsn,
                                ops: std::mem::take(&mut pending),
                                file: name.clone(),
                                offset: pending_offset,
                            });
                        }
                    }
                    if kind == RecordKind::Commit {
                        committed_end = end;
                        scan.last_lsn = scan.last_lsn.max(lsn);
                    }
                    pos = end;
                }
                frame => {
                    let later = valid_record_follows(bytes, pos + 1, next_lsn.saturating_sub(1))
                        .map(|at| (name.clone(), at))
                        .or_else(|| {
                            names[index + 1..]
                                .iter()
                                .zip(&contents[index + 1..])
                                .find_map(|(n, b)| {
                                    valid_record_follows(
                                        b,
                                        FILE_HEADER_LEN,
                                        next_lsn.saturating_sub(1),
                                    )
                                    .map(|at| (n.clone(), at))
                                })
                        });
                    let reason = match &frame {
                        Frame::Torn { reason } => (*reason).to_string(),
                        Frame::Damaged { reason } => reason.clone(),
                        Frame::Valid { .. } => String::new(),
                    };
                    if let Some((later_name, at)) = later {
                        return Err(Error::corrupt(
                            name,
                            pos as u64,
                            format!("damaged record ({reason}) with valid records after it ({later_name} offset {at})"),
                        ));
                    }
                    // A follower may read a record while the writer's append of it is under
                    // way: at the end of the last file, with nothing valid after it, a bad
                    // checksum is a record not yet complete, not damage (the writer's own
                    // open, which knows no append is under way, reports it).
                    let in_flight = mode == ScanMode::Follow && is_last;
                    if (matches!(frame, Frame::Damaged { .. }) && !in_flight) || !is_last {
                        return Err(Error::corrupt(name, pos as u64, reason));
                    }
                    break;
                }
            }
        }
        expected = Some(next_lsn);
        if is_last {
            // Records of a transaction without its commit record were never acknowledged.
            pending.clear();
            scan.dropped_tail_bytes += (bytes.len() - committed_end) as u64;
            scan.resume = Some((name.clone(), committed_end as u64, first_lsn));
        } else if !pending.is_empty() {
            // Transactions never span files: the writer rotates only between transactions.
            return Err(Error::corrupt(
                name,
                committed_end as u64,
                "file ends inside a transaction",
            ));
        }
    }
    Ok(scan)
}

/// What the inspection tool found at one record's position.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordStatus {
    /// A whole record whose checksums hold and whose payload decodes.
    Ok,
    /// The file ends inside the record: a crash during its append (or an append in progress).
    Torn(String),
    /// A checksum fails, or the payload does not decode.
    Damaged(String),
}

impl RecordStatus {
    /// True for a whole, valid record.
    pub fn is_ok(&self) -> bool {
        *self == RecordStatus::Ok
    }
}

impl std::fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordStatus::Ok => f.write_str("ok"),
            RecordStatus::Torn(reason) => write!(f, "torn: {reason}"),
            RecordStatus::Damaged(reason) => write!(f, "damaged: {reason}"),
        }
    }
}

/// One record as the inspection tool shows it.
#[derive(Debug, Clone)]
pub(crate) struct RecordInfo {
    pub(crate) offset: u64,
    pub(crate) lsn: Option<u64>,
    pub(crate) kind: Option<RecordKind>,
    pub(crate) payload_len: Option<u64>,
    pub(crate) status: RecordStatus,
    pub(crate) ops: Option<Vec<Op>>,
}

/// Lists the records of one WAL file, going past damage by resynchronising on the next valid
/// record, for `walkdb dump --wal`.
pub(crate) fn inspect_file(bytes: &[u8]) -> (std::result::Result<u64, String>, Vec<RecordInfo>) {
    let header = parse_file_header(bytes);
    let mut out = Vec::new();
    let mut pos = FILE_HEADER_LEN.min(bytes.len());
    while pos < bytes.len() {
        match parse_frame(bytes, pos) {
            Frame::Valid {
                lsn,
                kind,
                payload_start,
                end,
            } => {
                let ops = decode_ops(&bytes[payload_start..end]);
                let status = match &ops {
                    Ok(_) => RecordStatus::Ok,
                    Err(e) => RecordStatus::Damaged(format!(
                        "payload does not decode at +{}: {}",
                        e.offset, e.what
                    )),
                };
                out.push(RecordInfo {
                    offset: pos as u64,
                    lsn: Some(lsn),
                    kind: Some(kind),
                    payload_len: Some((end - payload_start) as u64),
                    status,
                    ops: ops.ok(),
                });
                pos = end;
            }
            Frame::Torn { reason } => {
                if reason != "zero-filled space" || bytes[pos..].iter().any(|&b| b != 0) {
                    out.push(RecordInfo {
                        offset: pos as u64,
                        lsn: None,
                        kind: None,
                        payload_len: None,
                        status: RecordStatus::Torn(reason.to_string()),
                        ops: None,
                    });
                }
                match valid_record_follows(bytes, pos + 1, 0) {
                    Some(at) => pos = at,
                    None => break,
                }
            }
            Frame::Damaged { reason } => {
                out.push(RecordInfo {
                    offset: pos as u64,
                    lsn: None,
                    kind: None,
                    payload_len: None,
                    status: RecordStatus::Damaged(reason.clone()),
                    ops: None,
                });
                match valid_record_follows(bytes, pos + 1, 0) {
                    Some(at) => pos = at,
                    None => break,
                }
            }
        }
    }
    (header, out)
}
