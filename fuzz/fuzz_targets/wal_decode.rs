//! WAL frames and records: file header, frame headers, payload CRCs, op decoding, torn-tail
//! classification and recovery over one or two files. Must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks what the rest is: a whole WAL file, or one transaction payload.
    match data.split_first() {
        Some((selector, rest)) if selector % 4 == 0 => walkdb::fuzz_api::wal_ops(rest),
        Some((_, rest)) => walkdb::fuzz_api::wal_file(rest),
        None => {}
    }
});
