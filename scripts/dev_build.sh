#!/usr/bin/env bash
# Fast in-tree build for development: compiles the core and the Python module with CMake and
# links the module into python/grlm/, so `PYTHONPATH=python pytest` sees it without `pip install`.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${GRLM_DEV_BUILD:-build/dev}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRLM_BUILD_PYTHON=ON \
  -DGRLM_BUILD_TESTS=ON -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" "$@" >/dev/null
cmake --build "$build"
module=$(ls "$build"/_core*.so)
ln -sf "$(pwd)/$module" python/grlm/
echo "built $module"
