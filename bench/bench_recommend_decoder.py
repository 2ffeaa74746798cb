"""The recommendation path's two decoders in one run: users per second and top-1 agreement.

The same model, the same prompts (real histories of Amazon Beauty with the authors' Term IDs,
or MovieLens-100k with metadata Term IDs when ../shared is absent), the same beam count:
``grlm.recommend.beam_search(decoder="fast")`` (BeamSearchDecoder, shared prompt cache) against
``decoder="hf"`` (Hugging Face ``generate``), free and constrained to the catalog's trie.
Agreement is counted on the top beam's text and on the whole beam list.

    python bench/bench_recommend_decoder.py                       # SmolLM2-135M, 16 users
    python bench/bench_recommend_decoder.py --model runs/x/train/model --users 32 --beams 20
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import machine, print_table

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "beauty"


def load_cases(users: int, max_history: int, seed: int):
    """(term_ids, evaluation examples): Beauty when ../shared is there, else ml-100k."""
    from grlm.data import leave_one_out, load_dataset

    if SHARED.is_dir():
        from grlm.term_ids import load_term_ids

        dataset = load_dataset("beauty")
        term_ids = load_term_ids(SHARED / "item_id2tid.json")
    else:
        from grlm.pipeline.terms import metadata_term_ids

        dataset = load_dataset("ml-100k")
        term_ids = metadata_term_ids(dataset.items, 5)
    split = leave_one_out(dataset, max_history=max_history)
    cases = random.Random(seed).sample(split.test, users)
    return dataset.name, term_ids, cases


def main() -> int:
    import torch
    from grlm.lm import load_model, load_tokenizer
    from grlm.objective import Objective
    from grlm.recommend.generate import beam_search

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--objective", default="packed", choices=["packed", "prefix"])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--beams", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-history", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    name, term_ids, cases = load_cases(args.users, args.max_history, args.seed)
    tokenizer = load_tokenizer(args.model)
    model = load_model(args.model, device=device)
    goal = Objective(args.objective)
    prompts = [
        goal.history_prompt_ids(tokenizer, tuple(c.history)[-args.max_history :], term_ids)
        for c in cases
    ]
    trie = goal.trie(tokenizer, term_ids)
    max_new = 8 + trie.max_length
    print(
        f"{datetime.date.today()}, {machine()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), model {args.model} on {device}; {name}: "
        f"{args.users} users, mean prompt {sum(map(len, prompts)) / len(prompts):.0f} tokens, "
        f"{args.objective} objective, {args.beams} beams, batch {args.batch_size}, "
        f"catalog {trie.num_items} items",
        flush=True,
    )
    rows = []
    for constrained in (False, True):
        results = {}
        for decoder in ("hf", "fast"):
            beams, seconds = beam_search(
                model,
                tokenizer,
                prompts,
                decoder=decoder,
                num_beams=args.beams,
                max_new_tokens=max_new,
                batch_size=args.batch_size,
                trie=trie if constrained else None,
                eos_token_id=goal.end_token(tokenizer),
            )
            results[decoder] = (beams, seconds)
            print(
                f"  {'constrained' if constrained else 'free'} {decoder}: {seconds:.1f} s",
                flush=True,
            )
        (hf, hf_s), (fast, fast_s) = results["hf"], results["fast"]
        top1 = sum(a[:1] and b[:1] and a[0].text == b[0].text for a, b in zip(fast, hf))
        lists = sum([x.text for x in a] == [x.text for x in b] for a, b in zip(fast, hf))
        rows.append(
            [
                "constrained" if constrained else "free",
                f"{args.users / hf_s:.3f}",
                f"{args.users / fast_s:.3f}",
                f"{hf_s / fast_s:.1f}x",
                f"{top1 / args.users:.3f}",
                f"{lists / args.users:.3f}",
            ]
        )
    print_table(
        "users per second, same prompts and model",
        [
            "decoding",
            "HF generate users/s",
            "fast users/s",
            "speed-up",
            "top-1 agreement",
            "all beams agree",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
