#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Accuracy of `--method index` through the CLI on WordNet 3.0 (undirected, d = 0.5 and 0.85),
//! for every single- and multi-seed igraph baseline query, against the exact solver on the
//! same graph: mean precision@10 >= 0.99 and every returned score within 1e-4 of the exact one,
//! (a) on a freshly imported index and (b) on an index where 20% of the edges (every fifth
//! line) arrived after the import through `walkdb add` in batches of 1000, so the walks the
//! queries read were repaired, not built. Every answer must say the index method ran.
//!
//! Data: `$WALKDB_SHARED_DATA`, else `../shared/data` beside the repository, as for
//! `wordnet.rs` (the test says SKIPPED when the data is missing, except under CI (`CI` set),
//! where it fails).

mod common;

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Value};

use common::{shared_data, shared_file, walkdb};

const MAX_ABS_ERROR: f64 = 1e-4;
const MIN_PRECISION: f64 = 0.99;

/// Runs the batch queries with `method`; returns per query the method that ran and the
/// `(key, score)` results.
fn batch(db: &str, queries: &Path, method: &str) -> Vec<(String, Vec<(String, f64)>)> {
    let q = queries.to_str().unwrap();
    let (code, out, err) = walkdb(&["ppr", db, "--queries", q, "--method", method], None);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let results = common::ranked(&v);
            (v["method"].as_str().unwrap().to_string(), results)
        })
        .collect()
}

/// Mean tie-aware precision@10 and the largest absolute score error of `got` against the exact
/// top-1000 lists. A returned node outside the exact top-1000 scores at most the 1000th score.
fn compare(
    exact: &[(String, Vec<(String, f64)>)],
    got: &[(String, Vec<(String, f64)>)],
) -> (f64, f64) {
    let mut precision = 0.0;
    let mut max_error = 0.0f64;
    for ((_, truth), (_, answer)) in exact.iter().zip(got) {
        let scores: HashMap<&str, f64> = truth.iter().map(|(k, s)| (k.as_str(), *s)).collect();
        let k = 10.min(truth.len());
        let cutoff = truth[k - 1].1 - 1e-12;
        let floor = truth.last().map_or(0.0, |t| t.1);
        let mut hits = 0;
        for (key, score) in answer.iter().take(k) {
            match scores.get(key.as_str()) {
                Some(&s) => {
                    hits += usize::from(s >= cutoff);
                    max_error = max_error.max((score - s).abs());
                }
                None => max_error = max_error.max(score - floor),
            }
        }
        precision += hits as f64 / k as f64;
    }
    (precision / exact.len() as f64, max_error)
}

#[test]
fn index_queries_are_accurate_on_wordnet_fresh_and_after_streamed_adds() {
    // tests/index_queries.rs checks the index on committed synthetic data.
    let Some(tsv) = shared_file("wordnet30.tsv", "index accuracy on WordNet 3.0") else {
        return;
    };
    let data = shared_data();
    let input = std::fs::read_to_string(&tsv).unwrap();
    let baseline: Value =
        serde_json::from_slice(&std::fs::read(data.join("baselines/wordnet30.ppr.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Every fifth edge line is streamed in after the import.
    let (mut imported, mut streamed) = (String::new(), String::new());
    for (n, line) in input
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
    {
        let part = if n % 5 == 4 {
            &mut streamed
        } else {
            &mut imported
        };
        part.push_str(line);
        part.push('\n');
    }
    let imported_path = dir.path().join("import.tsv");
    std::fs::write(&imported_path, &imported).unwrap();
    for (config, alpha) in [("undirected/d=0.5", "0.5"), ("undirected/d=0.85", "0.15")] {
        let queries: Vec<String> = baseline["results"][config]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                let seeds: serde_json::Map<String, Value> = q["seeds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(q["seed_weights"].as_array().unwrap())
                    .map(|(s, w)| (s.as_str().unwrap().to_string(), w.clone()))
                    .collect();
                json!({"seeds": seeds, "top": 10}).to_string()
            })
            .collect();
        assert_eq!(queries.len(), 120);
        let query_file = dir.path().join("queries.jsonl");
        std::fs::write(&query_file, queries.join("\n")).unwrap();
        let exact_file = dir.path().join("exact.jsonl");
        std::fs::write(
            &exact_file,
            queries
                .iter()
                .map(|q| q.replace("\"top\":10", "\"top\":1000"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .unwrap();

        let fresh = dir.path().join(format!("fresh-{alpha}"));
        let fresh = fresh.to_str().unwrap();
        let (code, _, err) = walkdb(
            &[
                "import",
                fresh,
                tsv.to_str().unwrap(),
                "--undirected",
                "--alpha",
                alpha,
            ],
            None,
        );
        assert_eq!(code, 0, "{err}");
        let exact = batch(fresh, &exact_file, "exact");
        assert!(exact.iter().all(|(m, _)| m == "exact"));

        let streamed_db = dir.path().join(format!("streamed-{alpha}"));
        let streamed_db = streamed_db.to_str().unwrap();
        let (code, _, err) = walkdb(
            &[
                "import",
                streamed_db,
                imported_path.to_str().unwrap(),
                "--undirected",
                "--alpha",
                alpha,
            ],
            None,
        );
        assert_eq!(code, 0, "{err}");
        let (code, acks, err) = walkdb(&["add", streamed_db, "--batch", "1000"], Some(&streamed));
        assert_eq!(code, 0, "{err}");
        assert!(acks.lines().count() >= 150, "streamed in batches of 1000");
        // Fold the WAL so the later commands open without replaying 156 transactions; the
        // checkpoint writes the repaired index, which the queries then read.
        let (code, _, err) = walkdb(&["checkpoint", streamed_db], None);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = walkdb(&["verify", streamed_db], None);
        assert_eq!(code, 0, "{err}");

        for (db, what) in [
            (fresh, "fresh import"),
            (streamed_db, "20% streamed by add"),
        ] {
            let got = batch(db, &query_file, "index");
            assert_eq!(got.len(), 120);
            assert!(
                got.iter().all(|(m, _)| m == "index"),
                "{config} {what}: a query did not run the index method"
            );
            let (precision, max_error) = compare(&exact, &got);
            println!("{config} {what}: precision@10 {precision:.4}, max abs error {max_error:.2e}");
            assert!(
                precision >= MIN_PRECISION,
                "{config} {what}: precision@10 {precision}"
            );
            assert!(
                max_error <= MAX_ABS_ERROR,
                "{config} {what}: max abs error {max_error}"
            );
        }
        // A single CLI query reports the method that ran; a smaller alpha than the index's
        // cannot be served and falls back to push, and says so.
        let seed = baseline["results"][config][0]["seeds"][0].as_str().unwrap();
        let (code, out, err) = walkdb(
            &[
                "ppr",
                streamed_db,
                "--seed",
                seed,
                "--method",
                "index",
                "--json",
            ],
            None,
        );
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["method"], "index");
        let (code, out, err) = walkdb(
            &[
                "ppr",
                streamed_db,
                "--seed",
                seed,
                "--method",
                "index",
                "--alpha",
                "0.1",
                "--json",
            ],
            None,
        );
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["method"], "push", "alpha below the index's falls back");
    }
}
