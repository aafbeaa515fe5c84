#!/usr/bin/env python3
"""Cut the demo graph out of WordNet 3.0 (stdlib only, deterministic).

Usage: python3 data/wordnet-demo/make.py PATH/TO/wordnet30.tsv

Reads the full WordNet 3.0 edge list (../shared/data/wordnet30.tsv, made from Debian's
wordnet-base 1:3.0-37) and writes, next to this script:

  base.tsv       every edge among the synsets below animal.n.01 and food.n.01 (following
                 hyponym and instance_hyponym) and the words naming them, except the facts
                 held out below;
  new-facts.tsv  the held-out facts: every edge that touches a dog breed (a synset below
                 dog.n.01 other than dog.n.01 itself) or a word naming only such synsets.

`walkdb demo` imports base.tsv, then streams new-facts.tsv in as incremental writes.
"""
import os
import sys
from collections import defaultdict

HEADER = """# WordNet 3.0 subset for the walkdb demo ({part}).
# Source: WordNet 3.0 (Princeton University), Debian package wordnet-base 1:3.0-37, converted
# to TSV (src, relation, dst, weight; word-synset weight = 1 + SemCor count) and cut by
# data/wordnet-demo/make.py. Licence: the WordNet 3.0 licence, in data/wordnet-demo/LICENSE.
"""


def descendants(children, roots):
    seen = set(roots)
    stack = list(roots)
    while stack:
        x = stack.pop()
        for y in children[x]:
            if y not in seen:
                seen.add(y)
                stack.append(y)
    return seen


def main(path):
    edges = []
    children = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            s, r, d, w = line.rstrip("\n").split("\t")
            edges.append((s, r, d, w))
            if r in ("hyponym", "instance_hyponym"):
                children[s].append(d)
    synsets = descendants(children, ["animal.n.01", "food.n.01"])
    words_of = defaultdict(set)
    for s, r, d, _ in edges:
        if s in synsets and r == "has_word":
            words_of[d].add(s)
    nodes = synsets | set(words_of)
    kept = [e for e in edges if e[0] in nodes and e[2] in nodes]
    breeds = descendants(children, ["dog.n.01"]) - {"dog.n.01"}
    breed_words = {w for w, ss in words_of.items() if ss <= breeds}
    held = breeds | breed_words
    base = [e for e in kept if e[0] not in held and e[2] not in held]
    new = [e for e in kept if e[0] in held or e[2] in held]
    here = os.path.dirname(os.path.abspath(__file__))
    for name, part, rows in (("base.tsv", "base graph", base), ("new-facts.tsv", "facts added later", new)):
        with open(os.path.join(here, name), "w", encoding="utf-8") as out:
            out.write(HEADER.format(part=part))
            for row in rows:
                out.write("\t".join(row) + "\n")
        print(f"{name}: {len(rows)} edges")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/wordnet30.tsv")
