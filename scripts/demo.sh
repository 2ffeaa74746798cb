#!/usr/bin/env bash
# The main job on the embedded default (see README): `grlm demo` — MovieLens-100k (from the recbole
# wheel) -> Term IDs -> fine-tuning SmolLM2-135M-Instruct -> beam search -> grounding -> metrics,
# sized to finish in about ten minutes on a 2-core CPU. Extra arguments go to `grlm demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/setup_venv.sh | tail -n 1)
"$(dirname "$py")/grlm" demo "$@"
