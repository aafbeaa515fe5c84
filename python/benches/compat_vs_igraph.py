"""personalized_pagerank through walkdb.compat.igraph against python-igraph, measured in one run.

    python python/benches/compat_vs_igraph.py [--graphs wordnet,debian] [--queries 50] [--open-edges 1000000]

Needs numpy and igraph beside the walkdb package (python/test.sh makes such an environment in
target/py-venv) and the shared data (../shared/data or $WALKDB_SHARED_DATA) for WordNet and
the Debian package graph.

Part 1, per graph (undirected, damping 0.5, weights "weight", as HippoRAG calls it): the same
calls on an igraph Graph and on a compat Graph built from the same edges; per call (Python call
included) mean, median and p99 for single-seed resets and HippoRAG-style dense resets (8
entity seeds plus 2,000 'passage' vertices with small weights), for igraph, walkdb exact and
walkdb's certified push at accuracy 1e-4; the largest score difference to igraph is printed
with every row.

Part 2: a persisted graph of --open-edges edges (Barabasi-Albert, named vertices): a fresh
process opens it and answers one dense-reset query: igraph Read_Pickle + query against the
compat Read_Pickle (walkdb directory) + query; wall time and peak RSS of each process.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve()
REPO = HERE.parents[2]


def shared(name: str) -> pathlib.Path:
    base = pathlib.Path(os.environ.get("WALKDB_SHARED_DATA", REPO.parent / "shared" / "data"))
    path = base / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: set WALKDB_SHARED_DATA")
    return path


def read_tsv(path):
    src, dst, w = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            src.append(cols[0])
            dst.append(cols[2])
            w.append(float(cols[3]) if len(cols) > 3 else 1.0)
    return src, dst, w


def build(lib, src, dst, w):
    names = list(dict.fromkeys(src + dst))
    g = lib.Graph(directed=False)
    g.add_vertices(n=len(names), attributes={"name": names})
    index = {n: i for i, n in enumerate(names)}
    g.add_edges([(index[s], index[d]) for s, d in zip(src, dst)], attributes={"weight": w})
    return g


def stats(times):
    t = np.array(times) * 1e3
    return f"mean {t.mean():7.2f} ms, median {np.median(t):7.2f} ms, p99 {np.quantile(t, 0.99):7.2f} ms"


def resets(n, queries, rng):
    singles = []
    for _ in range(queries):
        r = np.zeros(n)
        r[rng.integers(n)] = 1.0
        singles.append(r)
    dense = []
    for _ in range(max(queries // 2, 5)):
        r = np.zeros(n)
        r[rng.choice(n, 2000, replace=False)] = rng.uniform(0.0, 0.05, 2000)
        r[rng.choice(n, 8, replace=False)] = rng.uniform(0.5, 1.0, 8)
        dense.append(r)
    return {"single seed": singles, "dense (8 + 2,000)": dense}


def part1(name, path, queries):
    import igraph as ig
    from walkdb.compat import igraph as wig

    src, dst, w = read_tsv(path)
    t = time.perf_counter()
    a = build(ig, src, dst, w)
    t_ig = time.perf_counter() - t
    t = time.perf_counter()
    b = build(wig, src, dst, w)
    t_wd = time.perf_counter() - t
    print(f"\n## {name}: {a.vcount():,} vertices, {a.ecount():,} edges (undirected, damping 0.5)")
    print(f"build from Python lists: igraph {t_ig:.2f} s, walkdb.compat {t_wd:.2f} s")
    rng = np.random.default_rng(1)
    rows = []
    # Warm-up: the compat graph builds its in-memory projection on its first query.
    b.personalized_pagerank(reset_vertices=[0], damping=0.5, weights="weight")
    for shape, rs in resets(a.vcount(), queries, rng).items():
        ref, times = [], []
        for r in rs:
            t = time.perf_counter()
            ref.append(np.array(a.personalized_pagerank(reset=r, damping=0.5, weights="weight", directed=False)))
            times.append(time.perf_counter() - t)
        print(f"{shape:18} igraph prpack      {stats(times)}")
        base = np.median(times)
        for method in ("exact", "push"):
            times, err = [], 0.0
            for r, want in zip(rs, ref):
                t = time.perf_counter()
                got = b.personalized_pagerank(reset=r, damping=0.5, weights="weight", directed=False, method=method)
                times.append(time.perf_counter() - t)
                err = max(err, float(np.abs(np.array(got) - want).max()))
            print(f"{shape:18} walkdb {method:11} {stats(times)}; median {base / np.median(times):5.2f}x igraph; max |diff| {err:.1e}")
            rows.append({"graph": name, "shape": shape, "method": method, "speedup_median": base / np.median(times), "max_diff": err})
    return rows


OPEN_SCRIPT = r"""
import json, sys, time
import numpy as np
lib, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def hwm_mb():
    # VmHWM: this process's peak RSS since its exec (getrusage's ru_maxrss would include the
    # parent's peak, which Linux carries across fork and exec).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t0 = time.perf_counter()
if lib == "igraph":
    import igraph as ig
else:
    from walkdb.compat import igraph as ig
t1 = time.perf_counter()
g = ig.Graph.Read_Pickle(path)
t2 = time.perf_counter()
rng = np.random.default_rng(5)
r = np.zeros(g.vcount())
r[rng.choice(g.vcount(), 2000, replace=False)] = rng.uniform(0.0, 0.05, 2000)
r[rng.choice(g.vcount(), 8, replace=False)] = 1.0
s = g.personalized_pagerank(reset=r, damping=0.5, weights="weight", directed=False)
t3 = time.perf_counter()
print(json.dumps({"open": t2 - t1, "query": t3 - t2, "total": t3 - t0,
                  "rss_mb": hwm_mb(),
                  "top": int(np.argmax(s))}))
"""


def part2(edges):
    import igraph as ig
    from walkdb.compat import igraph as wig

    m = 10
    n = edges // m
    print(f"\n## open a persisted graph and answer one query: Barabasi-Albert, {n:,} vertices, ~{edges:,} edges")
    base = ig.Graph.Barabasi(n, m, directed=False)
    base.vs["name"] = [f"entity-{i:08d}" for i in range(n)]
    base.es["weight"] = np.random.default_rng(2).uniform(0.5, 2.0, base.ecount()).tolist()
    with tempfile.TemporaryDirectory() as tmp:
        ig_path = os.path.join(tmp, "igraph.pickle")
        wd_path = os.path.join(tmp, "walkdb.pickle")
        base.write_pickle(ig_path)
        t = time.perf_counter()
        g = wig.Graph(directed=False)
        g.add_vertices(n, attributes={"name": base.vs["name"]})
        g.add_edges(base.get_edgelist(), attributes={"weight": base.es["weight"]})
        g.write_pickle(wd_path)
        g.close()
        print(f"persisting: igraph pickle {os.path.getsize(ig_path) / 2**20:.0f} MiB; walkdb directory "
              f"{sum(f.stat().st_size for f in pathlib.Path(wd_path).rglob('*') if f.is_file()) / 2**20:.0f} MiB "
              f"(built and saved in {time.perf_counter() - t:.1f} s)")
        out = {}
        for lib, path in (("igraph", ig_path), ("walkdb", wd_path)):
            runs = []
            for _ in range(3):
                proc = subprocess.run([sys.executable, "-c", OPEN_SCRIPT, lib, path, str(n)], capture_output=True, text=True, check=True)
                runs.append(json.loads(proc.stdout))
            best = min(runs, key=lambda r: r["total"])
            out[lib] = best
            print(f"{lib:7} open {best['open']:.2f} s, first query {best['query']:.2f} s, process total {best['total']:.2f} s, "
                  f"peak RSS {best['rss_mb']:.0f} MB (best of 3 fresh processes)")
        assert out["igraph"]["top"] == out["walkdb"]["top"], "the two top vertices differ"
        print(f"ratios: open+query {out['igraph']['total'] / out['walkdb']['total']:.2f}x faster on walkdb, "
              f"peak RSS {out['walkdb']['rss_mb'] / out['igraph']['rss_mb']:.2f}x of igraph's")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--graphs", default="wordnet,debian")
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--open-edges", type=int, default=1_000_000)
    args = p.parse_args()
    files = {"wordnet": "wordnet30.tsv", "debian": "debian_packages.tsv"}
    print(f"# walkdb.compat.igraph vs igraph {__import__('igraph').__version__}, one run, {os.cpu_count()} cores")
    for name in filter(None, args.graphs.split(",")):
        part1(name, shared(files[name]), args.queries)
    if args.open_edges:
        part2(args.open_edges)


if __name__ == "__main__":
    main()
