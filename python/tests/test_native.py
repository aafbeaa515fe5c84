"""The native Python API: options, transactions, bulk writes, queries, errors, threads."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

import walkdb
from conftest import DATA, read_tsv


def make(tmp_path, name="kg", **options):
    return walkdb.Database.create(tmp_path / name, **options)


def test_create_open_and_option_rules(tmp_path):
    with make(tmp_path, undirected=True, alpha=0.5) as db:
        assert db.options == {"undirected": True, "alpha": 0.5, "walks_per_node": 1.0}
        db.add_edge("a", "r", "b")
    assert db.closed
    with pytest.raises(walkdb.ClosedError):
        db.stats()
    # Reopening with the stored options, or none, works; a different one is refused.
    with walkdb.Database.open(tmp_path / "kg") as db:
        assert db.options["undirected"] is True
        assert db.edge_count == 1
    with walkdb.Database.open(tmp_path / "kg", undirected=True):
        pass
    with pytest.raises(ValueError, match="undirected"):
        walkdb.Database.open(tmp_path / "kg", undirected=False)
    with pytest.raises(ValueError):
        walkdb.Database.create(tmp_path / "kg")
    with pytest.raises(ValueError, match="alpha"):
        make(tmp_path, "bad", alpha=1.5)
    with pytest.raises(ValueError, match="mode"):
        walkdb.Database(tmp_path / "x", mode="sideways")


def test_transactions_are_atomic(tmp_path):
    with make(tmp_path) as db:
        with db.write() as txn:
            txn.add_edge("a", "knows", "b", 2.0)
            txn.add_edge("b", "knows", "c")
            txn.add_node("lonely")
        assert txn.lsn is not None
        snap = db.snapshot()
        assert snap.edge_count == 2 and "lonely" in snap and snap.out_neighbors("lonely") == []
        assert snap.edge_weight("a", "knows", "b") == 2.0

        # An exception inside the block discards everything staged.
        with pytest.raises(RuntimeError):
            with db.write() as txn:
                txn.add_edge("c", "knows", "d")
                raise RuntimeError("boom")
        assert "d" not in db.snapshot()

        # A bad operation fails the whole commit; nothing of it is applied.
        txn = db.write()
        txn.add_edge("c", "knows", "e")
        txn.add_edge("bad\tkey", "knows", "e")
        with pytest.raises(ValueError, match="tab"):
            txn.commit()
        assert "e" not in db.snapshot()

        # Weights are checked when staged.
        with pytest.raises(ValueError, match="finite"):
            db.write().add_edge("a", "r", "b", float("nan"))
        with pytest.raises(ValueError, match="finite"):
            db.add_edge("a", "r", "b", -1.0)

        db.delete_edge("a", "knows", "b")
        assert db.snapshot().edge_weight("a", "knows", "b") is None
        db.delete_node("b")
        assert db.edge_count == 0
        # The snapshot taken before the deletes still sees its version.
        assert snap.edge_count == 2


def test_bulk_writes_from_arrays_and_iterables(tmp_path, umls_rows):
    with make(tmp_path, undirected=False) as db:
        src = [r[0] for r in umls_rows]
        rel = [r[1] for r in umls_rows]
        dst = [r[2] for r in umls_rows]
        weight = np.array([r[3] for r in umls_rows])
        db.add_edges(src, dst, rel=rel, weight=weight)
        assert db.edge_count == len(umls_rows)
        with pytest.raises(ValueError, match="entries"):
            db.add_edges(src[:3], dst[:3], weight=np.ones(2))
    with make(tmp_path, "b", undirected=False) as db:
        lsn = db.add_edges_from(iter(umls_rows), batch_size=1000)
        assert lsn is not None and db.edge_count == len(umls_rows)
        assert db.stats()["lsn"] == lsn


def test_query_forms_agree(tmp_path, umls_rows):
    with make(tmp_path, undirected=True) as db:
        db.add_edges_from(umls_rows)
        snap = db.snapshot()
        keys = snap.node_keys()
        a, b = keys[3], keys[10]
        exact = snap.ppr({a: 3.0, b: 1.0}, method="exact", top_k=20)
        assert exact.method == "exact" and len(exact) == 20
        assert abs(exact.scores.sum() - sum(exact.to_dict().values())) < 1e-12
        # The same seeds as pairs, and as a dense array over node ids.
        pairs = snap.ppr([(a, 3.0), (b, 1.0)], method="exact", top_k=20)
        dense = np.zeros(snap.node_count)
        dense[snap.node_id(a)] = 0.75
        dense[snap.node_id(b)] = 0.25
        arr = snap.ppr(dense, method="exact", top_k=20)
        for other in (pairs, arr):
            assert other.keys == exact.keys
            np.testing.assert_allclose(other.scores, exact.scores, atol=1e-12)
        # The default answer meets its stated guarantee against exact.
        auto = snap.ppr({a: 3.0, b: 1.0}, top_k=20)
        truth = snap.ppr({a: 3.0, b: 1.0}, method="exact", top_k=snap.node_count).to_dict()
        assert auto.guarantee["max_error"] <= 1e-4
        for key, score in auto:
            assert abs(score - truth[key]) <= 1e-4
        # The walk index states its guarantee, at most the failure probability asked (0 when
        # the push alone proved it); the other target fields are checked like max_error.
        idx = snap.ppr({a: 3.0, b: 1.0}, top_k=20, method="index", failure_probability=1e-5)
        assert idx.method == "index"
        assert idx.guarantee["max_error"] <= 1e-4
        assert idx.guarantee["failure_probability"] <= 1e-5
        for key, score in idx:
            assert abs(score - truth[key]) <= idx.guarantee["max_error"] + 1e-9
        with pytest.raises(ValueError):
            snap.ppr({a: 1.0}, failure_probability=0.0)
        with pytest.raises(ValueError):
            snap.ppr({a: 1.0}, tie_tolerance=-1.0)
        # Batches give the single answers.
        batch = snap.ppr_batch([{a: 1.0}, {b: 1.0}], method="exact", top_k=5)
        assert batch[0].keys == snap.ppr({a: 1.0}, method="exact", top_k=5).keys
        assert batch[1].keys == snap.ppr({b: 1.0}, method="exact", top_k=5).keys
        with pytest.raises(KeyError):
            snap.ppr({"no such node": 1.0})
        with pytest.raises(ValueError):
            snap.ppr({a: 1.0}, method="fastest")
        with pytest.raises(ValueError):
            snap.ppr({a: -1.0})


def test_relation_weights_and_prefix(tmp_path):
    with make(tmp_path, undirected=True) as db:
        db.add_edges_from(
            [("doc:1", "mentions", "x", 1.0), ("doc:2", "mentions", "y", 1.0), ("x", "rel", "y", 5.0),
             ("x", "noise", "doc:3", 1.0)]
        )
        full = db.ppr({"x": 1.0}, method="exact", top_k=10).to_dict()
        cut = db.ppr({"x": 1.0}, method="exact", top_k=10, rel_weights={"noise": 0.0}).to_dict()
        assert "doc:3" in full and "doc:3" not in cut
        docs = db.ppr({"x": 1.0}, method="exact", top_k=10, node_prefix="doc:")
        assert set(docs.keys) == {"doc:1", "doc:2", "doc:3"}
        with pytest.raises(KeyError):
            db.ppr({"x": 1.0}, rel_weights={"no such relation": 2.0})


def test_exact_matches_igraph_on_real_data(tmp_path, umls_rows):
    ig = pytest.importorskip("igraph")
    for directed in (True, False):
        with make(tmp_path, f"kg{directed}", undirected=not directed) as db:
            db.add_edges_from(umls_rows)
            snap = db.snapshot()
            keys = snap.node_keys()
            g = ig.Graph(directed=directed)
            g.add_vertices(keys)
            g.add_edges([(s, d) for s, _, d, _ in umls_rows], attributes={"weight": [w for *_, w in umls_rows]})
            rng = np.random.default_rng(7)
            for _ in range(5):
                seeds = rng.choice(len(keys), size=3, replace=False)
                weights = rng.uniform(0.1, 1.0, size=3)
                reset = np.zeros(len(keys))
                reset[seeds] = weights
                want = np.array(g.personalized_pagerank(damping=0.5, reset=reset, weights="weight", directed=directed))
                got = snap.ppr({keys[s]: w for s, w in zip(seeds, weights)}, alpha=0.5, method="exact", top_k=len(keys))
                got_dense = np.zeros(len(keys))
                for key, score in got:
                    got_dense[snap.node_id(key)] = score
                assert np.abs(got_dense - want).max() < 1e-9


def test_errors_map_by_kind(tmp_path):
    path = tmp_path / "kg"
    with make(tmp_path) as db:
        db.add_edges_from((f"n{i}", "r", f"n{i + 1}", 1.0) for i in range(2000))
        db.checkpoint()
        with pytest.raises(walkdb.LockedError):
            walkdb.Database.open(path)
        segments = [name for name, _ in db.stats()["files"] if name.startswith("adj/")]
    assert segments, "a checkpoint writes a segment file"
    victim = path / segments[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(walkdb.CorruptionError):
        with walkdb.Database.open(path) as db:
            db.verify()
    assert issubclass(walkdb.CorruptionError, walkdb.WalkdbError)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError):
        walkdb.Database.create(blocker / "kg")


def test_read_only_handle_follows_the_writer(tmp_path):
    with make(tmp_path) as db:
        db.add_edge("a", "r", "b")
        reader = walkdb.Database.open_read_only(tmp_path / "kg")
        assert reader.read_only and reader.edge_count == 1
        db.add_edge("b", "r", "c")
        assert reader.edge_count == 1
        reader.refresh()
        assert reader.edge_count == 2
        with pytest.raises(walkdb.ReadOnlyError):
            reader.add_edge("x", "r", "y")
        reader.close()


def test_durability_none_is_synced_on_close(tmp_path):
    with make(tmp_path, durability="none") as db:
        db.add_edges_from((f"n{i}", "r", f"n{i + 1}", 1.0) for i in range(100))
        db.sync()
    with walkdb.Database.open(tmp_path / "kg") as db:
        assert db.edge_count == 100
        assert db.verify()["edges"] == 100


def test_threads_share_one_handle(tmp_path, umls_rows):
    with make(tmp_path, undirected=True) as db:
        db.add_edges_from(umls_rows[:3000])
        snap = db.snapshot()
        keys = snap.node_keys()
        want = {k: snap.ppr({k: 1.0}, method="exact", top_k=5).keys for k in keys[:40]}
        errors = []

        def query():
            try:
                for k in keys[:40]:
                    if snap.ppr({k: 1.0}, method="exact", top_k=5).keys != want[k]:
                        errors.append(k)
                    db.ppr({k: 1.0}, top_k=5)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=query) for _ in range(4)]
        for t in threads:
            t.start()
        for i in range(3000, len(umls_rows), 500):
            db.add_edges_from(umls_rows[i:i + 500])
        for t in threads:
            t.join()
        assert errors == []
        assert db.edge_count == len(umls_rows)


def _runs_without_the_gil(call) -> bool:
    """True when another Python thread ran while `call` was inside walkdb.

    The switch interval is set so long that this thread never hands the GIL over by itself:
    the other thread (woken by the event) can only run if walkdb released the GIL."""
    ran = threading.Event()
    go = threading.Event()

    def other():
        go.wait()
        ran.set()

    t = threading.Thread(target=other)
    t.start()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        go.set()
        call()
        result = ran.is_set()
    finally:
        sys.setswitchinterval(old)
        t.join()
    return result


def test_queries_writes_and_checkpoints_release_the_gil(tmp_path):
    rows = read_tsv(DATA / "wordnet-demo" / "base.tsv")
    with make(tmp_path, undirected=True, durability="none") as db:
        assert _runs_without_the_gil(lambda: db.add_edges_from(rows))
        snap = db.snapshot()
        seeds = [[(k, 1.0)] for k in snap.node_keys()[:300]]
        assert _runs_without_the_gil(lambda: snap.ppr_batch(seeds, method="exact", top_k=10))
        assert _runs_without_the_gil(lambda: [snap.ppr(s, method="exact") for s in seeds[:100]])
        assert _runs_without_the_gil(db.checkpoint)
        assert _runs_without_the_gil(db.verify)


def test_type_stubs_cover_the_extension():
    import ast
    import pathlib

    package = pathlib.Path(walkdb.__file__).parent
    assert (package / "py.typed").exists()
    tree = ast.parse((package / "_walkdb.pyi").read_text())
    stubbed = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            stubbed[node.name] = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
    for cls in ("Database", "Snapshot"):
        native = {n for n in dir(getattr(walkdb._walkdb, cls)) if not n.startswith("_")}
        assert native == stubbed[cls] - {"__init__"}, cls
    for exc in ("WalkdbError", "CorruptionError", "LockedError", "ReadOnlyError", "PoisonedError", "ClosedError"):
        assert exc in stubbed and issubclass(getattr(walkdb, exc), Exception)


def test_the_python_example_runs(tmp_path):
    import subprocess

    example = DATA.parent / "examples" / "python" / "hotpotqa_retrieval.py"
    runs = [
        subprocess.run([sys.executable, str(example), "--db", str(tmp_path)], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    assert runs[0].startswith("built ") and runs[1].startswith("opened "), runs
    # Both runs rank the same, and the native query and the igraph drop-in agree.
    ranked = [[line.split(maxsplit=1) for line in r.splitlines() if line.startswith("  ")] for r in runs]
    assert ranked[0] == ranked[1] and len(ranked[0]) == 6
    native, compat = ranked[0][:3], ranked[0][3:]
    assert [key for _, key in native] == [key for _, key in compat]
    assert "recall@2" in runs[0]
