#!/usr/bin/env bash
# The core and the Python module under sanitizers: AddressSanitizer + UndefinedBehaviorSanitizer
# (ctest, then the grounding, trie, index and CLI pytest files), and ThreadSanitizer (the
# threaded ctest binaries and tests/test_thread_safety.py). Any report fails the run.
#
#   bash scripts/sanitize.sh            # both
#   bash scripts/sanitize.sh address    # ASan + UBSan only
#   bash scripts/sanitize.sh thread     # TSan only
#   bash scripts/sanitize.sh --quick    # CI: without the CUDA-emulation ctest, and TSan on the
#                                       # trie tests only (ASan covers the batch-copy test)
#
# Uses the C++ compiler CMake finds (GCC or Clang; their sanitizer runtimes ship with them).
# Builds go to build/sanitize-<name>; the Python run imports a staged copy of the package with
# the sanitized module, so the installed package and the dev build are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
which=all
quick=0
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    address|thread|all) which=$arg ;;
    *) echo "usage: sanitize.sh [address|thread|all] [--quick]" >&2; exit 2 ;;
  esac
done
jobs=${GRLM_SANITIZE_JOBS:-2}
py=${GRLM_PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=$(bash scripts/setup_venv.sh | tail -n 1)
# pybind11 is a build requirement that pip's isolated builds do not leave in the venv.
"$py" -c "import pybind11" 2>/dev/null || "$py" -m pip install -q "pybind11>=2.12"

# The pytest files that drive the compiled core (no torch model runs in them).
address_tests=(tests/test_grounder_api.py tests/test_grounder_vs_reference.py
  tests/test_token_trie.py tests/test_index_file.py tests/test_bad_inputs.py
  tests/test_cli_ground.py tests/test_term_ids.py tests/test_thread_safety.py
  tests/test_catalog_updates.py)
thread_tests=(tests/test_thread_safety.py
  tests/test_catalog_updates.py::test_readers_see_whole_changes_while_a_writer_runs)
# The ctest binaries; --quick leaves out the CUDA kernels' CPU emulation (slow, not threaded).
ctests=(term_vocab catalog direct_map partial_credit structural grounder index_file token_trie
  updatable_grounder cuda_structural cuda_kernels_emulated)
thread_filter=()
if [ $quick = 1 ]; then
  ctests=("${ctests[@]:0:10}")
  thread_filter=(-k trie)
fi

cxx=$(command -v "${CXX:-c++}")
# A compiler without the sanitizer runtimes cannot run this script: say so and skip, not fail.
for sanitizer in address,undefined thread; do
  if ! echo 'int main() { return 0; }' |
      "$cxx" -x c++ -fsanitize=$sanitizer - -o /tmp/grlm_sanitizer_probe_$$ 2>/dev/null; then
    echo "sanitize.sh: SKIPPED: $cxx cannot build with -fsanitize=$sanitizer" \
      "(install the compiler's sanitizer runtimes, e.g. libasan8 libubsan1 libtsan2)" >&2
    exit 0
  fi
done
rm -f /tmp/grlm_sanitizer_probe_$$

runtime() {  # path of a sanitizer runtime library of the compiler, e.g. runtime asan
  local lib
  lib=$("$cxx" -print-file-name="lib$1.so")
  [ -f "$lib" ] || lib=$("$cxx" -print-file-name="libclang_rt.$1-x86_64.so")
  [ -f "$lib" ] || { echo "sanitize.sh: no $1 runtime for $cxx" >&2; exit 1; }
  echo "$lib"
}

build() {  # build <name> <sanitizer flags> <ctest names...>: the module and those tests
  local dir=build/sanitize-$1 flags=$2 tests=("${@:3}")
  bash scripts/install_cpp_test_deps.sh
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRLM_CUDA=OFF \
    -DGRLM_BUILD_TESTS=ON -DGRLM_BUILD_PYTHON=ON -DCMAKE_CXX_COMPILER="$cxx" \
    -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$py" \
    -DCMAKE_CXX_FLAGS="$flags -fno-omit-frame-pointer -g" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_MODULE_LINKER_FLAGS="$flags" >/dev/null
  cmake --build "$dir" -j "$jobs" --target _core "${tests[@]/#/test_}"
  # A copy of the package around the sanitized module.
  rm -rf "$dir/pkg" && mkdir -p "$dir/pkg"
  cp -r python/grlm "$dir/pkg/"
  rm -f "$dir"/pkg/grlm/_core*.so
  cp "$dir"/_core*.so "$dir/pkg/grlm/"
}

only() {  # a ctest -R regex matching exactly the given test names
  local IFS='|'
  echo "^($*)\$"
}

run_pytest() {  # run_pytest <build name> <runtime to preload> <test files...>
  local name=$1 preload=$2
  shift 2
  # Python itself is not instrumented, so the runtime is preloaded, and libstdc++ with it: the
  # runtime's C++-exception interceptor binds to libstdc++ when it starts, before any import.
  local libstdcxx
  libstdcxx=$("$cxx" -print-file-name=libstdc++.so)
  GRLM_SANITIZER=$name PYTHONPATH="build/sanitize-$name/pkg" LD_PRELOAD="$preload:$libstdcxx" \
    "$py" -m pytest -q -p no:cacheprovider -x "$@"
}

if [ "$which" = all ] || [ "$which" = address ]; then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
  build address "-fsanitize=address,undefined -fno-sanitize-recover=undefined" "${ctests[@]}"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --test-dir build/sanitize-address --output-on-failure -R "$(only "${ctests[@]}")"
  ASAN_OPTIONS=detect_leaks=0 run_pytest address "$(runtime asan)" "${address_tests[@]}"
fi

if [ "$which" = all ] || [ "$which" = thread ]; then
  echo "== ThreadSanitizer"
  build thread "-fsanitize=thread" grounder token_trie updatable_grounder
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp"
  ctest --test-dir build/sanitize-thread --output-on-failure \
    -R "$(only grounder token_trie updatable_grounder)"
  run_pytest thread "$(runtime tsan)" "${thread_tests[@]}" "${thread_filter[@]}"
fi
echo "sanitize.sh: no sanitizer reports"
