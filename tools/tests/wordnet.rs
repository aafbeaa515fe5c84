//! The CLI on real data: WordNet 3.0 (778,434 edges) from ../shared/data. Import, export
//! equals the input as a set, stats counts, add/delete round trips, reopen after checkpoint.
//! Without the shared data the test says SKIPPED, except under CI (`CI` set), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::{shared_file, walkdb};

fn edge_lines(text: &str) -> HashSet<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let w: f64 = f.get(3).map_or(1.0, |w| w.parse().unwrap());
            format!("{}\t{}\t{}\t{}", f[0], f[1], f[2], w)
        })
        .collect()
}

#[test]
fn wordnet_import_export_add_delete_checkpoint_reopen() {
    let Some(tsv) = shared_file("wordnet30.tsv", "the CLI on WordNet 3.0") else {
        return;
    };
    let input = std::fs::read_to_string(&tsv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wn");
    let db = db.to_str().unwrap();
    let (code, out, err) = walkdb(
        &[
            "import",
            db,
            tsv.to_str().unwrap(),
            "--undirected",
            "--alpha",
            "0.15",
            "--walks-per-node",
            "1",
            "--json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (info["nodes"].as_u64(), info["edges"].as_u64()),
        (Some(264_965), Some(778_434))
    );

    let (code, stats, _) = walkdb(&["stats", db, "--json"], None);
    assert_eq!(code, 0);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(
        (
            stats["nodes"].as_u64(),
            stats["edges"].as_u64(),
            stats["relations"].as_u64()
        ),
        (Some(264_965), Some(778_434), Some(29))
    );

    let expected = edge_lines(&input);
    assert_eq!(expected.len(), 778_434);
    let (code, exported, _) = walkdb(&["export", db], None);
    assert_eq!(code, 0);
    assert_eq!(
        edge_lines(&exported),
        expected,
        "export equals the input as a set"
    );

    let added = "dog.n.01\tfriend_of\tcat.n.01\t2.5\nw:walkdb\thas_sense\twalkdb.n.01\nwalkdb.n.01\thypernym\tdatabase.n.01\n";
    let (code, acks, err) = walkdb(&["add", db], Some(added));
    assert_eq!(code, 0, "{err}");
    assert!(acks.starts_with("committed 3 "), "{acks}");
    let (code, _, err) = walkdb(&["delete", db], Some("dog.n.01\thypernym\tcanine.n.02\n"));
    assert_eq!(code, 0, "{err}");
    let mut after = expected.clone();
    after.extend(edge_lines(added));
    assert!(after.remove("dog.n.01\thypernym\tcanine.n.02\t1"));
    let (_, exported, _) = walkdb(&["export", db], None);
    assert_eq!(edge_lines(&exported), after);

    let (code, _, err) = walkdb(&["checkpoint", db], None);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = walkdb(&["verify", db], None);
    assert_eq!(code, 0, "{err}");
    let (_, exported, _) = walkdb(&["export", db], None);
    assert_eq!(
        edge_lines(&exported),
        after,
        "reopen after checkpoint keeps every edge"
    );
    let (code, _, err) = walkdb(&["delete", db], Some(added));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = walkdb(&["add", db], Some("dog.n.01\thypernym\tcanine.n.02\t1\n"));
    assert_eq!(code, 0, "{err}");
    let (_, exported, _) = walkdb(&["export", db], None);
    assert_eq!(edge_lines(&exported), expected, "add/delete round trip");
    let (code, _, err) = walkdb(&["verify", db], None);
    assert_eq!(code, 0, "{err}");
}
