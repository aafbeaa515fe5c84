//! Walk index files of either version: header, section directory, block checksums, the
//! lazily checked in-place reads, and full decoding. A file that decodes must re-encode to the
//! same bytes (version 2) and its statistics must be computable; reads of a file served in
//! place must give walks or typed errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use walkdb::backend::FileBytes;
use walkdb::walks::WalkIndex;

fuzz_target!(|data: &[u8]| {
    let header = WalkIndex::read_header(data);
    if let Ok(h) = &header {
        let _ = walkdb::walks::section_status(data, h);
    }
    // Served in place, as a database opens it: every read is checked on first touch. The
    // node bound stands in for the graph's size (the database passes its manifest's).
    if let Ok(served) = WalkIndex::open_bytes(FileBytes::from_vec(data.to_vec()), 1 << 20) {
        for node in 0..served.node_count().min(256) as u32 {
            if let Ok(walks) = served.walks_from(node) {
                for walk in walks {
                    assert!(!walk.nodes.is_empty());
                }
            }
            let _ = served.visit_records_at(node);
        }
        for id in 0..served.slot_count().min(4096) as u32 {
            if let Ok(Some(walk)) = served.walk(id) {
                assert!(walk
                    .nodes
                    .iter()
                    .all(|&n| (n as usize) < served.node_count()));
            }
        }
    }
    if let Ok(index) = WalkIndex::decode_with_node_limit(data, 1 << 20) {
        let stats = index.stats().expect("a decoded index is readable");
        assert!(stats.walks <= index.slot_count() as u64);
        let mut again = Vec::new();
        index
            .encode_to(&mut again)
            .expect("encoding to memory cannot fail");
        if header.as_ref().ok().map(|h| h.version) == Some(walkdb::walks::FORMAT_VERSION) {
            assert_eq!(
                again, data,
                "a decoded walk index must re-encode to the same bytes"
            );
        }
        for node in 0..index.node_count().min(256) as u32 {
            for walk in index.walks_from(node).expect("a decoded index is readable") {
                assert_eq!(walk.nodes.first(), Some(&node));
            }
        }
    }
});
