"""Tokens per epoch of the two fine-tuning objectives on the same users (Amazon Beauty with the
authors' Term IDs, from ../shared): ``prefix`` (one example per training prefix, the history in
the prompt) against ``packed`` (one sequence per user window, every next item a target).

Both count every token the model reads (prompt and answers) under the SmolLM2 tokenizer and
chat template, and the loss targets (items taught). Nothing is trained.

    python bench/bench_sft_tokens.py                    # all 22,363 users, histories of 20
    python bench/bench_sft_tokens.py --users 2000 --max-history 10
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import machine, print_table

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    from grlm.data import leave_one_out, load_dataset
    from grlm.lm import load_tokenizer
    from grlm.objective import Objective
    from grlm.term_ids import load_term_ids
    from grlm.train.encode import IGNORE_INDEX, encode_examples
    from grlm.train.examples import seq_examples
    from grlm.train.packed import packed_train_examples

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=None, help="random users (default: all)")
    parser.add_argument("--max-history", type=int, default=20)
    parser.add_argument("--model", default="smollm2", help="whose tokenizer counts")
    args = parser.parse_args()
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "beauty"
    if not shared.is_dir():
        print(f"{shared} is absent: nothing to count")
        return 1
    dataset = load_dataset("beauty")
    split = leave_one_out(dataset, max_history=args.max_history)
    if args.users:
        users = sorted(random.Random(0).sample(sorted(split.train), args.users))
        split.train = {u: split.train[u] for u in users}
    term_ids = load_term_ids(shared / "item_id2tid.json")
    tokenizer = load_tokenizer(args.model)
    print(
        f"{datetime.date.today()}, {machine()}; Beauty, {len(split.train)} users, histories "
        f"of {args.max_history}, tokenizer of {args.model}",
        flush=True,
    )
    rows, counts = [], {}
    for name in ("prefix", "packed"):
        started = time.perf_counter()
        if name == "packed":
            examples = packed_train_examples(split, term_ids, max_history=args.max_history)
        else:
            examples = seq_examples(split, term_ids, stage="train", max_history=args.max_history)
        encoded, _ = encode_examples(
            tokenizer, examples, max_length=1 << 20, objective=Objective(name)
        )
        tokens = sum(len(e.input_ids) for e in encoded)
        loss_tokens = sum(sum(label != IGNORE_INDEX for label in e.labels) for e in encoded)
        targets = (
            sum(len(e.items) - e.first_target for e in examples)
            if name == "packed"
            else len(examples)
        )
        counts[name] = tokens
        rows.append(
            [
                name,
                f"{len(encoded):,}",
                f"{targets:,}",
                f"{tokens:,}",
                f"{loss_tokens:,}",
                f"{tokens / targets:.1f}",
                f"{time.perf_counter() - started:.0f} s",
            ]
        )
        print(f"  {name}: {tokens:,} tokens", flush=True)
    print_table(
        "tokens per epoch",
        [
            "objective",
            "sequences",
            "targets",
            "tokens",
            "loss tokens",
            "tokens per target",
            "encoding time",
        ],
        rows,
    )
    print(f"\npacked / prefix tokens: {counts['packed'] / counts['prefix']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
