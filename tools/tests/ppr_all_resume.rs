//! `walkdb ppr-all --out FILE` survives kill -9: the completed output plus `--resume` equals an
//! uninterrupted run byte for byte, a resume with other parameters is refused without
//! touching anything, and the progress record is gone once a run completes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

fn walkdb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_walkdb"))
        .args(args)
        .output()
        .expect("runs")
}

fn sources_done(record: &Path) -> u64 {
    std::fs::read_to_string(record)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["sources_done"].as_u64())
        .unwrap_or(0)
}

#[test]
fn killed_ppr_all_resumes_to_the_uninterrupted_output() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::import_synth(
        dir.path(),
        "db",
        &walkdb::synth::barabasi_albert(12_000, 3, 9),
    );

    let full = dir.path().join("full.jsonl");
    let full_s = full.to_str().unwrap();
    let run = |out: &str, extra: &[&str]| {
        let mut args = vec!["ppr-all", &db, "--top", "5", "--chunk", "64", "--out", out];
        args.extend_from_slice(extra);
        walkdb(&args)
    };
    let done = run(full_s, &[]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(!Path::new(&format!("{full_s}.progress")).exists());
    let expected = std::fs::read(&full).unwrap();
    assert_eq!(expected.iter().filter(|&&b| b == b'\n').count(), 12_000);

    // Kill a single-threaded run once it has recorded a few chunks.
    let part = dir.path().join("part.jsonl");
    let part_s = part.to_str().unwrap().to_string();
    let record = Path::new(&format!("{part_s}.progress")).to_path_buf();
    let mut child = Command::new(env!("CARGO_BIN_EXE_walkdb"))
        .args([
            "ppr-all",
            &db,
            "--top",
            "5",
            "--chunk",
            "64",
            "--threads",
            "1",
            "--out",
            &part_s,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while sources_done(&record) < 3 * 64 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress record appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let recorded = sources_done(&record);
    assert!(
        (recorded as usize) < 12_000,
        "the run finished before it was killed: make the graph larger"
    );
    // A torn line past the record, as a kill in the middle of a write leaves one.
    let mut torn = std::fs::read(&part).unwrap();
    torn.extend_from_slice(b"{\"node\":\"n1");
    std::fs::write(&part, &torn).unwrap();

    // Other parameters: refused, nothing changed.
    let refused = walkdb(&[
        "ppr-all", &db, "--top", "6", "--chunk", "64", "--out", &part_s, "--resume",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("top"));
    assert_eq!(std::fs::read(&part).unwrap(), torn);

    let resumed = run(&part_s, &["--resume"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("resumed at source"));
    assert!(
        std::fs::read(&part).unwrap() == expected,
        "resumed output differs"
    );
    assert!(!record.exists());

    // Nothing to resume, or nowhere to resume into: usage errors.
    assert_eq!(run(&part_s, &["--resume"]).status.code(), Some(1));
    assert_eq!(walkdb(&["ppr-all", &db, "--resume"]).status.code(), Some(1));
}
