"""An igraph-compatible ``Graph`` backed by a walkdb database.

Replace ``import igraph as ig`` with ``from walkdb.compat import igraph as ig``: the part of
python-igraph's ``Graph`` that HippoRAG-style retrieval uses behaves as in igraph, with the
graph kept in a walkdb database instead of RAM and a pickle.

What maps to what:

* **Vertices** keep igraph's dense indices ``0..vcount()-1`` in insertion order (renumbered on
  delete, as igraph does) and any attributes. Each vertex is a walkdb node whose key is its
  ``name`` when that is a usable, unused string (else a generated ``#v<serial>`` key).
* **Edges** are walkdb edges; the k-th parallel copy of ``u -> v`` is stored under relation
  ``e<k>``, so parallel edges add their weights in PageRank exactly as in igraph. Only the
  ``weight`` edge attribute is stored (finite and > 0); ``es`` lists edges in walkdb's order
  (by source vertex), not insertion order.
* **Persistence**: ``write_pickle(path)`` makes ``path`` a directory holding the walkdb database
  (``walkdb/``) and the vertex table (``vertices.pickle``: order, attributes, graph attributes);
  ``Graph.Read_Pickle(path)`` opens it without reading the edges into Python. Mutations are
  committed to the database as they happen (not synced); ``write_pickle`` syncs them and
  saves the vertex table. ``Read_Pickle`` also reads a genuine igraph pickle file (no igraph
  needed), so an existing index migrates with one ``Read_Pickle`` + ``write_pickle`` (the old
  file is kept beside it as ``<path>.igraph-backup``).
* **personalized_pagerank** has igraph's semantics (reset normalised by walkdb; NaN, infinite
  or negative reset entries raise ``InternalError`` as igraph does; parallel edges add their
  weights; dangling vertices jump by the reset; ``directed=False`` walks every edge both ways)
  and returns a list indexed like ``vs``. ``implementation="prpack"`` (any implementation)
  runs walkdb's exact solver (agrees with igraph to ~1e-9); the walkdb-only keywords
  ``method="push"`` or ``"auto"`` with ``accuracy=<max error per score>`` select the certified
  push.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import uuid
import warnings
import weakref
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

import walkdb as _wdb

__all__ = ["Graph", "VertexSeq", "Vertex", "EdgeSeq", "Edge", "InternalError"]

_FORMAT = "walkdb-compat-igraph/1"
_DB_DIR = "walkdb"
_META = "vertices.pickle"
_REL_PREFIX = "e"
_GENERATED_KEY = "#v"
_BACKUP_SUFFIX = ".igraph-backup"
_BULK_MIN_EDGES = 20_000


class InternalError(ValueError):
    """Raised where igraph raises ``igraph.InternalError`` (invalid reset vectors...)."""


def _usable_key(name: Any) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name.encode("utf-8")) <= _wdb.MAX_KEY_LEN
        and "\t" not in name
        and "\n" not in name
        and "\r" not in name
    )


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _release(db: Optional[_wdb.Database], tmpdir: Optional[str]) -> None:
    """Finalizer of a Graph: closes its database and removes an anonymous graph's files."""
    if db is not None:
        try:
            db.close()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass
    if tmpdir is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)


class Graph:
    """A graph with igraph's interface, stored in a walkdb database.

    ``Graph(n=0, edges=None, directed=False, graph_attrs=None, vertex_attrs=None,
    edge_attrs=None)`` takes igraph's constructor arguments. A new graph lives in a temporary
    database until ``write_pickle`` gives it a home.
    """

    def __init__(
        self,
        n: int = 0,
        edges: Optional[Iterable[Tuple[Any, Any]]] = None,
        directed: bool = False,
        graph_attrs: Optional[Dict[str, Any]] = None,
        vertex_attrs: Optional[Dict[str, Sequence[Any]]] = None,
        edge_attrs: Optional[Dict[str, Sequence[Any]]] = None,
    ):
        self._directed = bool(directed)
        self._tmpdir: Optional[str] = tempfile.mkdtemp(prefix="walkdb-graph-")
        self._home: Optional[str] = None
        db = _wdb.Database(
            os.path.join(self._tmpdir, _DB_DIR),
            mode="create",
            undirected=not self._directed,
            durability="none",
        )
        self._attach(db, self._tmpdir)
        self._keys: List[str] = []
        self._vattrs: Dict[str, List[Any]] = {}
        self._gattrs: Dict[str, Any] = dict(graph_attrs or {})
        self._eattr_names: List[str] = []
        self._serial = 0
        self._reset_caches()
        if n:
            self.add_vertices(int(n), attributes=vertex_attrs)
        elif vertex_attrs:
            raise ValueError("vertex_attrs given for a graph with no vertices")
        if edges is not None:
            self.add_edges(edges, attributes=edge_attrs)

    # -- internals ---------------------------------------------------------------------------

    def _attach(self, db: _wdb.Database, tmpdir: Optional[str]) -> None:
        self._db = db
        self._finalizer = weakref.finalize(self, _release, db, tmpdir)

    def _writable(self) -> _wdb.Database:
        """The database for a write. A graph opened while another process (or Graph) had
        its database open for writing reads it read-only; its first write takes the lock
        then, or raises LockedError."""
        if self._db.read_only:
            path = os.path.join(self._home, _DB_DIR)
            db = _wdb.Database(path, mode="open", durability="none")
            if db.stats()["lsn"] != self._snapshot().lsn:
                db.close()
                raise _wdb.LockedError(
                    f"{self._home} changed since this graph was opened read-only "
                    f"(another writer held it); read it again with Read_Pickle"
                )
            self._finalizer()
            self._attach(db, None)
            self._changed()
        return self._db

    def _reset_caches(self) -> None:
        self._snap: Optional[_wdb.Snapshot] = None
        self._ids: Optional[np.ndarray] = None
        self._key_index: Optional[Dict[str, int]] = None
        self._name_index: Optional[Dict[Any, int]] = None
        self._edge_cache: Optional[Tuple[int, np.ndarray, np.ndarray, np.ndarray]] = None

    def _changed(self) -> None:
        """After a write: the snapshot and edge list are stale (vertex maps are not)."""
        self._snap = None
        self._edge_cache = None

    def _snapshot(self) -> _wdb.Snapshot:
        if self._snap is None:
            self._snap = self._db.snapshot()
        return self._snap

    def _node_ids(self) -> np.ndarray:
        """walkdb node id of every vertex, by vertex index."""
        if self._ids is None or len(self._ids) != len(self._keys):
            ids = self._snapshot().node_ids(self._keys)
            if len(ids) and ids.min() < 0:
                missing = self._keys[int(np.argmin(ids))]
                raise _wdb.WalkdbError(f"vertex key {missing!r} is missing from the database")
            self._ids = ids
        return self._ids

    def _keys_map(self) -> Dict[str, int]:
        if self._key_index is None:
            self._key_index = {k: i for i, k in enumerate(self._keys)}
        return self._key_index

    def _names_map(self) -> Dict[Any, int]:
        if self._name_index is None:
            names = self._vattrs.get("name")
            index: Dict[Any, int] = {}
            if names is not None:
                for i, nm in enumerate(names):
                    try:
                        index.setdefault(nm, i)
                    except TypeError:  # an unhashable name cannot be looked up
                        pass
            self._name_index = index
        return self._name_index

    def _new_key(self, name: Any, taken: Dict[str, int]) -> str:
        if _usable_key(name) and name not in taken and not name.startswith(_GENERATED_KEY):
            return name
        while True:
            key = f"{_GENERATED_KEY}{self._serial}"
            self._serial += 1
            if key not in taken:
                return key

    def _vertex_index(self, v: Any) -> int:
        if isinstance(v, Vertex):
            return v.index
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            i = int(v)
            if 0 <= i < len(self._keys):
                return i
            raise ValueError(f"vertex index out of range: {i}")
        if isinstance(v, str):
            i = self._names_map().get(v)
            if i is None:
                raise ValueError(f"no such vertex: {v!r}")
            return i
        raise TypeError(f"only integers, strings or Vertex objects name vertices, not {type(v).__name__}")

    def _vertex_indices(self, vs: Any) -> List[int]:
        if vs is None:
            return list(range(len(self._keys)))
        if isinstance(vs, VertexSeq):
            return list(vs.indices)
        if isinstance(vs, (str, int, np.integer, Vertex)):
            return [self._vertex_index(vs)]
        return [self._vertex_index(v) for v in vs]

    def _edge_arrays(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every edge as (source vertex, target vertex, weight) arrays, in walkdb's order."""
        snap = self._snapshot()
        if self._edge_cache is None or self._edge_cache[0] != snap.lsn:
            src, dst, _rel, weight = snap.edges()
            inverse = np.full(snap.node_count, -1, dtype=np.int64)
            inverse[self._node_ids()] = np.arange(len(self._keys), dtype=np.int64)
            s, d = inverse[src], inverse[dst]
            if len(s) and (s.min() < 0 or d.min() < 0):
                raise _wdb.WalkdbError("an edge of the database joins a vertex the graph does not list")
            self._edge_cache = (snap.lsn, s, d, weight)
        return self._edge_cache[1], self._edge_cache[2], self._edge_cache[3]

    # -- igraph: structure -------------------------------------------------------------------

    def is_directed(self) -> bool:
        """Whether the graph is directed."""
        return self._directed

    def vcount(self) -> int:
        """Number of vertices."""
        return len(self._keys)

    def ecount(self) -> int:
        """Number of edges (parallel copies counted)."""
        return self._snapshot().edge_count

    @property
    def vs(self) -> "VertexSeq":
        """The vertex sequence."""
        return VertexSeq(self)

    @property
    def es(self) -> "EdgeSeq":
        """The edge sequence."""
        return EdgeSeq(self)

    def add_vertex(self, name: Any = None, **kwds: Any) -> "Vertex":
        """Adds one vertex with attributes; returns it."""
        attributes = {k: [v] for k, v in kwds.items()}
        if name is not None:
            attributes["name"] = [name]
        self.add_vertices(1, attributes=attributes)
        return Vertex(self, len(self._keys) - 1)

    def add_vertices(self, n: Any, attributes: Optional[Dict[str, Sequence[Any]]] = None) -> None:
        """Adds ``n`` vertices (an int; a string adds one vertex of that name; a sequence of
        strings adds one per name) with per-vertex attribute lists."""
        attributes = dict(attributes or {})
        if isinstance(n, str):
            attributes["name"] = [n]
            count = 1
        elif isinstance(n, (int, np.integer)):
            count = int(n)
            if count < 0:
                raise ValueError("n must be non-negative")
        else:
            names = list(n)
            attributes["name"] = names
            count = len(names)
        for attr, values in attributes.items():
            values = list(values)
            if len(values) != count:
                raise ValueError(
                    f"attribute {attr!r} has {len(values)} values for {count} new vertices"
                )
            attributes[attr] = values
        if count == 0:
            return
        taken = self._keys_map()
        names = attributes.get("name", [None] * count)
        keys = []
        for nm in names:
            key = self._new_key(nm, taken)
            taken[key] = len(self._keys) + len(keys)
            keys.append(key)
        try:
            db = self._writable()
            # As many new vertices as the graph holds load as one new generation.
            bulk = count >= max(_BULK_MIN_EDGES, len(self._keys))
            db._raw_db().add_nodes(keys, bulk=bulk)
        except BaseException:
            self._key_index = None
            raise
        old = len(self._keys)
        self._keys.extend(keys)
        for attr in set(self._vattrs) | set(attributes):
            column = self._vattrs.setdefault(attr, [None] * old)
            column.extend(attributes.get(attr, [None] * count))
        self._name_index = None
        self._changed()

    def add_edge(self, source: Any, target: Any, **kwds: Any) -> None:
        """Adds one edge; keyword arguments are its attributes."""
        self.add_edges([(source, target)], attributes={k: [v] for k, v in kwds.items()})

    def add_edges(self, es: Iterable[Tuple[Any, Any]], attributes: Optional[Dict[str, Sequence[Any]]] = None) -> None:
        """Adds edges given as pairs of vertex indices or names. ``attributes`` may hold
        ``weight`` (one finite weight > 0 per edge; 1.0 when absent)."""
        pairs = self._edge_pairs(es)
        attributes = dict(attributes or {})
        weight = attributes.pop("weight", None)
        if attributes:
            raise ValueError(
                f"walkdb stores only the 'weight' edge attribute, not {sorted(attributes)}"
            )
        if weight is None:
            weights = np.ones(len(pairs), dtype=np.float64)
        else:
            weights = np.asarray([1.0 if w is None else w for w in weight], dtype=np.float64)
            if len(weights) != len(pairs):
                raise ValueError(f"weight has {len(weights)} values for {len(pairs)} edges")
            if "weight" not in self._eattr_names:
                self._eattr_names.append("weight")
        if len(pairs) == 0:
            return
        bad = ~(np.isfinite(weights) & (weights > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"edge {tuple(pairs[i].tolist())} has weight {weights[i]}; walkdb stores weights that are finite and > 0"
            )
        keys = np.asarray(self._keys, dtype=object)
        db = self._writable()
        # A batch as large as the graph is cheaper to load as a new generation (walk index
        # rebuilt) than to repair edge by edge.
        bulk = len(pairs) >= max(_BULK_MIN_EDGES, self._snapshot().edge_count)
        db._raw_db().add_parallel_edges(
            keys[pairs[:, 0]].tolist(),
            keys[pairs[:, 1]].tolist(),
            weights,
            prefix=_REL_PREFIX,
            bulk=bulk,
        )
        self._changed()

    def _edge_pairs(self, es: Iterable[Tuple[Any, Any]]) -> np.ndarray:
        """Endpoints as an (m, 2) array of vertex indices; names and Vertex objects resolved,
        integers range-checked (vectorised when every endpoint is an integer)."""
        es = list(es)
        n = len(self._keys)
        try:
            arr = np.asarray(es)
        except (TypeError, ValueError):
            arr = None
        if arr is not None and arr.ndim == 2 and arr.shape[1] == 2 and arr.dtype.kind in "iu":
            bad = (arr < 0) | (arr >= n)
            if bad.any():
                raise ValueError(f"vertex index out of range: {int(arr[bad][0])}")
            return arr.astype(np.int64, copy=False)
        if arr is not None and arr.size == 0:
            return np.zeros((0, 2), dtype=np.int64)
        return np.array(
            [(self._vertex_index(a), self._vertex_index(b)) for a, b in es], dtype=np.int64
        ).reshape(-1, 2)

    def delete_vertices(self, vertices: Any = None) -> None:
        """Deletes vertices (indices, names, Vertex objects, a VertexSeq; None: all) and
        their edges; the remaining vertices are renumbered as in igraph."""
        doomed = set(self._vertex_indices(vertices))
        if not doomed:
            return
        self._writable()._raw_db().delete_nodes([self._keys[i] for i in sorted(doomed)])
        keep = [i for i in range(len(self._keys)) if i not in doomed]
        self._keys = [self._keys[i] for i in keep]
        for attr, column in self._vattrs.items():
            self._vattrs[attr] = [column[i] for i in keep]
        self._reset_caches()

    def get_edgelist(self) -> List[Tuple[int, int]]:
        """Every edge as a (source, target) pair of vertex indices, in walkdb's order."""
        s, d, _ = self._edge_arrays()
        return list(zip(s.tolist(), d.tolist()))

    def is_multiple(self, edges: Any = None) -> List[bool]:
        """For each edge, whether an earlier edge joins the same vertices (igraph's rule)."""
        s, d, _ = self._edge_arrays()
        if not self._directed:
            s, d = np.minimum(s, d), np.maximum(s, d)
        seen = set()
        out = []
        for pair in zip(s.tolist(), d.tolist()):
            out.append(pair in seen)
            seen.add(pair)
        if edges is None:
            return out
        if isinstance(edges, (int, np.integer)):
            return out[int(edges)]
        return [out[int(e)] for e in edges]

    def has_multiple(self) -> bool:
        """Whether any two edges join the same vertices."""
        return any(self.is_multiple())

    def attributes(self) -> List[str]:
        """Graph attribute names."""
        return list(self._gattrs)

    def __getitem__(self, attr: str) -> Any:
        return self._gattrs[attr]

    def __setitem__(self, attr: str, value: Any) -> None:
        self._gattrs[attr] = value

    def __repr__(self) -> str:
        kind = "D" if self._directed else "U"
        where = self._home or "temporary database"
        return f"<walkdb.compat.igraph.Graph {kind} {self.vcount()} vertices, {self.ecount()} edges, {where}>"

    def summary(self) -> str:
        """A one-line description."""
        return repr(self)

    # -- igraph: PageRank --------------------------------------------------------------------

    def personalized_pagerank(
        self,
        vertices: Any = None,
        directed: bool = True,
        damping: float = 0.85,
        reset: Any = None,
        reset_vertices: Any = None,
        weights: Any = None,
        arpack_options: Any = None,
        implementation: str = "prpack",
        *,
        method: Optional[str] = None,
        accuracy: Optional[float] = None,
    ) -> Union[List[float], float]:
        """igraph's ``personalized_pagerank``, answered by walkdb.

        Every ``implementation`` runs walkdb's exact solver (the scores agree with igraph's
        PRPACK to about 1e-9). walkdb-only: ``method="push"`` (or ``"auto"``) answers with the
        certified forward push instead, every score within ``accuracy`` (default 1e-4).
        """
        n = len(self._keys)
        if reset is not None and reset_vertices is not None:
            raise ValueError("only reset or reset_vs can be defined, not both")
        if n == 0:
            return []
        if reset is not None:
            if isinstance(reset, str):
                reset = self.vs[reset]
            r = np.asarray(reset, dtype=np.float64)
            if r.ndim != 1 or r.shape[0] != n:
                raise InternalError(
                    "Invalid length of reset vector when calculating personalized PageRank scores. -- Invalid value"
                )
            if not np.all(np.isfinite(r)):
                raise InternalError("The reset vector must not contain infinite or NaN values. -- Invalid value")
            if (r < 0).any():
                raise InternalError("The reset vector must not contain negative elements. -- Invalid value")
            if r.sum() == 0:
                raise InternalError("The sum of the elements in the reset vector must not be zero. -- Invalid value")
        elif reset_vertices is not None:
            r = np.bincount(self._vertex_indices(reset_vertices), minlength=n).astype(np.float64)
            if r.sum() == 0:
                raise InternalError("The sum of the elements in the reset vector must not be zero. -- Invalid value")
        else:
            r = np.ones(n, dtype=np.float64)
        if weights is None:
            mode = "unit"
        elif isinstance(weights, str):
            if weights not in self._eattr_names and not (weights == "weight" and self.ecount() == 0):
                raise KeyError("Attribute does not exist")
            mode = "stored"
        else:
            raise ValueError(
                "walkdb's compat Graph takes weights=None or the name of the stored 'weight' attribute"
            )
        damping = float(damping)
        if not 0.0 <= damping <= 1.0:
            raise InternalError("The PageRank damping factor must be in the range [0,1]. -- Invalid value")
        if damping == 0.0:
            scores = r / r.sum()
        elif damping == 1.0:
            raise ValueError("walkdb needs a restart probability: damping must be below 1")
        else:
            nonzero = np.flatnonzero(r)
            ids = self._node_ids()
            dense, _method, _bound = self._snapshot()._raw.ppr_vector(
                np.ascontiguousarray(ids[nonzero]),
                np.ascontiguousarray(r[nonzero]),
                alpha=1.0 - damping,
                method=method or "exact",
                undirected=(not self._directed) or (not directed),
                weights=mode,
                max_error=accuracy,
            )
            scores = dense[ids]
        if vertices is None:
            return scores.tolist()
        if isinstance(vertices, (int, np.integer, str, Vertex)):
            return float(scores[self._vertex_index(vertices)])
        return [float(scores[i]) for i in self._vertex_indices(vertices)]

    # -- persistence -------------------------------------------------------------------------

    def write_pickle(self, fname: Union[str, os.PathLike] = None, version: int = -1) -> None:
        """Saves the graph to ``fname``, a directory holding the walkdb database and the
        vertex table (created, or replaced when it is another file or graph)."""
        if fname is None:
            raise ValueError("walkdb's compat Graph saves to a path, not to a returned string")
        target = os.path.abspath(os.fspath(fname))
        if self._home != target:
            if self._db.read_only:
                self._writable()
            self._move_to(target)
        self._writable().sync()
        self._write_meta(target)

    def _meta(self) -> Dict[str, Any]:
        return {
            "format": _FORMAT,
            "directed": self._directed,
            "keys": self._keys,
            "vertex_attrs": self._vattrs,
            "graph_attrs": self._gattrs,
            "edge_attr_names": self._eattr_names,
            "serial": self._serial,
            "lsn": self._db.stats()["lsn"],
        }

    def _write_meta(self, target: str) -> None:
        tmp = os.path.join(target, f".{_META}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as f:
            pickle.dump(self._meta(), f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(target, _META))
        _fsync_dir(target)

    def _move_to(self, target: str) -> None:
        """Gives the graph a new home: its database is copied (or moved, from a temporary
        home) into ``target``, which is created or replaced."""
        parent = os.path.dirname(target) or "."
        staging = os.path.join(parent, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
        os.makedirs(staging)
        self._db.checkpoint()
        self._snap = None
        self._db.close()
        self._finalizer.detach()
        source = os.path.join(self._home or self._tmpdir, _DB_DIR)
        if self._home is None:
            shutil.move(source, os.path.join(staging, _DB_DIR))
        else:
            shutil.copytree(source, os.path.join(staging, _DB_DIR))
        if os.path.isdir(target):
            old = f"{staging}.old"
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if os.path.exists(target):
                # A genuine igraph pickle (or another file): kept, not overwritten.
                os.replace(target, target + _BACKUP_SUFFIX)
            os.replace(staging, target)
        _fsync_dir(parent)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        self._home = target
        self._attach(_wdb.Database(os.path.join(target, _DB_DIR), mode="open", durability="none"), None)
        self._reset_caches()

    @classmethod
    def Read_Pickle(cls, fname: Union[str, os.PathLike]) -> "Graph":
        """Opens a graph saved by ``write_pickle`` (a directory), or reads a genuine igraph
        pickle file into a new graph (save it with ``write_pickle`` to migrate it)."""
        path = os.path.abspath(os.fspath(fname))
        if os.path.isdir(path):
            return cls._open_home(path)
        with open(path, "rb") as f:
            graph = _IgraphUnpickler(f).load()
        if not isinstance(graph, Graph):
            raise ValueError(f"{path} does not hold a pickled igraph Graph")
        return graph

    @classmethod
    def _open_home(cls, path: str) -> "Graph":
        meta_path = os.path.join(path, _META)
        try:
            with open(meta_path, "rb") as f:
                meta = pickle.load(f)
        except FileNotFoundError:
            raise ValueError(f"{path} is not a graph saved by walkdb.compat.igraph (no {_META})") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(f"{meta_path} is not a {_FORMAT} vertex table")
        graph = cls.__new__(cls)
        graph._directed = bool(meta["directed"])
        graph._tmpdir = None
        graph._home = path
        graph._attach(*_open_home_db(path))
        graph._keys = list(meta["keys"])
        graph._vattrs = {k: list(v) for k, v in meta["vertex_attrs"].items()}
        graph._gattrs = dict(meta["graph_attrs"])
        graph._eattr_names = list(meta["edge_attr_names"])
        graph._serial = int(meta["serial"])
        graph._reset_caches()
        if graph._db.options["undirected"] == graph._directed:
            raise _wdb.CorruptionError(f"{path}: the vertex table and the database disagree on direction")
        lsn = graph._db.stats()["lsn"]
        if lsn != meta["lsn"]:
            graph._reconcile(meta["lsn"], lsn)
        return graph

    def _reconcile(self, saved: int, current: int) -> None:
        """The database holds commits made after the vertex table was saved (a process that
        changed the graph and ended before ``write_pickle``): vertices with edges that the
        table does not list are appended (named by their key) so no committed edge is lost."""
        snap = self._snapshot()
        ids = snap.node_ids(self._keys)
        known = set(ids[ids >= 0].tolist())
        src, dst, _rel, _w = snap.edges()
        extra = sorted(set(np.unique(np.concatenate([src, dst])).tolist()) - known)
        for i, key in enumerate(self._keys):
            if ids[i] < 0:
                raise _wdb.CorruptionError(f"vertex {key!r} of the saved table is missing from the database")
        if extra:
            keys = [snap.node_key(i) for i in extra]
            old = len(self._keys)
            self._keys.extend(keys)
            for attr, column in self._vattrs.items():
                column.extend(keys if attr == "name" else [None] * len(keys))
            if "name" not in self._vattrs:
                self._vattrs["name"] = [None] * old + keys
        warnings.warn(
            f"{self._home}: the database has commits (LSN {saved} -> {current}) made after the "
            f"graph was last saved; {len(extra)} vertices they added were appended",
            RuntimeWarning,
            stacklevel=3,
        )
        self._reset_caches()

    def __reduce__(self):
        # igraph's own pickle shape, so pickle.dumps(graph) copies the graph as igraph does.
        s, d, w = self._edge_arrays()
        eattrs = {"weight": w.tolist()} if "weight" in self._eattr_names else {}
        return (
            Graph,
            (len(self._keys), list(zip(s.tolist(), d.tolist())), self._directed, dict(self._gattrs),
             {k: list(v) for k, v in self._vattrs.items()}, eattrs),
        )

    def close(self) -> None:
        """Releases the database (the graph is unusable afterwards)."""
        self._snap = None
        self._finalizer()

    def __enter__(self) -> "Graph":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _open_home_db(path: str) -> Tuple[_wdb.Database, None]:
    """Opens a saved graph's database for writing, or read-only while another process or
    Graph holds it (a reader beside a writer, as igraph pickles allow)."""
    db_path = os.path.join(path, _DB_DIR)
    try:
        return _wdb.Database(db_path, mode="open", durability="none"), None
    except _wdb.LockedError:
        return _wdb.Database(db_path, mode="read_only"), None


class _IgraphUnpickler(pickle.Unpickler):
    """Reads a python-igraph pickle without igraph: its Graph is rebuilt as a compat Graph."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "igraph" and name == "Graph":
            return _graph_from_igraph
        return super().find_class(module, name)


def _graph_from_igraph(n=0, edges=None, directed=False, graph_attrs=None, vertex_attrs=None, edge_attrs=None):
    return _ImportedGraph(n, edges, directed, graph_attrs, vertex_attrs, edge_attrs)


class _ImportedGraph(Graph):
    """A Graph read from an igraph pickle; igraph pickles carry the object's ``__dict__``."""

    def __setstate__(self, state: Any) -> None:
        if state:
            self.__dict__.update({k: v for k, v in dict(state).items() if not k.startswith("_")})


class Vertex:
    """One vertex: ``v.index``, ``v["attr"]``, ``v.attributes()``."""

    __slots__ = ("graph", "index")

    def __init__(self, graph: Graph, index: int):
        self.graph = graph
        self.index = index

    def __getitem__(self, attr: str) -> Any:
        column = self.graph._vattrs.get(attr)
        if column is None:
            raise KeyError("Attribute does not exist")
        return column[self.index]

    def __setitem__(self, attr: str, value: Any) -> None:
        g = self.graph
        column = g._vattrs.setdefault(attr, [None] * len(g._keys))
        column[self.index] = value
        if attr == "name":
            g._name_index = None

    def attributes(self) -> Dict[str, Any]:
        """Every attribute of this vertex."""
        return {k: v[self.index] for k, v in self.graph._vattrs.items()}

    def attribute_names(self) -> List[str]:
        """Vertex attribute names."""
        return list(self.graph._vattrs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vertex) and other.graph is self.graph and other.index == self.index

    def __hash__(self) -> int:
        return hash((id(self.graph), self.index))

    def __repr__(self) -> str:
        return f"igraph.Vertex({self.graph!r}, {self.index}, {self.attributes()!r})"


def _matches(graph: Graph, index: int, filters: Dict[str, Any]) -> bool:
    for key, value in filters.items():
        attr, _, op = key.partition("_")
        if op not in ("", "eq", "ne", "in", "notin", "lt", "le", "gt", "ge"):
            attr, op = key, ""
        column = graph._vattrs.get(attr)
        if column is None:
            raise KeyError("Attribute does not exist")
        x = column[index]
        ok = {
            "": lambda: x == value,
            "eq": lambda: x == value,
            "ne": lambda: x != value,
            "in": lambda: x in value,
            "notin": lambda: x not in value,
            "lt": lambda: x < value,
            "le": lambda: x <= value,
            "gt": lambda: x > value,
            "ge": lambda: x >= value,
        }[op]()
        if not ok:
            return False
    return True


class VertexSeq:
    """A sequence of vertices (all of them, or a selection)."""

    def __init__(self, graph: Graph, indices: Optional[Sequence[int]] = None):
        self.graph = graph
        self._indices = None if indices is None else list(indices)

    @property
    def indices(self) -> List[int]:
        """The vertex indices of this sequence."""
        return list(range(self.graph.vcount())) if self._indices is None else list(self._indices)

    def __len__(self) -> int:
        return self.graph.vcount() if self._indices is None else len(self._indices)

    def __iter__(self) -> Iterator[Vertex]:
        return (Vertex(self.graph, i) for i in self.indices)

    def __contains__(self, item: object) -> bool:
        # As in igraph, membership compares vertices: a name or attribute is never "in" it.
        return isinstance(item, Vertex) and item.graph is self.graph and item.index in self.indices

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            column = self.graph._vattrs.get(key)
            if column is None:
                raise KeyError("Attribute does not exist")
            if self._indices is None:
                return list(column)
            return [column[i] for i in self._indices]
        if isinstance(key, slice):
            return VertexSeq(self.graph, self.indices[key])
        if isinstance(key, (int, np.integer)):
            return Vertex(self.graph, self.indices[int(key)])
        return VertexSeq(self.graph, [self.indices[int(i)] for i in key])

    def __setitem__(self, attr: str, values: Any) -> None:
        g = self.graph
        indices = self.indices
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            values = [values] * len(indices)
        values = list(values)
        if len(values) != len(indices):
            raise ValueError(f"{len(values)} values for {len(indices)} vertices")
        column = g._vattrs.setdefault(attr, [None] * len(g._keys))
        for i, v in zip(indices, values):
            column[i] = v
        if attr == "name":
            g._name_index = None

    def attribute_names(self) -> List[str]:
        """Vertex attribute names."""
        return list(self.graph._vattrs)

    def get_attribute_values(self, attr: str) -> List[Any]:
        """The values of one attribute."""
        return self[attr]

    def select(self, *args: Any, **kwds: Any) -> "VertexSeq":
        """Vertices matching every criterion: indices, a predicate, or ``attr=value``,
        ``attr_in=[...]``, ``attr_notin``, ``attr_ne``, ``attr_lt`` ... keywords."""
        indices = self.indices
        for arg in args:
            if arg is None:
                indices = []
            elif callable(arg):
                indices = [i for i in indices if arg(Vertex(self.graph, i))]
            elif isinstance(arg, (int, np.integer)):
                indices = [i for i in indices if i == int(arg)]
            else:
                wanted = set(int(a) for a in arg)
                indices = [i for i in indices if i in wanted]
        if kwds:
            indices = [i for i in indices if _matches(self.graph, i, kwds)]
        return VertexSeq(self.graph, indices)

    __call__ = select

    def find(self, *args: Any, **kwds: Any) -> Vertex:
        """The first vertex matching: a name or index positionally, or ``attr=value``."""
        if args and isinstance(args[0], str) and not kwds and len(args) == 1:
            return Vertex(self.graph, self.graph._vertex_index(args[0]))
        if set(kwds) == {"name"} and not args:
            i = self.graph._names_map().get(kwds["name"])
            if i is None:
                raise ValueError(f"no such vertex: {kwds['name']!r}")
            return Vertex(self.graph, i)
        found = self.select(*args, **kwds)
        if len(found) == 0:
            raise ValueError("no such vertex")
        return found[0]


class Edge:
    """One edge: ``e.index``, ``e.source``, ``e.target``, ``e.tuple``, ``e["weight"]``."""

    __slots__ = ("graph", "index", "source", "target", "_weight")

    def __init__(self, graph: Graph, index: int, source: int, target: int, weight: float):
        self.graph = graph
        self.index = index
        self.source = source
        self.target = target
        self._weight = weight

    @property
    def tuple(self) -> Tuple[int, int]:
        """(source, target)."""
        return (self.source, self.target)

    def __getitem__(self, attr: str) -> Any:
        if attr == "weight" and "weight" in self.graph._eattr_names:
            return self._weight
        raise KeyError("Attribute does not exist")

    def attributes(self) -> Dict[str, Any]:
        """Every attribute of this edge."""
        return {"weight": self._weight} if "weight" in self.graph._eattr_names else {}

    def attribute_names(self) -> List[str]:
        """Edge attribute names."""
        return list(self.graph._eattr_names)

    def __repr__(self) -> str:
        return f"igraph.Edge({self.graph!r}, {self.index}, {self.attributes()!r})"


class EdgeSeq:
    """The sequence of edges, in walkdb's order."""

    def __init__(self, graph: Graph):
        self.graph = graph

    def __len__(self) -> int:
        return self.graph.ecount()

    def __call__(self) -> "EdgeSeq":
        return self

    def __iter__(self) -> Iterator[Edge]:
        s, d, w = self.graph._edge_arrays()
        for i, (a, b, x) in enumerate(zip(s.tolist(), d.tolist(), w.tolist())):
            yield Edge(self.graph, i, a, b, x)

    def __getitem__(self, key: Any) -> Any:
        s, d, w = self.graph._edge_arrays()
        if isinstance(key, str):
            if key == "weight" and "weight" in self.graph._eattr_names:
                return w.tolist()
            raise KeyError("Attribute does not exist")
        i = int(key)
        return Edge(self.graph, i, int(s[i]), int(d[i]), float(w[i]))

    def attribute_names(self) -> List[str]:
        """Edge attribute names."""
        return list(self.graph._eattr_names)

    def get_attribute_values(self, attr: str) -> List[Any]:
        """The values of one attribute."""
        return self[attr]
