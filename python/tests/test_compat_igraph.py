"""walkdb.compat.igraph against python-igraph itself: the same calls, the same answers."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import walkdb
from walkdb.compat import igraph as wig

ig = pytest.importorskip("igraph")

TOL = 1e-9


def build_pair(directed, n=60, m=220, seed=1, self_loops=True, isolated=3):
    """The same random graph in igraph and in the compat layer: parallel edges, self-loops,
    isolated and dangling vertices."""
    rng = np.random.default_rng(seed)
    names = [f"v{i}" for i in range(n)]
    pairs = [(int(a), int(b)) for a, b in rng.integers(0, n - isolated, size=(m, 2))]
    pairs += pairs[:15]  # parallel copies
    if self_loops:
        pairs += [(4, 4), (4, 4), (9, 9)]
    weights = rng.uniform(0.1, 3.0, len(pairs)).tolist()
    graphs = []
    for lib in (ig, wig):
        g = lib.Graph(directed=directed)
        g.add_vertices(n=n, attributes={"name": names, "kind": ["entity"] * (n - 10) + ["passage"] * 10})
        g.add_edges([(names[a], names[b]) for a, b in pairs], attributes={"weight": weights})
        graphs.append(g)
    return graphs


def assert_same_ppr(a, b, rng, **kw):
    x = np.array(a.personalized_pagerank(**kw))
    y = np.array(b.personalized_pagerank(**kw))
    assert x.shape == y.shape
    assert np.abs(x - y).max() < TOL, (kw, np.abs(x - y).max())
    return x


@pytest.mark.parametrize("directed", [False, True])
def test_personalized_pagerank_matches_igraph(directed):
    a, b = build_pair(directed)
    rng = np.random.default_rng(3)
    n = a.vcount()
    assert (a.vcount(), a.ecount()) == (b.vcount(), b.ecount())
    for damping in (0.5, 0.85):
        for weights in (None, "weight"):
            for walk_directed in (True, False):
                common = dict(damping=damping, weights=weights, directed=walk_directed)
                # A dense reset, not normalised by the caller, zeros included.
                reset = rng.uniform(0, 5, n) * (rng.uniform(size=n) < 0.3)
                reset[0] += 1.0
                assert_same_ppr(a, b, rng, reset=reset, **common)
                assert_same_ppr(a, b, rng, reset=reset.tolist(), **common)
                # Repeated reset vertices count once per repetition.
                assert_same_ppr(a, b, rng, reset_vertices=["v1", "v1", 7, "v58"], **common)
                # A seed that is isolated, one that is dangling, and plain PageRank.
                assert_same_ppr(a, b, rng, reset_vertices=[n - 1], **common)
                assert_same_ppr(a, b, rng, **common)
    # Return shapes: a list indexed like vs; one vertex gives one float.
    full = b.personalized_pagerank(damping=0.5, reset_vertices=[2])
    assert isinstance(full, list) and len(full) == n
    one = b.personalized_pagerank(vertices="v2", damping=0.5, reset_vertices=[2])
    assert isinstance(one, float) and one == pytest.approx(a.personalized_pagerank(vertices="v2", damping=0.5, reset_vertices=[2]), abs=TOL)
    some = b.personalized_pagerank(vertices=[5, "v6"], damping=0.5, reset_vertices=[2])
    assert some == pytest.approx(a.personalized_pagerank(vertices=[5, "v6"], damping=0.5, reset_vertices=[2]), abs=TOL)
    assert b.personalized_pagerank(damping=0, reset=[1.0] + [0.0] * (n - 1))[0] == 1.0


def test_bad_resets_fail_as_in_igraph():
    a, b = build_pair(False, n=10, m=20)
    bad = [[np.nan] + [1.0] * 9, [-1.0] + [1.0] * 9, [0.0] * 10, [1.0] * 9, [np.inf] + [0.0] * 9]
    for reset in bad:
        with pytest.raises(ig.InternalError):
            a.personalized_pagerank(reset=reset)
        with pytest.raises(wig.InternalError) as err:
            b.personalized_pagerank(reset=reset)
        assert isinstance(err.value, ValueError)
    for lib_graph in (a, b):
        with pytest.raises(ValueError):
            lib_graph.personalized_pagerank(reset=[1.0] * 10, reset_vertices=[1])
        with pytest.raises(KeyError):
            lib_graph.personalized_pagerank(weights="no such attribute")


def test_fast_method_meets_its_accuracy():
    a, b = build_pair(False, n=300, m=3000, seed=5)
    reset = np.zeros(300)
    reset[[3, 50, 99]] = [1.0, 2.0, 0.5]
    exact = np.array(a.personalized_pagerank(damping=0.5, reset=reset, weights="weight"))
    fast = np.array(b.personalized_pagerank(damping=0.5, reset=reset, weights="weight", method="push", accuracy=1e-4))
    assert np.abs(exact - fast).max() <= 1e-4


def test_vertex_and_edge_sequences_behave_like_igraph():
    a, b = build_pair(False, n=30, m=60)
    for g in (a, b):
        assert g.vs["name"][:3] == ["v0", "v1", "v2"]
        assert sorted(g.vs.attribute_names()) == ["kind", "name"]
        assert ("name" in g.vs) is False  # igraph compares vertices, not attribute names
        v = g.vs[3]
        assert v.index == 3 and v["name"] == "v3" and v.attributes() == {"name": "v3", "kind": "entity"}
        assert g.vs.find(name="v5").index == 5
        assert g.vs.find("v6").index == 6
        assert [x.index for x in g.vs.select(name_in=["v1", "v4"])] == [1, 4]
        assert len(g.vs.select(kind="passage")) == 10
        with pytest.raises(ValueError):
            g.vs.find(name="nope")
        with pytest.raises(ValueError):
            g.add_edges([("nope", "v1")])
        with pytest.raises(KeyError):
            g.vs["nope"]
        assert {v["name"]: v.index for v in g.vs} == {f"v{i}": i for i in range(30)}
        assert len(g.vs()) == 30 and len(g.es()) == g.ecount()
        assert g.es.attribute_names() == ["weight"]
        assert sorted(g.es["weight"]) == pytest.approx(sorted(a.es["weight"]))
        # Edge order differs (walkdb lists by source), the multiset of edges does not.
        edges = sorted(tuple(sorted(e)) for e in g.get_edgelist())
        assert edges == sorted(tuple(sorted(e)) for e in a.get_edgelist())
        assert sum(g.is_multiple()) == sum(a.is_multiple())
        g.vs["score"] = list(range(30))
        g.vs[2]["score"] = 99
        assert g.vs["score"][2] == 99 and g.vs[29]["score"] == 29
        g.add_vertices(2)
        assert g.vs["name"][-2:] == [None, None] and g.vcount() == 32
        g.add_vertex("late", kind="entity")
        assert g.vs.find("late").index == 32


@pytest.mark.parametrize("directed", [False, True])
def test_delete_vertices_renumbers_like_igraph(directed):
    a, b = build_pair(directed)
    for victims in (["v5", "v7", 0], [3], "passages"):
        if victims == "passages":
            names = b.vs.select(kind="passage")["name"]
            assert len(names) == 10
            a.delete_vertices(names)
            b.delete_vertices(names)
        else:
            a.delete_vertices(victims)
            b.delete_vertices(victims)
        assert a.vs["name"] == b.vs["name"]
        assert (a.vcount(), a.ecount()) == (b.vcount(), b.ecount())
        rng = np.random.default_rng(len(a.vs))
        assert_same_ppr(a, b, rng, reset=rng.uniform(0, 1, a.vcount()), damping=0.5, weights="weight")
    # A deleted name can come back as a new vertex, at the end, with no old edges.
    for g in (a, b):
        g.add_vertices(1, attributes={"name": ["v5"]})
        g.add_edges([("v5", "v1")], attributes={"weight": [2.0]})
    assert a.vs["name"] == b.vs["name"]
    assert_same_ppr(a, b, None, reset_vertices=["v5"], damping=0.5, weights="weight")


def test_write_and_read_pickle_persist_the_graph(tmp_path):
    a, b = build_pair(False)
    path = str(tmp_path / "graph.pickle")
    b.write_pickle(path)
    assert os.path.isdir(path)
    reset = np.random.default_rng(2).uniform(0, 1, a.vcount())
    want = np.array(a.personalized_pagerank(reset=reset, damping=0.5, weights="weight"))
    b.close()
    c = wig.Graph.Read_Pickle(path)
    assert c.vs["name"] == a.vs["name"] and c.vs["kind"] == a.vs["kind"] and c.ecount() == a.ecount()
    assert np.abs(np.array(c.personalized_pagerank(reset=reset, damping=0.5, weights="weight")) - want).max() < TOL
    # Changes after reopening are saved by the next write_pickle, and survive a new process.
    c.add_vertices(1, attributes={"name": ["new"], "kind": ["entity"]})
    c.add_edges([("new", "v1")], attributes={"weight": [1.5]})
    c.delete_vertices(["v2"])
    c.write_pickle(path)
    a.add_vertices(1, attributes={"name": ["new"], "kind": ["entity"]})
    a.add_edges([("new", "v1")], attributes={"weight": [1.5]})
    a.delete_vertices(["v2"])
    reset = np.random.default_rng(3).uniform(0, 1, a.vcount())
    want = np.array(a.personalized_pagerank(reset=reset, damping=0.5, weights="weight"))
    c.close()
    script = (
        "import sys, json, numpy as np\n"
        "from walkdb.compat import igraph as ig\n"
        "g = ig.Graph.Read_Pickle(sys.argv[1])\n"
        "reset = np.array(json.loads(sys.argv[2]))\n"
        "print(json.dumps({'names': g.vs['name'], 'ppr': g.personalized_pagerank(reset=reset, damping=0.5, weights='weight')}))\n"
    )
    import json

    out = subprocess.run([sys.executable, "-c", script, path, json.dumps(reset.tolist())], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["names"] == a.vs["name"]
    assert np.abs(np.array(got["ppr"]) - want).max() < TOL


def test_a_genuine_igraph_pickle_migrates(tmp_path):
    a, _ = build_pair(False)
    a["built_by"] = "igraph"
    path = str(tmp_path / "graph.pickle")
    a.write_pickle(path)
    assert os.path.isfile(path)
    g = wig.Graph.Read_Pickle(path)
    assert g.vs["name"] == a.vs["name"] and g["built_by"] == "igraph" and g.ecount() == a.ecount()
    reset = np.random.default_rng(4).uniform(0, 1, a.vcount())
    want = np.array(a.personalized_pagerank(reset=reset, damping=0.5, weights="weight"))
    assert np.abs(np.array(g.personalized_pagerank(reset=reset, damping=0.5, weights="weight")) - want).max() < TOL
    g.write_pickle(path)
    assert os.path.isdir(path) and os.path.isfile(path + ".igraph-backup")
    g.close()
    h = wig.Graph.Read_Pickle(path)
    assert np.abs(np.array(h.personalized_pagerank(reset=reset, damping=0.5, weights="weight")) - want).max() < TOL
    # The compat graph pickles in igraph's own shape, so igraph reads it back.
    back = pickle.loads(pickle.dumps(h))
    assert isinstance(back, ig.Graph) is False and back.vcount() == a.vcount()
    igraph_copy = ig.Graph(*h.__reduce__()[1])
    assert np.abs(np.array(igraph_copy.personalized_pagerank(reset=reset, damping=0.5, weights="weight")) - want).max() < TOL


def test_a_second_reader_opens_read_only(tmp_path):
    _, b = build_pair(False)
    path = str(tmp_path / "graph.pickle")
    b.write_pickle(path)
    reader = wig.Graph.Read_Pickle(path)  # b still holds the database for writing
    assert reader._db.read_only
    assert reader.vcount() == b.vcount()
    with pytest.raises(walkdb.LockedError):
        reader.add_vertices(1)
    b.close()
    reader.add_vertices(1)  # the lock is free now: the first write takes it
    assert not reader._db.read_only and reader.vcount() == b.vcount() + 1


def test_unsaved_commits_are_reconciled(tmp_path):
    _, b = build_pair(False)
    path = str(tmp_path / "graph.pickle")
    b.write_pickle(path)
    b.add_vertices(1, attributes={"name": ["unsaved"]})
    b.add_edges([("unsaved", "v1")])
    edges = b.ecount()
    b.close()  # no write_pickle: the vertex table does not list "unsaved"
    with pytest.warns(RuntimeWarning, match="after the graph was last saved"):
        c = wig.Graph.Read_Pickle(path)
    assert "unsaved" in c.vs["name"]
    assert c.ecount() == edges


def test_unsupported_input_is_refused():
    g = wig.Graph(directed=False)
    g.add_vertices(3)
    with pytest.raises(ValueError, match="weight"):
        g.add_edges([(0, 1)], attributes={"label": ["x"]})
    with pytest.raises(ValueError, match="finite"):
        g.add_edges([(0, 1)], attributes={"weight": [0.0]})
    with pytest.raises(ValueError):
        g.add_edges([(0, 5)])
    assert g.ecount() == 0


def test_large_batches_load_in_bulk_with_the_same_answers():
    # The first batch (>= 20,000 edges) goes through the bulk loader, the second (small)
    # through a transaction, the third (as large as the graph) through the bulk loader again,
    # each numbering parallel copies after the ones already stored.
    a, b = build_pair(False, n=3000, m=25000, seed=9)
    generation = b._db.stats()["generation"]
    assert generation >= 1, "the first batch was bulk-loaded as a new generation"
    rng = np.random.default_rng(10)
    edges = a.get_edgelist()
    small = [edges[int(i)] for i in rng.integers(0, len(edges), 100)]
    large = [edges[int(i)] for i in rng.integers(0, len(edges), 30000)]
    for batch in (small, large):
        w = rng.uniform(0.5, 2.0, len(batch)).tolist()
        for g in (a, b):
            g.add_edges(batch, attributes={"weight": w})
        assert (a.ecount(), sum(a.is_multiple())) == (b.ecount(), sum(b.is_multiple()))
        reset = rng.uniform(0, 1, a.vcount()) * (rng.uniform(size=a.vcount()) < 0.01)
        reset[0] = 1.0
        assert_same_ppr(a, b, rng, reset=reset, damping=0.5, weights="weight")
    assert b._db.stats()["generation"] == generation + 1, "one more bulk load, for the large batch"
    b._db.verify()
