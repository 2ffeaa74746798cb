"""``grlm recommend --config FILE.yaml``: beam search, grounding and metrics with the run's
fine-tuned model (earlier stages run first when not up to date), then the report."""

from __future__ import annotations


def register(subparsers) -> None:
    from grlm.cli.run import add_config_arguments

    parser = subparsers.add_parser("recommend", help="recommend and evaluate with a run's model",
                                   description=__doc__)
    add_config_arguments(parser)
    parser.set_defaults(func=main)


def main(args) -> int:
    import json

    from grlm.cli.run import pipeline_from_args

    pipeline = pipeline_from_args(args)
    pipeline.run(until="recommend")
    report = pipeline.stage_report()
    print(json.dumps(report["model"], indent=2))
    return 0
