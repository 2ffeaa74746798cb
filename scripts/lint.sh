#!/usr/bin/env bash
# CI's style check, the same linters as .pre-commit-config.yaml: ruff (lint and format) for
# Python, clang-format (.clang-format) for C++ and CUDA. Changes nothing; fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/setup_venv.sh | tail -n 1)
"$py" -m pip install -q ".[lint]"
bin=$(dirname "$py")
"$bin/ruff" check .
"$bin/ruff" format --check .
git ls-files '*.h' '*.cc' '*.cu' '*.cuh' | xargs "$bin/clang-format" --dry-run --Werror
