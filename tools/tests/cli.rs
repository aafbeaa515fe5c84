//! The command-line contract (CLI.md) end to end: every command, JSON shapes and every exit
//! code path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

fn walkdb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_walkdb"))
}

fn run(args: &[&str]) -> Output {
    walkdb().args(args).output().expect("runs")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = walkdb()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", stdout(out)))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const SMALL: &str = "# a comment\n\na\tknows\tb\t2\nb\tknows\tc\nc\tlikes\ta\t0.5\nd\tknows\ta\n";

fn small_db(dir: &Path) -> String {
    let db = dir.join("db");
    let tsv = write(dir, "small.tsv", SMALL);
    let out = run(&[
        "import",
        db.to_str().unwrap(),
        tsv.to_str().unwrap(),
        "--undirected",
        "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    db.to_str().unwrap().to_string()
}

fn exported(db: &str) -> Vec<String> {
    let out = run(&["export", db]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn create_then_create_again_fails_with_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let out = run(&[
        "create",
        db.to_str().unwrap(),
        "--alpha",
        "0.15",
        "--walks-per-node",
        "2",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let again = run(&["create", db.to_str().unwrap()]);
    assert_eq!(code(&again), 1);
    assert!(
        stderr(&again).contains("already holds"),
        "{}",
        stderr(&again)
    );
    let stats = json(&run(&["stats", db.to_str().unwrap(), "--json"]));
    assert_eq!(stats["alpha"], 0.15);
    assert_eq!(stats["undirected"], false);
    assert_eq!(stats["nodes"], 0);
}

#[test]
fn import_stats_export_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let stats = json(&run(&["stats", &db, "--json"]));
    assert_eq!(
        (stats["nodes"].as_u64(), stats["edges"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(stats["undirected"], true);
    assert!(stats["walks"].as_u64().unwrap() > 0);
    assert_eq!(
        exported(&db),
        vec![
            "a\tknows\tb\t2",
            "b\tknows\tc\t1",
            "c\tlikes\ta\t0.5",
            "d\tknows\ta\t1"
        ]
    );
    let export_json = json(&run(&["export", &db, "--json"]));
    assert_eq!(export_json["edges"].as_array().unwrap().len(), 4);
}

/// `import` reads its input a piece at a time (16 MiB): a malformed line well past the first
/// piece is reported with its true line number, a CRLF input spanning pieces imports whole,
/// and nothing of a failed file is imported.
#[test]
fn import_reads_large_inputs_in_pieces_with_true_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::with_capacity(40 << 20);
    let lines = 1_300_000u64;
    for i in 0..lines {
        text.push_str(&format!("src{i}\trel\tdst{}\t1.5\r\n", i % 977));
    }
    let good = write(dir.path(), "good.tsv", &text);
    text.push_str("x\tr\n");
    let bad = write(dir.path(), "bad.tsv", &text);
    assert!(text.len() > 2 * (16 << 20), "the input spans pieces");
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let out = run(&["import", db, bad.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains(&format!("line {}", lines + 1)),
        "{}",
        stderr(&out)
    );
    let out = run(&["import", db, good.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["edges"].as_u64(), Some(lines));
}

/// `import -` reads standard input like a file: the same database (export byte for byte),
/// and a malformed line on stdin is reported with its line number and imports nothing.
#[test]
fn import_from_stdin_equals_import_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = write(dir.path(), "small.tsv", SMALL);
    let (from_file, from_stdin) = (dir.path().join("file"), dir.path().join("stdin"));
    let (from_file, from_stdin) = (from_file.to_str().unwrap(), from_stdin.to_str().unwrap());
    let out = run(&["import", from_file, tsv.to_str().unwrap(), "--undirected"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run_stdin(&["import", from_stdin, "-", "--undirected"], SMALL);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let export = |db: &str| stdout(&run(&["export", db]));
    assert_eq!(export(from_file), export(from_stdin));
    assert!(export(from_stdin).lines().count() >= 4);
    let bad = dir.path().join("bad");
    let bad = bad.to_str().unwrap();
    let out = run_stdin(&["import", bad, "-"], &format!("{SMALL}x\tr\n"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("- line 7"), "{}", stderr(&out));
    // The database was created, and holds nothing of the failed input.
    let out = run(&["stats", bad, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["edges"].as_u64(), Some(0), "nothing imported");
    assert_eq!(json(&out)["nodes"].as_u64(), Some(0), "nothing imported");
}

/// A record the loader refuses early in a large input (a key over the size limit on line
/// 1,000, while later parts are parsed ahead) is reported with its line, and nothing of the
/// file is imported.
#[test]
fn import_reports_a_refused_record_early_in_a_large_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::with_capacity(12 << 20);
    for i in 0..400_000u64 {
        if i == 999 {
            text.push_str(&format!("{}\trel\tx\n", "k".repeat(70_000)));
        } else {
            text.push_str(&format!("src{i}\trel\tdst{}\n", i % 977));
        }
    }
    assert!(text.len() > 4 << 20, "the input spans several parsed parts");
    let tsv = write(dir.path(), "big.tsv", &text);
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let out = run(&["import", db, tsv.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("line 1000:"), "{}", stderr(&out));
    let out = run(&["stats", db, "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["edges"].as_u64(), Some(0), "nothing imported");
}

/// `--memory-budget` changes how the index is built, not what is built: a budget of 1 KiB
/// (sorted runs on disk, several visit passes, both reported) writes the walk file the
/// default writes; a malformed size is a usage error. Alpha 0.05 makes the visit ids about
/// three times the graph projection, whose memory the fill may take besides the budget.
#[test]
fn import_memory_budget_writes_the_same_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..1200 {
        text.push_str(&format!(
            "n{i}\tr\tn{}\t1\nn{}\tr\tn{i}\t2\n",
            (i * 7) % 13,
            i % 5
        ));
    }
    let tsv = write(dir.path(), "g.tsv", &text);
    let tsv = tsv.to_str().unwrap();
    let mut walk_files = Vec::new();
    for (name, budget) in [("a", None), ("b", Some("1K"))] {
        let db = dir.path().join(name);
        let db = db.to_str().unwrap();
        let mut args = vec![
            "import",
            db,
            tsv,
            "--undirected",
            "--alpha",
            "0.05",
            "--json",
        ];
        if let Some(b) = budget {
            args.extend(["--memory-budget", b]);
        }
        let out = run(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let info = json(&out);
        assert!(info["walks"].as_u64().unwrap() > 2400);
        let (runs, passes) = (
            info["spilled_runs"].as_u64().unwrap(),
            info["index_visit_passes"].as_u64().unwrap(),
        );
        match budget {
            None => assert_eq!((runs, passes), (0, 1), "{info}"),
            Some(_) => assert!(runs >= 2 && passes >= 2, "{info}"),
        }
        let walks = std::fs::read_dir(dir.path().join(name).join("walks"))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect::<Vec<_>>();
        walk_files.push(walks);
    }
    assert!(walk_files[0] == walk_files[1]);
    let db = dir.path().join("c");
    let out = run(&[
        "import",
        db.to_str().unwrap(),
        tsv,
        "--memory-budget",
        "12X",
    ]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("12X"), "{}", stderr(&out));
}

#[test]
fn bad_input_lines_give_1_with_the_line_number_and_import_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    for (name, text, needle) in [
        ("fields.tsv", "x\ty\n", "line 1"),
        ("nan.tsv", "x\tr\ty\t1\nx\tr\tz\tNaN\n", "line 2"),
        ("zero.tsv", "x\tr\ty\t0\n", "line 1"),
        ("neg.tsv", "# c\nx\tr\ty\t-1\n", "line 2"),
        ("inf.tsv", "x\tr\ty\tinf\n", "line 1"),
    ] {
        let tsv = write(dir.path(), name, text);
        let out = run(&["import", &db, tsv.to_str().unwrap()]);
        assert_eq!(code(&out), 1, "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle) && stderr(&out).contains(name),
            "{name}: {}",
            stderr(&out)
        );
    }
    let bad_utf8 = dir.path().join("utf8.tsv");
    std::fs::write(&bad_utf8, b"x\tr\t\xff\xfe\n").unwrap();
    assert_eq!(code(&run(&["import", &db, bad_utf8.to_str().unwrap()])), 1);
    assert_eq!(exported(&db).len(), 4, "nothing imported, nothing lost");
    assert_eq!(code(&run(&["verify", &db])), 0);
}

#[test]
fn add_and_delete_stream_acknowledgements() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let out = run_stdin(
        &["add", &db, "--batch", "2"],
        "e\tknows\tf\ne\tknows\tg\t3\n# skip\nf\tlikes\tg\n",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stdout_text = stdout(&out);
    let acks: Vec<Vec<&str>> = stdout_text
        .lines()
        .map(|l| l.split(' ').collect())
        .collect();
    assert_eq!(acks.len(), 2);
    assert_eq!(acks[0][..2], ["committed", "2"]);
    assert_eq!(acks[1][..2], ["committed", "3"]);
    let lsn1: u64 = acks[0][2].parse().unwrap();
    let lsn2: u64 = acks[1][2].parse().unwrap();
    assert!(lsn2 > lsn1);
    assert_eq!(exported(&db).len(), 7);

    let missing = run_stdin(&["delete", &db], "e\tknows\tf\nzz\tknows\tf\n");
    assert_eq!(code(&missing), 1);
    assert!(stderr(&missing).contains("line 2"), "{}", stderr(&missing));
    assert_eq!(exported(&db).len(), 7, "the failed batch is not applied");
    let ok = run_stdin(
        &["delete", &db, "--ignore-missing"],
        "e\tknows\tf\t999\nzz\tknows\tf\n",
    );
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert_eq!(stdout(&ok).trim_end().split(' ').nth(1), Some("2"));
    assert_eq!(exported(&db).len(), 6);

    let file = write(dir.path(), "more.tsv", "g\tknows\th\t1\ng\tknows\th\tNaN\n");
    let bad = run(&["add", &db, file.to_str().unwrap()]);
    assert_eq!(code(&bad), 1);
    assert!(stderr(&bad).contains("line 2"));
    assert_eq!(exported(&db).len(), 6);
    assert_eq!(code(&run(&["checkpoint", &db])), 0);
    assert_eq!(exported(&db).len(), 6);
    assert_eq!(code(&run(&["verify", &db])), 0);
}

#[test]
fn ppr_json_shape_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let out = run(&[
        "ppr", &db, "--seed", "a", "--seed", "b=3", "--top", "3", "--method", "exact", "--json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["method"], "exact");
    assert_eq!(v["alpha"], 0.5);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let scores: Vec<f64> = results
        .iter()
        .map(|r| r["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "sorted descending: {scores:?}"
    );
    assert!(results.iter().all(|r| r["node"].is_string()));

    let prefix = json(&run(&[
        "ppr",
        &db,
        "--seed",
        "a",
        "--node-prefix",
        "c",
        "--json",
    ]));
    let nodes: Vec<&str> = prefix["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, vec!["c"]);

    let removed = json(&run(&[
        "ppr",
        &db,
        "--seed",
        "a",
        "--rel-weight",
        "likes=0",
        "--method",
        "exact",
        "--json",
    ]));
    let nodes: Vec<&str> = removed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node"].as_str().unwrap())
        .collect();
    assert!(
        nodes.contains(&"c"),
        "c is still reachable through b: {nodes:?}"
    );

    assert_eq!(code(&run(&["ppr", &db, "--seed", "nobody"])), 1);
    assert_eq!(code(&run(&["ppr", &db, "--seed", "a=NaN"])), 1);
    assert_eq!(
        code(&run(&["ppr", &db, "--seed", "a", "--alpha", "1.5"])),
        1
    );
    assert_eq!(
        code(&run(&["ppr", &db, "--seed", "a", "--method", "magic"])),
        1
    );
    assert_eq!(
        code(&run(&["ppr", &db, "--seed", "a", "--rel-weight", "nope=1"])),
        1
    );
}

#[test]
fn ppr_batch_mode_keeps_order_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let queries = "{\"seeds\":{\"a\":1}}\nnot json\n{\"seeds\":{\"c\":1,\"d\":2},\"top\":2,\"alpha\":0.3}\n{\"seeds\":{\"ghost\":1}}\n";
    let out = run_stdin(&["ppr", &db, "--queries", "-", "--threads", "2"], queries);
    assert_eq!(code(&out), 1);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0]["results"].is_array() && lines[0]["micros"].is_u64());
    assert!(lines[1]["error"].is_string());
    assert_eq!(lines[2]["results"].as_array().unwrap().len(), 2);
    assert!(lines[3]["error"].as_str().unwrap().contains("ghost"));
}

#[test]
fn damaged_files_give_2_naming_the_file_and_never_101() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let seg_dir = Path::new(&db).join("adj");
    let seg = std::fs::read_dir(&seg_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x10;
    std::fs::write(&seg, &bytes).unwrap();
    for args in [
        vec!["verify", &db],
        vec!["export", &db],
        vec!["ppr", &db, "--seed", "a"],
        vec!["dump", &db],
    ] {
        let out = run(&args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(".seg"), "{args:?}: {}", stderr(&out));
    }
    let dump = run(&["dump", &db, "--json"]);
    assert_eq!(code(&dump), 2);
    assert!(!json(&dump)["problems"].as_array().unwrap().is_empty());
}

#[test]
fn usage_errors_give_1() {
    assert_eq!(code(&run(&["import"])), 1);
    assert_eq!(code(&run(&["stats", "/nonexistent/walkdb"])), 1);
    assert_eq!(code(&run(&["frobnicate"])), 1);
    assert_eq!(code(&run(&["ppr", "/tmp", "--no-such-flag"])), 1);
    assert_eq!(code(&run(&["--help"])), 0);
}

#[test]
fn dump_shows_headers_wal_nodes_and_walks() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    run_stdin(&["add", &db], "x\tknows\ta\n");
    let out = run(&[
        "dump",
        &db,
        "--json",
        "--header",
        "--wal",
        "--segments",
        "--node",
        "a",
        "--walks",
        "a",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["manifest"]["generation"], "1");
    let kinds: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    for kind in ["catalog", "wal", "segment", "walk-index"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let records = v["wal"][0]["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["checksum_ok"], true);
    assert_eq!(records[0]["kind"], "commit");
    assert!(
        v["node"]["out"].as_array().unwrap().len() + v["node"]["in"].as_array().unwrap().len() >= 3
    );
    let walks = v["walks"]["walks"].as_array().unwrap();
    assert!(!walks.is_empty());
    assert!(walks.iter().all(|w| w["path"][0] == "a"));
    // Visit records at `a` are the walks that move on from it: each walk starting at `a`
    // and moving on has one, so there are at least as many as walks of 2+ nodes from it.
    let visits = v["walks"]["visit_records"].as_array().unwrap();
    let moving = walks
        .iter()
        .filter(|w| w["path"].as_array().unwrap().len() > 1)
        .count();
    assert!(
        visits.len() >= moving,
        "{} visits, {moving} walks move on",
        visits.len()
    );
    let histogram = v["walks"]["index"]["length_histogram"].as_array().unwrap();
    let total: u64 = histogram.iter().map(|h| h["walks"].as_u64().unwrap()).sum();
    assert_eq!(Some(total), v["walks"]["index"]["walks"].as_u64());
}

#[test]
fn io_errors_give_3_naming_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    // stdout on a full disk: /dev/full fails every write with ENOSPC.
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    if let Ok(full) = full {
        let out = walkdb()
            .args(["export", &db])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert!(stderr(&out).contains("No space left"), "{}", stderr(&out));
    }
    // A database path below a regular file cannot be created.
    let file = write(dir.path(), "plain", "not a directory");
    let under = file.join("db");
    let out = run(&["create", under.to_str().unwrap()]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("plain/db"), "{}", stderr(&out));
    // The database is unharmed by the failed export.
    assert_eq!(code(&run(&["verify", &db])), 0);
}

#[test]
fn ppr_all_streams_every_nodes_top_k_close_to_exact() {
    let dir = tempfile::tempdir().unwrap();
    let db = small_db(dir.path());
    let out_file = dir.path().join("all.jsonl");
    let out = run(&[
        "ppr-all",
        &db,
        "--top",
        "3",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&out_file).unwrap();
    let stats = json(&run(&["stats", &db, "--json"]));
    assert_eq!(
        text.lines().count() as u64,
        stats["nodes"].as_u64().unwrap()
    );
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let node = v["node"].as_str().unwrap();
        let results = v["results"].as_array().unwrap();
        assert!(!results.is_empty() && results.len() <= 3, "{line}");
        let exact = json(&run(&[
            "ppr", &db, "--seed", node, "--top", "3", "--method", "exact", "--json",
        ]));
        for (got, want) in results.iter().zip(exact["results"].as_array().unwrap()) {
            let (g, w) = (
                got["score"].as_f64().unwrap(),
                want["score"].as_f64().unwrap(),
            );
            assert!((g - w).abs() < 1e-2, "{node}: {got} vs exact {want}");
        }
    }
    // Bad arguments give 1.
    assert_eq!(code(&run(&["ppr-all", &db, "--top", "0"])), 1);
    assert_eq!(code(&run(&["ppr", &db, "--seed", "a", "--top", "0"])), 1);
}

/// `walkdb export DB | head -1`: a reader that closes the pipe early ends the command quietly
/// with 0, never a panic (101) or a signal. Each output below is far larger than a pipe's
/// buffer, so the command is still writing when the pipe closes.
#[test]
fn a_closed_stdout_pipe_is_not_a_panic() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let tsv = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/wordnet-demo/base.tsv");
    let out = run(&["import", db, tsv]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // One transaction of 20,000 operations: `dump --wal` decodes each one on its own line.
    let lines: String = (0..20_000).map(|i| format!("n{i}\tr\tm{i}\n")).collect();
    let out = run_stdin(&["add", db, "--batch", "100000"], &lines);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for args in [vec!["export", db], vec!["dump", db, "--wal"]] {
        let mut child = walkdb()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

/// The accuracy contract through the command line: the default answer of a graph too large
/// for `auto` to solve exactly is the certified push, its JSON says what it guarantees, the
/// guarantee holds against `--method exact`, coarser targets are flags and batch fields, and
/// a meaningless target is a usage error.
#[test]
fn ppr_accuracy_target_flags_and_guarantee() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::import_synth(
        dir.path(),
        "ba",
        &walkdb::synth::barabasi_albert(3_000, 10, 3),
    );
    let query = |extra: &[&str]| {
        let mut args = vec!["ppr", db.as_str(), "--seed", "n17", "--json"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        json(&out)
    };
    let exact = query(&["--method", "exact", "--top", "60"]);
    let truth: std::collections::HashMap<String, f64> =
        common::ranked(&exact).into_iter().collect();
    let tenth = exact["results"][9]["score"].as_f64().unwrap();
    for (flags, target) in [(&[][..], 1e-4), (&["--max-error", "0.01"][..], 1e-2)] {
        let answer = query(flags);
        assert_eq!(
            answer["method"], "push",
            "{flags:?}: auto runs the certified push"
        );
        let g = &answer["guarantee"];
        let bound = g["max_error"].as_f64().unwrap();
        assert!(bound <= target, "{flags:?}: guarantee {g}");
        assert_eq!(g["failure_probability"].as_f64(), Some(0.0));
        assert!(g["top_k"].as_str().unwrap().starts_with("exact"), "{g}");
        let results = answer["results"].as_array().unwrap();
        assert_eq!(results.len(), 10);
        for r in results {
            let key = r["node"].as_str().unwrap();
            let score = r["score"].as_f64().unwrap();
            let want = truth[key];
            assert!(
                (score - want).abs() <= bound + 1e-9,
                "{key}: {score} vs {want}"
            );
            assert!(want >= tenth - 1e-6, "{key} is not in the exact top 10");
        }
    }
    // The walk index states its guarantee (probabilistic when it read walks; here the push
    // alone may prove it: probability 0), at most the failure probability asked.
    let answer = query(&["--method", "index", "--failure-probability", "1e-5"]);
    assert_eq!(answer["method"], "index");
    let g = &answer["guarantee"];
    let bound = g["max_error"].as_f64().unwrap();
    assert!(bound <= 1e-4, "{g}");
    assert!(g["failure_probability"].as_f64().unwrap() <= 1e-5, "{g}");
    for r in answer["results"].as_array().unwrap() {
        let key = r["node"].as_str().unwrap();
        let score = r["score"].as_f64().unwrap();
        assert!((score - truth[key]).abs() <= bound + 1e-9, "{key}");
    }
    // Set only: the set is certified, the scores need not be within 1e-4.
    let answer = query(&["--set-only"]);
    assert!(answer["guarantee"]["top_k"]
        .as_str()
        .unwrap()
        .starts_with("exact"));
    // The text output says what is guaranteed.
    let out = run(&["ppr", &db, "--seed", "n17"]);
    assert!(
        stdout(&out).contains("every score within"),
        "{}",
        stdout(&out)
    );
    // Meaningless targets are usage errors.
    for bad in [
        &["--max-error", "0"][..],
        &["--max-error", "nan"],
        &["--tie-tolerance", "-1"],
        &["--failure-probability", "0"],
        &["--failure-probability", "1.5"],
    ] {
        let mut args = vec!["ppr", db.as_str(), "--seed", "n17"];
        args.extend_from_slice(bad);
        assert_eq!(code(&run(&args)), 1, "{bad:?}");
    }
    // Batch fields: a coarser target per line, a bad one fails that line only.
    let out = run_stdin(
        &["ppr", &db, "--queries", "-"],
        "{\"seeds\":{\"n17\":1},\"max_error\":0.01}\n{\"seeds\":{\"n17\":1},\"max_error\":-1}\n{\"seeds\":{\"n17\":1},\"failure_probability\":2}\n",
    );
    assert_eq!(code(&out), 1);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines[0]["guarantee"]["max_error"].as_f64().unwrap() <= 0.01);
    assert!(lines[1]["error"].as_str().unwrap().contains("max_error"));
    assert!(lines[2]["error"]
        .as_str()
        .unwrap()
        .contains("failure_probability"));
}
