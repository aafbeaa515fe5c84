//! Corruption sweep over every kind of file a database holds: the catalog (redb), the
//! manifest record inside it, the WAL, the segment and the walk index. Each byte is flipped
//! (a reported random sample for the catalog, whose redb pages are mostly free space) and each
//! file is truncated at many points; then the database is opened, verified and queried.
//!
//! Every damaged state must give one of:
//! - a corruption error (`Error::Corrupt`, CLI exit code 2) naming the damaged file;
//! - for the regions walkdb does not checksum itself (redb's own pages), any typed error or
//!   an open that serves exactly the original content: the same edges, the same stored walks
//!   and the same exact PPR answers.
//!
//! Never a panic, never different data. Detection rates are printed per file kind; in the
//! checksummed kinds (WAL, segment, walk index) the test demands 100%.
//!
//! `WALKDB_CATALOG_SAMPLE` (default 3000) sets how many catalog bytes are flipped
//! (`all` flips every byte).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{edge_set, import_small_graph, sim_db, EdgeSet};
use walkdb::backend::{CrashMode, SimBackend};
use walkdb::ppr::{Method, PprWorkspace};
use walkdb::rng::Rng;
use walkdb::{Database, Error, PprRequest};

/// Everything a reader can be served: edges, stored walks per node, exact PPR answers.
#[derive(Debug, PartialEq)]
struct Served {
    edges: EdgeSet,
    walks: BTreeMap<String, Vec<Vec<String>>>,
    ppr: Vec<Vec<(String, u64)>>,
}

fn served(db: &Database) -> walkdb::Result<Served> {
    let edges = edge_set(db);
    let snap = db.begin_read()?;
    let keys = snap.node_keys()?;
    let mut walks = BTreeMap::new();
    for key in &keys {
        let mut w: Vec<Vec<String>> = db.walks_from(key)?.into_iter().map(|(p, _)| p).collect();
        w.sort();
        walks.insert(key.clone(), w);
    }
    let mut ppr = Vec::new();
    let mut workspace = PprWorkspace::new();
    for seed in ["n1", "n2", "m1"] {
        if snap.node_id(seed)?.is_none() {
            ppr.push(Vec::new());
            continue;
        }
        let mut request = PprRequest::new(vec![(seed.to_string(), 1.0)]);
        request.method = Method::Exact;
        request.top_k = 8;
        let answer = snap.ppr(&request, &mut workspace)?;
        // Scores rounded to 1e-9: the exact solver's own tolerance.
        ppr.push(
            answer
                .results
                .into_iter()
                .map(|(k, s)| (k, (s * 1e9).round() as u64))
                .collect(),
        );
    }
    Ok(Served { edges, walks, ppr })
}

/// A small database: a bulk import (segment, walk index), commits, a checkpoint, and more
/// commits whose walk repairs are replayed from the WAL on open.
fn build(undirected: bool) -> (SimBackend, Vec<Served>) {
    let mut states = Vec::new();
    let sim = SimBackend::new();
    let db = sim_db(&sim, undirected).unwrap();
    import_small_graph(&db);
    for t in 0..6u32 {
        let mut txn = db.begin_write().unwrap();
        txn.add_edge(&format!("m{t}"), "r", "n1", 0.5 + t as f64)
            .unwrap();
        if t == 2 {
            assert!(txn.delete_edge("n0", "r", "n3").unwrap());
        }
        txn.add_edge("n2", "s", &format!("m{t}"), 2.5).unwrap();
        txn.commit().unwrap();
        states.push(served(&db).unwrap());
        if t == 3 {
            db.checkpoint().unwrap();
        }
    }
    drop(db);
    sim.release_lock();
    (sim, states)
}

#[derive(Default)]
struct Tally {
    tried: usize,
    /// Reported as corruption naming this file.
    detected: usize,
    /// Another typed error (I/O, input) - counted separately, allowed only for redb pages.
    other_error: usize,
    /// Opened, verified and served exactly the original content.
    harmless: usize,
    /// WAL only: cut at or inside its last records, which is what a crash during an append
    /// leaves, so recovery serves an earlier committed state (no log can tell the two apart).
    committed_prefix: usize,
}

enum Damage {
    Flip(usize),
    Truncate(usize),
}

/// Applies one damage to a copy of the database and classifies the outcome.
/// The file under test and what an undamaged database serves.
struct Target<'a> {
    original: &'a SimBackend,
    name: &'a str,
    bytes: &'a [u8],
    undirected: bool,
    expected: &'a Served,
    prefixes: &'a [Served],
    /// The file name a corruption report must start with.
    blame: &'a str,
}

fn try_damage(target: &Target<'_>, damage: &Damage, tally: &mut Tally) {
    let Target {
        original,
        name,
        bytes,
        undirected,
        expected,
        prefixes,
        blame,
    } = *target;
    let sim = original.crash(CrashMode::KeepAll);
    let mut damaged = bytes.to_vec();
    let what = match *damage {
        Damage::Flip(at) => {
            damaged[at] ^= 1 << (at % 8);
            format!("flip at {at}")
        }
        Damage::Truncate(len) => {
            damaged.truncate(len);
            format!("truncation to {len}")
        }
    };
    sim.set_file_bytes(name, damaged);
    tally.tried += 1;
    if std::env::var_os("WALKDB_SWEEP_TRACE").is_some() {
        // Names the state before trying it: an abort (which no test can catch) still says where.
        println!("trying {what} of {name}");
    }
    let outcome = sim_db(&sim, undirected).and_then(|db| {
        db.verify()?;
        served(&db)
    });
    match outcome {
        Err(Error::Corrupt(c)) => {
            assert!(
                c.file.starts_with(blame),
                "{what} of {name} blamed {} ({c})",
                c.file
            );
            tally.detected += 1;
        }
        Err(other) => {
            // Only redb's internals may fail some other way (e.g. an invalid-argument error
            // from a damaged page it cannot classify); walkdb's own files must say "corrupt".
            assert!(
                name == "catalog.redb",
                "{what} of {name}: not a corruption error: {other}"
            );
            println!("{what} of {name}: not a corruption error: {other:?}");
            tally.other_error += 1;
        }
        Ok(got) if &got == expected => tally.harmless += 1,
        Ok(got) => {
            assert!(
                matches!(damage, Damage::Truncate(_))
                    && name.starts_with("wal/")
                    && prefixes.contains(&got),
                "{what} of {name} was not detected and served different data: {}",
                describe_difference(expected, &got)
            );
            tally.committed_prefix += 1;
        }
    }
}

/// The first difference between what should and what did get served, for failure messages.
fn describe_difference(expected: &Served, got: &Served) -> String {
    let only_expected: Vec<_> = expected
        .edges
        .iter()
        .filter(|(k, _)| !got.edges.contains_key(*k))
        .take(3)
        .collect();
    let only_got: Vec<_> = got
        .edges
        .iter()
        .filter(|(k, _)| !expected.edges.contains_key(*k))
        .take(3)
        .collect();
    let walks_differ = expected
        .walks
        .iter()
        .find(|(k, w)| got.walks.get(*k) != Some(w))
        .map(|(k, _)| k);
    format!(
        "missing edges {only_expected:?}, extra edges {only_got:?}, walks differ at {walks_differ:?}, PPR same: {}",
        expected.ppr == got.ppr
    )
}

fn find(sim: &SimBackend, prefix: &str) -> String {
    sim.file_names()
        .into_iter()
        .find(|n| n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} file"))
}

/// Byte range of the manifest record inside the catalog: it holds the segment's name.
fn manifest_range(catalog: &[u8], segment: &str) -> std::ops::Range<usize> {
    let needle = segment.as_bytes();
    let at = catalog
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the manifest names the segment");
    // Layout: version u32, generation, checkpoint LSN, node/edge/relation counts (u64 each),
    // segment name (u32 length + bytes), walk file name (u32 length + bytes).
    let start = at - 4 - 44;
    let walks_len_at = at + needle.len();
    let walks_len = u32::from_le_bytes(catalog[walks_len_at..walks_len_at + 4].try_into().unwrap());
    start..walks_len_at + 4 + walks_len as usize
}

fn rate(kind: &str, t: &Tally) {
    println!(
        "{kind:<40} {:>6} damaged states: {:>6} detected ({:.1}%), {:>5} other typed errors, {:>5} undetected but harmless, {:>4} torn-append look-alikes (earlier commit served)",
        t.tried,
        t.detected,
        100.0 * t.detected as f64 / t.tried.max(1) as f64,
        t.other_error,
        t.harmless,
        t.committed_prefix
    );
}

fn sweep(undirected: bool) {
    let (original, prefixes) = build(undirected);
    let expected =
        served(&sim_db(&original.crash(CrashMode::KeepAll), undirected).unwrap()).unwrap();
    let catalog_sample: Option<usize> = match std::env::var("WALKDB_CATALOG_SAMPLE").as_deref() {
        Ok("all") => None,
        Ok(n) => Some(n.parse().expect("a number or 'all'")),
        Err(_) => Some(3000),
    };
    let segment = find(&original, "adj/");
    let mut rng = Rng::new(0xC0FFEE + undirected as u64);
    for (kind, prefix, checksummed) in [
        ("WAL", "wal/", true),
        ("segment", "adj/", true),
        ("walk index", "walks/", true),
        ("manifest (in catalog.redb)", "catalog.redb", false),
        ("catalog.redb", "catalog.redb", false),
    ] {
        let name = find(&original, prefix);
        let bytes = original.file_bytes(&name).unwrap();
        let blame = if prefix == "catalog.redb" {
            "catalog.redb"
        } else {
            prefix.trim_end_matches('/')
        };
        let target = Target {
            original: &original,
            name: &name,
            bytes: &bytes,
            undirected,
            expected: &expected,
            prefixes: &prefixes,
            blame,
        };
        let mut flips = Tally::default();
        let positions: Vec<usize> = match (kind, catalog_sample) {
            ("manifest (in catalog.redb)", _) => manifest_range(&bytes, &segment).collect(),
            ("catalog.redb", Some(sample)) if sample < bytes.len() => (0..sample)
                .map(|_| rng.below(bytes.len() as u64) as usize)
                .collect(),
            _ => (0..bytes.len()).collect(),
        };
        for &at in &positions {
            try_damage(&target, &Damage::Flip(at), &mut flips);
        }
        rate(&format!("{kind} flips"), &flips);
        let mut cuts = Tally::default();
        if kind != "manifest (in catalog.redb)" {
            let step = (bytes.len() / 400).max(1);
            for len in (0..bytes.len()).step_by(step) {
                try_damage(&target, &Damage::Truncate(len), &mut cuts);
            }
            rate(&format!("{kind} truncations"), &cuts);
        }
        if checksummed {
            assert_eq!(
                flips.detected, flips.tried,
                "{kind}: every flip must be detected"
            );
        }
        // redb's failures surface as corruption too (its panics are contained, its reads past
        // the end of the file reported as damage), never as I/O or input errors.
        assert_eq!(
            flips.other_error + cuts.other_error,
            0,
            "{kind}: an error that is not a corruption report"
        );
    }
}

#[test]
fn every_file_kind_reports_damage_and_never_serves_wrong_data_directed() {
    sweep(false);
}

#[test]
fn every_file_kind_reports_damage_and_never_serves_wrong_data_undirected() {
    sweep(true);
}

/// Regression: the last WAL file cut to nothing (or to less than its header) was taken for a
/// file created just before a crash and every commit in it was dropped without a word. WAL
/// files are now renamed into place only after their header is durable, so this is damage.
#[test]
fn a_wal_file_cut_below_its_header_is_corruption_not_an_empty_log() {
    let (original, _) = build(false);
    let name = find(&original, "wal/");
    let bytes = original.file_bytes(&name).unwrap();
    for len in [0, 1, 31] {
        let sim = original.crash(CrashMode::KeepAll);
        sim.set_file_bytes(&name, bytes[..len].to_vec());
        match sim_db(&sim, false) {
            Err(Error::Corrupt(c)) => assert_eq!(c.file, name),
            Err(e) => panic!("cut to {len}: {e}"),
            Ok(_) => panic!("cut to {len}: opened and dropped the committed transactions"),
        }
    }
    let sim = original.crash(CrashMode::KeepAll);
    sim.set_file_bytes(&name, vec![0; bytes.len()]);
    assert!(matches!(sim_db(&sim, false), Err(Error::Corrupt(_))));
}

/// Regression (found by reading the decoder for the fuzz target): a walk-index header with a
/// valid checksum but a node count of 2^32 made decoding allocate per-node tables for four
/// billion nodes before reading a walk (an abort, not an error). The count is now checked
/// against the graph's before anything is allocated.
#[test]
fn a_walk_index_claiming_billions_of_nodes_is_refused_before_allocating() {
    let (original, _) = build(false);
    let name = find(&original, "walks/");
    let mut bytes = original.file_bytes(&name).unwrap();
    bytes[40..48].copy_from_slice(&(1u64 << 32).to_le_bytes());
    // The header CRC of walk-index format 2 (format-spec/walk-index.md) is at byte 288.
    let crc_at = 288;
    let crc = crc32fast::hash(&bytes[..crc_at]);
    bytes[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    let sim = original.crash(CrashMode::KeepAll);
    sim.set_file_bytes(&name, bytes);
    let outcome = sim_db(&sim, false).and_then(|db| Ok(db.verify()?));
    match outcome {
        Err(Error::Corrupt(c)) => {
            assert_eq!(c.file, name);
            assert!(c.what.contains("node count"), "{c}");
        }
        other => panic!("not reported as corruption: {other:?}"),
    }
}

/// A missing file is damage too: every file the manifest names, and the WAL (a database always
/// has one; without it the commits after the checkpoint would vanish without a word).
#[test]
fn a_missing_file_is_reported_as_corruption() {
    let (original, _) = build(false);
    for prefix in ["wal/", "adj/", "walks/"] {
        let sim = original.crash(CrashMode::KeepAll);
        let name = find(&sim, prefix);
        walkdb::backend::StorageBackend::remove(&sim, &name).unwrap();
        let outcome = sim_db(&sim, false).and_then(|db| Ok(db.verify()?));
        match outcome {
            Err(Error::Corrupt(c)) => {
                assert!(c.file.starts_with(prefix.trim_end_matches('/')), "{c}")
            }
            other => panic!("{name} deleted: {other:?}"),
        }
    }
}

/// Regressions found by the full catalog sweep (`WALKDB_CATALOG_SAMPLE=all`), by flip position
/// in this file's directed database:
/// - 20757: a flipped bit in a redb page holding a table's length made `node_keys` reserve
///   terabytes and the process abort;
/// - 45060: a flipped length byte in `relation_names` served relation "r" as "" (relation
///   names are now checked to be valid and to map back to their ids at every open);
/// - 0 (and the rest of redb's magic number): reported as an I/O error (exit code 3), now as
///   corruption.
///
/// If the layout changes the flips land elsewhere, and the test still requires a corruption
/// error or the original content.
#[test]
fn catalog_flips_found_by_the_full_sweep() {
    let (original, _) = build(false);
    let expected = served(&sim_db(&original.crash(CrashMode::KeepAll), false).unwrap()).unwrap();
    let bytes = original.file_bytes("catalog.redb").unwrap();
    let target = Target {
        original: &original,
        name: "catalog.redb",
        bytes: &bytes,
        undirected: false,
        expected: &expected,
        prefixes: &[],
        blame: "catalog.redb",
    };
    let mut tally = Tally::default();
    for at in [0, 20757, 45060] {
        try_damage(&target, &Damage::Flip(at), &mut tally);
    }
    assert_eq!(tally.tried, 3);
    assert_eq!(
        tally.other_error, 0,
        "reported as something else than corruption"
    );
}
