"""``grlm recommend --config FILE.yaml [--decoding {free,constrained}]``: beam search, grounding
and metrics with the run's fine-tuned model (earlier stages run first when not up to date).

``--decoding free`` (the paper's method) generates freely and grounds every beam; ``constrained``
forces every beam to spell a catalog Term ID through the token trie (``grlm.decoding``); ``both``
runs the two. Without the flag the configuration's ``recommend.decoding`` decides."""

from __future__ import annotations


def register(subparsers) -> None:
    from grlm.cli.run import add_config_arguments

    parser = subparsers.add_parser(
        "recommend", help="recommend and evaluate with a run's model", description=__doc__
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--decoding",
        choices=["free", "constrained", "both"],
        help="free generation + grounding, trie-constrained beam search, or both",
    )
    parser.set_defaults(func=main)


def main(args) -> int:
    import json

    from grlm.cli.run import pipeline_from_args
    from grlm.pipeline.distributed import rank_and_world

    if args.decoding:
        decoding = "[free, constrained]" if args.decoding == "both" else f"[{args.decoding}]"
        args.overrides = [*args.overrides, f"recommend.decoding={decoding}"]
    pipeline = pipeline_from_args(args)
    pipeline.run(until="recommend")
    if rank_and_world()[0] != 0:  # under torchrun process 0 reports
        return 0
    report = pipeline.stage_report()
    print(json.dumps(report["model"], indent=2))
    return 0
