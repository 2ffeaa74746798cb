#!/usr/bin/env bash
# The main job on the embedded default (see README): builds a grounding index over the GRLM
# authors' Beauty Term IDs (or a generated catalog when ../shared is absent), grounds a few
# generated Term IDs and prints the grounding benchmark table.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/setup_venv.sh | tail -n 1)
grlm="$(dirname "$py")/grlm"
tids=../shared/data/beauty/item_id2tid.json
if [ ! -f "$tids" ]; then
  tids=$(mktemp -d)/catalog.jsonl
  "$py" - "$tids" <<'PY'
import json, sys
sys.path.insert(0, "bench")
from bench_grounding import synthetic_catalog
catalog, _ = synthetic_catalog(20_000, vocab_size=5_000)
with open(sys.argv[1], "w") as out:
    for item_id, terms in catalog.items():
        out.write(json.dumps({"item_id": item_id, "terms": terms}) + "\n")
PY
  echo "(../shared absent: grounding over a generated catalog $tids)"
fi
first=$("$py" -c "import sys; from grlm.term_ids import load_term_ids; print(', '.join(next(iter(load_term_ids(sys.argv[1]).values()))))" "$tids")
echo "== grlm ground: a catalog Term ID (direct), a perturbed one and an unknown one (structural)"
rest=${first#*, }
"$grlm" ground --tids "$tids" --top-k 3 "[$first]" "[${first%%,*}, x-unknown, ${rest#*, }]" \
  "[nothing, matches, here]"
echo "== grounding benchmark (quick)"
"$py" bench/bench_grounding.py --quick --synthetic-items 100000
