//! `walkdb-dist`: walkdb's walk-index build and all-sources PPR on timely dataflow.
//!
//! ```text
//! walkdb-dist build-index DB            [-w THREADS] [-n PROCESSES -p INDEX [-h HOSTFILE]]
//! walkdb-dist ppr-all DB --out DIR [--top K] [--alpha A] [--epoch-sources B] [--resume]
//!             [--max-error E] [--set-only] [--no-certify-top] [--tie-tolerance T] [timely options]
//! ```
//!
//! The timely options are timely's own (`-w` worker threads per process, `-n` processes, `-p`
//! this process's index, `-h` a file of `host:port` lines, one per process; without it the
//! processes listen on localhost:2101, 2102, ...). Every process runs the same command.
//!
//! Exit codes: 0 success, 1 bad usage or input, 2 a damaged database, 3 an I/O error, 4 another
//! process of the run failed (timely is fail-stop: the run ends everywhere; rerun it, with
//! `--resume` for ppr-all).

mod all;
mod partition;
mod walk;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use walkdb::Database;

use crate::partition::Partition;

/// Why a run failed.
#[derive(Clone, Debug)]
pub(crate) enum DistError {
    Usage(String),
    Corrupt(String),
    Io(String),
    Conflict(String),
    Internal(String),
}

impl DistError {
    fn code(&self) -> u8 {
        match self {
            DistError::Usage(_) | DistError::Conflict(_) => 1,
            DistError::Corrupt(_) => 2,
            DistError::Io(_) => 3,
            DistError::Internal(_) => 70,
        }
    }

    fn message(&self) -> &str {
        match self {
            DistError::Usage(m)
            | DistError::Corrupt(m)
            | DistError::Io(m)
            | DistError::Conflict(m)
            | DistError::Internal(m) => m,
        }
    }
}

impl From<walkdb::Error> for DistError {
    fn from(e: walkdb::Error) -> DistError {
        use walkdb::ErrorKind;
        let text = e.to_string();
        match e.kind() {
            ErrorKind::Corruption => DistError::Corrupt(text),
            ErrorKind::Io => DistError::Io(text),
            ErrorKind::Conflict => DistError::Conflict(text),
            ErrorKind::Internal => DistError::Internal(text),
            _ => DistError::Usage(text),
        }
    }
}

/// Exit code of a process whose peer failed.
const PEER_FAILED: i32 = 4;

/// timely is fail-stop: when another process dies, this process's network threads panic and
/// its workers find their queues poisoned. End the process at once with a clear message and
/// exit code 4, instead of a panic trace (or a wait on a peer that will never answer).
fn install_peer_failure_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("timely communication error") || text.contains("MergeQueue poisoned") {
            eprintln!("walkdb-dist: another process of this run failed ({text}); stopping");
            std::process::exit(PEER_FAILED);
        }
        default(info);
    }));
}

struct Args {
    job: String,
    db: String,
    top: usize,
    alpha: Option<f64>,
    out: Option<String>,
    epoch_sources: usize,
    resume: bool,
    max_epochs: Option<u64>,
    accuracy: walkdb::ppr::Accuracy,
    config: timely::Config,
    threads: usize,
    processes: usize,
    process: usize,
}

const USAGE: &str = "usage: walkdb-dist build-index DB [timely options]\n       walkdb-dist ppr-all DB --out DIR [--top K] [--alpha A] [--epoch-sources B] [--resume] [--max-error E] [--set-only] [--no-certify-top] [--tie-tolerance T] [timely options]\ntimely options: -w THREADS -n PROCESSES -p INDEX -h HOSTFILE";

fn parse(argv: Vec<String>) -> Result<Args, DistError> {
    let mut opts = getopts::Options::new();
    timely::CommunicationConfig::install_options(&mut opts);
    opts.optopt("", "top", "results per source (default 10)", "K");
    opts.optopt(
        "",
        "alpha",
        "restart probability (default: the database's)",
        "A",
    );
    opts.optopt("", "out", "output directory of ppr-all", "DIR");
    opts.optopt("", "epoch-sources", "sources per epoch (default 4096)", "B");
    opts.optflag("", "resume", "continue an interrupted ppr-all run in --out");
    opts.optopt("", "max-epochs", "stop after this many epochs", "N");
    opts.optopt(
        "",
        "max-error",
        "largest error of a returned score (default 1e-4)",
        "E",
    );
    opts.optflag("", "set-only", "certify the top-k set only");
    opts.optflag("", "no-certify-top", "do not certify the top-k set");
    opts.optopt("", "tie-tolerance", "boundary ties (default 1e-6)", "T");
    opts.optflag("", "help", "print usage");
    let m = opts
        .parse(&argv)
        .map_err(|e| DistError::Usage(format!("{e}\n{USAGE}")))?;
    if m.opt_present("help") {
        return Err(DistError::Usage(USAGE.to_string()));
    }
    let [job, db] = m.free.as_slice() else {
        return Err(DistError::Usage(format!(
            "expected a job and a database, got {:?}\n{USAGE}",
            m.free
        )));
    };
    fn num<T: std::str::FromStr>(m: &getopts::Matches, name: &str) -> Result<Option<T>, DistError> {
        m.opt_str(name)
            .map(|s| {
                s.parse()
                    .map_err(|_| DistError::Usage(format!("--{name}: '{s}' is not a valid number")))
            })
            .transpose()
    }
    let mut accuracy = walkdb::ppr::Accuracy::default();
    if let Some(e) = num::<f64>(&m, "max-error")? {
        accuracy.max_error = e;
    }
    if m.opt_present("set-only") {
        accuracy.max_error = f64::INFINITY;
    }
    if m.opt_present("no-certify-top") {
        accuracy.certify_top_k = false;
    }
    if let Some(t) = num::<f64>(&m, "tie-tolerance")? {
        accuracy.tie_tolerance = t;
    }
    accuracy
        .validate()
        .map_err(|e| DistError::Usage(format!("accuracy flags: {e}")))?;
    let communication = timely::CommunicationConfig::from_matches(&m).map_err(DistError::Usage)?;
    let threads = num::<usize>(&m, "w")?.unwrap_or(1).max(1);
    let processes = num::<usize>(&m, "n")?.unwrap_or(1).max(1);
    let process = num::<usize>(&m, "p")?.unwrap_or(0);
    if process >= processes {
        return Err(DistError::Usage(format!(
            "-p {process} is not below -n {processes}"
        )));
    }
    let top = num::<usize>(&m, "top")?.unwrap_or(10);
    if top == 0 {
        return Err(DistError::Usage("--top must be at least 1".into()));
    }
    let epoch_sources = num::<usize>(&m, "epoch-sources")?.unwrap_or(4096);
    if epoch_sources == 0 {
        return Err(DistError::Usage(
            "--epoch-sources must be at least 1".into(),
        ));
    }
    Ok(Args {
        job: job.clone(),
        db: db.clone(),
        top,
        alpha: num(&m, "alpha")?,
        out: m.opt_str("out"),
        epoch_sources,
        resume: m.opt_present("resume"),
        max_epochs: num(&m, "max-epochs")?,
        accuracy,
        config: timely::Config {
            communication,
            worker: timely::WorkerConfig::default(),
        },
        threads,
        processes,
        process,
    })
}

/// Process 0 opens the database for writing (build-index installs into it); every other
/// process, and process 0 of ppr-all, reads it.
fn open(path: &str, write: bool) -> Result<Database, DistError> {
    let builder = Database::builder(path);
    let db = if write {
        builder.open()
    } else {
        builder.open_read_only()
    };
    db.map_err(|e| DistError::from(walkdb::Error::from(e)))
}

/// Runs `job` on every worker once the processes are connected. A failure while setting up
/// (`setup`: opening the database, reading a manifest) ends this process from inside the run,
/// after connecting, so the other processes see it leave and exit with code 4 instead of
/// waiting for it to connect.
fn run_connected<S, T, F>(
    config: timely::Config,
    setup: Result<S, DistError>,
    job: F,
) -> Result<Vec<T>, DistError>
where
    S: Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(&mut timely::worker::Worker, &S) -> Result<T, DistError> + Send + Sync + 'static,
{
    let setup = Arc::new(setup);
    let guards = timely::execute(config, move |worker| match &*setup {
        Ok(s) => job(worker, s),
        // The other processes wait for this one's dataflow, which will never be built, and
        // timely's orderly shutdown would wait for them: end the process now, so they see it
        // leave (and exit with code 4).
        Err(e) => {
            eprintln!("walkdb-dist: {}", e.message());
            std::process::exit(i32::from(e.code()));
        }
    })
    .map_err(DistError::Usage)?;
    let mut results = Vec::new();
    for result in guards.join() {
        match result {
            Ok(Ok(t)) => results.push(t),
            Ok(Err(e)) => return Err(e),
            Err(panic) => return Err(DistError::Internal(format!("a worker failed: {panic}"))),
        }
    }
    Ok(results)
}

/// What every worker of a build shares.
struct BuildSetup {
    db: Arc<Database>,
    snapshot: walkdb::Snapshot,
    partition: Arc<Partition>,
    params: walkdb::walks::WalkIndexParams,
}

fn build_index(args: Args) -> Result<(), DistError> {
    let workers = args.threads * args.processes;
    let setup = (|| {
        let db = Arc::new(open(&args.db, args.process == 0)?);
        let snapshot = db
            .begin_read()
            .map_err(|e| DistError::from(walkdb::Error::from(e)))?;
        let partition = Arc::new(Partition::balanced(
            (0..snapshot.node_count()).map(|u| snapshot.link_count(u)),
            workers,
        ));
        let params = db.walk_index_params();
        Ok(BuildSetup {
            db,
            snapshot,
            partition,
            params,
        })
    })();
    let db = setup.as_ref().ok().map(|s| Arc::clone(&s.db));
    let threads = args.threads;
    let results = run_connected(args.config, setup, move |worker, s| {
        walk::build_on_worker(worker, &s.snapshot, &s.partition, s.params, threads)
    })?;
    let built = results.into_iter().flatten().next();
    let Some(built) = built else {
        // Not process 0: the walks went there.
        eprintln!(
            "walkdb-dist: process {}: walks sent to process 0",
            args.process
        );
        return Ok(());
    };
    let Some(db) = db else {
        return Err(DistError::Internal(
            "the build ran without a database".into(),
        ));
    };
    let s = &built.summary;
    let install = db
        .install_walk_index(built.index, built.lsn)
        .map_err(|e| DistError::from(walkdb::Error::from(e)))?;
    // End to end from the workers' start (after the processes connected): read the graph,
    // walk, assemble, verify and write the index.
    let total = s.walk_seconds + s.assemble_seconds + install.seconds;
    println!(
        "{}",
        serde_json::json!({
            "job": "build-index", "workers": workers, "processes": args.processes,
            "walks": s.walks, "steps": s.steps,
            "graph_seconds": s.graph_seconds, "walk_seconds": s.walk_seconds,
            "assemble_seconds": s.assemble_seconds, "install_seconds": install.seconds,
            "total_seconds": total,
            "steps_per_second": s.steps as f64 / total.max(1e-9),
            "steps_per_second_per_worker": s.steps as f64 / total.max(1e-9) / workers as f64,
            "walkers_sent": s.walkers_sent, "walkers_sent_remote": s.walkers_sent_remote,
            "walker_bytes_remote": s.walkers_sent_remote * 16, "lsn": built.lsn,
        })
    );
    Ok(())
}

/// What every worker of a ppr-all run shares.
struct AllSetup {
    graph: Arc<walkdb::graph::CsrGraph>,
    keys: Arc<Vec<String>>,
    job: all::AllJob,
    lsn: u64,
    start: all::Start,
    part: Mutex<Option<std::fs::File>>,
}

fn ppr_all(args: Args) -> Result<(), DistError> {
    let Some(out) = args.out.clone() else {
        return Err(DistError::Usage("ppr-all needs --out DIR".into()));
    };
    let threads = args.threads;
    let (processes, process) = (args.processes, args.process);
    let setup = (|| {
        let db = open(&args.db, false)?;
        let snapshot = db
            .begin_read()
            .map_err(|e| DistError::from(walkdb::Error::from(e)))?;
        let graph = snapshot.projection();
        let keys = Arc::new(
            snapshot
                .node_keys()
                .map_err(|e| DistError::from(walkdb::Error::from(e)))?,
        );
        let alpha = args.alpha.unwrap_or(db.options().alpha);
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(DistError::Usage(format!(
                "--alpha {alpha} is not in (0, 1)"
            )));
        }
        let job = all::AllJob {
            dir: out.into(),
            top: args.top,
            alpha,
            accuracy: args.accuracy,
            epoch_sources: args.epoch_sources,
            resume: args.resume,
            processes,
            threads,
            process,
            max_epochs: args.max_epochs,
        };
        let lsn = snapshot.lsn();
        let (start, file) = all::prepare(&job, lsn, keys.len())?;
        Ok(AllSetup {
            graph,
            keys,
            job,
            lsn,
            start,
            part: Mutex::new(Some(file)),
        })
    })();
    let results = run_connected(args.config, setup, move |worker, s| {
        // The first worker of each process writes the process's part.
        let part = if worker.index() % threads == 0 {
            s.part.lock().ok().and_then(|mut f| f.take())
        } else {
            None
        };
        all::run_on_worker(worker, &s.graph, &s.keys, &s.job, s.lsn, &s.start, part)
    })?;
    let summary = results.into_iter().flatten().next();
    if let Some(s) = summary {
        eprintln!(
            "ppr-all: {} sources in {} epochs{}{}; every returned score within {:.1e} of exact; {} sets uncertified over the whole run (certified push, no failure probability)",
            s.sources,
            s.epochs,
            if s.first_epoch > 0 {
                format!(" (resumed at epoch {})", s.first_epoch)
            } else {
                String::new()
            },
            if s.complete { "" } else { ", stopped before the end (--max-epochs): rerun with --resume" },
            s.worst,
            s.uncertified
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    install_peer_failure_hook();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(argv).and_then(|args| match args.job.as_str() {
        "build-index" => build_index(args),
        "ppr-all" => ppr_all(args),
        other => Err(DistError::Usage(format!("unknown job '{other}'\n{USAGE}"))),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("walkdb-dist: {}", e.message());
            ExitCode::from(e.code())
        }
    }
}
