//! The `walkdb` command-line tool: the contract in CLI.md (create, import, add, delete, ppr,
//! export, stats, checkpoint, verify, dump, demo) over the walkdb crate.
//!
//! Exit codes: 0 success; 1 bad usage or input; 2 damaged database; 3 I/O error. A panic is a
//! bug. Results go to stdout (one JSON document with `--json`), progress and logs to stderr.

#[macro_use]
mod output;
mod commands;
mod demo;
mod dump;
mod ppr_all;
mod ppr_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// An error the tool reports: its message and exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl CliError {
    pub(crate) fn usage(message: impl Into<String>) -> CliError {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<walkdb::Error> for CliError {
    fn from(e: walkdb::Error) -> CliError {
        let code = match &e {
            walkdb::Error::Input(_) => 1,
            walkdb::Error::Corrupt(_) => 2,
            _ => 3,
        };
        CliError {
            code,
            message: e.to_string(),
        }
    }
}

/// Every per-operation error converts through the umbrella error (same exit codes).
macro_rules! from_operation_error {
    ($($error:ty),+) => {
        $(impl From<$error> for CliError {
            fn from(e: $error) -> CliError {
                walkdb::Error::from(e).into()
            }
        })+
    };
}

from_operation_error!(
    walkdb::OpenError,
    walkdb::ReadError,
    walkdb::WriteError,
    walkdb::CheckpointError,
    walkdb::CloseError
);

pub(crate) type CliResult<T = ()> = Result<T, CliError>;

#[derive(Parser, Debug)]
#[command(
    name = "walkdb",
    version,
    about = "Embedded graph database with an incremental Personalized PageRank index"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options a database keeps for life, given at creation.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct CreateOptions {
    /// Every edge is walkable both ways.
    #[arg(long)]
    pub(crate) undirected: bool,
    /// Restart probability of the stored walks (default 0.5, HippoRAG's damping 0.5).
    #[arg(long)]
    pub(crate) alpha: Option<f64>,
    /// Walk-index density: stored walks per unit of node degree (default 1: one walk per link).
    #[arg(long = "walks-per-node")]
    pub(crate) walks_per_node: Option<f64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make an empty database in directory DB.
    Create {
        db: PathBuf,
        #[command(flatten)]
        options: CreateOptions,
        #[arg(long)]
        json: bool,
    },
    /// Bulk-load TSV edges (creating DB if absent) and build the walk index.
    Import {
        db: PathBuf,
        #[arg(required = true)]
        files: Vec<String>,
        #[command(flatten)]
        options: CreateOptions,
        /// Heap for the walk index's largest table beyond the graph, e.g. 512M or 2G
        /// (default: an eighth of physical memory); smaller costs time, not results.
        #[arg(long = "memory-budget", value_parser = parse_bytes)]
        memory_budget: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Apply TSV edges from FILE or stdin as durable transactions of N lines.
    Add {
        db: PathBuf,
        file: Option<String>,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Delete TSV edges from FILE or stdin as durable transactions of N lines.
    Delete {
        db: PathBuf,
        file: Option<String>,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Skip edges that do not exist instead of failing.
        #[arg(long)]
        ignore_missing: bool,
    },
    /// Personalized PageRank from weighted seeds, or a batch of JSON queries.
    Ppr(ppr_cmd::PprArgs),
    /// Every node's top-K (fully personalized PageRank), streamed as JSON lines.
    PprAll(ppr_all::PprAllArgs),
    /// Print every live edge as TSV.
    Export {
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Counts and storage figures.
    Stats {
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Fold the WAL into new segment files and trim it.
    Checkpoint {
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Read every file and check every checksum and invariant.
    Verify {
        db: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Inspect the files of a database: headers, WAL records, segments, nodes, walks.
    Dump(dump::DumpArgs),
    /// Build a database from bundled real data, query it, add facts, query again.
    Demo(demo::DemoArgs),
}

/// A byte count: digits with an optional K, M or G suffix (powers of 1024).
fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}' (use K, M or G)"
            ))
        }
    };
    let value: usize = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a byte count such as 512M or 2G"))?;
    value
        .checked_mul(1usize << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Create { db, options, json } => commands::create(&db, &options, json),
        Command::Import {
            db,
            files,
            options,
            memory_budget,
            json,
        } => commands::import(&db, &files, &options, memory_budget, json),
        Command::Add { db, file, batch } => {
            commands::apply_stream(&db, file.as_deref(), batch, false, false)
        }
        Command::Delete {
            db,
            file,
            batch,
            ignore_missing,
        } => commands::apply_stream(&db, file.as_deref(), batch, true, ignore_missing),
        Command::Ppr(args) => ppr_cmd::ppr(&args),
        Command::PprAll(args) => ppr_all::ppr_all(&args),
        Command::Export { db, json } => commands::export(&db, json),
        Command::Stats { db, json } => commands::stats(&db, json),
        Command::Checkpoint { db, json } => commands::checkpoint(&db, json),
        Command::Verify { db, json } => commands::verify(&db, json),
        Command::Dump(args) => dump::dump(&args),
        Command::Demo(args) => demo::demo(&args),
    }
}

/// redb asserts on some damaged catalog pages. The library contains those panics and reports
/// `catalog.redb` as damaged (exit code 2), so the default "thread 'main' panicked" message
/// would only alarm; a one-line note keeps the location for diagnosis. Any other panic keeps
/// the default report (it is a bug).
fn quiet_contained_redb_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| match info.location() {
        Some(at) if at.file().contains("/redb-") => {
            eprintln!(
                "walkdb: note: redb rejected a damaged page ({}:{})",
                at.file(),
                at.line()
            );
        }
        _ => default_hook(info),
    }));
}

fn main() -> ExitCode {
    quiet_contained_redb_panics();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            // Printing help or a usage error to a closed pipe is not worth a panic.
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("walkdb: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
