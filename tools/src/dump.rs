//! `walkdb dump`: the inspection tool. Reads damaged files as far as it can and lists every
//! problem; exits 2 when it found any.

use std::path::PathBuf;

use serde_json::{json, Map, Value};
use walkdb::inspect;

use crate::output::print_json;
use crate::{CliError, CliResult};

#[derive(clap::Args, Debug)]
pub(crate) struct DumpArgs {
    db: PathBuf,
    /// File headers, versions and the manifest.
    #[arg(long)]
    header: bool,
    /// WAL records: LSN, kind, length, checksum status, decoded operations.
    #[arg(long)]
    wal: bool,
    /// Segment and walk-index layout: sections, offsets, checksums.
    #[arg(long)]
    segments: bool,
    /// One node's adjacency, both directions.
    #[arg(long)]
    node: Option<String>,
    /// The walks stored for a node.
    #[arg(long)]
    walks: Option<String>,
    #[arg(long)]
    json: bool,
}

fn pairs(list: &[(String, String)]) -> Value {
    Value::Object(list.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

pub(crate) fn dump(args: &DumpArgs) -> CliResult {
    let all =
        !(args.header || args.wal || args.segments || args.node.is_some() || args.walks.is_some());
    let mut doc = Map::new();
    let mut problems: Vec<String> = Vec::new();
    let mut text = String::new();
    if !args.db.join("catalog.redb").exists() {
        return Err(CliError::usage(format!(
            "{} holds no walkdb database",
            args.db.display()
        )));
    }
    if all || args.header || args.segments {
        match inspect::manifest(&args.db) {
            Ok(m) => {
                text.push_str("manifest\n");
                for (k, v) in &m {
                    text.push_str(&format!("  {k:<16} {v}\n"));
                }
                doc.insert("manifest".into(), pairs(&m));
            }
            Err(e) => {
                problems.push(format!("catalog: {e}"));
                doc.insert("manifest".into(), json!({"error": e.to_string()}));
            }
        }
        let files = inspect::files(&args.db);
        let mut list = Vec::new();
        for f in &files {
            text.push_str(&format!(
                "{} ({}, {} bytes){}\n",
                f.name,
                f.kind,
                f.bytes,
                if f.problems.is_empty() {
                    ""
                } else {
                    "  DAMAGED"
                }
            ));
            if all || args.header {
                for (k, v) in &f.header {
                    text.push_str(&format!("  {k:<16} {v}\n"));
                }
            }
            if all || args.segments {
                for s in &f.sections {
                    text.push_str(&format!(
                        "  section {:<12} offset {:>10} length {:>10} crc32 {:08x} {}\n",
                        s.name,
                        s.offset,
                        s.length,
                        s.crc,
                        if s.crc_ok { "ok" } else { "MISMATCH" }
                    ));
                }
            }
            for p in &f.problems {
                text.push_str(&format!("  problem: {p}\n"));
                problems.push(format!("{}: {p}", f.name));
            }
            let sections: Vec<Value> = f
                .sections
                .iter()
                .map(|s| json!({"name": s.name, "offset": s.offset, "length": s.length, "crc32": s.crc, "crc_ok": s.crc_ok}))
                .collect();
            list.push(json!({"name": f.name, "kind": f.kind, "bytes": f.bytes, "header": pairs(&f.header), "sections": sections, "problems": f.problems}));
        }
        doc.insert("files".into(), Value::Array(list));
    }
    if all || args.wal {
        let mut list = Vec::new();
        for w in inspect::wal(&args.db) {
            match &w.first_lsn {
                Ok(first) => text.push_str(&format!(
                    "{}: first LSN {first}, {} records\n",
                    w.name,
                    w.records.len()
                )),
                Err(e) => text.push_str(&format!("{}: header damaged: {e}\n", w.name)),
            }
            let mut records = Vec::new();
            for r in &w.records {
                let lsn = r.lsn.map_or("-".to_string(), |l| l.to_string());
                if args.wal {
                    text.push_str(&format!(
                        "  offset {:>10} lsn {:>8} {:<6} {:>8} bytes  {}\n",
                        r.offset,
                        lsn,
                        r.kind.unwrap_or("?"),
                        r.payload_len.map_or("-".into(), |l| l.to_string()),
                        r.status
                    ));
                    for op in &r.ops {
                        text.push_str(&format!("      {op}\n"));
                    }
                }
                records.push(json!({"offset": r.offset, "lsn": r.lsn, "kind": r.kind, "length": r.payload_len, "status": r.status.to_string(), "checksum_ok": r.status.is_ok(), "ops": r.ops}));
            }
            list.push(json!({"file": w.name, "first_lsn": w.first_lsn.as_ref().ok(), "header_error": w.first_lsn.as_ref().err(), "records": records}));
        }
        doc.insert("wal".into(), Value::Array(list));
    }
    if args.node.is_some() || args.walks.is_some() {
        let database = crate::commands::open_read_only(&args.db)?;
        let snapshot = database.begin_read()?;
        let relations = snapshot.relation_names();
        if let Some(key) = &args.node {
            let id = snapshot
                .node_id(key)?
                .ok_or_else(|| CliError::usage(format!("unknown node '{key}'")))?;
            text.push_str(&format!("node {key} (id {id})\n"));
            let mut side = |edges: walkdb::Edges<'_>, label: &str| -> CliResult<Vec<Value>> {
                let mut out = Vec::new();
                for (other, rel, w) in edges {
                    let other_key = snapshot.node_key(other)?.unwrap_or_default();
                    let rel_name = relations.get(rel as usize).cloned().unwrap_or_default();
                    text.push_str(&format!("  {label} {rel_name} {other_key} ({w})\n"));
                    out.push(json!({"node": other_key, "relation": rel_name, "weight": w}));
                }
                Ok(out)
            };
            let out = side(snapshot.out_edges(id), "->")?;
            let inn = side(snapshot.in_edges(id), "<-")?;
            doc.insert(
                "node".into(),
                json!({"key": key, "id": id, "out": out, "in": inn}),
            );
        }
        if let Some(key) = &args.walks {
            let walks = database.walks_from(key)?;
            let stats = database.walk_stats()?;
            text.push_str(&format!("walks from {key}: {}\n", walks.len()));
            let mut list = Vec::new();
            for (path, end) in &walks {
                let end = match end {
                    walkdb::walks::WalkEnd::Stopped => "stopped",
                    walkdb::walks::WalkEnd::Died => "died",
                };
                text.push_str(&format!("  [{end}] {}\n", path.join(" -> ")));
                list.push(json!({"path": path, "end": end}));
            }
            let visits = database.visit_records_at(key)?;
            let shown: Vec<String> = visits.iter().take(32).map(|w| w.to_string()).collect();
            text.push_str(&format!(
                "visit records at {key}: {} (walk ids{}: {})\n",
                visits.len(),
                if visits.len() > 32 { ", first 32" } else { "" },
                shown.join(" ")
            ));
            let histogram: Vec<Value> = stats
                .length_histogram
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(len, &c)| json!({"nodes": len, "walks": c}))
                .collect();
            let edges = snapshot.edge_count().max(1) as f64;
            doc.insert(
                "walks".into(),
                json!({"key": key, "walks": list, "visit_records": visits, "index": {"walks": stats.walks, "steps": stats.steps, "visit_records": stats.visit_records, "stopped": stats.stopped, "died": stats.died, "memory_bytes": stats.memory_bytes, "mapped_bytes": stats.mapped_bytes, "overlay_walks": stats.overlay_walks, "overlay_bytes": stats.overlay_bytes, "file_bytes": stats.encoded_bytes, "file_bytes_per_edge": stats.encoded_bytes as f64 / edges, "length_histogram": histogram}}),
            );
            text.push_str(&format!(
                "index: {} walks ({} stopped, {} died), {} steps, {} visit records, {:.1} file bytes per edge\n",
                stats.walks,
                stats.stopped,
                stats.died,
                stats.steps,
                stats.visit_records,
                stats.encoded_bytes as f64 / edges
            ));
            text.push_str(&format!(
                "served: {} bytes mapped, {} bytes of heap; overlay since the last checkpoint: {} walks, {} bytes\n",
                stats.mapped_bytes, stats.memory_bytes, stats.overlay_walks, stats.overlay_bytes
            ));
            text.push_str("walk length histogram (nodes: walks)\n");
            let most = stats
                .length_histogram
                .iter()
                .copied()
                .max()
                .unwrap_or(1)
                .max(1);
            for (len, &count) in stats.length_histogram.iter().enumerate() {
                if count > 0 {
                    let bar = "#".repeat(((40 * count).div_ceil(most)) as usize);
                    let label = if len == 64 {
                        ">=64".to_string()
                    } else {
                        len.to_string()
                    };
                    text.push_str(&format!("  {label:>4}: {count:>9} {bar}\n"));
                }
            }
        }
    }
    doc.insert("problems".into(), json!(problems));
    if args.json {
        print_json(&Value::Object(doc))?;
    } else {
        outp!("{text}");
        if !problems.is_empty() {
            outln!("{} problem(s) found", problems.len());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError {
            code: 2,
            message: format!("damage found: {}", problems[0]),
        })
    }
}
