#!/usr/bin/env bash
# The GPU check of the project, in one go on a machine with an NVIDIA GPU (no internet needed:
# torch, triton, pybind11, scikit-build-core, cmake, ninja and nvcc must be installed; numpy and
# pytest are installed from the wheels in .whl/ when missing):
#   1. build and install grlm with `pip install --no-build-isolation --no-deps .`
#   2. run tests/test_cuda_structural.py (the GPU tests compare the kernel with the CPU core)
#   3. run the benchmark (bench/bench_gpu_structural.py)
#   4. constrained decoding: its GPU tests and short benchmark (bench/gpu_check_decoding.sh);
#      GRLM_GPU_CHECK_DECODING=0 skips it (e.g. when only the structural kernel changed)
#   5. print both tables last
# Every step is bounded with `timeout`; the whole script stays under 9 minutes on an H100.
# Logs go to $OUT (when set, e.g. by a remote runner) or to build/gpu_check/.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=${OUT:-build/gpu_check}
mkdir -p "$logs"
python=${PYTHON:-python}
status=0

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available())"

# numpy and pytest from the carried wheel folder .whl/ when the machine lacks them (offline).
for module in numpy pytest; do
  if ! "$python" -c "import $module" 2>/dev/null; then
    echo "installing $module from .whl/"
    PIP_BREAK_SYSTEM_PACKAGES=1 "$python" -m pip install -q --no-index --find-links .whl "$module" \
      || echo "could not install $module (carry .whl/)"
  fi
done

# An install from this tree earlier in the same session (e.g. by another GPU check) is reused
# when it has the CUDA scorer; GRLM_REBUILD=1 forces the build.
if [ "${GRLM_REBUILD:-0}" != 1 ] && (cd /tmp && "$python" -c \
    "import grlm._core as c; assert c.cuda_compiled and c.Grounder.structural_top_k" 2>/dev/null); then
  echo "== grlm already installed with the CUDA scorer (GRLM_REBUILD=1 to rebuild)"
else
  echo "== build (pip install --no-build-isolation --no-deps .)"
  # The GPU image's default CXX (/opt/gcc) links libstdc++ statically against an older system
  # libgcc_s, and every C++ exception thrown in the module then segfaults; the distribution's
  # g++ (the one Python was built with) does not. GRLM_KEEP_CXX=1 keeps the environment's.
  if [ "${GRLM_KEEP_CXX:-0}" != 1 ] && command -v /usr/bin/g++ >/dev/null; then
    export CC=/usr/bin/gcc CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++
    rm -rf build/cp3*  # a CMake cache made with another compiler cannot be reused
  fi
  echo "compiler: $(${CXX:-c++} --version | head -1)"
  start=$(date +%s)
  # PIP_BREAK_SYSTEM_PACKAGES: allow installing next to a distribution's Python (PEP 668).
  if ! PIP_BREAK_SYSTEM_PACKAGES=1 CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16} timeout 150 \
      "$python" -m pip install --no-build-isolation --no-deps . >"$logs/build.log" 2>&1; then
    tail -40 "$logs/build.log"
    echo "BUILD FAILED"
    exit 1
  fi
  echo "built in $(( $(date +%s) - start )) s"
fi
# Run from outside the source tree so `import grlm` is the installed package.
(cd /tmp && "$python" -c "import grlm, grlm._core as c; \
print('grlm from', grlm.__file__); print('cuda_compiled', c.cuda_compiled, \
'devices', c.cuda_device_count(), '|', c.cuda_runtime_status())")

echo "== GPU tests"
start=$(date +%s)
timeout 90 "$python" -m pytest tests/test_cuda_structural.py -q -p no:cacheprovider \
    --rootdir=. -o addopts="" 2>&1 | tee "$logs/tests.log" | tail -25
test_status=${PIPESTATUS[0]}
echo "tests: exit $test_status in $(( $(date +%s) - start )) s"
[ "$test_status" -ne 0 ] && status=1

echo "== benchmark"
start=$(date +%s)
timeout 100 "$python" bench/bench_gpu_structural.py --bag --profile 2>&1 | tee "$logs/bench.log"
bench_status=${PIPESTATUS[0]}
echo "benchmark: exit $bench_status in $(( $(date +%s) - start )) s"
[ "$bench_status" -ne 0 ] && status=1

if [ "${GRLM_GPU_CHECK_DECODING:-1}" != 0 ]; then
  echo "== constrained decoding"
  PYTHON="$python" bash bench/gpu_check_decoding.sh 2>&1 | tee "$logs/decoding.log"
  [ "${PIPESTATUS[0]}" -ne 0 ] && status=1
else
  echo "constrained decoding skipped (GRLM_GPU_CHECK_DECODING=0)" >"$logs/decoding.log"
fi

echo
echo "== summary"
grep -E "passed|failed|error" "$logs/tests.log" | tail -1
sed -n '/^| N |/,$p' "$logs/bench.log"
grep -E "passed|failed" "$logs/decoding.log" | tail -1
sed -n '/Beam search wall time/,$p' "$logs/decoding.log" | head -40
exit $status
