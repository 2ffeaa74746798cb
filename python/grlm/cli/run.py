"""``grlm run --config FILE.yaml``: every stage of a GRLM run, skipping up-to-date ones."""

from __future__ import annotations

import argparse


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run configuration (YAML)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override a configuration field (YAML value); repeatable",
    )
    parser.add_argument("--output-dir", help="override output_dir")
    parser.add_argument(
        "--force",
        action="append",
        default=[],
        metavar="STAGE",
        help="rerun this stage even when up to date ('all' for every stage)",
    )


def pipeline_from_args(args):
    from grlm.pipeline import Pipeline, load_config

    overrides = list(args.overrides)
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    config = load_config(args.config, overrides)
    return Pipeline(config, force=args.force, log=lambda s: print(s, flush=True))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "run", help="run a configuration end to end", description=__doc__
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--until",
        default="report",
        help="last stage to run: terms, sft, train, recommend, baselines, report",
    )
    parser.set_defaults(func=main)


def main(args) -> int:
    from grlm.pipeline.report import interval_table, paired_table

    report = pipeline_from_args(args).run(until=args.until)
    if report:
        for split, rows in report["table"].items():
            stats = report["statistics"].get(split, {})
            print(
                f"\n{split}, 95% bootstrap intervals:\n"
                + interval_table(rows, stats.get("intervals", {}))
            )
            if stats.get("paired"):
                print(
                    "\npaired differences on the same users (*: excludes 0):\n"
                    + paired_table(stats["paired"])
                )
        print(f"\nreport: {args.output_dir or report.get('name')} -> report.md, report.json")
    return 0
