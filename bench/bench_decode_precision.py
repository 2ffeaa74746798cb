"""The recommend stage's decoding in fp32 and in bf16, in one run: users per second and recall.

A finished run's model (its folder's card says how it scores tokens), the run's own test users,
its decoder settings (beams, batch size, constrained or free): ``Pipeline.decode`` with the model
loaded in fp32, then in bf16 (``recommend.precision``), alternating ``--repeats`` times; the best
time of each is kept. Recall@10 and the paired difference come from the same users; top-1 agreement
counts users whose first item is the same in both.

    python bench/bench_decode_precision.py --run runs/demo --users 943
    python bench/bench_decode_precision.py --run runs/beauty_cpu --users 500 --decoding free
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import machine, print_table

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    import torch
    from grlm.eval.bootstrap import paired_from_ranks
    from grlm.eval.ranking import rank_in_list
    from grlm.lm import inference_dtype, load_model, load_tokenizer
    from grlm.model_card import ModelCard
    from grlm.pipeline.config import config_from_dict
    from grlm.pipeline.stages import Pipeline

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, help="a finished run's output folder")
    parser.add_argument("--users", type=int, default=256, help="its first N test users")
    parser.add_argument("--decoding", choices=["constrained", "free"], default="constrained")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = config_from_dict(json.loads((Path(args.run) / "config.json").read_text()))
    config.output_dir = args.run
    pipeline = Pipeline(config, log=lambda line: None)
    card = ModelCard.load(pipeline.model_dir)
    card.check_decoding(args.decoding)
    tokenizer = load_tokenizer(str(pipeline.model_dir))
    grounder = pipeline.grounder("cpu")
    cases = pipeline.cases(pipeline.data()[2].test, tokenizer)[: args.users]
    constrained = args.decoding == "constrained"
    trie = pipeline.objective.trie(tokenizer, pipeline.term_ids()) if constrained else None
    models = {
        name: load_model(str(pipeline.model_dir), dtype=inference_dtype("cpu", name))
        for name in ("fp32", "bf16")
    }
    print(
        f"{datetime.date.today()}, {machine()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); run {args.run}: {len(cases)} test users, "
        f"{args.decoding}, {config.recommend.num_beams} beams, batch {config.recommend.batch_size}, "
        f"{card.loss} loss, {card.keep_layers or 'all'} layers",
        flush=True,
    )
    best: dict[str, float] = {}
    found: dict[str, object] = {}
    for repeat in range(args.repeats):
        for name, model in models.items():
            run = pipeline.decode(
                model, tokenizer, grounder, cases, card=card, trie=trie, k=config.recommend.k
            )
            best[name] = min(best.get(name, float("inf")), run.generation_seconds)
            found[name] = run
            print(f"  {name} pass {repeat + 1}: {run.generation_seconds:.1f} s", flush=True)
    ranks = {
        name: {u.user_id: rank_in_list(u.items, u.target) for u in run.users}
        for name, run in found.items()
    }
    recall = {name: sum(r <= 10 for r in rs.values()) / len(rs) for name, rs in ranks.items()}
    paired = paired_from_ranks(ranks["bf16"], ranks["fp32"], ["recall@10"])
    low, high = paired["recall@10"]["low"], paired["recall@10"]["high"]
    top1 = sum(a.items[:1] == b.items[:1] for a, b in zip(found["fp32"].users, found["bf16"].users))
    print_table(
        "decoding, same model and users",
        ["dtype", "users/s", "vs fp32", "R@10", "top-1 as fp32"],
        [
            [
                name,
                f"{len(cases) / best[name]:.2f}",
                f"{best['fp32'] / best[name]:.2f}x",
                f"{recall[name]:.4f}",
                f"{top1 / len(cases):.3f}" if name == "bf16" else "1.000",
            ]
            for name in ("fp32", "bf16")
        ],
    )
    print(
        f"\nR@10 bf16 - fp32, paired 95%: {paired['recall@10']['mean']:+.4f} "
        f"[{low:+.4f}, {high:+.4f}]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
