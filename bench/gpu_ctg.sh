#!/usr/bin/env bash
# CTG (`grlm terms build`) over the full Industrial catalog on a lent GPU machine, with and
# without context, in two calls of a remote runner that carries at most 64 MiB per call:
#
#   prepare   (here, on a machine with internet) builds the git-ignored .gpu/:
#               .gpu/call1/  gguf.part1 (first 43 MiB of the SmolLM2 GGUF), industrial.tar.gz
#                            (items.json, valid.csv, test.csv), gguf.sha256
#               .gpu/call2/  gguf.part2 (the rest), gguf.sha256, cache/ (embeddings of every item
#                            text, so the embedder is never loaded), whl/ (gguf, accelerate,
#                            psutil wheels for Python 3.12, installed only when missing)
#   stage     (call 1, carry .gpu/call1) checks part 1 and copies it and the data to
#             /tmp/grlm-gpu/, which outlives the call while the machine stays warm
#   run       (call 2, carry .gpu/call2) reassembles and checks the GGUF, installs what is
#             missing from .gpu/call2/whl, runs both variants at once on the GPU, each under
#             `timeout`, then `grlm terms stats` and a summary.
#
# run writes to $OUT (default build/gpu_ctg): ctg_context.jsonl, ctg_nocontext.jsonl, their
# .stats.json and .log.jsonl (the log keeps whatever finished before a timeout) and
# ctg_summary.txt. The logs live in /tmp/grlm-gpu, so another `run` with GRLM_CTG_RESUME=1 on
# the same warm machine resumes where a timeout stopped (without it, run starts afresh). grlm
# runs from this tree (PYTHONPATH=python): CTG needs no compiled core.
# Settings (environment): PYTHON, GRLM_CTG_DEVICE (cuda), GRLM_CTG_BATCH (512),
# GRLM_CTG_TIMEOUT (seconds per variant, 240), GRLM_CTG_LIMIT (items, default all),
# GRLM_CTG_STAGE (/tmp/grlm-gpu); prepare: GRLM_CTG_GGUF, GRLM_CTG_DATA, GRLM_CTG_PART1_MIB (43).
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
stage=${GRLM_CTG_STAGE:-/tmp/grlm-gpu}
model_name=SmolLM2-135M-Instruct.Q4_1.gguf

fail() { echo "gpu_ctg: $*" >&2; exit 1; }

source bench/_checksums.sh  # (the working directory is the repository root)

prepare() {
  local gguf=${GRLM_CTG_GGUF:-$HOME/.cache/grlm/smollm2/$model_name}
  local data=${GRLM_CTG_DATA:-../shared/data/industrial}
  local part1=$(( ${GRLM_CTG_PART1_MIB:-43} * 1024 * 1024 ))
  [ -f "$gguf" ] || fail "no GGUF at $gguf (set GRLM_CTG_GGUF)"
  [ -f "$data/items.json" ] || fail "no items.json in $data (set GRLM_CTG_DATA)"
  rm -rf .gpu/call1 .gpu/call2
  mkdir -p .gpu/call1 .gpu/call2/whl .gpu/call2/cache
  head -c "$part1" "$gguf" >.gpu/call1/gguf.part1
  tail -c +$(( part1 + 1 )) "$gguf" >.gpu/call2/gguf.part2
  { echo "$(sha256sum <"$gguf" | cut -d' ' -f1) total"
    echo "$(sha256sum <.gpu/call1/gguf.part1 | cut -d' ' -f1) part1"
    echo "$(sha256sum <.gpu/call2/gguf.part2 | cut -d' ' -f1) part2"; } >.gpu/call2/gguf.sha256
  cp .gpu/call2/gguf.sha256 .gpu/call1/gguf.sha256
  cat .gpu/call1/gguf.part1 .gpu/call2/gguf.part2 | cmp -s - "$gguf" || fail "split is wrong"
  # load_dataset recognizes the MiniOneRec layout by items.json + test.csv.
  tar -C "$data" -czf .gpu/call1/industrial.tar.gz items.json valid.csv test.csv
  echo "== embeddings of every item text (the texts and key of terms build)"
  GRLM_CACHE=.gpu/call2/cache PYTHONPATH=python "$python" - "$data" <<'EOF' || exit 1
import sys
from grlm.terms.request import read_items
from grlm.terms.embed import Embedder
from grlm.terms.pipeline import CTGConfig, prepare_prompts

items = read_items(sys.argv[1])
encoder = Embedder(device="cpu")  # the default embedder, as `terms build` makes it
prepare_prompts(items, CTGConfig(context=True), encoder=encoder)
print(f"{len(items)} items: {encoder.computed} embedded, {encoder.cache_hits} cached, "
      f"key {encoder.model_key!r}, cache {encoder.cache.path}")
EOF
  echo "== wheels (Python 3.12) for what a torch + transformers image may lack"
  # transformers loads GGUF files only with gguf and accelerate installed; accelerate needs
  # psutil (an abi3 wheel, the only compiled one). Installed with --no-deps, only when missing.
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --platform manylinux2014_x86_64 -d .gpu/call2/whl \
      gguf==0.19.0 accelerate==1.15.0 psutil==7.2.2 || fail "pip download failed"
  local repo
  repo=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
  echo "== carried per call (repository files: $(( repo / 1024 )) KiB)"
  for call in call1 call2; do
    local size
    size=$(du -sb ".gpu/$call" | cut -f1)
    awk -v c="$call" -v s="$size" -v r="$repo" 'BEGIN {printf "%s: .gpu/%s %.1f MiB, with \
the repository %.1f MiB (limit 64 MiB, with anything else carried)\n", c, c, s / 2^20, (s + r) / 2^20}' 
  done
  ls -l .gpu/call1 .gpu/call2 .gpu/call2/whl
}

stage_files() {
  [ -f .gpu/call1/gguf.part1 ] || fail ".gpu/call1/gguf.part1 missing: carry .gpu/call1"
  check_sha .gpu/call1/gguf.part1 "$(recorded_sha .gpu/call1/gguf.sha256 part1)"
  mkdir -p "$stage"
  cp .gpu/call1/gguf.part1 .gpu/call1/gguf.sha256 "$stage/"
  rm -rf "$stage/industrial" && mkdir -p "$stage/industrial"
  tar -C "$stage/industrial" -xzf .gpu/call1/industrial.tar.gz || fail "bad industrial.tar.gz"
  echo "staged in $stage: $(du -sh "$stage" | cut -f1); run next with .gpu/call2 carried"
}

run_variant() {  # NAME EXTRA_ARGS...: background job writing $stage/NAME.{wall,rc,out}
  local name=$1
  shift
  local start
  start=$(date +%s.%N)
  timeout -k 10 "${GRLM_CTG_TIMEOUT:-240}" "$python" -m grlm.cli terms build \
      --dataset "$stage/industrial" --out "$OUT/$name.jsonl" --model "$stage/$model_name" \
      --device "${GRLM_CTG_DEVICE:-cuda}" --batch-size "${GRLM_CTG_BATCH:-512}" --seeds 1 \
      --log "$stage/$name.log.jsonl" --no-progress ${GRLM_CTG_LIMIT:+--limit "$GRLM_CTG_LIMIT"} \
      "$@" >"$stage/$name.out" 2>&1
  echo $? >"$stage/$name.rc"
  cp "$stage/$name.log.jsonl" "$OUT/$name.jsonl.log.jsonl" 2>/dev/null
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f\n", b - a}' >"$stage/$name.wall"
}

run_all() {
  OUT=${OUT:-build/gpu_ctg}
  mkdir -p "$OUT"
  echo "== machine"
  local gpu
  gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 \
        | head -1)
  echo "$gpu"
  [ -f "$stage/gguf.part1" ] || fail "$stage/gguf.part1 missing: run 'stage' (carrying \
.gpu/call1) in the previous call, on the same warm machine"
  [ -f .gpu/call2/gguf.part2 ] || fail ".gpu/call2/gguf.part2 missing: carry .gpu/call2"
  [ -d "$stage/industrial" ] || fail "$stage/industrial missing: run 'stage' first"
  local sums=.gpu/call2/gguf.sha256
  check_sha "$stage/gguf.part1" "$(recorded_sha "$sums" part1)"
  check_sha .gpu/call2/gguf.part2 "$(recorded_sha "$sums" part2)"
  cat "$stage/gguf.part1" .gpu/call2/gguf.part2 >"$stage/$model_name"
  check_sha "$stage/$model_name" "$(recorded_sha "$sums" total)"
  echo "GGUF reassembled and checked: $stage/$model_name"
  rm -rf "$stage/cache" && cp -r .gpu/call2/cache "$stage/cache"

  echo "== Python packages"
  for module in psutil gguf accelerate; do
    if ! "$python" -c "import $module" 2>/dev/null; then
      echo "installing $module from .gpu/call2/whl"
      PIP_BREAK_SYSTEM_PACKAGES=1 "$python" -m pip install -q --no-index --no-deps \
          --find-links .gpu/call2/whl "$module" || fail "could not install $module"
    fi
  done
  export PYTHONPATH=$PWD/python HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
      TOKENIZERS_PARALLELISM=false GRLM_CACHE=$stage/cache PYTHONUNBUFFERED=1
  "$python" -c "import sys, torch, transformers, gguf, accelerate, grlm
print('python', sys.version.split()[0], '| torch', torch.__version__, '| cuda', torch.version.cuda,
      torch.cuda.is_available(), '| transformers', transformers.__version__, '| gguf',
      gguf.__version__ if hasattr(gguf, '__version__') else '?', '| accelerate',
      accelerate.__version__, '| grlm from', grlm.__file__)
try:
    import faiss
    print('faiss', faiss.__version__)
except ImportError:
    print('faiss: absent (exact numpy neighbours)')" || fail "imports failed"

  echo "== terms build, both variants at once (timeout ${GRLM_CTG_TIMEOUT:-240} s each)"
  if [ "${GRLM_CTG_RESUME:-0}" != 1 ]; then
    rm -f "$stage"/ctg_context.log.jsonl "$stage"/ctg_nocontext.log.jsonl
  fi
  run_variant ctg_context &
  run_variant ctg_nocontext --no-context &
  wait
  local runs=()
  for name in ctg_context ctg_nocontext; do
    echo "-- $name: exit $(cat "$stage/$name.rc"), $(cat "$stage/$name.wall") s"
    tail -45 "$stage/$name.out"
    runs+=(--run "${name#ctg_}" "$OUT/$name.jsonl" "$(cat "$stage/$name.wall")" \
           "$(cat "$stage/$name.rc")")
    if [ -f "$OUT/$name.jsonl" ]; then
      "$python" -m grlm.cli terms stats "$OUT/$name.jsonl" | tail -25
    fi
  done

  echo "== summary"
  "$python" bench/ctg_summary.py --dataset "$stage/industrial" \
      ${GRLM_CTG_LIMIT:+--limit "$GRLM_CTG_LIMIT"} "${runs[@]}" --write "$OUT/ctg_summary.txt"
  {
    echo
    echo "device ${GRLM_CTG_DEVICE:-cuda} ($gpu), batch ${GRLM_CTG_BATCH:-512}, seeds 1," \
         "both variants at once, SmolLM2-135M-Instruct Q4_1 GGUF unpacked to a dense model"
    for name in ctg_context ctg_nocontext; do
      echo; echo "== $name output (last 60 lines)"; tail -60 "$stage/$name.out"
    done
  } >>"$OUT/ctg_summary.txt"
  ls -l "$OUT"
}

case "${1:-}" in
  prepare) prepare ;;
  stage) stage_files ;;
  run) run_all ;;
  *) fail "usage: bash bench/gpu_ctg.sh prepare|stage|run" ;;
esac
