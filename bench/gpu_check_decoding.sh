#!/usr/bin/env bash
# GPU check of constrained decoding, under 4 minutes on one H100: install the package (no
# dependencies, nothing else), run the decoding tests including the gpu-marked ones, then a short
# benchmark. Every step is bounded with `timeout`; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
status=0
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

# Reuse an installed build that already has the token trie (saves the compile).
if (cd /tmp && "$py" -c "import grlm._core as c; c.TokenTrie" 2>/dev/null); then
  echo "== grlm already installed with the token trie"
else
  echo "== pip install --no-build-isolation --no-deps ."
  timeout 150 "$py" -m pip install --no-build-isolation --no-deps . -q || { echo "install failed"; exit 1; }
fi

echo "== decoding tests (gpu-marked and fast ones)"
timeout 80 "$py" -m pytest -q -p no:cacheprovider -m "gpu or not slow" \
  tests/test_constrained_step.py tests/test_constrained_decoding.py tests/test_token_trie.py \
  || status=1

echo "== short benchmark (random Qwen3-0.6B shape, bf16)"
timeout 100 "$py" bench/bench_constrained_decoding.py --quick --repeat 1 \
  --json "${OUT:-/tmp}/bench_constrained_decoding.json" || status=1
exit $status
