//! `ppr-all`: every node's top-k, in epochs of sources, written as per-process files plus a
//! manifest, resumable from the last completed epoch.
//!
//! Epoch `e` holds sources `e * B .. (e + 1) * B` (B = `--epoch-sources`); its sources are split
//! into one contiguous share per worker. A worker answers its share with the library call behind
//! `walkdb ppr-all` ([`walkdb::ppr::ppr_all_top_k`], the certified push at the same accuracy
//! target, deterministic per source), so every answer is byte-identical to that command's line
//! for the source. Answers go to their process's first worker, which appends each completed
//! epoch to `part-<process>.jsonl` in source order and syncs it; worker 0 then records the epoch
//! and every part's length in `manifest.json` (written beside, then renamed). A rerun with
//! `--resume` cuts each part back to the recorded length and starts at the next epoch. Up to two
//! epochs are in flight (a worker answers epoch e + 1 while epoch e is written): Lin's
//! pipelining of source batches.
//!
//! Each process holds the whole graph projection (push from one source may touch any node);
//! what is split is the sources. `DIR` must be one directory every process sees (one machine,
//! or a shared file system).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::{Input, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};
use walkdb::graph::NodeId;
use walkdb::graph::{Adjacency, CsrGraph};
use walkdb::ppr::{Accuracy, AllTopK, TopKGuarantee};

use crate::DistError;

/// The job, as every process parsed it.
#[derive(Clone, Debug)]
pub(crate) struct AllJob {
    pub(crate) dir: PathBuf,
    pub(crate) top: usize,
    pub(crate) alpha: f64,
    pub(crate) accuracy: Accuracy,
    pub(crate) epoch_sources: usize,
    pub(crate) resume: bool,
    pub(crate) processes: usize,
    pub(crate) threads: usize,
    pub(crate) process: usize,
    /// Stop after this many epochs of this run (tests interrupt a run with it).
    pub(crate) max_epochs: Option<u64>,
}

/// One answered source on its way to its process's writer: (writer worker, source, line,
/// score error bound, whether its top-k set is certified).
type Answer = (usize, NodeId, String, f64, bool);

/// One process's completed epoch, on its way to worker 0: (process, epoch, part length, worst
/// error bound in the epoch, sources without a certified set).
type PartDone = (usize, u64, u64, f64, u64);

/// The manifest: what the run is, and how far it got.
fn manifest_path(dir: &Path) -> PathBuf {
    dir.join("manifest.json")
}

pub(crate) fn part_path(dir: &Path, process: usize) -> PathBuf {
    dir.join(format!("part-{process}.jsonl"))
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> DistError {
    move |e| DistError::Io(format!("{what}: {e}"))
}

/// What must match for a resumed run to continue a manifest.
fn params(job: &AllJob, lsn: u64, nodes: usize) -> Value {
    json!({
        "lsn": lsn, "nodes": nodes, "alpha": job.alpha, "top": job.top,
        "max_error": if job.accuracy.max_error.is_finite() { json!(job.accuracy.max_error) } else { Value::Null },
        "certify_top": job.accuracy.certify_top_k, "tie_tolerance": job.accuracy.tie_tolerance,
        "epoch_sources": job.epoch_sources, "processes": job.processes,
    })
}

/// Where this run starts: the first epoch, and the manifest's running totals (worst error
/// bound, uncertified sets) of the epochs already done.
#[derive(Clone, Debug)]
pub(crate) struct Start {
    pub(crate) epoch: u64,
    pub(crate) parts: Vec<u64>,
    pub(crate) worst: f64,
    pub(crate) uncertified: u64,
}

/// Reads the manifest of an interrupted run (with `--resume`), or starts afresh; prepares this
/// process's part file (created empty, or cut back to its recorded length).
pub(crate) fn prepare(job: &AllJob, lsn: u64, nodes: usize) -> Result<(Start, File), DistError> {
    std::fs::create_dir_all(&job.dir)
        .map_err(io_error(format!("creating {}", job.dir.display())))?;
    let want = params(job, lsn, nodes);
    let path = manifest_path(&job.dir);
    let start = if job.resume {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            DistError::Usage(format!(
                "--resume: cannot read {} ({e}): there is no interrupted run to continue",
                path.display()
            ))
        })?;
        let manifest: Value = serde_json::from_str(&text).map_err(|e| {
            DistError::Usage(format!(
                "--resume: {} is not a manifest: {e}",
                path.display()
            ))
        })?;
        if let Some(fields) = want.as_object() {
            for (name, now) in fields {
                let then = &manifest["params"][name];
                if then != now {
                    return Err(DistError::Usage(format!(
                        "--resume: {} was written for {name} = {then}, this run has {now}",
                        path.display()
                    )));
                }
            }
        }
        let parts: Option<Vec<u64>> = manifest["parts"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect());
        match (manifest["epochs_done"].as_u64(), parts) {
            (Some(epoch), Some(parts)) if parts.len() == job.processes => Start {
                epoch,
                parts,
                worst: manifest["worst_error"].as_f64().unwrap_or(0.0),
                uncertified: manifest["uncertified_sets"].as_u64().unwrap_or(0),
            },
            _ => {
                return Err(DistError::Usage(format!(
                    "--resume: {} lacks epochs_done or a length for each of the {} parts",
                    path.display(),
                    job.processes
                )))
            }
        }
    } else {
        Start {
            epoch: 0,
            parts: vec![0; job.processes],
            worst: 0.0,
            uncertified: 0,
        }
    };
    let part = part_path(&job.dir, job.process);
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .read(true)
        .truncate(false)
        .open(&part)
        .map_err(io_error(format!("opening {}", part.display())))?;
    let keep = start.parts[job.process];
    let len = file
        .metadata()
        .map_err(io_error(format!("reading {}", part.display())))?
        .len();
    if len < keep {
        return Err(DistError::Usage(format!(
            "--resume: {} has {len} bytes, fewer than the {keep} the manifest says were complete",
            part.display()
        )));
    }
    file.set_len(keep)
        .map_err(io_error(format!("truncating {}", part.display())))?;
    file.seek(SeekFrom::End(0))
        .map_err(io_error(format!("seeking in {}", part.display())))?;
    if job.process == 0 && !job.resume {
        write_manifest(&job.dir, &want, &start)?;
    }
    Ok((start, file))
}

fn write_manifest(dir: &Path, params: &Value, state: &Start) -> Result<(), DistError> {
    let path = manifest_path(dir);
    let tmp = dir.join("manifest.json.tmp");
    let manifest = json!({
        "job": "ppr-all", "params": params, "epochs_done": state.epoch, "parts": state.parts,
        "worst_error": state.worst, "uncertified_sets": state.uncertified,
    });
    let mut file = File::create(&tmp).map_err(io_error(format!("creating {}", tmp.display())))?;
    file.write_all(manifest.to_string().as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(io_error(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io_error(format!("renaming {}", tmp.display())))
}

/// One line of output: the same JSON `walkdb ppr-all` writes for the source.
fn line(keys: &[String], node: NodeId, top: &[(NodeId, f64)]) -> String {
    let results: Vec<Value> = top
        .iter()
        .map(|&(v, s)| json!({"node": keys[v as usize], "score": s}))
        .collect();
    json!({"node": keys[node as usize], "results": results}).to_string()
}

/// What the run did, known to worker 0 at the end.
#[derive(Clone, Debug)]
pub(crate) struct AllSummary {
    pub(crate) sources: u64,
    pub(crate) epochs: u64,
    pub(crate) first_epoch: u64,
    pub(crate) worst: f64,
    pub(crate) uncertified: u64,
    pub(crate) complete: bool,
}

/// Runs ppr-all on this worker. Worker 0 returns the summary.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_on_worker(
    worker: &mut timely::worker::Worker,
    graph: &Arc<CsrGraph>,
    keys: &Arc<Vec<String>>,
    job: &AllJob,
    lsn: u64,
    start: &Start,
    part: Option<File>,
) -> Result<Option<AllSummary>, DistError> {
    let me = worker.index();
    let peers = worker.peers();
    let threads = job.threads.max(1);
    let leader = me - me % threads;
    let n = graph.node_count();
    let b = job.epoch_sources.max(1);
    let epochs = n.div_ceil(b) as u64;
    let first_epoch = start.epoch.min(epochs);
    let last_epoch = match job.max_epochs {
        Some(m) => (first_epoch + m).min(epochs),
        None => epochs,
    };
    let mut input: InputHandle<u64, CapacityContainerBuilder<Vec<Answer>>> = InputHandle::new();
    let probe = ProbeHandle::new();
    let failure: std::rc::Rc<std::cell::RefCell<Option<DistError>>> = Default::default();
    let state = std::rc::Rc::new(std::cell::RefCell::new(start.clone()));
    {
        let dir = job.dir.clone();
        let process = job.process;
        let failure_w = std::rc::Rc::clone(&failure);
        let failure_m = std::rc::Rc::clone(&failure);
        let state = std::rc::Rc::clone(&state);
        let manifest_params = params(job, lsn, n);
        let started = Instant::now();
        let mut part = part;
        worker.dataflow::<u64, _, _>(|scope| {
            scope
                .input_from(&mut input)
                .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<PartDone>>, _, _, _>(
                    Exchange::new(|a: &Answer| a.0 as u64),
                    "WritePart",
                    move |capability, _| {
                        let mut cap = Some(capability);
                        let mut next = first_epoch;
                        let mut pending: BTreeMap<u64, Vec<Answer>> = BTreeMap::new();
                        move |(input, frontier), output| {
                            input.for_each(|c, data| {
                                // A totally ordered time has a least element.
                                pending.entry(*c.least().unwrap_or(&0)).or_default().append(data);
                            });
                            // Each epoch no more answers can arrive for, in order.
                            while next < last_epoch && !frontier.less_equal(&next) {
                                let mut answers = pending.remove(&next).unwrap_or_default();
                                answers.sort_unstable_by_key(|a| a.1);
                                let (mut worst, mut uncertified) = (0.0f64, 0u64);
                                if let Some(file) = part.as_mut() {
                                    let mut bytes = Vec::new();
                                    for (_, _, text, error, certified) in &answers {
                                        bytes.extend_from_slice(text.as_bytes());
                                        bytes.push(b'\n');
                                        worst = worst.max(*error);
                                        uncertified += u64::from(!certified);
                                    }
                                    let written = file
                                        .write_all(&bytes)
                                        .and_then(|()| file.sync_data())
                                        .and_then(|()| file.stream_position());
                                    match written {
                                        Ok(len) => {
                                            if let Some(c) = cap.as_mut() {
                                                c.downgrade(&next);
                                                output.session(&*c).give((process, next, len, worst, uncertified));
                                            }
                                        }
                                        Err(e) => {
                                            *failure_w.borrow_mut() = Some(DistError::Io(format!(
                                                "writing part-{process}.jsonl: {e}"
                                            )));
                                        }
                                    }
                                }
                                next += 1;
                            }
                            if next >= last_epoch || frontier.is_empty() {
                                cap = None;
                            } else if let Some(c) = cap.as_mut() {
                                c.downgrade(&next);
                            }
                        }
                    },
                )
                .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(
                    Exchange::new(|_: &PartDone| 0),
                    "Manifest",
                    move |capability, _| {
                        let mut cap = Some(capability);
                        let mut next = first_epoch;
                        let mut pending: BTreeMap<u64, Vec<PartDone>> = BTreeMap::new();
                        move |(input, frontier), output| {
                            input.for_each(|c, data| {
                                for d in data.drain(..) {
                                    pending.entry(*c.least().unwrap_or(&0)).or_default().push(d);
                                }
                            });
                            while next < last_epoch && !frontier.less_equal(&next) {
                                let done = pending.remove(&next).unwrap_or_default();
                                if me == 0 {
                                    let mut s = state.borrow_mut();
                                    let mut reported = vec![false; s.parts.len()];
                                    for (p, _, len, worst, uncertified) in done {
                                        if let Some(slot) = s.parts.get_mut(p) {
                                            *slot = len;
                                            reported[p] = true;
                                        }
                                        s.worst = s.worst.max(worst);
                                        s.uncertified += uncertified;
                                    }
                                    if reported.iter().all(|&r| r) {
                                        s.epoch = next + 1;
                                        if let Err(e) = write_manifest(&dir, &manifest_params, &s) {
                                            *failure_m.borrow_mut() = Some(e);
                                        }
                                        let done_sources = ((next + 1) as usize * b).min(n);
                                        let run_sources = done_sources - (first_epoch as usize * b).min(n);
                                        let secs = started.elapsed().as_secs_f64().max(1e-9);
                                        let rate = run_sources as f64 / secs;
                                        let eta = (n - done_sources) as f64 / rate.max(1e-9);
                                        eprintln!(
                                            "ppr-all: epoch {}/{epochs}, {done_sources}/{n} sources, {rate:.0} sources/s, ETA {eta:.0} s",
                                            next + 1
                                        );
                                    } else {
                                        *failure_m.borrow_mut() = Some(DistError::Internal(format!(
                                            "epoch {next} completed without every process's part"
                                        )));
                                    }
                                }
                                if let Some(c) = cap.as_mut() {
                                    c.downgrade(&next);
                                    output.session(&*c).give(());
                                }
                                next += 1;
                            }
                            if next >= last_epoch || frontier.is_empty() {
                                cap = None;
                            } else if let Some(c) = cap.as_mut() {
                                c.downgrade(&next);
                            }
                        }
                    },
                )
                .probe_with(&probe);
        });
    }
    // A single-threaded pool per worker: the workers are the parallelism.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| DistError::Internal(format!("thread pool: {e}")))?;
    let mut answered = 0u64;
    input.advance_to(first_epoch);
    for epoch in first_epoch..last_epoch {
        let lo = (epoch as usize * b).min(n);
        let hi = ((epoch as usize + 1) * b).min(n);
        // This worker's contiguous share of the epoch.
        let share = |w: usize| lo + (hi - lo) * w / peers;
        let mut all = AllTopK::new(job.alpha, job.top);
        all.accuracy = job.accuracy;
        all.first_source = share(me);
        all.end_source = share(me + 1);
        let mut answers = Vec::new();
        pool.install(|| {
            walkdb::ppr::ppr_all_top_k(
                graph,
                &all,
                |node, top, guarantee| {
                    answers.push((
                        leader,
                        node,
                        line(keys, node, &top),
                        guarantee.max_error,
                        guarantee.top_k != TopKGuarantee::None,
                    ))
                },
                |_, _| {},
            )
        })
        .map_err(|e| DistError::Usage(e.to_string()))?;
        answered += answers.len() as u64;
        for a in answers {
            input.send(a);
        }
        input.advance_to(epoch + 1);
        // Up to two epochs in flight: wait for the one before this to be recorded.
        while epoch > first_epoch && probe.less_than(&epoch) {
            worker.step();
        }
        if let Some(e) = failure.borrow_mut().take() {
            return Err(e);
        }
    }
    drop(input);
    while worker.step() {}
    if let Some(e) = failure.borrow_mut().take() {
        return Err(e);
    }
    let _ = answered;
    if me != 0 {
        return Ok(None);
    }
    let s = state.borrow();
    Ok(Some(AllSummary {
        sources: ((last_epoch as usize * b).min(n) - (first_epoch as usize * b).min(n)) as u64,
        epochs: last_epoch - first_epoch,
        first_epoch,
        worst: s.worst,
        uncertified: s.uncertified,
        complete: last_epoch == epochs,
    }))
}
