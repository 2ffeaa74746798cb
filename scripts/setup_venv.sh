#!/usr/bin/env bash
# Creates (once) the virtual environment .venv and installs grlm into it with its extras (the
# serve and store extras too: the test suite covers grlm serve and the PostgreSQL store).
# torch is installed first and pinned to the CPU build so no multi-GB CUDA build is pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${GRLM_VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -c "import torch" 2>/dev/null || "$py" -m pip install -q "${GRLM_TORCH:-torch==2.13.0}"
"$py" -m pip install -q ".[ml,serve,store,test]"
echo "$py"
