"""``grlm train --config FILE.yaml``: Term IDs, SFT examples and fine-tuning of a run
(up-to-date stages are skipped; an interrupted fine-tuning resumes from its checkpoint)."""

from __future__ import annotations


def register(subparsers) -> None:
    from grlm.cli.run import add_config_arguments

    parser = subparsers.add_parser(
        "train", help="fine-tune a model on a run configuration", description=__doc__
    )
    add_config_arguments(parser)
    parser.set_defaults(func=main)


def main(args) -> int:
    from grlm.cli.run import pipeline_from_args

    pipeline = pipeline_from_args(args)
    pipeline.run(until="train")
    print(f"model: {pipeline.model_dir}")
    return 0
