//! `walkdb._walkdb`: the Python extension module over the walkdb crate.
//!
//! A thin layer: every method converts its arguments while holding the GIL, releases it
//! (`Python::allow_threads`) for the database work (queries, writes, checkpoints, verify,
//! refresh), and converts the result back. The Python package (`walkdb/__init__.py`) gives it
//! its public shape; `walkdb/compat/igraph.py` builds the igraph drop-in on top.
//!
//! Errors map by kind: rejected input -> `ValueError` (an unknown node or relation ->
//! `KeyError`), a damaged file -> `walkdb.CorruptionError`, an operating-system error ->
//! `OSError`, a lock held elsewhere -> `walkdb.LockedError`, everything else ->
//! `walkdb.WalkdbError` (the base class of the walkdb exceptions).

use std::collections::HashMap;
use std::sync::Arc;

use numpy::{PyArray1, PyReadonlyArray1};
use parking_lot::{Mutex, RwLock};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use walkdb::graph::{CsrGraph, Edge, NodeId};
use walkdb::ppr::{self, Accuracy, Method, PprQuery, PprWorkspace, TopKGuarantee};
use walkdb::{Database, Durability, Error, InputError, PprRequest, Snapshot};

create_exception!(
    walkdb,
    WalkdbError,
    PyException,
    "Base class of walkdb's own exceptions."
);
create_exception!(
    walkdb,
    CorruptionError,
    WalkdbError,
    "A database file is damaged; nothing wrong was served."
);
create_exception!(
    walkdb,
    LockedError,
    WalkdbError,
    "The database is open for writing in another process or handle."
);
create_exception!(
    walkdb,
    ReadOnlyError,
    WalkdbError,
    "A write on a handle opened read-only."
);
create_exception!(
    walkdb,
    PoisonedError,
    WalkdbError,
    "An earlier write or sync failed; the database refuses writes until reopened."
);
create_exception!(
    walkdb,
    ClosedError,
    WalkdbError,
    "The database handle was closed."
);

/// Maps a walkdb error to the Python exception of its kind.
fn to_py(error: impl Into<Error>) -> PyErr {
    let error: Error = error.into();
    let message = error.to_string();
    match error {
        Error::Input(InputError::UnknownNode { .. } | InputError::UnknownRelation { .. }) => {
            PyKeyError::new_err(message)
        }
        Error::Input(_) => PyValueError::new_err(message),
        Error::Corrupt(_) => CorruptionError::new_err(message),
        Error::Io(e) => PyOSError::new_err((e.source.raw_os_error().unwrap_or(0), message)),
        Error::Locked(_) => LockedError::new_err(message),
        Error::ReadOnly(_) => ReadOnlyError::new_err(message),
        Error::Poisoned(_) => PoisonedError::new_err(message),
        _ => WalkdbError::new_err(message),
    }
}

fn closed() -> PyErr {
    ClosedError::new_err("the database handle is closed")
}

fn parse_method(name: &str) -> PyResult<Method> {
    Ok(match name {
        "auto" => Method::Auto,
        "exact" => Method::Exact,
        "push" => Method::Push,
        "walks" => Method::Walks,
        "index" => Method::Index,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown method {other:?}: expected auto, exact, push, walks or index"
            )))
        }
    })
}

fn parse_durability(name: &str) -> PyResult<Durability> {
    Ok(match name {
        "immediate" => Durability::Immediate,
        "group" => Durability::Group,
        "none" => Durability::None,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown durability {other:?}: expected immediate, group or none"
            )))
        }
    })
}

/// The accuracy target of a query: `max_error` (None: walkdb's default, 1e-4; `inf`: the set
/// only), whether the top-k set must be certified, and (None: the defaults) the tie tolerance
/// at the boundary and the failure probability a randomized method (`index`) may have.
fn accuracy(
    max_error: Option<f64>,
    certify_top_k: bool,
    tie_tolerance: Option<f64>,
    failure_probability: Option<f64>,
) -> PyResult<Accuracy> {
    let mut accuracy = match max_error {
        Some(e) => Accuracy::with_max_error(e),
        None => Accuracy::default(),
    }
    .certify_top_k(certify_top_k);
    if let Some(t) = tie_tolerance {
        accuracy = accuracy.tie_tolerance(t);
    }
    if let Some(p) = failure_probability {
        accuracy = accuracy.failure_probability(p);
    }
    accuracy
        .validate()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(accuracy)
}

fn guarantee_dict<'py>(py: Python<'py>, g: &ppr::Guarantee) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("max_error", g.max_error)?;
    let (set, ties) = match g.top_k {
        TopKGuarantee::Exact => ("exact", 0.0),
        TopKGuarantee::UpToTies(t) => ("up_to_ties", t),
        _ => ("none", f64::NAN),
    };
    d.set_item("top_k", set)?;
    d.set_item("tie_tolerance", ties)?;
    d.set_item("failure_probability", g.failure_probability)?;
    Ok(d)
}

/// PprWorkspaces kept between calls (one per concurrent query), so a query does not allocate
/// its O(n) buffers again.
#[derive(Default)]
struct WorkspacePool(Mutex<Vec<PprWorkspace>>);

impl WorkspacePool {
    fn with<T>(&self, f: impl FnOnce(&mut PprWorkspace) -> T) -> T {
        let mut workspace = self.0.lock().pop().unwrap_or_default();
        let out = f(&mut workspace);
        let mut pool = self.0.lock();
        // A few per thread are plenty; more would only hold memory.
        if pool.len() < 8 {
            pool.push(workspace);
        }
        out
    }
}

/// One database handle, shared by every Python thread that holds it.
#[pyclass(module = "walkdb._walkdb", name = "Database", frozen)]
struct PyDatabase {
    db: RwLock<Option<Database>>,
    path: String,
    pool: Arc<WorkspacePool>,
}

impl PyDatabase {
    /// Runs `f` on the open database without the GIL.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Database) -> walkdb::Result<T> + Send,
    ) -> PyResult<T> {
        py.allow_threads(|| {
            let guard = self.db.read();
            let db = guard.as_ref().ok_or_else(closed)?;
            f(db).map_err(to_py)
        })
    }
}

/// One write operation, converted from Python before the GIL is released.
enum WriteOp {
    AddEdge(String, String, String, f64),
    DeleteEdge(String, String, String),
    AddNode(String),
    DeleteNode(String),
}

fn parse_op(item: &Bound<'_, PyAny>) -> PyResult<WriteOp> {
    let kind: String = item.get_item(0)?.extract()?;
    let arg = |i: usize| -> PyResult<String> { item.get_item(i)?.extract() };
    Ok(match kind.as_str() {
        "add_edge" => WriteOp::AddEdge(arg(1)?, arg(2)?, arg(3)?, item.get_item(4)?.extract()?),
        "delete_edge" => WriteOp::DeleteEdge(arg(1)?, arg(2)?, arg(3)?),
        "add_node" => WriteOp::AddNode(arg(1)?),
        "delete_node" => WriteOp::DeleteNode(arg(1)?),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown write operation {other:?}"
            )))
        }
    })
}

/// A column given as one value for every row or as a sequence of them.
fn column<'py, T: FromPyObject<'py> + Clone>(
    value: &Bound<'py, PyAny>,
    rows: usize,
    what: &str,
) -> PyResult<Vec<T>> {
    if let Ok(one) = value.extract::<T>() {
        return Ok(vec![one; rows]);
    }
    let many: Vec<T> = value.extract()?;
    if many.len() != rows {
        return Err(PyValueError::new_err(format!(
            "{what} has {} entries for {rows} edges",
            many.len()
        )));
    }
    Ok(many)
}

fn f64_column(value: &Bound<'_, PyAny>, rows: usize, what: &str) -> PyResult<Vec<f64>> {
    if let Ok(array) = value.extract::<PyReadonlyArray1<'_, f64>>() {
        let v = array.as_array().to_vec();
        if v.len() != rows {
            return Err(PyValueError::new_err(format!(
                "{what} has {} entries for {rows} edges",
                v.len()
            )));
        }
        return Ok(v);
    }
    column::<f64>(value, rows, what)
}

#[pymethods]
impl PyDatabase {
    /// Opens or creates the database at `path`.
    ///
    /// `mode`: "open_or_create" (default), "create", "open" or "read_only". The graph options
    /// (`undirected`, `alpha`, `walks_per_node`) are fixed at creation; opening with one that
    /// differs from the stored value is a ValueError.
    #[new]
    #[pyo3(signature = (path, *, mode="open_or_create", undirected=None, alpha=None, walks_per_node=None, durability=None, auto_checkpoint_bytes=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: std::path::PathBuf,
        mode: &str,
        undirected: Option<bool>,
        alpha: Option<f64>,
        walks_per_node: Option<f64>,
        durability: Option<&str>,
        auto_checkpoint_bytes: Option<u64>,
    ) -> PyResult<PyDatabase> {
        let mut builder = Database::builder(&path);
        if let Some(u) = undirected {
            builder = builder.undirected(u);
        }
        if let Some(a) = alpha {
            builder = builder.alpha(a);
        }
        if let Some(w) = walks_per_node {
            builder = builder.walks_per_node(w);
        }
        if let Some(d) = durability {
            builder = builder.durability(parse_durability(d)?);
        }
        if auto_checkpoint_bytes.is_some() {
            builder = builder.auto_checkpoint(auto_checkpoint_bytes);
        }
        let mode = mode.to_string();
        let db = py
            .allow_threads(move || match mode.as_str() {
                "open_or_create" => Ok(builder.open_or_create()),
                "create" => Ok(builder.create()),
                "open" => Ok(builder.open()),
                "read_only" => Ok(builder.open_read_only()),
                other => Err(other.to_string()),
            })
            .map_err(|m| {
                PyValueError::new_err(format!(
                    "unknown mode {m:?}: expected open_or_create, create, open or read_only"
                ))
            })?
            .map_err(to_py)?;
        Ok(PyDatabase {
            path: db.path().to_string(),
            db: RwLock::new(Some(db)),
            pool: Arc::default(),
        })
    }

    /// The database directory.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// The stored graph options: undirected, alpha, walks_per_node.
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let guard = self.db.read();
        let db = guard.as_ref().ok_or_else(closed)?;
        let o = db.options();
        let d = PyDict::new(py);
        d.set_item("undirected", o.undirected)?;
        d.set_item("alpha", o.alpha)?;
        d.set_item("walks_per_node", o.walks_per_node)?;
        Ok(d)
    }

    /// True for a handle opened with mode="read_only".
    #[getter]
    fn read_only(&self) -> PyResult<bool> {
        let guard = self.db.read();
        Ok(guard.as_ref().ok_or_else(closed)?.is_read_only())
    }

    /// True once the handle is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.db.read().is_none()
    }

    /// Applies the operations atomically in one write transaction and returns its LSN.
    /// Each operation is a tuple: ("add_edge", src, rel, dst, weight), ("delete_edge", src,
    /// rel, dst), ("add_node", key) or ("delete_node", key).
    fn commit(&self, py: Python<'_>, ops: &Bound<'_, PyAny>) -> PyResult<u64> {
        let ops: Vec<WriteOp> = ops
            .try_iter()?
            .map(|item| parse_op(&item?))
            .collect::<PyResult<_>>()?;
        self.run(py, move |db| {
            let mut txn = db.begin_write()?;
            for op in &ops {
                match op {
                    WriteOp::AddEdge(s, r, d, w) => txn.add_edge(s, r, d, *w)?,
                    WriteOp::DeleteEdge(s, r, d) => {
                        txn.delete_edge(s, r, d)?;
                    }
                    WriteOp::AddNode(k) => {
                        txn.add_node(k)?;
                    }
                    WriteOp::DeleteNode(k) => {
                        txn.delete_node(k)?;
                    }
                }
            }
            Ok(txn.commit()?.lsn)
        })
    }

    /// Adds (or reweights) many edges in one transaction: `src` and `dst` are sequences of
    /// keys, `rel` one relation name or a sequence, `weight` one weight or a sequence/array.
    #[pyo3(signature = (src, dst, *, rel=None, weight=None))]
    fn add_edges(
        &self,
        py: Python<'_>,
        src: Vec<String>,
        dst: Vec<String>,
        rel: Option<&Bound<'_, PyAny>>,
        weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let rows = src.len();
        if dst.len() != rows {
            return Err(PyValueError::new_err(format!(
                "{} sources but {} destinations",
                rows,
                dst.len()
            )));
        }
        let rel: Vec<String> = match rel {
            Some(r) => column(r, rows, "rel")?,
            None => vec!["related".to_string(); rows],
        };
        let weight = match weight {
            Some(w) => f64_column(w, rows, "weight")?,
            None => vec![1.0; rows],
        };
        self.run(py, move |db| {
            let mut txn = db.begin_write()?;
            for i in 0..rows {
                txn.add_edge(&src[i], &rel[i], &dst[i], weight[i])?;
            }
            Ok(txn.commit()?.lsn)
        })
    }

    /// The igraph compat layer's edge insert: igraph keeps parallel edges, walkdb one edge per
    /// (src, relation, dst); the k-th parallel copy of src -> dst is stored under relation
    /// `{prefix}{k}`, the lowest k free, so parallel copies add their weights in PPR as they
    /// do in igraph. `add_nodes` are created first (isolated vertices). With `bulk` the batch
    /// goes through the bulk loader (one new generation, walk index rebuilt: the cheaper way
    /// for a batch as large as the graph); otherwise through one write transaction (the walks
    /// it touches are repaired).
    #[pyo3(signature = (src, dst, weight, *, prefix, add_nodes=Vec::new(), bulk=false))]
    #[allow(clippy::too_many_arguments)]
    fn add_parallel_edges(
        &self,
        py: Python<'_>,
        src: Vec<String>,
        dst: Vec<String>,
        weight: &Bound<'_, PyAny>,
        prefix: String,
        add_nodes: Vec<String>,
        bulk: bool,
    ) -> PyResult<u64> {
        let rows = src.len();
        if dst.len() != rows {
            return Err(PyValueError::new_err("src and dst differ in length"));
        }
        let weight = f64_column(weight, rows, "weight")?;
        self.run(py, move |db| {
            if bulk {
                let mut loader = db.bulk_loader()?;
                // The loader holds the writer lock: this snapshot is the version it extends.
                let base = db.begin_read()?;
                let family = CopyNumbers::family(&prefix, |name| base.relation_id(name));
                let mut copies = CopyNumbers::new(family);
                let mut names = CopyNames {
                    prefix: prefix.clone(),
                    names: Vec::new(),
                };
                let mut rel_ids: Vec<walkdb::graph::RelId> = Vec::new();
                for key in &add_nodes {
                    loader.add_node(key)?;
                }
                for i in 0..rows {
                    let u = loader.add_node(&src[i])?;
                    let v = loader.add_node(&dst[i])?;
                    let k = copies.next(u, v, || {
                        // A node the loader created has no stored edges.
                        if u < base.node_count() {
                            base.out_edges(u).map(|(d, r, _)| (d, r)).collect()
                        } else {
                            Vec::new()
                        }
                    });
                    while rel_ids.len() <= k as usize {
                        let name = names.get(rel_ids.len() as u32).to_string();
                        rel_ids.push(loader.add_relation(&name)?);
                    }
                    loader.add_edge_ids(u, rel_ids[k as usize], v, weight[i])?;
                }
                loader.finish()?;
                return Ok(db.begin_read()?.lsn());
            }
            let mut txn = db.begin_write()?;
            for key in &add_nodes {
                txn.add_node(key)?;
            }
            let family = CopyNumbers::family(&prefix, |name| txn.relation_id(name));
            let mut copies = CopyNumbers::new(family);
            let mut names = CopyNames {
                prefix: prefix.clone(),
                names: Vec::new(),
            };
            for i in 0..rows {
                let u = txn.add_node(&src[i])?;
                let v = txn.add_node(&dst[i])?;
                let k = copies.next(u, v, || {
                    txn.out_edges(u)
                        .into_iter()
                        .map(|(d, r, _)| (d, r))
                        .collect()
                });
                txn.add_edge(&src[i], names.get(k), &dst[i], weight[i])?;
            }
            Ok(txn.commit()?.lsn)
        })
    }

    /// Creates the nodes that do not exist (with no edges), in one transaction, or with `bulk`
    /// through the bulk loader (one new generation: the cheaper way for as many nodes as the
    /// graph holds). Returns the LSN.
    #[pyo3(signature = (keys, *, bulk=false))]
    fn add_nodes(&self, py: Python<'_>, keys: Vec<String>, bulk: bool) -> PyResult<u64> {
        self.run(py, move |db| {
            if bulk {
                let mut loader = db.bulk_loader()?;
                for key in &keys {
                    loader.add_node(key)?;
                }
                loader.finish()?;
                return Ok(db.begin_read()?.lsn());
            }
            let mut txn = db.begin_write()?;
            for key in &keys {
                txn.add_node(key)?;
            }
            Ok(txn.commit()?.lsn)
        })
    }

    /// Deletes the nodes' edges in one transaction (the keys stay known, with no edges).
    fn delete_nodes(&self, py: Python<'_>, keys: Vec<String>) -> PyResult<u64> {
        self.run(py, move |db| {
            let mut txn = db.begin_write()?;
            for key in &keys {
                txn.delete_node(key)?;
            }
            Ok(txn.commit()?.lsn)
        })
    }

    /// A consistent read view of the newest committed version.
    fn snapshot(&self, py: Python<'_>) -> PyResult<PySnapshot> {
        let snapshot = self.run(py, |db| Ok(db.begin_read()?))?;
        Ok(PySnapshot {
            snapshot,
            pool: Arc::clone(&self.pool),
            projections: Mutex::default(),
        })
    }

    /// Folds the WAL into new segment and walk files; returns what it did.
    fn checkpoint<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let info = self.run(py, |db| Ok(db.checkpoint()?))?;
        let d = PyDict::new(py);
        d.set_item("generation", info.generation)?;
        d.set_item("lsn", info.lsn)?;
        d.set_item("segment_bytes", info.segment_bytes)?;
        d.set_item("wrote", info.wrote)?;
        d.set_item("seconds", info.seconds)?;
        Ok(d)
    }

    /// Reads every file and checks every checksum and invariant; raises CorruptionError on
    /// the first problem.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let report = self.run(py, |db| Ok(db.verify()?))?;
        let d = PyDict::new(py);
        d.set_item("nodes", report.nodes)?;
        d.set_item("edges", report.edges)?;
        d.set_item("walks", report.walks)?;
        d.set_item("wal_transactions", report.wal_transactions)?;
        d.set_item("files", report.files)?;
        Ok(d)
    }

    /// Counts and storage figures.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.run(py, |db| Ok(db.stats()?))?;
        let d = PyDict::new(py);
        d.set_item("nodes", s.nodes)?;
        d.set_item("edges", s.edges)?;
        d.set_item("relations", s.relations)?;
        d.set_item("undirected", s.undirected)?;
        d.set_item("alpha", s.alpha)?;
        d.set_item("walks_per_node", s.walks_per_node)?;
        d.set_item("lsn", s.lsn)?;
        d.set_item("checkpoint_lsn", s.checkpoint_lsn)?;
        d.set_item("generation", s.generation)?;
        d.set_item("walks", s.walks)?;
        d.set_item("delta_nodes", s.delta_nodes)?;
        let total: u64 = s.files.iter().map(|(_, b)| b).sum();
        d.set_item("bytes", total)?;
        d.set_item("files", s.files)?;
        Ok(d)
    }

    /// A read-only handle catches up with the writer's commits; returns the newest LSN.
    fn refresh(&self, py: Python<'_>) -> PyResult<u64> {
        self.run(py, |db| Ok(db.refresh()?))
    }

    /// Makes every commit so far durable (for durability="none").
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        self.run(py, |db| Ok(db.sync()?))
    }

    /// Syncs and releases the database (its lock goes when the last snapshot is dropped).
    /// Idempotent; any later call raises ClosedError.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let db = py.allow_threads(|| self.db.write().take());
        match db {
            None => Ok(()),
            Some(db) => py.allow_threads(|| match db.close() {
                // Snapshots still alive in Python hold the files; they release them when
                // collected, and everything was synced.
                Ok(()) | Err(walkdb::CloseError::InUse(_)) => Ok(()),
                Err(e) => Err(to_py(e)),
            }),
        }
    }
}

/// A hasher for maps keyed by node ids walkdb assigned (not user data): one multiply.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Numbers the parallel copies of an edge: the k-th copy of `u -> v` is relation
/// `{prefix}{k}`, numbered on past the highest copy the stored graph or this batch holds (a
/// gap left by a deleted copy stays unused, so no copy ever replaces another's weight).
struct CopyNumbers {
    /// Copy number of every relation of the family.
    family: IdMap<walkdb::graph::RelId, u32>,
    /// The next free copy number per (src, dst), for the sources seen so far.
    next: IdMap<(NodeId, NodeId), u32>,
    /// Sources whose stored edges were read (once, before the batch adds any from them).
    scanned: std::collections::HashSet<NodeId, std::hash::BuildHasherDefault<IdHasher>>,
}

impl CopyNumbers {
    fn family(
        prefix: &str,
        relation_id: impl Fn(&str) -> Option<walkdb::graph::RelId>,
    ) -> IdMap<walkdb::graph::RelId, u32> {
        let mut family = IdMap::default();
        for k in 0u32.. {
            match relation_id(&format!("{prefix}{k}")) {
                Some(r) => family.insert(r, k),
                None => break,
            };
        }
        family
    }

    fn new(family: IdMap<walkdb::graph::RelId, u32>) -> CopyNumbers {
        CopyNumbers {
            family,
            next: IdMap::default(),
            scanned: Default::default(),
        }
    }

    /// The copy number of a new edge `u -> v`; `stored` lists u's stored (dst, relation)s.
    fn next(
        &mut self,
        u: NodeId,
        v: NodeId,
        stored: impl FnOnce() -> Vec<(NodeId, walkdb::graph::RelId)>,
    ) -> u32 {
        if self.scanned.insert(u) {
            for (d, r) in stored() {
                if let Some(&k) = self.family.get(&r) {
                    let next = self.next.entry((u, d)).or_insert(0);
                    *next = (*next).max(k + 1);
                }
            }
        }
        let next = self.next.entry((u, v)).or_insert(0);
        let k = *next;
        *next += 1;
        k
    }
}

/// Relation names `{prefix}{k}`, made once per k.
struct CopyNames {
    prefix: String,
    names: Vec<String>,
}

impl CopyNames {
    fn get(&mut self, k: u32) -> &str {
        while self.names.len() <= k as usize {
            self.names
                .push(format!("{}{}", self.prefix, self.names.len()));
        }
        &self.names[k as usize]
    }
}

/// Which edge weights an igraph-style query walks with.
#[derive(Clone, PartialEq)]
enum WeightMode {
    Stored,
    Unit,
}

/// Which projection: (walk every edge both ways, weights).
type ProjectionKey = (bool, WeightMode);

/// A read view of one committed version.
#[pyclass(module = "walkdb._walkdb", name = "Snapshot", frozen)]
struct PySnapshot {
    snapshot: Snapshot,
    pool: Arc<WorkspacePool>,
    /// Projections other than the stored one (undirected view of a directed graph, unit
    /// weights), built on first use.
    projections: Mutex<Vec<(ProjectionKey, Arc<CsrGraph>)>>,
}

impl PySnapshot {
    fn request(&self, seeds: Vec<(String, f64)>, opts: &QueryOptions) -> PyResult<PprRequest> {
        let mut request = PprRequest::new(seeds);
        request.alpha = opts.alpha;
        request.top_k = opts.top_k;
        request.method = opts.method;
        request.accuracy = opts.accuracy;
        request.rel_weights = opts.rel_weights.clone();
        request.node_prefix = opts.node_prefix.clone();
        Ok(request)
    }

    /// The projection an igraph-style query walks: the stored one, or a rebuilt one (as an
    /// undirected graph, or with unit weights).
    fn projection_for(&self, undirected: bool, weights: WeightMode) -> Arc<CsrGraph> {
        let stored = self.snapshot.undirected();
        if undirected == stored && weights == WeightMode::Stored {
            return self.snapshot.projection();
        }
        let key = (undirected, weights.clone());
        let mut cache = self.projections.lock();
        if let Some((_, g)) = cache.iter().find(|(k, _)| *k == key) {
            return Arc::clone(g);
        }
        let mut edges = Vec::with_capacity(self.snapshot.edge_count() as usize);
        self.snapshot.for_each_edge(|src, dst, rel, weight| {
            let weight = if weights == WeightMode::Unit {
                1.0
            } else {
                weight
            };
            edges.push(Edge {
                src,
                rel,
                dst,
                weight,
            });
        });
        let graph = Arc::new(CsrGraph::from_edges(
            self.snapshot.node_count() as usize,
            &edges,
            undirected,
        ));
        cache.push((key, Arc::clone(&graph)));
        graph
    }
}

struct QueryOptions {
    alpha: Option<f64>,
    top_k: usize,
    method: Method,
    accuracy: Accuracy,
    rel_weights: Vec<(String, f64)>,
    node_prefix: Option<String>,
}

type Answer<'py> = (
    Vec<String>,
    Bound<'py, PyArray1<f64>>,
    &'static str,
    f64,
    f64,
    Bound<'py, PyDict>,
    u64,
);

fn answer_tuple<'py>(py: Python<'py>, a: walkdb::PprAnswer) -> PyResult<Answer<'py>> {
    let (keys, scores): (Vec<String>, Vec<f64>) = a.results.into_iter().unzip();
    Ok((
        keys,
        PyArray1::from_vec(py, scores),
        a.method.name(),
        a.alpha,
        a.error_bound,
        guarantee_dict(py, &a.guarantee)?,
        a.micros,
    ))
}

#[pymethods]
impl PySnapshot {
    /// LSN of the last transaction this snapshot includes.
    #[getter]
    fn lsn(&self) -> u64 {
        self.snapshot.lsn()
    }

    /// Node ids in use (ids are dense, 0..node_count, in creation order).
    #[getter]
    fn node_count(&self) -> u32 {
        self.snapshot.node_count()
    }

    /// Live edges.
    #[getter]
    fn edge_count(&self) -> u64 {
        self.snapshot.edge_count()
    }

    /// Graph mode.
    #[getter]
    fn undirected(&self) -> bool {
        self.snapshot.undirected()
    }

    /// The id of `key`, or None.
    fn node_id(&self, key: &str) -> PyResult<Option<u32>> {
        self.snapshot.node_id(key).map_err(to_py)
    }

    /// Ids of many keys as an int64 array, -1 for an unknown key.
    fn node_ids<'py>(
        &self,
        py: Python<'py>,
        keys: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let ids = py.allow_threads(|| {
            keys.iter()
                .map(|k| self.snapshot.node_id(k).map(|id| id.map_or(-1, i64::from)))
                .collect::<Result<Vec<i64>, walkdb::ReadError>>()
        });
        Ok(PyArray1::from_vec(py, ids.map_err(to_py)?))
    }

    /// The key of node `id`, or None.
    fn node_key(&self, id: u32) -> PyResult<Option<String>> {
        self.snapshot.node_key(id).map_err(to_py)
    }

    /// Every key, indexed by node id.
    fn node_keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.allow_threads(|| self.snapshot.node_keys())
            .map_err(to_py)
    }

    /// Relation names, indexed by relation id.
    fn relation_names(&self) -> Vec<String> {
        self.snapshot.relation_names()
    }

    /// Out-edges of `key` as (dst, relation, weight) tuples.
    fn out_neighbors(&self, key: &str) -> PyResult<Vec<(String, String, f64)>> {
        Ok(self
            .snapshot
            .out_neighbors(key)
            .map_err(to_py)?
            .into_iter()
            .map(|n| (n.key, n.relation, n.weight))
            .collect())
    }

    /// In-edges of `key` as (src, relation, weight) tuples.
    fn in_neighbors(&self, key: &str) -> PyResult<Vec<(String, String, f64)>> {
        Ok(self
            .snapshot
            .in_neighbors(key)
            .map_err(to_py)?
            .into_iter()
            .map(|n| (n.key, n.relation, n.weight))
            .collect())
    }

    /// The weight of src -[rel]-> dst, or None.
    fn edge_weight(&self, src: &str, rel: &str, dst: &str) -> PyResult<Option<f64>> {
        self.snapshot.edge_weight(src, rel, dst).map_err(to_py)
    }

    /// Every edge as four arrays: source ids, destination ids, relation ids, weights.
    #[allow(clippy::type_complexity)]
    fn edges<'py>(
        &self,
        py: Python<'py>,
    ) -> (
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<u32>>,
        Bound<'py, PyArray1<f64>>,
    ) {
        let (s, d, r, w) = py.allow_threads(|| {
            let m = self.snapshot.edge_count() as usize;
            let (mut s, mut d, mut r, mut w) = (
                Vec::with_capacity(m),
                Vec::with_capacity(m),
                Vec::with_capacity(m),
                Vec::with_capacity(m),
            );
            self.snapshot.for_each_edge(|src, dst, rel, weight| {
                s.push(src);
                d.push(dst);
                r.push(rel);
                w.push(weight);
            });
            (s, d, r, w)
        });
        (
            PyArray1::from_vec(py, s),
            PyArray1::from_vec(py, d),
            PyArray1::from_vec(py, r),
            PyArray1::from_vec(py, w),
        )
    }

    /// One PPR query by keys; returns (keys, scores, method, alpha, error_bound, guarantee,
    /// micros).
    #[pyo3(signature = (seeds, *, alpha=None, top_k=10, method="auto", max_error=None, certify_top_k=true, tie_tolerance=None, failure_probability=None, rel_weights=Vec::new(), node_prefix=None))]
    #[allow(clippy::too_many_arguments)]
    fn ppr<'py>(
        &self,
        py: Python<'py>,
        seeds: Vec<(String, f64)>,
        alpha: Option<f64>,
        top_k: usize,
        method: &str,
        max_error: Option<f64>,
        certify_top_k: bool,
        tie_tolerance: Option<f64>,
        failure_probability: Option<f64>,
        rel_weights: Vec<(String, f64)>,
        node_prefix: Option<String>,
    ) -> PyResult<Answer<'py>> {
        let opts = QueryOptions {
            alpha,
            top_k,
            method: parse_method(method)?,
            accuracy: accuracy(max_error, certify_top_k, tie_tolerance, failure_probability)?,
            rel_weights,
            node_prefix,
        };
        let request = self.request(seeds, &opts)?;
        let answer = py
            .allow_threads(|| {
                self.pool
                    .with(|workspace| self.snapshot.ppr(&request, workspace))
            })
            .map_err(to_py)?;
        answer_tuple(py, answer)
    }

    /// Many PPR queries (one seed list each) with the same options, run in parallel.
    #[pyo3(signature = (queries, *, alpha=None, top_k=10, method="auto", max_error=None, certify_top_k=true, tie_tolerance=None, failure_probability=None, rel_weights=Vec::new(), node_prefix=None))]
    #[allow(clippy::too_many_arguments)]
    fn ppr_batch<'py>(
        &self,
        py: Python<'py>,
        queries: Vec<Vec<(String, f64)>>,
        alpha: Option<f64>,
        top_k: usize,
        method: &str,
        max_error: Option<f64>,
        certify_top_k: bool,
        tie_tolerance: Option<f64>,
        failure_probability: Option<f64>,
        rel_weights: Vec<(String, f64)>,
        node_prefix: Option<String>,
    ) -> PyResult<Vec<Answer<'py>>> {
        let opts = QueryOptions {
            alpha,
            top_k,
            method: parse_method(method)?,
            accuracy: accuracy(max_error, certify_top_k, tie_tolerance, failure_probability)?,
            rel_weights,
            node_prefix,
        };
        let requests: Vec<PprRequest> = queries
            .into_iter()
            .map(|seeds| self.request(seeds, &opts))
            .collect::<PyResult<_>>()?;
        // Answered together: certified-push queries share their sweeps (same answers as
        // one by one).
        let answers: Vec<Result<walkdb::PprAnswer, walkdb::ReadError>> =
            py.allow_threads(|| self.snapshot.ppr_batch(&requests));
        answers
            .into_iter()
            .map(|a| answer_tuple(py, a.map_err(to_py)?))
            .collect()
    }

    /// The whole PPR vector, indexed by node id, for a reset given by node ids and weights
    /// (igraph's `personalized_pagerank`): `undirected` walks every edge both ways (None: the
    /// database's mode), `weights` "stored" or "unit". Returns (scores, method, error_bound).
    #[pyo3(signature = (seed_ids, seed_weights, *, alpha, method="exact", undirected=None, weights="stored", max_error=None))]
    #[allow(clippy::too_many_arguments)]
    fn ppr_vector<'py>(
        &self,
        py: Python<'py>,
        seed_ids: PyReadonlyArray1<'py, i64>,
        seed_weights: PyReadonlyArray1<'py, f64>,
        alpha: f64,
        method: &str,
        undirected: Option<bool>,
        weights: &str,
        max_error: Option<f64>,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, &'static str, f64)> {
        let method = parse_method(method)?;
        let weights = match weights {
            "stored" => WeightMode::Stored,
            "unit" => WeightMode::Unit,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown weights {other:?}: expected stored or unit"
                )))
            }
        };
        let n = self.snapshot.node_count();
        let ids = seed_ids.as_array();
        let ws = seed_weights.as_array();
        if ids.len() != ws.len() {
            return Err(PyValueError::new_err(
                "seed_ids and seed_weights differ in length",
            ));
        }
        let mut seeds = Vec::with_capacity(ids.len());
        for (&id, &w) in ids.iter().zip(ws.iter()) {
            if id < 0 || id >= i64::from(n) {
                return Err(PyKeyError::new_err(format!("no node with id {id}")));
            }
            seeds.push((id as NodeId, w));
        }
        let accuracy = accuracy(max_error, false, None, None)?;
        let undirected = undirected.unwrap_or(self.snapshot.undirected());
        let result = py.allow_threads(|| {
            let graph = self.projection_for(undirected, weights);
            let mut query = PprQuery::new(seeds, alpha).top_k(n as usize).method(method);
            query.accuracy = accuracy;
            self.pool
                .with(|workspace| ppr::ppr(&graph, &query, workspace))
                .map(|r| {
                    let mut dense = vec![0.0; n as usize];
                    for (v, s) in r.top {
                        dense[v as usize] = s;
                    }
                    (dense, r.method.name(), r.error_bound)
                })
        });
        let (dense, method, bound) =
            result.map_err(|e| to_py(Error::Input(InputError::Query(e))))?;
        Ok((PyArray1::from_vec(py, dense), method, bound))
    }
}

/// The extension module.
#[pymodule]
fn _walkdb(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyDatabase>()?;
    m.add_class::<PySnapshot>()?;
    m.add("WalkdbError", py.get_type::<WalkdbError>())?;
    m.add("CorruptionError", py.get_type::<CorruptionError>())?;
    m.add("LockedError", py.get_type::<LockedError>())?;
    m.add("ReadOnlyError", py.get_type::<ReadOnlyError>())?;
    m.add("PoisonedError", py.get_type::<PoisonedError>())?;
    m.add("ClosedError", py.get_type::<ClosedError>())?;
    m.add("DEFAULT_ALPHA", walkdb::DEFAULT_ALPHA)?;
    m.add("MAX_KEY_LEN", walkdb::MAX_KEY_LEN)?;
    Ok(())
}
