//! `walkdb ppr` and `walkdb ppr-all`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde_json::{json, Value};
use walkdb::ppr::{Accuracy, Guarantee, Method, PprWorkspace, TopKGuarantee};
use walkdb::{PprRequest, Snapshot};

use crate::commands::{open_read_only, read_input};
use crate::output::{out_err, print_json};
use crate::{CliError, CliResult};

#[derive(clap::Args, Debug)]
pub(crate) struct PprArgs {
    db: PathBuf,
    /// A seed node, KEY or KEY=WEIGHT (repeatable; weights default to 1, normalised to sum 1).
    #[arg(long = "seed")]
    seeds: Vec<String>,
    /// Number of results.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Restart probability (default: the database's).
    #[arg(long)]
    alpha: Option<f64>,
    /// auto, exact, push, index or walks.
    #[arg(long, default_value = "auto")]
    method: String,
    /// REL=W multiplies the weight of every edge of relation REL for this query (repeatable).
    #[arg(long = "rel-weight")]
    rel_weights: Vec<String>,
    /// Rank only nodes whose key starts with P.
    #[arg(long = "node-prefix")]
    node_prefix: Option<String>,
    #[command(flatten)]
    accuracy: AccuracyArgs,
    /// Batch mode: one JSON query per line from FILE (or -).
    #[arg(long)]
    queries: Option<String>,
    /// Threads for batch mode (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long)]
    json: bool,
}

/// The accuracy-target flags shared by `ppr` and `ppr-all`.
#[derive(clap::Args, Debug)]
pub(crate) struct AccuracyArgs {
    /// Accuracy target: largest error allowed on a returned score (default 1e-4).
    #[arg(long = "max-error")]
    max_error: Option<f64>,
    /// Certify only the top-k set, not the scores (same as --max-error inf).
    #[arg(long = "set-only")]
    set_only: bool,
    /// Do not certify the top-k set (only the score error).
    #[arg(long = "no-certify-top")]
    no_certify_top: bool,
    /// Nodes at the top-k boundary known to within this much count as tied (default 1e-6).
    #[arg(long = "tie-tolerance")]
    tie_tolerance: Option<f64>,
    /// The probability a randomized method (`--method index`) may miss the target with
    /// (default 1e-3).
    #[arg(long = "failure-probability")]
    failure_probability: Option<f64>,
}

pub(crate) fn parse_method(name: &str) -> CliResult<Method> {
    match name {
        "auto" => Ok(Method::Auto),
        "exact" => Ok(Method::Exact),
        "push" => Ok(Method::Push),
        "walks" => Ok(Method::Walks),
        "index" => Ok(Method::Index),
        other => Err(CliError::usage(format!(
            "unknown method '{other}': use auto, exact, push, index or walks"
        ))),
    }
}

/// Splits `KEY=WEIGHT`; a key that itself holds '=' works when the part after the last '=' is
/// not a number (or when a weight is given explicitly).
fn split_weight(text: &str, what: &str, required: bool) -> CliResult<(String, f64)> {
    if let Some((key, weight)) = text.rsplit_once('=') {
        if let Ok(w) = weight.trim().parse::<f64>() {
            return Ok((key.to_string(), w));
        }
        if required {
            return Err(CliError::usage(format!(
                "{what} '{text}': '{weight}' is not a number"
            )));
        }
    } else if required {
        return Err(CliError::usage(format!(
            "{what} '{text}' must be NAME=WEIGHT"
        )));
    }
    Ok((text.to_string(), 1.0))
}

/// The accuracy target of the command line flags.
pub(crate) fn accuracy(args: &AccuracyArgs) -> CliResult<Accuracy> {
    let mut acc = Accuracy::default();
    if let Some(e) = args.max_error {
        acc.max_error = e;
    }
    if args.set_only {
        acc.max_error = f64::INFINITY;
    }
    if args.no_certify_top {
        acc.certify_top_k = false;
    }
    if let Some(t) = args.tie_tolerance {
        acc.tie_tolerance = t;
    }
    if let Some(p) = args.failure_probability {
        acc.failure_probability = p;
    }
    acc.validate()
        .map_err(|e| CliError::usage(format!("accuracy flags: {e}")))?;
    Ok(acc)
}

/// A finite number, or JSON null for an infinite one.
pub(crate) fn finite_or_null(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// The `guarantee` object of the JSON output.
fn guarantee_json(g: &Guarantee) -> Value {
    let (top_k, ties) = match g.top_k {
        TopKGuarantee::Exact => ("exact", Value::Null),
        TopKGuarantee::UpToTies(t) => ("exact up to ties", json!(t)),
        // `None`, and any kind a later walkdb adds: claim nothing.
        _ => ("not certified", Value::Null),
    };
    json!({"max_error": finite_or_null(g.max_error), "top_k": top_k, "tie_tolerance": ties, "failure_probability": g.failure_probability})
}

/// One line saying what an answer guarantees, for the text output.
fn guarantee_text(g: &Guarantee) -> String {
    let error = if g.max_error.is_finite() {
        format!("every score within {:.1e}", g.max_error)
    } else {
        "scores not bounded".to_string()
    };
    let set = match g.top_k {
        TopKGuarantee::Exact => "exact top-k set".to_string(),
        TopKGuarantee::UpToTies(t) => format!("exact top-k set up to ties within {t:.0e}"),
        _ => "top-k set not certified".to_string(),
    };
    let chance = if g.failure_probability == 0.0 {
        "certified".to_string()
    } else if g.failure_probability >= 1.0 {
        "no guarantee".to_string()
    } else {
        format!("with probability {:.6}", 1.0 - g.failure_probability)
    };
    format!("{error}, {set} ({chance})")
}

fn answer_json(answer: &walkdb::PprAnswer) -> Value {
    let results: Vec<Value> = answer
        .results
        .iter()
        .map(|(k, s)| json!({"node": k, "score": s}))
        .collect();
    let bound = if answer.error_bound.is_finite() {
        json!(answer.error_bound)
    } else {
        Value::Null
    };
    json!({"method": answer.method.name(), "alpha": answer.alpha, "results": results, "error_bound": bound, "guarantee": guarantee_json(&answer.guarantee), "micros": answer.micros})
}

/// A thread pool of `threads` workers (all cores when `None`).
pub(crate) fn thread_pool(threads: Option<usize>) -> CliResult<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| CliError {
            code: 3,
            message: format!("starting threads: {e}"),
        })
}

/// `--top` must ask for at least one result.
pub(crate) fn check_top(top: usize) -> CliResult {
    if top == 0 {
        return Err(CliError::usage("--top must be at least 1"));
    }
    Ok(())
}

pub(crate) fn ppr(args: &PprArgs) -> CliResult {
    check_top(args.top)?;
    let database = open_read_only(&args.db)?;
    let snapshot = database.begin_read()?;
    if let Some(file) = &args.queries {
        return batch(&snapshot, file, args);
    }
    if args.seeds.is_empty() {
        return Err(CliError::usage(
            "give at least one --seed KEY[=WEIGHT] (or --queries FILE)",
        ));
    }
    let mut request = PprRequest::new(
        args.seeds
            .iter()
            .map(|s| split_weight(s, "seed", false))
            .collect::<CliResult<_>>()?,
    );
    request.alpha = args.alpha;
    request.top_k = args.top;
    request.method = parse_method(&args.method)?;
    request.rel_weights = args
        .rel_weights
        .iter()
        .map(|s| split_weight(s, "--rel-weight", true))
        .collect::<CliResult<_>>()?;
    request.node_prefix = args.node_prefix.clone();
    request.accuracy = accuracy(&args.accuracy)?;
    let answer = snapshot.ppr(&request, &mut PprWorkspace::new())?;
    if args.json {
        return print_json(&answer_json(&answer));
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# method {} alpha {} in {} us: {}",
        answer.method.name(),
        answer.alpha,
        answer.micros,
        guarantee_text(&answer.guarantee)
    )
    .map_err(out_err)?;
    for (rank, (key, score)) in answer.results.iter().enumerate() {
        writeln!(out, "{:>3}  {score:.6e}  {key}", rank + 1).map_err(out_err)?;
    }
    Ok(())
}

/// Parses one batch query line into a request.
fn parse_query(line: &str, method: Method, accuracy: Accuracy) -> Result<PprRequest, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let seeds = value
        .get("seeds")
        .and_then(Value::as_object)
        .ok_or("\"seeds\" must be an object of KEY: WEIGHT")?;
    let mut request = PprRequest::new(Vec::new());
    for (key, w) in seeds {
        let w = w
            .as_f64()
            .ok_or_else(|| format!("seed '{key}' weight is not a number"))?;
        request.seeds.push((key.clone(), w));
    }
    request.method = method;
    request.accuracy = accuracy;
    if let Some(e) = value.get("max_error") {
        request.accuracy.max_error = match e {
            Value::Null => f64::INFINITY,
            e => e.as_f64().ok_or("\"max_error\" must be a number or null")?,
        };
    }
    if let Some(c) = value.get("certify_top") {
        request.accuracy.certify_top_k =
            c.as_bool().ok_or("\"certify_top\" must be true or false")?;
    }
    if let Some(t) = value.get("tie_tolerance") {
        request.accuracy.tie_tolerance = t.as_f64().ok_or("\"tie_tolerance\" must be a number")?;
    }
    if let Some(p) = value.get("failure_probability") {
        request.accuracy.failure_probability = p
            .as_f64()
            .ok_or("\"failure_probability\" must be a number")?;
    }
    request.accuracy.validate().map_err(|e| e.to_string())?;
    if let Some(top) = value.get("top") {
        request.top_k = top
            .as_u64()
            .filter(|&t| t >= 1)
            .ok_or("\"top\" must be a whole number >= 1")? as usize;
    }
    if let Some(alpha) = value.get("alpha") {
        request.alpha = Some(alpha.as_f64().ok_or("\"alpha\" must be a number")?);
    }
    if let Some(rel) = value.get("rel_weights") {
        for (name, w) in rel.as_object().ok_or("\"rel_weights\" must be an object")? {
            request.rel_weights.push((
                name.clone(),
                w.as_f64()
                    .ok_or_else(|| format!("relation '{name}' weight is not a number"))?,
            ));
        }
    }
    if let Some(prefix) = value.get("node_prefix") {
        request.node_prefix = Some(
            prefix
                .as_str()
                .ok_or("\"node_prefix\" must be a string")?
                .to_string(),
        );
    }
    Ok(request)
}

fn batch(snapshot: &Snapshot, file: &str, args: &PprArgs) -> CliResult {
    let method = parse_method(&args.method)?;
    let accuracy = accuracy(&args.accuracy)?;
    let bytes = read_input(file)?;
    let lines: Vec<&str> = bytes.lines_utf8();
    let pool = thread_pool(args.threads)?;
    // Warm the shared projection (and the walk index when it may serve) once, outside the
    // timed queries.
    let _ = snapshot.projection();
    if method == Method::Index {
        snapshot.load_walk_index()?;
    }
    let parsed: Vec<_> = lines
        .iter()
        .map(|line| parse_query(line, method, accuracy))
        .collect();
    let requests: Vec<_> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    // Answered together: certified-push queries share their sweeps (same answers as alone).
    let mut answers = pool.install(|| snapshot.ppr_batch(&requests)).into_iter();
    let outputs: Vec<(bool, Value)> = parsed
        .into_iter()
        .map(|p| match p {
            Err(e) => (false, json!({"error": e})),
            Ok(_) => match answers.next() {
                Some(Ok(answer)) => {
                    let mut v = answer_json(&answer);
                    if let Some(map) = v.as_object_mut() {
                        map.remove("alpha");
                    }
                    (true, v)
                }
                Some(Err(e)) => (false, json!({"error": e.to_string()})),
                // One answer per parsed request, in order.
                None => (false, json!({"error": "no answer"})),
            },
        })
        .collect();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut failed = 0;
    for (ok, value) in &outputs {
        failed += usize::from(!ok);
        writeln!(out, "{value}").map_err(out_err)?;
    }
    out.flush().map_err(out_err)?;
    if failed > 0 {
        return Err(CliError::usage(format!(
            "{failed} of {} queries failed",
            outputs.len()
        )));
    }
    Ok(())
}

trait LinesUtf8 {
    fn lines_utf8(&self) -> Vec<&str>;
}

impl LinesUtf8 for Vec<u8> {
    /// Non-empty lines; invalid UTF-8 lines become a line that fails to parse as JSON.
    fn lines_utf8(&self) -> Vec<&str> {
        self.split(|&b| b == b'\n')
            .map(|l| std::str::from_utf8(l).unwrap_or("\u{0}invalid UTF-8"))
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}
