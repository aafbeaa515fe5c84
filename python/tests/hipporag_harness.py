"""Runs the published HippoRAG 2 package's own indexing and retrieval code on a small HotpotQA
corpus, with igraph or with walkdb.compat.igraph as its graph library.

    python hipporag_harness.py BACKEND WORKDIR PHASE OUT.json

BACKEND is "igraph" or "walkdb"; PHASE is "build" (index 300 passages, retrieve; index 100
more, retrieve; delete 40, retrieve) or "reopen" (a new process opens the saved graph and
retrieves). The results (per query: the ranked passages and their PPR scores) go to OUT.json.

Only what cannot run here is stubbed: the LLM (a deterministic echo of the fact filter's
input), the embedding model (a hashed bag-of-words embedder), the torch/transformers/openai/
vllm imports (empty modules; the one torch helper on the indexing path, `retrieve_knn`, is
replaced by the same computation in numpy), and OpenIE (precomputed triples written where
HippoRAG reads its saved OpenIE results). HippoRAG's graph construction, incremental
indexing, deletion, persistence and PPR retrieval run unchanged. With BACKEND "walkdb" the
module `igraph` *is* `walkdb.compat.igraph` (the one-line migration, done in sys.modules so
the installed package is not edited).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import json
import os
import re
import sys
import types

import numpy as np

STUBBED = {"torch", "transformers", "openai", "vllm", "litellm", "gritlm", "boto3", "botocore", "httpx", "tiktoken"}


class _Stub(types.ModuleType):
    """A module whose every attribute is a placeholder class."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (), {"__init__": lambda self, *a, **k: None})
        setattr(self, name, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in STUBBED:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _Stub(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def _tokens(text: str):
    return re.findall(r"[a-z0-9]+", text.lower())


class HashEmbedder:
    """Feature-hashed bag of words (md5, so identical in every process), L2-normalised."""

    dim = 512

    def __init__(self, global_config=None, embedding_model_name=None, **_):
        self.global_config = global_config
        self.embedding_model_name = embedding_model_name

    def batch_encode(self, texts, instruction="", norm=True, **_):
        if isinstance(texts, str):
            texts = [texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in _tokens(text):
                h = int.from_bytes(hashlib.md5(tok.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n > 0 else out[i]
        return out


class EchoLLM:
    """Returns the first four candidate facts of the recognition-memory filter unchanged."""

    def __init__(self, *_, **__):
        self.llm_name = "echo-llm"

    def infer(self, messages, **_):
        text = messages[-1]["content"]
        m = re.search(r"\[\[ ## fact_before_filter ## \]\]\n(.*?)\n\nRespond", text, re.S)
        facts = json.loads(m.group(1))["fact"][:4] if m else []
        reply = f"[[ ## fact_after_filter ## ]]\n{json.dumps({'fact': facts})}\n\n[[ ## completed ## ]]"
        return reply, {"prompt_tokens": 0, "completion_tokens": 0}, False

    def batch_infer(self, *a, **k):  # pragma: no cover - OpenIE is precomputed
        raise AssertionError("OpenIE should have been read from the precomputed file")


def retrieve_knn_numpy(query_ids, key_ids, query_vecs, key_vecs, k=2047, query_batch_size=1000, key_batch_size=10000):
    """hipporag.utils.embed_utils.retrieve_knn without torch: cosine top-k per query."""
    if len(key_vecs) == 0:
        return {}
    q = np.asarray(query_vecs, dtype=np.float32)
    kv = np.asarray(key_vecs, dtype=np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    kv = kv / np.maximum(np.linalg.norm(kv, axis=1, keepdims=True), 1e-12)
    sims = q @ kv.T
    kk = min(k, kv.shape[0])
    results = {}
    for i, qid in enumerate(query_ids):
        order = np.argsort(-sims[i], kind="stable")[:kk]
        results[qid] = ([key_ids[j] for j in order], sims[i, order].tolist())
    return results


ENTITY = re.compile(r"\b[A-Z][\w'\-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w'\-]*)*")


def pseudo_openie(passage: str):
    """Deterministic OpenIE stand-in: the title and capitalised phrases as entities; the title
    'mentions' each, and consecutive phrases 'appear with' each other."""
    title, _, body = passage.partition("\n")
    seen = []
    for m in ENTITY.finditer(body):
        e = m.group(0).strip()
        if e != title and e not in seen and len(e) > 2:
            seen.append(e)
    seen = seen[:8]
    triples = [[title, "mentions", e] for e in seen]
    triples += [[a, "appears with", b] for a, b in zip(seen, seen[1:])]
    return [title] + seen, triples


def write_openie(save_dir: str, docs, compute_mdhash_id):
    rows = []
    for doc in docs:
        entities, triples = pseudo_openie(doc)
        rows.append({
            "idx": compute_mdhash_id(doc, "chunk-"),
            "passage": doc,
            "extracted_entities": entities,
            "extracted_triples": triples,
        })
    path = os.path.join(save_dir, "openie_results_ner_echo-llm.json")
    with open(path, "w") as f:
        json.dump({"docs": rows, "avg_ent_chars": 10.0, "avg_ent_words": 2.0}, f)


def main():
    backend, workdir, phase, out_path = sys.argv[1:5]
    data_dir = os.environ["WALKDB_HOTPOTQA"]
    sys.meta_path.insert(0, _StubFinder())
    if backend == "walkdb":
        from walkdb.compat import igraph as compat

        sys.modules["igraph"] = compat
    elif backend != "igraph":
        raise SystemExit(f"unknown backend {backend}")

    import hipporag  # noqa: F401  (the package as published)

    hr = sys.modules["hipporag.HippoRAG"]
    hr._get_llm_class = lambda config: EchoLLM()
    hr._get_embedding_model_class = lambda embedding_model_name=None: HashEmbedder
    hr.retrieve_knn = retrieve_knn_numpy
    assert hr.ig.Graph.__module__.startswith("walkdb" if backend == "walkdb" else "igraph"), hr.ig.Graph.__module__

    from hipporag.utils.config_utils import BaseConfig
    from hipporag.utils.misc_utils import compute_mdhash_id

    with open(os.path.join(data_dir, "hotpotqa_dev53_corpus.json")) as f:
        corpus = json.load(f)
    with open(os.path.join(data_dir, "hotpotqa_dev53.json")) as f:
        questions = [q["question"] for q in json.load(f)][:30]
    docs = [f"{p['title']}\n{p['text']}" for p in corpus]
    first, second, deleted = docs[:300], docs[300:400], docs[100:140]

    os.makedirs(workdir, exist_ok=True)

    config = BaseConfig()
    config.save_dir = workdir
    config.llm_name = "echo-llm"
    config.embedding_model_name = "hash-embedder"
    config.retrieval_top_k = 400
    config.linking_top_k = 5
    config.is_directed_graph = False
    config.force_index_from_scratch = False
    config.force_openie_from_scratch = False
    config.openie_mode = "online"

    # PPR vectors as HippoRAG computed them (the graph call's raw result).
    captured = []
    original_run_ppr = hr.HippoRAG.run_ppr

    def run_ppr(self, reset_prob, damping=0.5):
        ids, scores = original_run_ppr(self, reset_prob, damping)
        captured.append(len(ids))
        return ids, scores

    hr.HippoRAG.run_ppr = run_ppr

    def retrieve(rag, label):
        solutions = rag.retrieve(questions, num_to_retrieve=400)
        return {
            "label": label,
            "vcount": rag.graph.vcount(),
            "ecount": rag.graph.ecount(),
            "queries": [
                {"docs": [d.split("\n", 1)[0] for d in s.docs], "scores": [float(x) for x in s.doc_scores]}
                for s in solutions
            ],
        }

    results = []
    rag = hr.HippoRAG(global_config=config)
    if phase == "build":
        # The precomputed OpenIE results of exactly the passages being indexed (HippoRAG
        # checks that its saved results cover its passages one to one).
        write_openie(workdir, first, compute_mdhash_id)
        rag.index(first)
        results.append(retrieve(rag, "index 300"))
        write_openie(workdir, first + second, compute_mdhash_id)
        rag.index(first + second)
        # HippoRAG 2.0.0a4 keeps its retrieval maps from before an incremental index() (its
        # own assertion then fails, with igraph as well); delete() resets the flag itself.
        rag.ready_to_retrieve = False
        results.append(retrieve(rag, "index 100 more"))
        rag.delete(deleted)
        results.append(retrieve(rag, "delete 40"))
    elif phase == "reopen":
        results.append(retrieve(rag, "reopened"))
    else:
        raise SystemExit(f"unknown phase {phase}")
    if not captured:
        raise SystemExit("HippoRAG never ran PPR: every query fell back to dense retrieval")
    with open(out_path, "w") as f:
        json.dump({"backend": backend, "phase": phase, "ppr_calls": len(captured), "results": results}, f)


if __name__ == "__main__":
    main()
