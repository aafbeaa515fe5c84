//! The storage commands: create, import, add, delete, export, stats, checkpoint, verify.

use std::io::{BufRead, BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use serde_json::json;
use walkdb::tsv::TsvParser;
use walkdb::{Database, InputError};

use crate::output::{out_err, print_json, progress, spinner};
use crate::{CliError, CliResult, CreateOptions};

pub(crate) fn open(db: &Path) -> CliResult<Database> {
    Ok(Database::builder(db).open()?)
}

/// Opens for reading only: works while another process writes, and never writes a byte.
pub(crate) fn open_read_only(db: &Path) -> CliResult<Database> {
    Ok(Database::builder(db).open_read_only()?)
}

fn builder(db: &Path, options: &CreateOptions) -> walkdb::DatabaseBuilder {
    let mut builder = Database::builder(db);
    // Without the flag: whatever an existing database holds (directed for a new one).
    if options.undirected {
        builder = builder.undirected(true);
    }
    if let Some(alpha) = options.alpha {
        builder = builder.alpha(alpha);
    }
    if let Some(walks) = options.walks_per_node {
        builder = builder.walks_per_node(walks);
    }
    builder
}

pub(crate) fn create(db: &Path, options: &CreateOptions, json: bool) -> CliResult {
    let database = builder(db, options).create()?;
    let o = database.options();
    if json {
        print_json(
            &json!({"created": db.display().to_string(), "undirected": o.undirected, "alpha": o.alpha, "walks_per_node": o.walks_per_node}),
        )
    } else {
        outln!(
            "created {} ({}, alpha {}, {} walks per node)",
            db.display(),
            if o.undirected {
                "undirected"
            } else {
                "directed"
            },
            o.alpha,
            o.walks_per_node
        );
        Ok(())
    }
}

/// Reads a whole input: a file, or stdin for `-`.
pub(crate) fn read_input(name: &str) -> CliResult<Vec<u8>> {
    if name == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError {
                code: 3,
                message: format!("reading stdin: {e}"),
            })?;
        return Ok(bytes);
    }
    std::fs::read(name).map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            1
        } else {
            3
        };
        CliError {
            code,
            message: format!("reading {name}: {e}"),
        }
    })
}

/// Bytes of input parsed at a time by `import`: the input is never held whole.
const IMPORT_PIECE: usize = 16 << 20;

/// Reads input `name` (a file, or `-` for stdin) in pieces of whole lines (about
/// [`IMPORT_PIECE`] bytes, more for a longer line) and calls `f(piece, number of its first
/// line, bytes read so far)` for each, until `f` says to stop.
///
/// The bytes come from a thread of their own ([`read_ahead`]), up to [`READ_AHEAD`] reads
/// ahead of `f`: a file that is not in the page cache arrives at the disk's pace, and reading
/// in line with `f` stalled `f` for each piece (100M-edge R-MAT input, 3.6 GB, not cached:
/// about 5 s of disk reads in series with 11 s of parsing).
fn for_each_piece(name: &str, mut f: impl FnMut(&[u8], u64, u64) -> ControlFlow<()>) -> CliResult {
    let io_error = |e: std::io::Error| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            1
        } else {
            3
        };
        CliError {
            code,
            message: format!("reading {name}: {e}"),
        }
    };
    let reader: Box<dyn Read + Send> = match name {
        "-" => Box::new(std::io::stdin()),
        path => Box::new(std::fs::File::open(path).map_err(io_error)?),
    };
    let ahead = ReadAhead::start(reader).map_err(|e| CliError {
        code: 3,
        message: format!("starting the thread that reads {name}: {e}"),
    })?;
    let mut buf: Vec<u8> = Vec::with_capacity(IMPORT_PIECE + 4096);
    let (mut line, mut offset) = (1u64, 0u64);
    while let Some(read) = ahead.next() {
        let (block, got) = read.map_err(io_error)?;
        offset += got as u64;
        if got == 0 {
            // The last line, without a newline.
            if !buf.is_empty() {
                let _ = f(&buf, line, offset);
            }
            return Ok(());
        }
        buf.extend_from_slice(&block[..got]);
        ahead.give_back(block);
        // Whole lines go now; a partial last line waits for the rest of its bytes.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            continue;
        };
        if f(&buf[..=end], line, offset).is_break() {
            return Ok(());
        }
        line += buf[..=end].iter().filter(|&&b| b == b'\n').count() as u64;
        buf.drain(..=end);
    }
    // The reading thread hangs up only after the end (a read of 0 bytes) or an error.
    Err(CliError {
        code: 3,
        message: format!("reading {name}: the reading thread stopped"),
    })
}

/// Finished reads queued ahead of [`for_each_piece`] (a third is being read meanwhile).
const READ_AHEAD: usize = 2;

/// The reads of an input, each a single `read` into an [`IMPORT_PIECE`]-byte buffer (a pipe's
/// lines go on as soon as they arrive), in order, up to the end (a read of 0 bytes) or the
/// first error, made on a thread of their own [`READ_AHEAD`] ahead of the consumer. Buffers
/// given back are read into again, so a pipe's short reads do not each clear 16 MiB. The
/// thread is not joined: when the consumer stops early, its next hand-over finds the channel
/// closed (or, waiting on a pipe, it ends with the process).
struct ReadAhead {
    reads: std::sync::mpsc::Receiver<std::io::Result<(Vec<u8>, usize)>>,
    recycle: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl ReadAhead {
    fn start(mut reader: Box<dyn Read + Send>) -> std::io::Result<ReadAhead> {
        let (done, reads) = std::sync::mpsc::sync_channel(READ_AHEAD);
        let (recycle, recycled) = std::sync::mpsc::sync_channel::<Vec<u8>>(READ_AHEAD + 2);
        std::thread::Builder::new()
            .name("walkdb-read".into())
            .spawn(move || loop {
                let mut block = recycled
                    .try_recv()
                    .unwrap_or_else(|_| vec![0u8; IMPORT_PIECE]);
                let got = loop {
                    match reader.read(&mut block) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                let last = !matches!(got, Ok(n) if n > 0);
                if done.send(got.map(|n| (block, n))).is_err() || last {
                    return;
                }
            })?;
        Ok(ReadAhead { reads, recycle })
    }

    /// The next read: its buffer and the bytes it holds; `None` once the thread is gone.
    fn next(&self) -> Option<std::io::Result<(Vec<u8>, usize)>> {
        self.reads.recv().ok()
    }

    /// Hands a read's buffer back to be read into again.
    fn give_back(&self, block: Vec<u8>) {
        let _ = self.recycle.try_send(block);
    }
}

/// Bytes of input parsed at a time by `import`'s helper thread (whole lines; more for a
/// longer line): a part's records wait in memory for the interning thread.
const PARSE_PART: usize = 1 << 20;

/// Where the first part of `bytes` ends: after the last newline within `size` bytes, or after
/// the first newline when a line is longer, or at the end.
fn part_end(bytes: &[u8], size: usize) -> usize {
    if bytes.len() <= size {
        return bytes.len();
    }
    match bytes[..size].iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => bytes[size..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| size + i + 1),
    }
}

/// One piece of import input, parsed: its bytes, each record's fields as byte ranges of
/// them, and the first malformed line (where parsing stopped), if any.
struct ParsedPiece {
    /// The number of its first line.
    first_line: u64,
    /// The piece as text when it is valid UTF-8 throughout (fields are then sliced without
    /// a second check), else its bytes (each field was checked by the parser).
    text: Result<String, Vec<u8>>,
    records: Vec<ParsedRecord>,
    malformed: Option<walkdb::tsv::TsvError>,
    /// Bytes of the input read up to the end of this piece.
    offset: u64,
}

/// A record of a [`ParsedPiece`]: its fields as (start, length) in the piece.
struct ParsedRecord {
    line: u64,
    fields: [(usize, usize); 3],
    weight: f64,
}

impl ParsedPiece {
    /// Parses `piece` (whole lines, the first numbered `first_line`) up to its first
    /// malformed line.
    fn parse(name: &str, piece: &[u8], first_line: u64, offset: u64) -> ParsedPiece {
        let owned = piece.to_vec();
        let mut records = Vec::new();
        let mut malformed = None;
        let base = owned.as_ptr() as usize;
        // A field is a slice of `owned`: where it starts, relative to the piece.
        let span = |field: &str| (field.as_ptr() as usize - base, field.len());
        for record in TsvParser::new(name, &owned).starting_at_line(first_line) {
            match record {
                Ok(r) => records.push(ParsedRecord {
                    line: r.line,
                    fields: [span(r.src), span(r.rel), span(r.dst)],
                    weight: r.weight,
                }),
                Err(e) => {
                    malformed = Some(e);
                    break;
                }
            }
        }
        ParsedPiece {
            first_line,
            text: String::from_utf8(owned).map_err(|e| e.into_bytes()),
            records,
            malformed,
            offset,
        }
    }

    /// A record's fields as the loader takes them.
    fn record(&self, r: &ParsedRecord) -> CliResult<(&str, &str, &str, f64)> {
        let field = |(at, len): (usize, usize)| -> CliResult<&str> {
            let range = at..at + len;
            let text = match &self.text {
                Ok(text) => text.get(range),
                Err(bytes) => bytes.get(range).and_then(|b| std::str::from_utf8(b).ok()),
            };
            // The parser checked every field it returned, so this is an internal error.
            text.ok_or_else(|| CliError {
                code: 3,
                message: format!("line {}: a parsed field is not text", r.line),
            })
        };
        let [src, rel, dst] = r.fields;
        Ok((field(src)?, field(rel)?, field(dst)?, r.weight))
    }
}

pub(crate) fn import(
    db: &Path,
    files: &[String],
    options: &CreateOptions,
    memory_budget: Option<usize>,
    json: bool,
) -> CliResult {
    let started = Instant::now();
    // Declared before the database: the loader borrows the callback for its whole life.
    let bar = progress(0, "building the walk index");
    let on_progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    // The library refuses flags that contradict an existing database's options.
    let database = builder(db, options).open_or_create()?;
    let mut loader = database.bulk_loader()?;
    // Before the first edge: the budget bounds the edge list as it grows, not only the index.
    if let Some(bytes) = memory_budget {
        loader.set_memory_budget(bytes);
    }
    for name in files {
        let size = match name.as_str() {
            "-" => 0,
            path => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        };
        let bar = progress(size, &format!("parsing {name}"));
        // A helper thread reads and parses the input while this one interns the records
        // parsed before (interning is the larger half of the work and must stay in line
        // order: ids are handed out by first appearance). The helper is not joined: when
        // interning stops at an error, the error is reported at once, even while the helper
        // waits for more input on a pipe; its next hand-over finds the channel closed.
        let (pieces, parsed) = std::sync::mpsc::sync_channel::<CliResult<ParsedPiece>>(1);
        let input = name.clone();
        std::thread::Builder::new()
            .name("walkdb-parse".into())
            .spawn(move || {
                let read = for_each_piece(&input, |piece, first_line, offset| {
                    // Parsed in parts of about PARSE_PART bytes, so that the records held
                    // between the threads stay small whatever the lines' length.
                    let mut first_line = first_line;
                    let mut rest = piece;
                    while !rest.is_empty() {
                        let cut = part_end(rest, PARSE_PART);
                        let (part, after) = rest.split_at(cut);
                        rest = after;
                        let at = offset - rest.len() as u64;
                        let parsed = ParsedPiece::parse(&input, part, first_line, at);
                        let malformed = parsed.malformed.is_some();
                        // A closed channel: the interning side stopped at an error of its own.
                        if pieces.send(Ok(parsed)).is_err() || malformed {
                            return ControlFlow::Break(());
                        }
                        first_line += part.iter().filter(|&&b| b == b'\n').count() as u64;
                    }
                    ControlFlow::Continue(())
                });
                if let Err(e) = read {
                    let _ = pieces.send(Err(e));
                }
            })
            .map_err(|e| CliError {
                code: 3,
                message: format!("starting the thread that parses {name}: {e}"),
            })?;
        // Records go to the loader a batch at a time (it looks their keys up together).
        const BATCH: usize = 1024;
        for piece in parsed {
            let piece = piece?;
            let mut edges = Vec::with_capacity(BATCH);
            for batch in piece.records.chunks(BATCH) {
                edges.clear();
                for record in batch {
                    edges.push(piece.record(record)?);
                }
                loader.add_edges(&edges).map_err(|(i, e)| {
                    let line = batch.get(i).map_or(piece.first_line, |r| r.line);
                    at_line(e.into(), name, line)
                })?;
            }
            // The first malformed line comes after the records before it were added, so the
            // first error in line order wins.
            if let Some(e) = piece.malformed {
                return Err(walkdb::Error::from(e).into());
            }
            bar.set_position(piece.offset);
        }
        bar.finish_and_clear();
    }
    let read_seconds = started.elapsed().as_secs_f64();
    loader.on_index_progress(&on_progress);
    let info = loader.finish()?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if json {
        print_json(
            &json!({"nodes": info.nodes, "edges": info.edges, "records": info.records, "walks": info.walks, "seconds": seconds, "storage_seconds": info.storage_seconds, "index_seconds": info.index_seconds, "read_seconds": read_seconds, "catalog_seconds": info.write.catalog, "spilled_runs": info.spilled_runs, "index_visit_passes": info.index_visit_passes}),
        )
    } else {
        outln!(
            "imported {} edge records: {} nodes, {} edges, {} walks in {seconds:.2} s (storage {:.2} s, walk index {:.2} s)",
            info.records, info.nodes, info.edges, info.walks, info.storage_seconds, info.index_seconds
        );
        Ok(())
    }
}

/// Names the input line in an error about a record's content.
fn at_line(e: walkdb::Error, input: &str, line: u64) -> CliError {
    let code = CliError::from(walkdb::Error::Input(InputError::InvalidOption {
        reason: String::new(),
    }))
    .code;
    match e {
        walkdb::Error::Input(inner) => CliError {
            code,
            message: format!("{input} line {line}: {inner}"),
        },
        other => CliError::from(other),
    }
}

/// Longest input line `add` and `delete` accept: three keys at the size limit, three tabs,
/// a weight (any float's shortest text is far below 64 bytes) and a CR LF.
const MAX_LINE_BYTES: usize = 3 * walkdb::MAX_KEY_LEN + 3 + 64 + 2;

pub(crate) fn apply_stream(
    db: &Path,
    file: Option<&str>,
    batch: usize,
    delete: bool,
    ignore_missing: bool,
) -> CliResult {
    if batch == 0 {
        return Err(CliError::usage("--batch must be at least 1"));
    }
    let database = open(db)?;
    let name = file.unwrap_or("-");
    let mut reader: Box<dyn BufRead> = if name == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(name).map_err(|e| {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                1
            } else {
                3
            };
            CliError {
                code,
                message: format!("reading {name}: {e}"),
            }
        })?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };
    let mut stdout = std::io::stdout().lock();
    let (mut line_no, mut applied) = (0u64, 0u64);
    let mut buf = Vec::new();
    let mut eof = false;
    while !eof {
        let mut txn = database.begin_write()?;
        let mut in_batch = 0u64;
        while in_batch < batch as u64 {
            buf.clear();
            // A line is read only up to the longest valid one, so a stream without newlines
            // cannot make the process buffer it all.
            let n = reader
                .by_ref()
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| CliError {
                    code: 3,
                    message: format!("reading {name}: {e}"),
                })?;
            if n == 0 {
                eof = true;
                break;
            }
            line_no += 1;
            if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
                return Err(CliError::usage(format!(
                    "{name} line {line_no}: longer than {MAX_LINE_BYTES} bytes, more than three keys of at most {} bytes and a weight can take; {applied} lines committed before it",
                    walkdb::MAX_KEY_LEN
                )));
            }
            let mut parser = TsvParser::new(name, &buf).starting_at_line(line_no);
            if delete {
                parser = parser.ignore_weight();
            }
            let Some(record) = parser.next() else {
                continue;
            };
            let record = record.map_err(walkdb::Error::from)?;
            if delete {
                let existed = txn
                    .delete_edge(record.src, record.rel, record.dst)
                    .map_err(|e| at_line(e.into(), name, line_no))?;
                if !existed && !ignore_missing {
                    return Err(CliError::usage(format!(
                        "{name} line {line_no}: edge {} -[{}]-> {} does not exist (use --ignore-missing to skip); {applied} lines committed before it",
                        record.src, record.rel, record.dst
                    )));
                }
            } else {
                txn.add_edge(record.src, record.rel, record.dst, record.weight)
                    .map_err(|e| at_line(e.into(), name, line_no))?;
            }
            in_batch += 1;
        }
        if in_batch == 0 {
            break;
        }
        let info = txn.commit()?;
        applied += in_batch;
        writeln!(stdout, "committed {applied} {}", info.lsn).map_err(out_err)?;
        stdout.flush().map_err(out_err)?;
    }
    Ok(())
}

pub(crate) fn export(db: &Path, json: bool) -> CliResult {
    let database = open_read_only(db)?;
    let snapshot = database.begin_read()?;
    let keys = snapshot.node_keys()?;
    let relations = snapshot.relation_names();
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    if json {
        write!(out, "{{\"edges\":[").map_err(out_err)?;
    }
    let mut first = true;
    for u in 0..snapshot.node_count() {
        for (v, r, w) in snapshot.out_edges(u) {
            let (src, rel, dst) = (&keys[u as usize], &relations[r as usize], &keys[v as usize]);
            if json {
                let sep = if first { "" } else { "," };
                let edge = json!({"src": src, "relation": rel, "dst": dst, "weight": w});
                write!(out, "{sep}{edge}").map_err(out_err)?;
            } else {
                writeln!(out, "{src}\t{rel}\t{dst}\t{w}").map_err(out_err)?;
            }
            first = false;
        }
    }
    if json {
        writeln!(out, "]}}").map_err(out_err)?;
    }
    out.flush().map_err(out_err)
}

pub(crate) fn stats(db: &Path, json: bool) -> CliResult {
    let database = open_read_only(db)?;
    let s = database.stats()?;
    let files: serde_json::Map<String, serde_json::Value> =
        s.files.iter().map(|(n, b)| (n.clone(), json!(b))).collect();
    let (wal, seg, walks, catalog) = (
        s.bytes_under("wal/"),
        s.bytes_under("adj/"),
        s.bytes_under("walks/"),
        s.bytes_under("catalog"),
    );
    let per_edge = |bytes: u64| {
        if s.edges > 0 {
            bytes as f64 / s.edges as f64
        } else {
            0.0
        }
    };
    if json {
        return print_json(&json!({
            "nodes": s.nodes, "edges": s.edges, "relations": s.relations, "undirected": s.undirected,
            "alpha": s.alpha, "walks_per_node": s.walks_per_node, "walks": s.walks,
            "lsn": s.lsn, "checkpoint_lsn": s.checkpoint_lsn, "generation": s.generation, "delta_nodes": s.delta_nodes,
            "wal_bytes": wal, "segment_bytes": seg, "walk_index_bytes": walks, "catalog_bytes": catalog,
            "segment_bytes_per_edge": per_edge(seg), "walk_index_bytes_per_edge": per_edge(walks), "files": files,
        }));
    }
    outln!("nodes        {}", s.nodes);
    outln!("edges        {}", s.edges);
    outln!("relations    {}", s.relations);
    outln!(
        "mode         {}",
        if s.undirected {
            "undirected"
        } else {
            "directed"
        }
    );
    outln!("alpha        {}", s.alpha);
    outln!("walks        {} ({} per link)", s.walks, s.walks_per_node);
    outln!(
        "lsn          {} (checkpoint at {}, generation {})",
        s.lsn,
        s.checkpoint_lsn,
        s.generation
    );
    outln!("delta nodes  {}", s.delta_nodes);
    outln!("segment      {seg} bytes ({:.1} B/edge)", per_edge(seg));
    outln!("walk index   {walks} bytes ({:.1} B/edge)", per_edge(walks));
    outln!("wal          {wal} bytes");
    outln!("catalog      {catalog} bytes");
    Ok(())
}

pub(crate) fn checkpoint(db: &Path, json: bool) -> CliResult {
    let database = open(db)?;
    let bar = spinner("checkpoint: folding the WAL into a new generation");
    let info = database.checkpoint();
    bar.finish_and_clear();
    let info = info?;
    if json {
        print_json(
            &json!({"generation": info.generation, "lsn": info.lsn, "segment_bytes": info.segment_bytes, "wrote": info.wrote, "seconds": info.seconds}),
        )
    } else if info.wrote {
        outln!(
            "checkpoint: generation {} at LSN {} ({} bytes) in {:.3} s",
            info.generation,
            info.lsn,
            info.segment_bytes,
            info.seconds
        );
        Ok(())
    } else {
        outln!(
            "checkpoint: nothing to fold (generation {}, LSN {})",
            info.generation,
            info.lsn
        );
        Ok(())
    }
}

pub(crate) fn verify(db: &Path, json: bool) -> CliResult {
    let database = open_read_only(db)?;
    let report = database.verify()?;
    if json {
        print_json(
            &json!({"ok": true, "nodes": report.nodes, "edges": report.edges, "walks": report.walks, "wal_transactions": report.wal_transactions, "files": report.files}),
        )
    } else {
        outln!(
            "ok: {} nodes, {} edges, {} walks, {} WAL transactions; checked {}",
            report.nodes,
            report.edges,
            report.walks,
            report.wal_transactions,
            report.files.join(", ")
        );
        Ok(())
    }
}
