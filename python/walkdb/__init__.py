"""walkdb: an embedded, crash-safe graph database with an incremental Personalized PageRank index.

>>> import walkdb
>>> with walkdb.Database.create("kg", undirected=True, alpha=0.5) as db:
...     with db.write() as txn:
...         txn.add_edge("Alan Turing", "field", "computer science", 1.0)
...     result = db.ppr({"Alan Turing": 1.0}, top_k=3)

Every query, write, checkpoint and verify runs without the GIL, so threads sharing one
:class:`Database` run their queries in parallel. Errors map by kind: rejected input raises
``ValueError`` (an unknown node or relation ``KeyError``), a damaged file
:class:`CorruptionError`, an operating-system failure ``OSError``, a database locked by another
writer :class:`LockedError`; all of walkdb's own exceptions derive from :class:`WalkdbError`.

``walkdb.compat.igraph`` is a drop-in for the part of python-igraph that HippoRAG-style
retrieval uses (``from walkdb.compat import igraph as ig``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _walkdb
from ._walkdb import (
    DEFAULT_ALPHA,
    MAX_KEY_LEN,
    ClosedError,
    CorruptionError,
    LockedError,
    PoisonedError,
    ReadOnlyError,
    WalkdbError,
)

__all__ = [
    "Database",
    "Snapshot",
    "WriteTxn",
    "PprResult",
    "WalkdbError",
    "CorruptionError",
    "LockedError",
    "ReadOnlyError",
    "PoisonedError",
    "ClosedError",
    "DEFAULT_ALPHA",
    "MAX_KEY_LEN",
]

__version__ = "0.1.0"

Seeds = Union[Mapping[str, float], Sequence[str], Sequence[Tuple[str, float]], np.ndarray]


@dataclass(frozen=True)
class PprResult:
    """The answer to a PPR query: keys and scores by descending score, and what they guarantee."""

    keys: List[str]
    """Node keys, best first."""
    scores: np.ndarray
    """Their scores (float64), aligned with ``keys``."""
    method: str
    """The method that ran (``auto`` resolved)."""
    alpha: float
    """The restart probability used."""
    error_bound: float
    """Upper bound on the L1 error of the whole score vector (``inf`` for Monte Carlo)."""
    guarantee: Dict[str, Any] = field(default_factory=dict)
    """What the answer proves: ``max_error`` per returned score, ``top_k`` ("exact",
    "up_to_ties" or "none"), ``failure_probability``."""
    micros: int = 0
    """Time spent inside walkdb, in microseconds."""

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[Tuple[str, float]]:
        return iter(zip(self.keys, self.scores.tolist()))

    def to_dict(self) -> Dict[str, float]:
        """``{key: score}``."""
        return dict(zip(self.keys, self.scores.tolist()))


def _result(raw: tuple) -> PprResult:
    keys, scores, method, alpha, bound, guarantee, micros = raw
    return PprResult(keys, scores, method, alpha, bound, guarantee, micros)


def _max_error(accuracy: Union[None, float, str]) -> Optional[float]:
    if accuracy is None:
        return None
    if isinstance(accuracy, str):
        if accuracy == "set":
            return float("inf")
        raise ValueError(f"unknown accuracy {accuracy!r}: a score error (float) or 'set'")
    return float(accuracy)


class Snapshot:
    """A consistent read view of one committed version; cheap, and safe to share."""

    __slots__ = ("_raw", "_keys")

    def __init__(self, raw: _walkdb.Snapshot):
        self._raw = raw
        self._keys: Optional[List[str]] = None

    @property
    def lsn(self) -> int:
        """LSN of the last transaction this snapshot includes."""
        return self._raw.lsn

    @property
    def node_count(self) -> int:
        """Node ids in use (dense, in creation order; deleted nodes keep their id)."""
        return self._raw.node_count

    @property
    def edge_count(self) -> int:
        """Live edges."""
        return self._raw.edge_count

    @property
    def undirected(self) -> bool:
        """Whether every edge is walkable both ways."""
        return self._raw.undirected

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._raw.node_id(key) is not None

    def node_id(self, key: str) -> Optional[int]:
        """The id of ``key``, or None."""
        return self._raw.node_id(key)

    def node_ids(self, keys: Sequence[str]) -> np.ndarray:
        """Ids of ``keys`` as an int64 array, -1 where a key is unknown."""
        return self._raw.node_ids(list(keys))

    def node_key(self, node_id: int) -> Optional[str]:
        """The key of node ``node_id``, or None."""
        return self._raw.node_key(node_id)

    def node_keys(self) -> List[str]:
        """Every key, indexed by node id."""
        if self._keys is None:
            self._keys = self._raw.node_keys()
        return self._keys

    def relation_names(self) -> List[str]:
        """Relation names, indexed by relation id."""
        return self._raw.relation_names()

    def out_neighbors(self, key: str) -> List[Tuple[str, str, float]]:
        """Out-edges of ``key`` as ``(dst, relation, weight)``; KeyError if unknown."""
        return self._raw.out_neighbors(key)

    def in_neighbors(self, key: str) -> List[Tuple[str, str, float]]:
        """In-edges of ``key`` as ``(src, relation, weight)``; KeyError if unknown."""
        return self._raw.in_neighbors(key)

    def edge_weight(self, src: str, rel: str, dst: str) -> Optional[float]:
        """The weight of ``src -[rel]-> dst``, or None."""
        return self._raw.edge_weight(src, rel, dst)

    def edges(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every edge as arrays: source ids, destination ids, relation ids, weights."""
        return self._raw.edges()

    def _seed_list(self, seeds: Seeds) -> List[Tuple[str, float]]:
        if isinstance(seeds, np.ndarray):
            if seeds.ndim != 1 or seeds.shape[0] != self.node_count:
                raise ValueError(
                    f"a seed array must be 1-dimensional with one weight per node id "
                    f"({self.node_count}), got shape {seeds.shape}"
                )
            ids = np.flatnonzero(seeds)
            out = []
            for i in ids.tolist():
                key = self._raw.node_key(i)
                out.append((key, float(seeds[i])))
            return out
        if isinstance(seeds, Mapping):
            return [(str(k), float(w)) for k, w in seeds.items()]
        if isinstance(seeds, str):
            return [(seeds, 1.0)]
        out = []
        for item in seeds:
            if isinstance(item, str):
                out.append((item, 1.0))
            else:
                key, weight = item
                out.append((str(key), float(weight)))
        return out

    def ppr(
        self,
        seeds: Seeds,
        *,
        alpha: Optional[float] = None,
        top_k: int = 10,
        method: str = "auto",
        accuracy: Union[None, float, str] = None,
        certify_top_k: bool = True,
        tie_tolerance: Optional[float] = None,
        failure_probability: Optional[float] = None,
        rel_weights: Optional[Mapping[str, float]] = None,
        node_prefix: Optional[str] = None,
    ) -> PprResult:
        """Personalized PageRank from weighted seeds; see :meth:`Database.ppr`."""
        raw = self._raw.ppr(
            self._seed_list(seeds),
            alpha=alpha,
            top_k=top_k,
            method=method,
            max_error=_max_error(accuracy),
            certify_top_k=certify_top_k,
            tie_tolerance=tie_tolerance,
            failure_probability=failure_probability,
            rel_weights=list((rel_weights or {}).items()),
            node_prefix=node_prefix,
        )
        return _result(raw)

    def ppr_batch(
        self,
        queries: Iterable[Seeds],
        *,
        alpha: Optional[float] = None,
        top_k: int = 10,
        method: str = "auto",
        accuracy: Union[None, float, str] = None,
        certify_top_k: bool = True,
        tie_tolerance: Optional[float] = None,
        failure_probability: Optional[float] = None,
        rel_weights: Optional[Mapping[str, float]] = None,
        node_prefix: Optional[str] = None,
    ) -> List[PprResult]:
        """Many queries with the same options, answered in parallel on every core."""
        raws = self._raw.ppr_batch(
            [self._seed_list(q) for q in queries],
            alpha=alpha,
            top_k=top_k,
            method=method,
            max_error=_max_error(accuracy),
            certify_top_k=certify_top_k,
            tie_tolerance=tie_tolerance,
            failure_probability=failure_probability,
            rel_weights=list((rel_weights or {}).items()),
            node_prefix=node_prefix,
        )
        return [_result(r) for r in raws]


class WriteTxn:
    """A write transaction: operations are staged and applied atomically by :meth:`commit`.

    Used as a context manager it commits when the block ends normally and discards everything
    when it raises. Staged operations are checked when added (key and weight rules) and
    applied in order at commit, under the database's single writer; the transaction does not
    read its own staged writes.
    """

    __slots__ = ("_db", "_ops", "_done", "lsn")

    def __init__(self, db: "Database"):
        self._db = db
        self._ops: List[tuple] = []
        self._done = False
        self.lsn: Optional[int] = None
        """The commit's LSN, once committed."""

    def _stage(self, op: tuple) -> None:
        if self._done:
            raise WalkdbError("the transaction has already been committed or aborted")
        self._ops.append(op)

    def add_edge(self, src: str, rel: str, dst: str, weight: float = 1.0) -> None:
        """Adds the edge ``src -[rel]-> dst`` or replaces its weight (finite, > 0)."""
        weight = float(weight)
        if not (np.isfinite(weight) and weight > 0):
            raise ValueError(f"edge weight {weight} must be finite and > 0 ({src} -{rel}-> {dst})")
        self._stage(("add_edge", src, rel, dst, weight))

    def delete_edge(self, src: str, rel: str, dst: str) -> None:
        """Deletes the edge if it exists."""
        self._stage(("delete_edge", src, rel, dst))

    def add_node(self, key: str) -> None:
        """Creates the node if it does not exist (with no edges)."""
        self._stage(("add_node", key))

    def delete_node(self, key: str) -> None:
        """Deletes every edge of the node (its key stays known)."""
        self._stage(("delete_node", key))

    def __len__(self) -> int:
        return len(self._ops)

    def commit(self) -> int:
        """Applies the staged operations atomically; returns the commit's LSN."""
        if self._done:
            raise WalkdbError("the transaction has already been committed or aborted")
        self._done = True
        self.lsn = self._db._raw_db().commit(self._ops)
        self._ops = []
        return self.lsn

    def abort(self) -> None:
        """Discards the staged operations."""
        self._done = True
        self._ops = []

    def __enter__(self) -> "WriteTxn":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._done:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class Database:
    """A walkdb database handle: thread-safe, a context manager (closing on exit).

    ``mode`` is "open_or_create" (default), "create", "open" or "read_only". The graph options
    (``undirected``, ``alpha`` of the stored walks, ``walks_per_node``) are fixed when the
    database is created; opening with one that differs from the stored value raises
    ``ValueError``. ``durability``: "immediate" (default: a commit is fsync'ed before it
    returns), "group" (concurrent commits share a sync) or "none" (synced by :meth:`sync`,
    :meth:`checkpoint` and :meth:`close`). A read-only handle takes no lock and never writes;
    it follows a writer in another process with :meth:`refresh`.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        *,
        mode: str = "open_or_create",
        undirected: Optional[bool] = None,
        alpha: Optional[float] = None,
        walks_per_node: Optional[float] = None,
        durability: Optional[str] = None,
        auto_checkpoint_bytes: Optional[int] = None,
    ):
        self._db = _walkdb.Database(
            os.fspath(path),
            mode=mode,
            undirected=undirected,
            alpha=alpha,
            walks_per_node=walks_per_node,
            durability=durability,
            auto_checkpoint_bytes=auto_checkpoint_bytes,
        )

    @classmethod
    def create(cls, path: Union[str, os.PathLike], **options: Any) -> "Database":
        """Creates a new database (``ValueError`` if one exists at ``path``)."""
        return cls(path, mode="create", **options)

    @classmethod
    def open(cls, path: Union[str, os.PathLike], **options: Any) -> "Database":
        """Opens an existing database for reading and writing."""
        return cls(path, mode="open", **options)

    @classmethod
    def open_read_only(cls, path: Union[str, os.PathLike]) -> "Database":
        """Opens an existing database without writing a byte; usable while a writer runs."""
        return cls(path, mode="read_only")

    def _raw_db(self) -> _walkdb.Database:
        return self._db

    @property
    def path(self) -> str:
        """The database directory."""
        return self._db.path

    @property
    def options(self) -> Dict[str, Any]:
        """The stored graph options: ``undirected``, ``alpha``, ``walks_per_node``."""
        return self._db.options()

    @property
    def read_only(self) -> bool:
        """True for a read-only handle."""
        return self._db.read_only

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._db.closed

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("read-only" if self.read_only else "open")
        return f"walkdb.Database({self.path!r}, {state})"

    # -- writes ------------------------------------------------------------------------------

    def write(self) -> WriteTxn:
        """A new write transaction (use it as a context manager)."""
        return WriteTxn(self)

    def add_edge(self, src: str, rel: str, dst: str, weight: float = 1.0) -> int:
        """Adds (or reweights) one edge in its own transaction; returns the LSN."""
        with self.write() as txn:
            txn.add_edge(src, rel, dst, weight)
        return txn.lsn

    def add_edges(
        self,
        src: Sequence[str],
        dst: Sequence[str],
        *,
        rel: Union[str, Sequence[str]] = "related",
        weight: Union[None, float, Sequence[float], np.ndarray] = None,
    ) -> int:
        """Adds many edges in one transaction from parallel columns (lists or arrays);
        ``rel`` and ``weight`` are one value for all or one per edge. Returns the LSN."""
        if isinstance(weight, np.ndarray):
            weight = np.ascontiguousarray(weight, dtype=np.float64)
        return self._db.add_edges(
            [str(s) for s in src], [str(d) for d in dst], rel=rel, weight=weight
        )

    def add_edges_from(
        self, edges: Iterable[Tuple[str, str, str, float]], *, batch_size: int = 100_000
    ) -> Optional[int]:
        """Adds ``(src, rel, dst, weight)`` tuples from any iterable, one transaction per
        ``batch_size`` edges; returns the last LSN (None if there were none)."""
        lsn = None
        ops: List[tuple] = []
        for src, rel, dst, weight in edges:
            ops.append(("add_edge", src, rel, dst, float(weight)))
            if len(ops) >= batch_size:
                lsn = self._db.commit(ops)
                ops = []
        if ops:
            lsn = self._db.commit(ops)
        return lsn

    def delete_edge(self, src: str, rel: str, dst: str) -> int:
        """Deletes one edge (if it exists) in its own transaction; returns the LSN."""
        with self.write() as txn:
            txn.delete_edge(src, rel, dst)
        return txn.lsn

    def add_node(self, key: str) -> int:
        """Creates a node with no edges (if it does not exist); returns the LSN."""
        with self.write() as txn:
            txn.add_node(key)
        return txn.lsn

    def delete_node(self, key: str) -> int:
        """Deletes every edge of a node in its own transaction; returns the LSN."""
        with self.write() as txn:
            txn.delete_node(key)
        return txn.lsn

    # -- reads -------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """A consistent read view of the newest committed version."""
        return Snapshot(self._db.snapshot())

    @property
    def node_count(self) -> int:
        """Node ids in use in the newest version."""
        return self.snapshot().node_count

    @property
    def edge_count(self) -> int:
        """Live edges in the newest version."""
        return self.snapshot().edge_count

    def __contains__(self, key: object) -> bool:
        return key in self.snapshot()

    def ppr(
        self,
        seeds: Seeds,
        *,
        alpha: Optional[float] = None,
        top_k: int = 10,
        method: str = "auto",
        accuracy: Union[None, float, str] = None,
        certify_top_k: bool = True,
        tie_tolerance: Optional[float] = None,
        failure_probability: Optional[float] = None,
        rel_weights: Optional[Mapping[str, float]] = None,
        node_prefix: Optional[str] = None,
    ) -> PprResult:
        """Personalized PageRank on the newest version.

        ``seeds``: ``{key: weight}``, a list of keys (equal weights) or of ``(key, weight)``,
        or a float array indexed by node id (a dense reset; its non-zero entries are the
        seeds). Weights are normalised to sum 1. ``alpha`` is the restart probability (default:
        the database's; igraph's ``damping`` is ``1 - alpha``). ``method``: "auto" (default),
        "exact", "push", "index" (FORA on the stored walks; its bound holds with probability
        1 - ``failure_probability``, surely when the push alone proved it; see ``guarantee``)
        or "walks". ``accuracy``: the largest error allowed on a returned score (default 1e-4),
        or "set" for the top-k set only; ``tie_tolerance`` (default 1e-6) and
        ``failure_probability`` (default 1e-3, for "index") complete the target. ``rel_weights`` multiplies the weights of relations for this query (0 removes
        one); ``node_prefix`` ranks only keys starting with it.
        """
        return self.snapshot().ppr(
            seeds,
            alpha=alpha,
            top_k=top_k,
            method=method,
            accuracy=accuracy,
            certify_top_k=certify_top_k,
            tie_tolerance=tie_tolerance,
            failure_probability=failure_probability,
            rel_weights=rel_weights,
            node_prefix=node_prefix,
        )

    def ppr_batch(self, queries: Iterable[Seeds], **options: Any) -> List[PprResult]:
        """Many queries with the same options on one snapshot, in parallel."""
        return self.snapshot().ppr_batch(queries, **options)

    # -- maintenance -------------------------------------------------------------------------

    def stats(self) -> Dict[str, Any]:
        """Counts and storage figures."""
        return self._db.stats()

    def checkpoint(self) -> Dict[str, Any]:
        """Folds the WAL into new segment and walk-index files."""
        return self._db.checkpoint()

    def verify(self) -> Dict[str, Any]:
        """Reads every file, checks every checksum and invariant (CorruptionError if not)."""
        return self._db.verify()

    def refresh(self) -> int:
        """Read-only handles: catch up with the writer's commits. Returns the newest LSN."""
        return self._db.refresh()

    def sync(self) -> None:
        """Makes every commit so far durable."""
        self._db.sync()

    def close(self) -> None:
        """Syncs and releases the database. Idempotent."""
        self._db.close()
