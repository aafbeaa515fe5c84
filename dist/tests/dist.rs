//! walkdb-dist end to end: the same walk index and the same ppr-all answers for 1 process x 1
//! worker, 1 x 2 and 2 processes x 1 worker on loopback (started here), equal to walkdb's
//! single-process results; the walks follow the walk distribution; the answers meet the
//! accuracy contract on a real graph; a stopped or killed run resumes to the same output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use walkdb::graph::{Adjacency, NodeId};
use walkdb::ppr::{exact_ppr, AllTopK, PprWorkspace, EXACT_TOLERANCE};
use walkdb::tsv::TsvParser;
use walkdb::Database;

#[path = "support/mod.rs"]
mod support;
use support::hostfile;

const BIN: &str = env!("CARGO_BIN_EXE_walkdb-dist");

/// How long a run may take before the test calls it hung (a hang detector, not a speed check).
const HANG: Duration = Duration::from_secs(600);

/// The repository's committed data.
fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data")
        .join(path)
}

/// A database of `tsv` built by walkdb's bulk import (which builds the walk index in process).
fn import(dir: &Path, name: &str, tsv: &str, undirected: bool, alpha: f64) -> PathBuf {
    let path = dir.join(name);
    let db = Database::builder(&path)
        .undirected(undirected)
        .alpha(alpha)
        .create()
        .unwrap();
    let mut loader = db.bulk_loader().unwrap();
    for record in TsvParser::new(name, tsv.as_bytes()) {
        let r = record.unwrap();
        loader.add_edge(r.src, r.rel, r.dst, r.weight).unwrap();
    }
    loader.finish().unwrap();
    db.close().unwrap();
    path
}

/// A weighted power-law graph with parallel edges and self-loops, as TSV.
fn power_law_tsv(nodes: usize, seed: u64) -> String {
    let g = walkdb::synth::barabasi_albert(nodes, 4, seed);
    let mut out = String::new();
    for (i, e) in g.edges.iter().enumerate() {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            g.keys[e.src as usize],
            g.relations[e.rel as usize],
            g.keys[e.dst as usize],
            1.0 + (i % 5) as f64 * 0.5
        ));
    }
    // Self-loops of their own, and a few nodes that only receive (dangling when directed).
    for i in (0..nodes).step_by(97) {
        out.push_str(&format!("n{i}\tself\tn{i}\t2\n"));
        out.push_str(&format!("n{i}\tsink\tleaf{i}\t1\n"));
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The bytes of the database's one walk-index file.
fn walk_file(db: &Path) -> Vec<u8> {
    let files: Vec<PathBuf> = std::fs::read_dir(db.join("walks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one walk file in {}", db.display());
    std::fs::read(&files[0]).unwrap()
}

/// Starts one run of `args` as `processes` processes of `threads` workers each.
fn spawn(dir: &Path, args: &[&str], processes: usize, threads: usize) -> Vec<Child> {
    let hosts = hostfile(dir, processes);
    (0..processes)
        .map(|p| {
            let mut cmd = Command::new(BIN);
            cmd.args(args).args(["-w", &threads.to_string()]);
            if processes > 1 {
                cmd.args(["-n", &processes.to_string(), "-p", &p.to_string()])
                    .arg("-h")
                    .arg(&hosts);
            }
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// Waits for a process, killing it (and failing) if it hangs.
fn wait(child: Child) -> Output {
    let started = Instant::now();
    let mut child = child;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > HANG {
            child.kill().ok();
            panic!("walkdb-dist hung for {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `args` to completion on `processes` x `threads`; every process must succeed. Returns
/// process 0's stdout.
fn run(dir: &Path, args: &[&str], processes: usize, threads: usize) -> String {
    let outputs: Vec<Output> = spawn(dir, args, processes, threads)
        .into_iter()
        .map(wait)
        .collect();
    for (p, o) in outputs.iter().enumerate() {
        assert!(
            o.status.success(),
            "process {p} of {args:?} ({processes} x {threads}) failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    String::from_utf8(outputs[0].stdout.clone()).unwrap()
}

const SPLITS: [(usize, usize); 3] = [(1, 1), (1, 2), (2, 1)];

#[test]
fn build_index_is_the_same_for_any_split_and_equals_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = power_law_tsv(3000, 7);
    for (undirected, alpha) in [(true, 0.15), (false, 0.5)] {
        let name = format!("pl-{undirected}");
        let imported = import(dir.path(), &name, &tsv, undirected, alpha);
        let want = walk_file(&imported);
        for (processes, threads) in SPLITS {
            let db = dir.path().join(format!("{name}-{processes}x{threads}"));
            copy_dir(&imported, &db);
            let out = run(
                dir.path(),
                &["build-index", db.to_str().unwrap()],
                processes,
                threads,
            );
            let summary: serde_json::Value =
                serde_json::from_str(out.lines().last().unwrap_or("")).unwrap();
            assert!(summary["steps"].as_u64().unwrap() > 0, "{out}");
            if processes > 1 {
                assert!(summary["walkers_sent_remote"].as_u64().unwrap() > 0);
            }
            assert!(
                walk_file(&db) == want,
                "{processes} x {threads}, undirected {undirected}: the walk file differs from the import's"
            );
            let opened = Database::builder(&db).open().unwrap();
            opened.verify().unwrap();
        }
    }
}

#[test]
fn build_index_after_commits_equals_a_rebuild_and_repairs_continue() {
    let dir = tempfile::tempdir().unwrap();
    let imported = import(dir.path(), "pl", &power_law_tsv(1500, 3), true, 0.15);
    {
        // Changes since the import: in the WAL, not in the segment.
        let db = Database::builder(&imported).open().unwrap();
        let mut txn = db.begin_write().unwrap();
        for i in 0..200 {
            txn.add_edge(&format!("n{i}"), "later", &format!("new{}", i % 37), 1.5)
                .unwrap();
        }
        txn.delete_edge("n1", "r0", "n0").ok();
        txn.commit().unwrap();
        db.close().unwrap();
    }
    let rebuilt = dir.path().join("rebuilt");
    copy_dir(&imported, &rebuilt);
    {
        let db = Database::builder(&rebuilt).open().unwrap();
        db.rebuild_walk_index(&|_, _| {}).unwrap();
        db.close().unwrap();
    }
    let dist = dir.path().join("dist");
    copy_dir(&imported, &dist);
    run(dir.path(), &["build-index", dist.to_str().unwrap()], 2, 1);
    assert!(
        walk_file(&dist) == walk_file(&rebuilt),
        "the distributed build of the current graph differs from rebuild_walk_index"
    );
    // The installed index is the database's: later commits repair it, and it verifies.
    let db = Database::builder(&dist).open().unwrap();
    let mut txn = db.begin_write().unwrap();
    txn.add_edge("n5", "after", "n900", 3.0).unwrap();
    txn.commit().unwrap();
    db.verify().unwrap();
}

/// The pair weights of `u`'s links: a(u, v) summed over parallel links.
fn pair_weights(links: impl Iterator<Item = walkdb::graph::Link>) -> BTreeMap<NodeId, f64> {
    let mut m = BTreeMap::new();
    for l in links {
        *m.entry(l.target).or_insert(0.0) += l.weight;
    }
    m
}

/// Chi-square over every visit of every distributed walk: at a node `u`, a walk stops with
/// probability alpha, else dies if `u` has no links, else moves to `v` with probability
/// a(u, v) / W(u). Given the visits, the outcome counts are multinomial (the Markov property),
/// so the statistic is chi-square with (categories - nodes) degrees of freedom; the threshold is
/// df + 6 sqrt(2 df) (about 6 standard deviations: a correct build fails it with probability
/// below 1e-8, and the seed is fixed). A build whose stop probability is 5% off fails the stop-rate
/// test (checked by hand: z about 30).
#[test]
fn distributed_walks_follow_the_walk_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = power_law_tsv(300, 11);
    for (undirected, alpha) in [(true, 0.15), (false, 0.5)] {
        let path = dir.path().join(format!("chi-{undirected}"));
        let db = Database::builder(&path)
            .undirected(undirected)
            .alpha(alpha)
            .walks_per_node(100.0)
            .create()
            .unwrap();
        let mut loader = db.bulk_loader().unwrap();
        for r in TsvParser::new("chi", tsv.as_bytes()) {
            let r = r.unwrap();
            loader.add_edge(r.src, r.rel, r.dst, r.weight).unwrap();
        }
        loader.finish().unwrap();
        db.close().unwrap();
        run(dir.path(), &["build-index", path.to_str().unwrap()], 2, 1);
        let db = Database::builder(&path).open_read_only().unwrap();
        db.verify().unwrap();
        let snapshot = db.begin_read().unwrap();
        let keys = snapshot.node_keys().unwrap();
        let id: HashMap<&str, NodeId> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i as NodeId))
            .collect();
        // Outcome counts per node: "stop", "die" or a target.
        let mut counts: Vec<BTreeMap<i64, u64>> = vec![BTreeMap::new(); keys.len()];
        for key in &keys {
            for (path, end) in db.walks_from(key).unwrap() {
                let nodes: Vec<NodeId> = path.iter().map(|k| id[k.as_str()]).collect();
                for pair in nodes.windows(2) {
                    *counts[pair[0] as usize].entry(pair[1] as i64).or_insert(0) += 1;
                }
                let last = *nodes.last().unwrap() as usize;
                let outcome = match end {
                    walkdb::walks::WalkEnd::Stopped => -1,
                    walkdb::walks::WalkEnd::Died => -2,
                };
                *counts[last].entry(outcome).or_insert(0) += 1;
            }
        }
        let (mut chi2, mut df) = (0.0, 0i64);
        // The stop rate over all visits, a one-degree test with far more power against a
        // biased stop probability than the per-node categories: z within 6 of 0.
        let (mut all_visits, mut all_stops) = (0u64, 0u64);
        for (u, outcomes) in counts.iter().enumerate() {
            let visits: u64 = outcomes.values().sum();
            if visits == 0 {
                continue;
            }
            all_visits += visits;
            all_stops += outcomes.get(&-1).copied().unwrap_or(0);
            let pairs = pair_weights(snapshot.links(u as NodeId));
            let w: f64 = pairs.values().sum();
            let mut expected: Vec<(i64, f64)> = vec![(-1, alpha)];
            if w > 0.0 {
                expected.extend(
                    pairs
                        .iter()
                        .map(|(&v, &a)| (v as i64, (1.0 - alpha) * a / w)),
                );
            } else {
                expected.push((-2, 1.0 - alpha));
            }
            for (outcome, _) in outcomes.iter() {
                assert!(
                    expected.iter().any(|(o, _)| o == outcome),
                    "node {u}: outcome {outcome} is impossible"
                );
            }
            for (outcome, p) in &expected {
                let e = p * visits as f64;
                let o = *outcomes.get(outcome).unwrap_or(&0) as f64;
                chi2 += (o - e) * (o - e) / e;
            }
            df += expected.len() as i64 - 1;
        }
        let z = (all_stops as f64 - alpha * all_visits as f64)
            / (alpha * (1.0 - alpha) * all_visits as f64).sqrt();
        eprintln!("undirected {undirected}: {all_stops} stops in {all_visits} visits, z = {z:.2}");
        assert!(z.abs() < 6.0, "stop rate off by {z} standard deviations");
        let df = df as f64;
        let limit = df + 6.0 * (2.0 * df).sqrt();
        eprintln!("undirected {undirected}: chi-square {chi2:.0} on {df} degrees of freedom (limit {limit:.0})");
        assert!(df > 100.0, "too few categories to test: {df}");
        assert!(chi2 < limit, "chi-square {chi2} on {df} df exceeds {limit}");
    }
}

/// The ppr-all lines of a run directory, by source key.
fn ppr_all_lines(out: &Path) -> BTreeMap<String, String> {
    let mut lines = BTreeMap::new();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let parts = manifest["parts"].as_array().unwrap().len();
    for p in 0..parts {
        let text = std::fs::read_to_string(out.join(format!("part-{p}.jsonl"))).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let key = v["node"].as_str().unwrap().to_string();
            assert!(
                lines.insert(key, line.to_string()).is_none(),
                "a source answered twice"
            );
        }
    }
    lines
}

/// Tie-aware precision of `top` against exact scores.
fn precision(exact: &[f64], top: &[(NodeId, f64)], k: usize) -> f64 {
    let mut sorted = exact.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let kth = sorted[k.min(sorted.len()) - 1];
    let hits = top
        .iter()
        .filter(|&&(v, _)| exact[v as usize] >= kth - 1e-9)
        .count();
    hits as f64 / k.min(exact.len()) as f64
}

#[test]
fn ppr_all_is_the_same_for_any_split_equals_walkdb_and_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    // Real data: the committed WordNet 3.0 cut (animals and food), undirected, damping 0.5.
    let tsv = std::fs::read_to_string(data("wordnet-demo/base.tsv")).unwrap();
    let db_path = import(dir.path(), "wn", &tsv, true, 0.5);
    let mut outputs = Vec::new();
    for (processes, threads) in SPLITS {
        let out = dir.path().join(format!("out-{processes}x{threads}"));
        run(
            dir.path(),
            &[
                "ppr-all",
                db_path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--epoch-sources",
                "1500",
            ],
            processes,
            threads,
        );
        outputs.push(ppr_all_lines(&out));
    }
    assert!(
        outputs[0] == outputs[1] && outputs[1] == outputs[2],
        "splits disagree"
    );
    // The same lines `walkdb ppr-all` writes: the library call behind it, formatted as it does.
    let db = Database::builder(&db_path).open_read_only().unwrap();
    let snapshot = db.begin_read().unwrap();
    let graph = snapshot.projection();
    let keys = snapshot.node_keys().unwrap();
    let mut answers: Vec<Vec<(NodeId, f64)>> = vec![Vec::new(); keys.len()];
    walkdb::ppr::ppr_all_top_k(
        &graph,
        &AllTopK::new(0.5, 10),
        |v, top, _| answers[v as usize] = top,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(outputs[0].len(), keys.len(), "every source answered once");
    for (v, top) in answers.iter().enumerate() {
        let results: Vec<serde_json::Value> = top
            .iter()
            .map(|&(u, s)| serde_json::json!({"node": keys[u as usize], "score": s}))
            .collect();
        let want = serde_json::json!({"node": keys[v], "results": results}).to_string();
        assert_eq!(outputs[0][&keys[v]], want, "source {}", keys[v]);
    }
    // Against the exact solver, on 60 sources spread over the graph.
    let mut ws = PprWorkspace::new();
    let (mut p_sum, mut worst, mut sampled) = (0.0, 0.0f64, 0);
    for v in (0..keys.len()).step_by(keys.len() / 60) {
        let exact = exact_ppr(&graph, &[(v as NodeId, 1.0)], 0.5, EXACT_TOLERANCE, &mut ws).scores;
        p_sum += precision(&exact, &answers[v], 10);
        for &(u, s) in &answers[v] {
            worst = worst.max((exact[u as usize] - s).abs());
        }
        sampled += 1;
    }
    let p = p_sum / sampled as f64;
    eprintln!(
        "ppr-all on wordnet-demo: p@10 {p:.4}, largest error {worst:.2e} over {sampled} sources"
    );
    assert!(p >= 0.99, "precision@10 {p}");
    assert!(worst <= 1e-4 + 1e-9, "largest error {worst}");
    assert!(graph.node_count() == keys.len());
}

#[test]
fn ppr_all_resumes_after_a_stop_and_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let tsv = std::fs::read_to_string(data("wordnet-demo/base.tsv")).unwrap();
    let db_path = import(dir.path(), "wn", &tsv, true, 0.15);
    let db = db_path.to_str().unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "ppr-all",
            db,
            "--out",
            out.to_str().unwrap(),
            "--epoch-sources",
            "300",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let uninterrupted = dir.path().join("whole");
    let a = args(&uninterrupted);
    run(
        dir.path(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        2,
        1,
    );
    let want = ppr_all_lines(&uninterrupted);
    let part_bytes = |out: &Path| -> Vec<Vec<u8>> {
        (0..2)
            .map(|p| std::fs::read(out.join(format!("part-{p}.jsonl"))).unwrap())
            .collect()
    };

    // Stopped after two epochs, then resumed: the same bytes in every part.
    let stopped = dir.path().join("stopped");
    let mut a = args(&stopped);
    a.extend(["--max-epochs".into(), "2".into()]);
    run(
        dir.path(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        2,
        1,
    );
    let mut a = args(&stopped);
    a.push("--resume".into());
    run(
        dir.path(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        2,
        1,
    );
    assert!(
        part_bytes(&stopped) == part_bytes(&uninterrupted),
        "resumed parts differ"
    );

    // Process 1 killed mid-run: process 0 exits with an error (no hang), and a rerun with
    // --resume completes to the same answers.
    let killed = dir.path().join("killed");
    let a = args(&killed);
    let mut children = spawn(
        dir.path(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        2,
        1,
    );
    let manifest = killed.join("manifest.json");
    let started = Instant::now();
    loop {
        let done = std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|m| m["epochs_done"].as_u64())
            .unwrap_or(0);
        if done >= 1 {
            break;
        }
        assert!(started.elapsed() < HANG, "no epoch completed");
        std::thread::sleep(Duration::from_millis(5));
    }
    children[1].kill().unwrap();
    let survivor = wait(children.remove(0));
    let _ = wait(children.remove(0));
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let epochs_done = recorded["epochs_done"].as_u64().unwrap();
    let epochs = (want.len() as u64).div_ceil(300);
    assert!(
        epochs_done < epochs,
        "the run finished ({epochs_done} of {epochs} epochs) before the kill: no interruption tested"
    );
    assert!(
        !survivor.status.success(),
        "process 0 succeeded although process 1 was killed"
    );
    let stderr = String::from_utf8_lossy(&survivor.stderr);
    assert!(
        survivor.status.code() == Some(4) && stderr.contains("another process of this run failed"),
        "process 0: {:?} {stderr}",
        survivor.status
    );
    let mut a = args(&killed);
    a.push("--resume".into());
    run(
        dir.path(),
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        2,
        1,
    );
    assert!(
        ppr_all_lines(&killed) == want,
        "the resumed run's answers differ"
    );
}

/// Process 0 cannot open the database for writing (this test holds the writer lock) while
/// process 1 can read it: process 0 fails after connecting, with its own error, and process 1
/// exits with code 4 instead of waiting for it.
#[test]
fn a_process_that_fails_to_start_stops_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = import(dir.path(), "locked", &power_law_tsv(500, 5), true, 0.5);
    let holder = Database::builder(&db_path).open().unwrap();
    let children = spawn(
        dir.path(),
        &["build-index", db_path.to_str().unwrap()],
        2,
        1,
    );
    let outputs: Vec<Output> = children.into_iter().map(wait).collect();
    let (p0, p1) = (&outputs[0], &outputs[1]);
    assert!(!p0.status.success(), "process 0 opened a locked database");
    assert_ne!(
        p0.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&p0.stderr)
    );
    assert_eq!(
        p1.status.code(),
        Some(4),
        "process 1: {}",
        String::from_utf8_lossy(&p1.stderr)
    );
    drop(holder);
}

#[test]
fn bad_usage_exits_1_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let db = import(dir.path(), "small", "a\tr\tb\t1\nb\tr\tc\t2\n", true, 0.5);
    let db = db.to_str().unwrap();
    let out_dir = dir.path().join("o");
    let out = out_dir.to_str().unwrap();
    for (args, says) in [
        (vec!["ppr-all", db], "needs --out"),
        (vec!["rank", db], "unknown job"),
        (vec!["build-index"], "expected a job and a database"),
        (vec!["ppr-all", db, "--out", out, "--top", "0"], "--top"),
        (
            vec!["ppr-all", db, "--out", out, "--resume"],
            "no interrupted run",
        ),
        (vec!["build-index", db, "-n", "2", "-p", "5"], "-p 5"),
        (
            vec!["ppr-all", db, "--out", out, "--max-error", "x"],
            "not a valid number",
        ),
    ] {
        let o = Command::new(BIN).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let o = Command::new(BIN)
        .args(["build-index", dir.path().join("none").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
