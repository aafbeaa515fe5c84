#!/usr/bin/env python3
"""Times igraph's personalized_pagerank (PRPACK) on the queries the Rust bench runs.

Called by benches/ppr_vs_igraph.rs in the same run as walkdb, so both sides are timed on the
same machine under the same load. Input: a JSON file
  {"tsv": PATH, "configs": [{"name": "undirected/d=0.85", "undirected": true, "damping": 0.85,
                            "queries": [{"seeds": [node ids], "weights": [w, ...]}, ...]}]}
(node ids are first-appearance numbers, src then dst, as walkdb's tsv::load_graph and the
baseline script assign them). Output on stdout: {"build_s": S, "configs": {name: [seconds per
query, ...]}}. Single-threaded, like the baselines in shared/data/baselines.
"""
import json
import sys
import time

import igraph as ig


def load(path):
    idx, src, dst, w = {}, [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or line == "\n":
                continue
            parts = line.rstrip("\n").split("\t")
            s, d = parts[0], parts[2]
            for n in (s, d):
                if n not in idx:
                    idx[n] = len(idx)
            src.append(idx[s])
            dst.append(idx[d])
            w.append(float(parts[3]) if len(parts) > 3 else 1.0)
    return len(idx), list(zip(src, dst)), w


def main():
    spec = json.load(open(sys.argv[1]))
    t = time.perf_counter()
    n, edges, w = load(spec["tsv"])
    g = ig.Graph(n=n, edges=edges, directed=True)
    g.es["weight"] = w
    build = time.perf_counter() - t
    out = {"build_s": build, "configs": {}}
    for c in spec["configs"]:
        times = []
        for q in c["queries"]:
            reset = None
            if len(q["seeds"]) > 1:
                reset = [0.0] * n
                for s, x in zip(q["seeds"], q["weights"]):
                    reset[s] += x
            t = time.perf_counter()
            if reset is None:
                g.personalized_pagerank(directed=not c["undirected"], damping=c["damping"],
                                        reset_vertices=q["seeds"], weights="weight",
                                        implementation="prpack")
            else:
                g.personalized_pagerank(directed=not c["undirected"], damping=c["damping"],
                                        reset=reset, weights="weight", implementation="prpack")
            times.append(time.perf_counter() - t)
        out["configs"][c["name"]] = times
        print("igraph %s: %d queries" % (c["name"], len(times)), file=sys.stderr, flush=True)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
