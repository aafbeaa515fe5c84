//! The write-ahead log: append-only files of CRC32-framed records, one commit boundary per
//! transaction.
//!
//! Layout (format-spec/wal.md is normative): a file is a 32-byte header followed by records;
//! a record is a 32-byte frame header and a payload.
//!
//! ```text
//! file header: magic "WALKWAL\0" | version u32 | reserved u32 | first_lsn u64 | reserved u32 | crc32 u32
//! record:      payload_len u32 | header_crc u32 | lsn u64 | kind u8 | reserved [u8; 7] | payload_crc u32 | reserved u32 | payload
//! ```
//!
//! The header CRC covers the frame header's other fields, so a length is trusted only when it
//! is intact; the payload CRC covers the payload. A transaction is zero or more `Part` records
//! and one `Commit` record; its LSN is the commit record's.

mod ops;
mod reader;
mod writer;

pub(crate) use ops::{decode_ops, encode_ops, Op};
pub use reader::RecordStatus;
#[cfg(feature = "fuzzing")]
pub(crate) use reader::WalScan;
pub(crate) use reader::{inspect_file, read_wal_dir, RecoveredTxn, ScanMode};
pub(crate) use writer::{WalSync, WalWriter};

/// Magic bytes at the start of every WAL file.
pub(crate) const WAL_MAGIC: &[u8; 8] = b"WALKWAL\0";
/// WAL format version this build writes and reads.
pub(crate) const WAL_VERSION: u32 = 1;
/// Size of a WAL file header.
pub(crate) const FILE_HEADER_LEN: usize = 32;
/// Size of a record's frame header.
pub(crate) const FRAME_HEADER_LEN: usize = 32;
/// Largest payload of one record; larger transactions are split into parts.
pub(crate) const MAX_PAYLOAD: usize = 16 << 20;
pub(crate) use crate::layout::WAL_DIR;

/// The kind of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// A piece of a transaction that continues in the next record.
    Part = 1,
    /// The last piece of a transaction: its commit boundary.
    Commit = 2,
}

impl RecordKind {
    pub(crate) fn from_u8(byte: u8) -> Option<RecordKind> {
        match byte {
            1 => Some(RecordKind::Part),
            2 => Some(RecordKind::Commit),
            _ => None,
        }
    }
}

pub(crate) use crate::layout::wal_file as wal_file_name;

pub(crate) fn encode_file_header(first_lsn: u64) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[0..8].copy_from_slice(WAL_MAGIC);
    h[8..12].copy_from_slice(&WAL_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crate::format::crc32(&[&h[0..28]]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Encodes one record: frame header and payload.
pub(crate) fn encode_record(lsn: u64, kind: RecordKind, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]); // header crc, filled below
    out.extend_from_slice(&lsn.to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&[0; 7]);
    out.extend_from_slice(&crate::format::crc32(&[payload]).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let header_crc = frame_header_crc(&out[start..start + FRAME_HEADER_LEN]);
    out[start + 4..start + 8].copy_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// CRC of a frame header: bytes 0..4 and 8..32 (everything but the CRC field itself).
pub(crate) fn frame_header_crc(header: &[u8]) -> u32 {
    crate::format::crc32(&[&header[0..4], &header[8..FRAME_HEADER_LEN]])
}
