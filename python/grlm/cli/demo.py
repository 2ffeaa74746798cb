"""``grlm demo``: the whole GRLM loop on MovieLens-100k with SmolLM2-135M-Instruct on the CPU.

Data → Term IDs → fine-tuning → beam search → grounding → metrics, sized to finish within about
ten minutes on two CPU cores (the sizes are printed first). Ends with the metrics next to the
popularity baseline, a few items' Term IDs, one user's history with its recommendations and the
grounding latency. Everything lands in ``--output-dir`` (report.md, report.json, plots).
"""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the GRLM demo on MovieLens-100k", description=__doc__
    )
    parser.add_argument("--output-dir", default="runs/demo")
    parser.add_argument(
        "--model",
        default=None,
        help="model id, folder or .gguf (default: the embedded SmolLM2-135M)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override a demo setting",
    )
    parser.add_argument(
        "--force",
        action="append",
        default=[],
        metavar="STAGE",
        help="rerun a stage even when up to date ('all' for every stage)",
    )
    parser.set_defaults(func=main)


def _describe(config) -> str:
    d, s, t, r = config.dataset, config.sft, config.train, config.recommend
    return "\n".join(
        [
            (
                f"model {config.model.name}"
                + (
                    f" (first {config.model.keep_layers} layers)"
                    if config.model.keep_layers
                    else ""
                )
                + f"; dataset {d.source}: {d.max_users or 'all'} users, histories "
                f"of {d.max_history} items, leave-one-out split"
            ),
            f"Term IDs: {config.terms.source} ({config.terms.num_terms} terms)",
            (
                f"fine-tuning: {s.objective} objective ({s.prompt} prompt, {s.lines} lines), "
                f"tasks {s.tasks}, "
                f"{t.loss} loss; {t.epochs} epoch(s)"
                + (f" or {t.time_budget_s:.0f} s" if t.time_budget_s else "")
                + f", batch {t.batch_size}, lr {t.learning_rate}, "
                f"{'LoRA' if t.lora else 'full fine-tuning'}"
            ),
            (
                f"recommendation: {r.max_eval_users or 'all'} {'/'.join(r.splits)} users, "
                f"{r.num_beams} beams ({r.decoder} decoder, {'/'.join(r.decoding)} decoding), top "
                f"{r.k}; baselines {', '.join(config.baselines)}"
            ),
        ]
    )


def main(args) -> int:
    import copy
    import time

    from grlm.pipeline import Pipeline, config_from_dict
    from grlm.pipeline.config import apply_overrides
    from grlm.pipeline.presets import DEMO
    from grlm.pipeline.report import interval_table, paired_table

    started = time.perf_counter()
    data = copy.deepcopy(DEMO)
    data["output_dir"] = args.output_dir
    if args.model:
        data["model"]["name"] = args.model
    config = config_from_dict(apply_overrides(data, args.overrides))
    print("grlm demo\n" + _describe(config), flush=True)
    report = Pipeline(config, force=args.force, log=lambda s: print(s, flush=True)).run()
    d = report["dataset"]
    print(
        f"\n{d['users']} users, {d['items']} items, {d['interactions']} interactions; "
        f"{report['sft']['mixed']} SFT examples"
    )
    metrics = ("recall@5", "recall@10", "recall@20", "ndcg@10")
    for split, rows in report["table"].items():
        stats = report["statistics"].get(split, {})
        print(
            f"\n{split} ({d['eval_users']} users), 95% bootstrap intervals:\n"
            + interval_table(rows, stats.get("intervals", {}), metrics)
        )
        if stats.get("paired"):
            print(
                "\npaired differences on the same users (*: excludes 0):\n"
                + paired_table(stats["paired"], metrics)
            )
        for decoding, m in report["model"][split].items():
            vr = max((k for k in m if k.startswith("vr@")), key=lambda k: int(k[3:]))
            print(
                f"{decoding}: {vr} {m[vr]:.3f}  {vr.replace('vr', 'dhr')} "
                f"{m[vr.replace('vr', 'dhr')]:.3f}  grounding "
                f"{m['grounding_ms_per_term_id']:.3f} ms per Term ID "
                f"({1000 * m['grounding_s_per_user']:.2f} ms per user)"
                f"  generation {m['generation_s_per_user']:.2f} s per user"
            )
    print("\nTerm IDs of a few items:")
    dataset, _, _ = Pipeline(config).data()
    for item_id, terms in report["terms"]["examples"].items():
        print(f"  {dataset.items[item_id].title}: [{', '.join(terms)}]")
    user = report.get("example_user")
    if user:
        print(f"\nuser {user['user_id']}, history (oldest first):")
        for h in user["history"]:
            print(f"  {h['title']}  [{', '.join(h['terms'])}]")
        target = dataset.items[user["target"]].title
        print(f"held-out next item: {target}\ntop 10 recommendations:")
        for n, r in enumerate(user["recommended"], 1):
            mark = "  <- held-out item" if r["item_id"] == user["target"] else ""
            print(f"  {n:2d}. {r['title']}  [{', '.join(r['terms'])}] ({r['hit']}){mark}")
    print(f"\nwall time {time.perf_counter() - started:.0f} s; report: {args.output_dir}/report.md")
    return 0
