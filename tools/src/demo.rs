//! `walkdb demo`: the newcomer's tour on real data committed in the repository.
//!
//! The data is a WordNet 3.0 subset (animals and food, `data/wordnet-demo/`), compiled into
//! the binary so the demo runs from any directory without network or set-up. The tour builds
//! a database, ranks a few queries, streams in new facts (the dog breeds held out of the base
//! graph) as durable transactions that repair the walk index, ranks again, compares the
//! repair cost with a full index rebuild, verifies every file and says how to look inside.
//!
//! The demo checks its own results: a ranking that is empty, or an incremental step that does
//! not bring the new facts into the ranking they should change, ends it with an error.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Value};
use walkdb::ppr::{Method, PprWorkspace};
use walkdb::tsv::TsvParser;
use walkdb::walks::{WalkIndex, WalkIndexParams};
use walkdb::{Database, Durability, PprAnswer, PprRequest};

use crate::output::print_json;
use crate::{CliError, CliResult};

/// The base graph: 31,081 WordNet edges (animals and food, minus the dog breeds).
const BASE: &str = include_str!("../../data/wordnet-demo/base.tsv");
/// The facts streamed in later: 940 edges touching a dog breed.
const NEW_FACTS: &str = include_str!("../../data/wordnet-demo/new-facts.tsv");
/// Restart probability of the demo database: HippoRAG's damping 0.5.
const DEMO_ALPHA: f64 = 0.5;
/// Edges per durable transaction while streaming the new facts.
const BATCH: usize = 100;

/// `walkdb demo`.
#[derive(clap::Args, Debug)]
pub(crate) struct DemoArgs {
    /// Build the database in this directory (must not hold a database yet) instead of a new
    /// temporary directory; either way it is kept for `walkdb dump` afterwards.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON document with every figure instead of the tour.
    #[arg(long)]
    json: bool,
}

/// Prints the tour unless JSON was asked for.
struct Narrator {
    quiet: bool,
}

impl Narrator {
    fn say(&self, text: impl AsRef<str>) {
        if !self.quiet {
            outln!("{}", text.as_ref());
        }
    }

    fn ranking(&self, title: &str, answer: &PprAnswer, highlight: &HashSet<String>) {
        if self.quiet {
            return;
        }
        outln!(
            "  {title}  [{} in {:.2} ms]",
            answer.method.name(),
            answer.micros as f64 / 1000.0
        );
        for (rank, (key, score)) in answer.results.iter().enumerate() {
            let mark = if highlight.contains(key) {
                "  <- new"
            } else {
                ""
            };
            outln!("    {:>2}. {score:.5}  {key}{mark}", rank + 1);
        }
    }
}

pub(crate) fn demo(args: &DemoArgs) -> CliResult {
    let said = Narrator { quiet: args.json };
    let path = match &args.dir {
        Some(dir) => dir.clone(),
        None => tempfile::Builder::new()
            .prefix("walkdb-demo-")
            .tempdir()
            .map_err(|e| CliError {
                code: 3,
                message: format!("creating a temporary directory: {e}"),
            })?
            .keep()
            .join("wordnet"),
    };

    said.say("walkdb demo: a WordNet 3.0 subset (animals and food; Princeton WordNet licence,");
    said.say("data/wordnet-demo/LICENSE), ranked with Personalized PageRank.\n");

    // 1. Bulk import.
    let database = Database::builder(&path)
        .undirected(true)
        .alpha(DEMO_ALPHA)
        .durability(Durability::Immediate)
        .create()?;
    let started = Instant::now();
    let mut loader = database.bulk_loader()?;
    for record in TsvParser::new("data/wordnet-demo/base.tsv", BASE.as_bytes()) {
        let record = record.map_err(walkdb::Error::from)?;
        loader.add_edge(record.src, record.rel, record.dst, record.weight)?;
    }
    let import = loader.finish()?;
    let import_seconds = started.elapsed().as_secs_f64();
    let walks = database.walk_stats()?;
    said.say(format!(
        "1. Imported {} nodes and {} edges (undirected, alpha {DEMO_ALPHA}) in {:.0} ms, \
         of which {:.0} ms built the walk index: {} stored random walks, {} steps.\n",
        import.nodes,
        import.edges,
        import_seconds * 1e3,
        import.index_seconds * 1e3,
        walks.walks,
        walks.steps
    ));

    // 2. A few queries.
    let new_nodes = new_fact_nodes()?;
    let none = HashSet::new();
    let mut workspace = PprWorkspace::new();
    let dog = PprRequest::new(vec![("w:dog".into(), 1.0)]);
    let mut cheese_and_milk =
        PprRequest::new(vec![("w:cheese".into(), 2.0), ("w:milk".into(), 1.0)]);
    cheese_and_milk.node_prefix = Some("w:".into());
    let mut taxonomy_only = PprRequest::new(vec![("w:cat".into(), 1.0)]);
    taxonomy_only.rel_weights = [
        "derivationally_related_form",
        "member_meronym",
        "member_holonym",
    ]
    .iter()
    .map(|r| (r.to_string(), 0.0))
    .collect();
    taxonomy_only.node_prefix = Some("w:".into());

    said.say("2. Queries (score = chance that a walk restarting at the seeds stands there):");
    let snapshot = database.begin_read()?;
    let dog_before = snapshot.ppr(&dog, &mut workspace)?;
    said.ranking("seed w:dog", &dog_before, &none);
    let cheese = snapshot.ppr(&cheese_and_milk, &mut workspace)?;
    said.ranking(
        "seeds w:cheese (weight 2) and w:milk (weight 1), words only",
        &cheese,
        &none,
    );
    let cat = snapshot.ppr(&taxonomy_only, &mut workspace)?;
    said.ranking(
        "seed w:cat, words only, three relations switched off for this query",
        &cat,
        &none,
    );
    drop(snapshot);
    for (what, answer) in [
        ("w:dog", &dog_before),
        ("w:cheese+w:milk", &cheese),
        ("w:cat", &cat),
    ] {
        if answer.results.is_empty() {
            return Err(demo_failed(format!("the ranking for {what} is empty")));
        }
    }

    // 3. New facts, streamed as durable transactions that repair the walk index.
    let started = Instant::now();
    let mut lines = 0usize;
    let mut commits = 0usize;
    let mut txn = database.begin_write()?;
    for record in TsvParser::new("data/wordnet-demo/new-facts.tsv", NEW_FACTS.as_bytes()) {
        let record = record.map_err(walkdb::Error::from)?;
        txn.add_edge(record.src, record.rel, record.dst, record.weight)?;
        lines += 1;
        if lines.is_multiple_of(BATCH) {
            txn.commit()?;
            commits += 1;
            txn = database.begin_write()?;
        }
    }
    if txn.op_count() > 0 {
        txn.commit()?;
        commits += 1;
    } else {
        drop(txn);
    }
    let stream_seconds = started.elapsed().as_secs_f64();
    let per_edge = stream_seconds / lines.max(1) as f64;

    // What a rebuild of the whole walk index on the grown graph would cost instead.
    let snapshot = database.begin_read()?;
    let graph = snapshot.projection();
    let params = WalkIndexParams {
        alpha: database.options().alpha,
        walks_per_node: database.options().walks_per_node,
        seed: 1,
    };
    let started = Instant::now();
    let rebuilt = WalkIndex::build(&*graph, params).map_err(|e| CliError {
        code: 1,
        message: format!("rebuilding the walk index for comparison: {e}"),
    })?;
    let rebuild_seconds = started.elapsed().as_secs_f64();
    drop(rebuilt);
    said.say(format!(
        "3. Streamed {lines} new facts (the dog breeds) in {commits} durable transactions of {BATCH}: \
         {:.1} ms in all, {:.0} us per edge including fsync and walk repair.\n   \
         Rebuilding the whole walk index instead takes {:.0} ms: one repaired edge costs \
         {:.4}% of a rebuild ({:.0}x cheaper).\n",
        stream_seconds * 1e3,
        per_edge * 1e6,
        rebuild_seconds * 1e3,
        100.0 * per_edge / rebuild_seconds,
        rebuild_seconds / per_edge
    ));

    // 4. The same query on the grown graph.
    let dog_after = snapshot.ppr(&dog, &mut workspace)?;
    said.say("4. The first query again, on the grown graph:");
    said.ranking("seed w:dog", &dog_after, &new_nodes);
    let entered: Vec<&String> = dog_after
        .results
        .iter()
        .map(|(k, _)| k)
        .filter(|k| new_nodes.contains(*k))
        .collect();
    if entered.is_empty() {
        return Err(demo_failed(
            "the dog breeds were added but none entered the ranking for w:dog".into(),
        ));
    }
    let exact_dog = {
        let mut request = dog.clone();
        request.method = Method::Exact;
        snapshot.ppr(&request, &mut workspace)?
    };
    let max_error = dog_after
        .results
        .iter()
        .zip(&exact_dog.results)
        .map(|((_, a), (_, b))| (a - b).abs())
        .fold(0.0f64, f64::max);
    drop(snapshot);

    // 5. Verify and point at the inspection tool.
    let started = Instant::now();
    let report = database.verify()?;
    let verify_seconds = started.elapsed().as_secs_f64();
    let stats = database.stats()?;
    drop(database);
    let shown = path.display().to_string();
    said.say(format!(
        "   {} of the top {} are new facts. The exact solver ({:.2} ms) agrees within {max_error:.1e} \
         per rank.\n",
        entered.len(),
        dog_after.results.len(),
        exact_dog.micros as f64 / 1000.0
    ));
    said.say(format!(
        "5. verify: every checksum, every edge and every stored walk step checked in {:.0} ms: {}.",
        verify_seconds * 1e3,
        summary(&report)
    ));
    said.say(format!(
        "\nThe database is kept at {shown}. Look inside it with:"
    ));
    said.say(format!("  walkdb stats {shown}"));
    said.say(format!("  walkdb dump {shown} --header --wal"));
    said.say(format!("  walkdb dump {shown} --node w:dog --walks w:dog"));
    said.say(format!(
        "  walkdb ppr {shown} --seed w:poodle --seed w:cat=0.5 --top 5 --method index"
    ));

    if args.json {
        print_json(&json!({
            "path": shown,
            "nodes": stats.nodes,
            "edges": stats.edges,
            "walks": walks.walks,
            "import_seconds": import_seconds,
            "index_build_seconds": import.index_seconds,
            "queries": {
                "dog_before": answer_json(&dog_before),
                "cheese_and_milk": answer_json(&cheese),
                "cat_taxonomy": answer_json(&cat),
                "dog_after": answer_json(&dog_after),
            },
            "new_facts": lines,
            "commits": commits,
            "stream_seconds": stream_seconds,
            "per_edge_seconds": per_edge,
            "rebuild_seconds": rebuild_seconds,
            "repair_vs_rebuild": rebuild_seconds / per_edge,
            "new_in_top": entered,
            "verify_seconds": verify_seconds,
            "max_error_vs_exact": max_error,
        }))?;
    }
    Ok(())
}

/// The nodes only the new facts bring: keys of the new-facts file absent from the base.
fn new_fact_nodes() -> CliResult<HashSet<String>> {
    let mut base = HashSet::new();
    for record in TsvParser::new("base.tsv", BASE.as_bytes()) {
        let record = record.map_err(walkdb::Error::from)?;
        base.insert(record.src);
        base.insert(record.dst);
    }
    let mut fresh = HashSet::new();
    for record in TsvParser::new("new-facts.tsv", NEW_FACTS.as_bytes()) {
        let record = record.map_err(walkdb::Error::from)?;
        for key in [record.src, record.dst] {
            if !base.contains(key) {
                fresh.insert(key.to_string());
            }
        }
    }
    Ok(fresh)
}

fn answer_json(answer: &PprAnswer) -> Value {
    json!({
        "method": answer.method.name(),
        "micros": answer.micros,
        "results": answer.results.iter().map(|(k, s)| json!({"node": k, "score": s})).collect::<Vec<_>>(),
    })
}

fn summary(report: &walkdb::VerifyReport) -> String {
    format!(
        "ok, {} nodes, {} edges, {} walks, {} WAL transactions in {} files",
        report.nodes,
        report.edges,
        report.walks,
        report.wal_transactions,
        report.files.len()
    )
}

fn demo_failed(message: String) -> CliError {
    CliError {
        code: 1,
        message: format!("demo self-check failed: {message}"),
    }
}
