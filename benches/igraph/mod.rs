//! igraph on the same machine, in the same run: a Python venv with igraph 1.0.0 (created on
//! first use) times `personalized_pagerank(implementation="prpack")` on the queries a bench
//! runs, through `benches/igraph_timing.py`. Shared by the benches that compare with igraph.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use walkdb::graph::NodeId;

/// One configuration of queries for igraph: graph mode, damping (1 - alpha) and the queries
/// as (node id, weight) seeds, ids in first-appearance order of the TSV (src, then dst).
pub struct Config {
    pub name: String,
    pub undirected: bool,
    pub damping: f64,
    pub queries: Vec<Vec<(NodeId, f64)>>,
}

/// Finds or creates the venv; returns its python, or why igraph is unavailable.
pub fn igraph_python() -> Result<PathBuf, String> {
    let venv = std::env::var_os("WALKDB_BENCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-venv"))
        });
    let python = venv.join("bin/python");
    let has_igraph = |p: &Path| {
        Command::new(p)
            .args(["-c", "import igraph; assert igraph.__version__ == '1.0.0'"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if has_igraph(&python) {
        return Ok(python);
    }
    eprintln!("creating {} with igraph==1.0.0 ...", venv.display());
    let ok = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        && Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "igraph==1.0.0"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    if ok && has_igraph(&python) {
        Ok(python)
    } else {
        Err(format!(
            "could not create a Python venv with igraph 1.0.0 at {} (set WALKDB_BENCH_VENV to one)",
            venv.display()
        ))
    }
}

/// igraph's per-query times by configuration, and its graph load (build) time in seconds.
pub type IgraphTimes = (HashMap<String, Vec<f64>>, f64);

pub fn run_igraph(python: &Path, tsv: &Path, configs: &[Config]) -> Result<IgraphTimes, String> {
    let spec = serde_json::json!({
        "tsv": tsv,
        "configs": configs.iter().map(|c| serde_json::json!({
            "name": c.name, "undirected": c.undirected, "damping": c.damping,
            "queries": c.queries.iter().map(|q| serde_json::json!({
                "seeds": q.iter().map(|s| s.0).collect::<Vec<_>>(),
                "weights": q.iter().map(|s| s.1).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let dir = std::env::temp_dir().join(format!("walkdb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let spec_path = dir.join("queries.json");
    std::fs::write(&spec_path, spec.to_string()).map_err(|e| e.to_string())?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/igraph_timing.py");
    let out = Command::new(python)
        .arg(script)
        .arg(&spec_path)
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let mut result = HashMap::new();
    for c in configs {
        let times = doc["configs"][&c.name]
            .as_array()
            .ok_or("igraph output lacks a config")?
            .iter()
            .filter_map(|t| t.as_f64())
            .collect();
        result.insert(c.name.clone(), times);
    }
    Ok((result, doc["build_s"].as_f64().unwrap_or(f64::NAN)))
}
