#!/usr/bin/env bash
# The whole test suite: the C++ core on its own (CMake + ctest), then the installed Python
# package (pytest). Tests needing a GPU or ../shared/data skip themselves when those are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/setup_venv.sh | tail -n 1)
bash scripts/install_cpp_test_deps.sh
cmake -S . -B build/ctest -DCMAKE_BUILD_TYPE=Release -DGRLM_BUILD_TESTS=ON -DGRLM_BUILD_PYTHON=OFF
cmake --build build/ctest -j "$(nproc)"
ctest --test-dir build/ctest --output-on-failure
# pytest puts tests/ (not the repo root) on sys.path, so `import grlm` is the installed package.
"$py" -m pytest tests -q -p no:cacheprovider "$@"
