#!/usr/bin/env bash
# Builds the walkdb Python package into a virtual environment and runs its tests.
#
# Installs what the tests need from the package registry itself: numpy, igraph and pytest;
# the published HippoRAG 2 package (2.0.0a4, without its heavy dependencies: torch, vllm,
# transformers and openai are stubbed by the HippoRAG test) with the light dependencies its
# retrieval path imports. The extension is built by maturin (release) through `pip install`.
#
# WALKDB_PY_VENV: the virtual environment (default target/py-venv); PYTHON: the interpreter
# that creates it (default python3, >= 3.9).
set -euo pipefail
cd "$(dirname "$0")"
venv="${WALKDB_PY_VENV:-../target/py-venv}"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
venv="$(cd "$venv" && pwd)"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
echo "== python: test dependencies"
"${pip[@]}" numpy igraph pytest
"${pip[@]}" pandas pyarrow tqdm pydantic tenacity filelock packaging
"${pip[@]}" --pre --no-deps hipporag==2.0.0a4
echo "== python: building and installing the walkdb package (pip install ./python)"
"${pip[@]}" --no-deps --force-reinstall .
echo "== python: tests"
cd tests
"$venv/bin/python" -m pytest -q -rs
