"""Shared fixtures of the Python package's tests."""

from __future__ import annotations

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO / "data"


def read_tsv(path: pathlib.Path):
    """(src, rel, dst, weight) rows of a walkdb TSV edge list."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            src, rel, dst, weight = line.rstrip("\n").split("\t")
            rows.append((src, rel, dst, float(weight)))
    return rows


def shared_data(name: str) -> pathlib.Path:
    """A file of the shared data folder (../shared/data or $WALKDB_SHARED_DATA). Missing data
    skips the test, or fails it under CI."""
    base = pathlib.Path(os.environ.get("WALKDB_SHARED_DATA", REPO.parent / "shared" / "data"))
    path = base / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing and CI is set: the shared data must be present")
        pytest.skip(f"SKIPPED: {path} is missing")
    return path


@pytest.fixture
def umls_rows():
    return read_tsv(DATA / "pykeen" / "pykeen_umls.tsv")
