//! Walk index files: header, section directory, CRCs, walk table and node decoding. A file
//! that decodes must re-encode to the same bytes, and its statistics must be computable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use walkdb::walks::WalkIndex;

fuzz_target!(|data: &[u8]| {
    let _ = WalkIndex::read_header(data);
    // Decoding allocates per-node tables for the header's node count, so callers bound it by
    // their graph's size (the database passes its manifest's); 2^20 stands in for that here.
    if let Ok(index) = WalkIndex::decode_with_node_limit(data, 1 << 20) {
        let stats = index.stats();
        assert!(stats.walks <= index.slot_count() as u64);
        let mut again = Vec::with_capacity(index.encoded_len());
        index
            .encode_to(&mut again)
            .expect("encoding to memory cannot fail");
        assert_eq!(
            again, data,
            "a decoded walk index must re-encode to the same bytes"
        );
        for node in 0..index.node_count().min(256) as u32 {
            for walk in index.walks_from(node) {
                assert_eq!(walk.nodes.first(), Some(&node));
            }
        }
    }
});
