#!/usr/bin/env bash
# Runs the atheris fuzz targets of tests/fuzz/ with the core built for coverage-guided fuzzing
# (clang -fsanitize=fuzzer-no-link; undefined behaviour traps; bounds-checked std containers).
#
#   bash scripts/fuzz.sh                      # every target for 60 s
#   bash scripts/fuzz.sh --seconds 600 load   # one target (fuzz_load.py) for 10 min
#   bash scripts/fuzz.sh --runs 1000000       # every target for a million inputs
#   bash scripts/fuzz.sh --smoke              # CI: every target for 10 s from its seeds alone;
#                                             # fails when a target's coverage never grows
#
# Corpora are kept in build/fuzz/corpus/<target> between runs; a crashing input is written to
# build/fuzz/artifacts/ and fails the run (replay it: python tests/fuzz/fuzz_X.py --replay FILE).
# Without clang the module is built by the default compiler without coverage instrumentation
# (only the Python code is then coverage-guided); without atheris the run is skipped. Both are
# said on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time=60)
smoke=0
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) limit=(-max_total_time=10) smoke=1 ;;
    --seconds) limit=("-max_total_time=$2"); shift ;;
    --runs) limit=("-runs=$2"); shift ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=(load ground trie term_id)
jobs=${GRLM_FUZZ_JOBS:-2}
py=${GRLM_PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=$(bash scripts/setup_venv.sh | tail -n 1)

if ! "$py" -c "import atheris" 2>/dev/null && ! "$py" -m pip install -q atheris; then
  echo "fuzz.sh: SKIPPED: atheris is not installed and cannot be installed here" >&2
  exit 0
fi
"$py" -c "import pybind11" 2>/dev/null || "$py" -m pip install -q "pybind11>=2.12"

clang=$(command -v clang++ clang++-{19,18,17,16,15,14} 2>/dev/null | head -n 1 || true)
build=build/fuzz
if [ -n "$clang" ]; then
  flags="-fsanitize=fuzzer-no-link -fsanitize=undefined -fsanitize-trap=undefined"
  flags+=" -D_GLIBCXX_ASSERTIONS -g"
  compiler=(-DCMAKE_CXX_COMPILER="$clang")
else
  echo "fuzz.sh: NOTE: no clang++ found (apt-get install clang): the C++ core is built" \
    "without coverage instrumentation, so only the Python code guides the fuzzer" >&2
  flags="-D_GLIBCXX_ASSERTIONS -g"
  compiler=()
  build=build/fuzz-nocov
fi
# RelWithDebInfo, not Release: pybind11 turns on LTO for Release, and clang 14's LTO link of
# the instrumented module crashes.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRLM_CUDA=OFF -DGRLM_BUILD_TESTS=OFF \
  -DGRLM_BUILD_PYTHON=ON "${compiler[@]}" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_MODULE_LINKER_FLAGS="$flags" -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" \
  -DPython_EXECUTABLE="$py" >/dev/null
if ! cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1; then
  tail -n 30 "$build/build.log"
  exit 1
fi
rm -rf "$build/pkg" && mkdir -p "$build/pkg" "$build/artifacts"
cp -r python/grlm "$build/pkg/"
rm -f "$build"/pkg/grlm/_core*.so
cp "$build"/_core*.so "$build/pkg/grlm/"

failed=0
for target in "${targets[@]}"; do
  corpus=build/fuzz/corpus/$target
  if [ "$smoke" = 1 ]; then  # from the seeds alone, so coverage has a starting value
    corpus=build/fuzz/smoke-corpus/$target
    rm -rf "$corpus"
  fi
  mkdir -p "$corpus"
  log=$build/fuzz_$target.log
  echo "== fuzz_$target ${limit[*]}"
  if PYTHONPATH="$build/pkg" "$py" "tests/fuzz/fuzz_$target.py" "$corpus" "${limit[@]}" \
      -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/${target}-" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed=1
    grep -v "^INFO: Instrumenting" "$log" | tail -n 40 >&2
  fi
  runs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | grep -o "[0-9]*$" || true)
  cov=$(grep -o "cov: [0-9]*" "$log" | tail -n 1 || true)
  # A smoke run starts from the seeds alone: a target whose coverage then never grows explores
  # nothing (fuzz_load once ran 154,677 inputs at "cov: 1"), which fails the run too.
  first=$(grep -o "cov: [0-9]*" "$log" | head -n 1 || true)
  if [ "$smoke" = 1 ] && [ "$status" = ok ] && [ "$first" = "$cov" ]; then
    status="FAILED (coverage stayed at its starting value, $cov)"
    failed=1
  fi
  echo "fuzz_$target: $status, ${runs:-?} executions, $cov, corpus $(ls "$corpus" | wc -l)"
done
exit $failed
