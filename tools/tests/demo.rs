//! `walkdb demo` runs on the committed data and its results are sane: every ranking is
//! non-empty and sorted, the new facts entered the ranking they should change, the streamed
//! facts are all in the database, and the database it leaves behind verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn walkdb(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_walkdb"))
        .args(args)
        .output()
        .expect("the walkdb binary runs")
}

#[test]
fn demo_runs_and_its_rankings_are_sane() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo");
    let db = db.to_str().unwrap();
    let out = walkdb(&["demo", "--dir", db, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for name in ["dog_before", "cheese_and_milk", "cat_taxonomy", "dog_after"] {
        let results = doc["queries"][name]["results"].as_array().unwrap();
        assert_eq!(results.len(), 10, "{name}: ten results");
        let scores: Vec<f64> = results
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "{name} sorted: {scores:?}"
        );
        assert!(
            scores.iter().all(|s| *s > 0.0 && *s <= 1.0),
            "{name}: {scores:?}"
        );
    }
    // Node-prefix queries rank words only.
    for name in ["cheese_and_milk", "cat_taxonomy"] {
        for r in doc["queries"][name]["results"].as_array().unwrap() {
            assert!(r["node"].as_str().unwrap().starts_with("w:"), "{name}: {r}");
        }
    }
    // The seed leads its own ranking, before and after.
    assert_eq!(doc["queries"]["dog_before"]["results"][0]["node"], "w:dog");
    assert_eq!(doc["queries"]["dog_after"]["results"][0]["node"], "w:dog");
    // The breeds were absent before and entered after the incremental step.
    let before: Vec<&str> = doc["queries"]["dog_before"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node"].as_str().unwrap())
        .collect();
    let entered = doc["new_in_top"].as_array().unwrap();
    assert!(!entered.is_empty());
    for key in entered {
        assert!(
            !before.contains(&key.as_str().unwrap()),
            "{key} was already ranked before"
        );
    }
    assert_eq!(doc["new_facts"], 940);
    assert!(doc["max_error_vs_exact"].as_f64().unwrap() < 1e-2);
    // The database the demo leaves behind holds base + new facts and verifies.
    assert_eq!(doc["edges"], 31081 + 940);
    let verify = walkdb(&["verify", db]);
    assert_eq!(verify.status.code(), Some(0));
    let export = walkdb(&["export", db]);
    let lines = String::from_utf8(export.stdout).unwrap();
    assert!(lines
        .lines()
        .any(|l| l.starts_with("dog.n.01\thyponym\tpoodle.n.01\t")));
    assert_eq!(lines.lines().count(), 31081 + 940);
}

#[test]
fn demo_refuses_a_directory_that_already_holds_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo");
    let db = db.to_str().unwrap();
    assert_eq!(walkdb(&["create", db]).status.code(), Some(0));
    let out = walkdb(&["demo", "--dir", db]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
