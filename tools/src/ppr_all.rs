//! `walkdb ppr-all`: every node's top-k under the accuracy contract, streamed as JSON lines,
//! resumable after an interruption.
//!
//! With `--out FILE`, after every completed chunk of sources the output is flushed and
//! `FILE.progress` is replaced (written beside, then renamed) by a record of the run's
//! parameters, the database version, the sources done and the output's length at that point.
//! `--resume` checks the record against the new run, cuts the output back to that length (a
//! killed run may have written part of the next chunk) and continues with the next source.
//! Every source's answer is deterministic and independent of the others, so the completed
//! output plus the resumed run equals an uninterrupted run byte for byte. The record is
//! removed when the run completes.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Value};
use walkdb::ppr::{AllTopK, TopKGuarantee, ALL_TOP_K_CHUNK};

use crate::commands::open_read_only;
use crate::output::{out_err, progress};
use crate::ppr_cmd::{accuracy, check_top, finite_or_null, thread_pool, AccuracyArgs};
use crate::{CliError, CliResult};

#[derive(clap::Args, Debug)]
pub(crate) struct PprAllArgs {
    db: PathBuf,
    /// Results per node.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Restart probability (default: the database's).
    #[arg(long)]
    alpha: Option<f64>,
    /// Output file of JSON lines (default stdout); a resumable run records its progress in
    /// FILE.progress.
    #[arg(long)]
    out: Option<String>,
    /// Continue an interrupted run into --out from its FILE.progress record.
    #[arg(long)]
    resume: bool,
    /// Sources per chunk: the unit of progress records and of resuming.
    #[arg(long, default_value_t = ALL_TOP_K_CHUNK)]
    chunk: usize,
    /// Threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    accuracy: AccuracyArgs,
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> CliError {
    move |e| CliError {
        code: 3,
        message: format!("{what}: {e}"),
    }
}

/// Where a run into `out` records its progress.
fn record_path(out: &str) -> String {
    format!("{out}.progress")
}

/// Reads the progress record of `out` and checks it was written for `params`; returns the
/// sources done and the output length then.
fn read_record(out: &str, params: &Value) -> CliResult<(usize, u64)> {
    let path = record_path(out);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::usage(format!(
            "--resume: cannot read {path} ({e}): there is no interrupted run to continue"
        ))
    })?;
    let record: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("--resume: {path} is not a progress record: {e}")))?;
    if let Some(fields) = params.as_object() {
        for (name, now) in fields {
            let then = &record["params"][name];
            if then != now {
                return Err(CliError::usage(format!(
                    "--resume: {path} was written for {name} = {then}, this run has {now}"
                )));
            }
        }
    }
    let done = record["sources_done"].as_u64();
    let bytes = record["bytes"].as_u64();
    match (done, bytes) {
        (Some(done), Some(bytes)) => Ok((done as usize, bytes)),
        _ => Err(CliError::usage(format!(
            "--resume: {path} lacks sources_done or bytes"
        ))),
    }
}

/// Replaces the progress record of `out` (written beside it, then renamed over it).
fn write_record(out: &str, params: &Value, done: usize, bytes: u64) -> CliResult {
    let path = record_path(out);
    let tmp = format!("{path}.tmp");
    let record = json!({"params": params, "sources_done": done, "bytes": bytes});
    std::fs::write(&tmp, record.to_string()).map_err(io_error(format!("writing {tmp}")))?;
    std::fs::rename(&tmp, &path).map_err(io_error(format!("renaming {tmp} to {path}")))
}

/// The output file and where the run starts: fresh, or cut back to the recorded length.
fn open_output(path: &str, resume: bool, params: &Value) -> CliResult<(File, usize, u64)> {
    if !resume {
        let file = File::create(path).map_err(io_error(format!("creating {path}")))?;
        let _ = std::fs::remove_file(record_path(path));
        return Ok((file, 0, 0));
    }
    let (done, bytes) = read_record(path, params)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error(format!("opening {path}")))?;
    let len = file
        .metadata()
        .map_err(io_error(format!("reading {path}")))?
        .len();
    if len < bytes {
        return Err(CliError::usage(format!(
            "--resume: {path} has {len} bytes, fewer than the {bytes} its progress record says were complete"
        )));
    }
    file.set_len(bytes)
        .map_err(io_error(format!("truncating {path}")))?;
    file.seek(SeekFrom::End(0))
        .map_err(io_error(format!("seeking in {path}")))?;
    Ok((file, done, bytes))
}

/// The output as the run writes it: the writer, its length so far, the first write error.
struct Output {
    writer: BufWriter<Box<dyn Write + Send>>,
    bytes: u64,
    error: Option<CliError>,
}

/// Locks the output; the sink and the progress callback run on the calling thread one after
/// the other, so the lock is never contended. A poisoned lock (a panic while writing) is taken
/// as is: the run is ending anyway.
fn lock(output: &Mutex<Output>) -> MutexGuard<'_, Output> {
    output
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn ppr_all(args: &PprAllArgs) -> CliResult {
    check_top(args.top)?;
    if args.chunk == 0 {
        return Err(CliError::usage("--chunk must be at least 1"));
    }
    if args.resume && args.out.is_none() {
        return Err(CliError::usage("--resume needs --out FILE"));
    }
    let database = open_read_only(&args.db)?;
    let snapshot = database.begin_read()?;
    let graph = snapshot.projection();
    let keys = snapshot.node_keys()?;
    let alpha = args.alpha.unwrap_or(database.options().alpha);
    let accuracy = accuracy(&args.accuracy)?;
    // What must match for a resumed run to continue this one.
    let params = json!({
        "lsn": snapshot.lsn(), "nodes": keys.len(), "alpha": alpha, "top": args.top,
        "max_error": finite_or_null(accuracy.max_error), "certify_top": accuracy.certify_top_k,
        "tie_tolerance": accuracy.tie_tolerance,
    });
    let (sink, first, bytes): (Box<dyn Write + Send>, usize, u64) = match &args.out {
        Some(path) => {
            let (file, first, bytes) = open_output(path, args.resume, &params)?;
            (Box::new(file), first, bytes)
        }
        None => (Box::new(std::io::stdout()), 0, 0),
    };
    let output = Mutex::new(Output {
        writer: BufWriter::with_capacity(1 << 20, sink),
        bytes,
        error: None,
    });
    let bar = progress(keys.len() as u64, "ppr-all");
    bar.set_position(first as u64);
    let pool = thread_pool(args.threads)?;
    let mut job = AllTopK::new(alpha, args.top);
    job.accuracy = accuracy;
    job.first_source = first;
    job.chunk = args.chunk;
    // The weakest guarantee over the sources of this run, said at the end.
    let mut worst_error: f64 = 0.0;
    let mut uncertified_sets = 0usize;
    pool.install(|| {
        walkdb::ppr::ppr_all_top_k(
            &graph,
            &job,
            |node, top, guarantee| {
                worst_error = worst_error.max(guarantee.max_error);
                uncertified_sets += usize::from(guarantee.top_k == TopKGuarantee::None);
                let out = &mut *lock(&output);
                if out.error.is_some() {
                    return;
                }
                let results: Vec<Value> = top
                    .iter()
                    .map(|&(v, s)| json!({"node": keys[v as usize], "score": s}))
                    .collect();
                let line = json!({"node": keys[node as usize], "results": results}).to_string();
                match writeln!(out.writer, "{line}") {
                    Ok(()) => out.bytes += line.len() as u64 + 1,
                    Err(e) => out.error = Some(out_err(e)),
                }
            },
            |done, _| {
                bar.set_position(done as u64);
                let out = &mut *lock(&output);
                if let (Some(path), None) = (&args.out, &out.error) {
                    let recorded = out
                        .writer
                        .flush()
                        .map_err(io_error(format!("writing {path}")))
                        .and_then(|()| write_record(path, &params, done, out.bytes));
                    if let Err(e) = recorded {
                        out.error = Some(e);
                    }
                }
            },
        )
    })
    .map_err(|e| CliError::usage(e.to_string()))?;
    bar.finish_and_clear();
    let Output {
        mut writer, error, ..
    } = output
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(e) = error {
        return Err(e);
    }
    writer.flush().map_err(out_err)?;
    if let Some(path) = &args.out {
        let _ = std::fs::remove_file(record_path(path));
    }
    let answered = keys.len() - first.min(keys.len());
    eprintln!(
        "ppr-all: {answered} sources{}; every returned score within {worst_error:.1e} of exact; top-{} sets certified for {} of them (certified push, no failure probability)",
        if first > 0 { format!(" (resumed at source {first})") } else { String::new() },
        args.top,
        answered - uncertified_sets
    );
    Ok(())
}
