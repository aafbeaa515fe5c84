//! Segment files: header, section table, CRCs, the CSR structure check, and reads of a
//! checked segment (ids in range, counts consistent). Must never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    walkdb::fuzz_api::segment(data);
});
