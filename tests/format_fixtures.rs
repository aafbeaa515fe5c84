//! Compatibility: databases written by released versions open and read back exactly, with
//! every later walkdb (`format-spec/README.md`). The fixture is copied first: opening resumes
//! the WAL and may write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use walkdb::ppr::{Method, PprWorkspace};
use walkdb::{Database, PprRequest};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn edges(db: &Database) -> BTreeSet<(String, String, String, u64)> {
    let snapshot = db.begin_read().unwrap();
    let keys = snapshot.node_keys().unwrap();
    let rels = snapshot.relation_names();
    let mut out = BTreeSet::new();
    snapshot.for_each_edge(|u, v, r, w| {
        out.insert((
            keys[u as usize].clone(),
            rels[r as usize].clone(),
            keys[v as usize].clone(),
            w.to_bits(),
        ));
    });
    out
}

/// Every stored walk of every node as `start: path end`, hashed (FNV-1a 64) with the counts.
fn walk_digest(db: &Database) -> String {
    let keys = db.begin_read().unwrap().node_keys().unwrap();
    let (mut hash, mut walks, mut steps) = (0xcbf2_9ce4_8422_2325u64, 0usize, 0usize);
    for key in &keys {
        for (path, end) in db.walks_from(key).unwrap() {
            walks += 1;
            steps += path.len();
            let line = format!("{key}: {} {end:?}\n", path.join(" "));
            for b in line.bytes() {
                hash = (hash ^ b as u64).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    format!("walks {walks}\nnodes {steps}\nfnv1a64 {hash:016x}\n")
}

#[test]
fn version_1_nations_fixture_reads_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nations");
    copy_dir(&root.join("tests/fixtures/v1/nations"), &path);

    // What the fixture must hold: the Nations graph, minus one edge, plus two.
    let tsv = std::fs::read_to_string(root.join("data/pykeen/pykeen_nations.tsv")).unwrap();
    let mut want: BTreeSet<(String, String, String, u64)> = tsv
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let w: f64 = f.get(3).map_or(1.0, |w| w.parse().unwrap());
            (f[0].into(), f[1].into(), f[2].into(), w.to_bits())
        })
        .collect();
    assert!(want.remove(&(
        "brazil".into(),
        "embassy".into(),
        "usa".into(),
        1f64.to_bits()
    )));
    want.insert((
        "brazil".into(),
        "new_relation".into(),
        "atlantis".into(),
        2.5f64.to_bits(),
    ));
    want.insert((
        "atlantis".into(),
        "new_relation".into(),
        "usa".into(),
        0.75f64.to_bits(),
    ));

    let db = Database::builder(&path).open().unwrap();
    // The v1 walk file is read and migrated into memory (format 2), not served from the map.
    let (index, _) = db.walk_index_copy().unwrap();
    assert_eq!(index.base_source_version(), 1);
    assert!(index.mapped_bytes() == 0 && index.memory_bytes() > 0);
    assert!(db.options().undirected);
    assert_eq!(db.options().alpha, 0.3);
    assert_eq!(edges(&db), want);
    let report = db.verify().unwrap();
    assert_eq!(
        report.wal_transactions, 2,
        "two transactions after the checkpoint"
    );
    assert!(report.walks > 0);
    let mut request = PprRequest::new(vec![("atlantis".into(), 1.0)]);
    request.method = Method::Exact;
    request.top_k = 3;
    let answer = db
        .begin_read()
        .unwrap()
        .ppr(&request, &mut PprWorkspace::new())
        .unwrap();
    assert_eq!(answer.results[0].0, "atlantis");

    // The stored walks (the v1 walk-index file plus the two replayed repairs) read back walk
    // for walk: their digest was recorded by the walkdb that wrote the fixture
    // (`WALKDB_RECORD_FIXTURE=1` rewrites it; never do that for a released version).
    let digest_file = root.join("tests/fixtures/v1/nations-walks.digest");
    let got = walk_digest(&db);
    if std::env::var_os("WALKDB_RECORD_FIXTURE").is_some() {
        std::fs::write(&digest_file, &got).unwrap();
    }
    assert_eq!(got, std::fs::read_to_string(&digest_file).unwrap());

    // The current version writes on top of it and checkpoints it into its own format.
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("atlantis", "new_relation", "china", 1.0)
        .unwrap();
    txn.commit().unwrap();
    db.checkpoint().unwrap();
    drop(db);
    let db = Database::builder(&path).open().unwrap();
    // After the checkpoint the walk file is format 2, served from its map.
    let (index, _) = db.walk_index_copy().unwrap();
    assert_eq!(index.base_source_version(), 2);
    assert!(index.mapped_bytes() > 0);
    assert_eq!(edges(&db).len(), want.len() + 1);
    db.verify().unwrap();
}
