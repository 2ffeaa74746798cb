"""``grlm data {prepare,summary}``: convert any supported dataset into the canonical JSONL
directory, or print its counts and split counts as JSON."""

from __future__ import annotations

import argparse
import json
import sys


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True)
    prepare = sub.add_parser("prepare", help="load a dataset and save it as a JSONL directory")
    prepare.add_argument(
        "--dataset", required=True, help="folder/file or name (beauty, industrial, ml-100k)"
    )
    prepare.add_argument("--out", required=True, help="output directory")
    prepare.add_argument("--name", help="dataset name to record")
    prepare.add_argument(
        "--k", type=int, default=5, help="k-core for raw Amazon reviews files (default 5)"
    )
    prepare.add_argument("--meta", help="Amazon metadata file (with a reviews file --dataset)")
    summary = sub.add_parser("summary", help="print dataset and split counts as JSON")
    summary.add_argument("--dataset", required=True)
    summary.add_argument(
        "--split", default="leave_one_out", choices=("leave_one_out", "chronological", "minionerec")
    )
    summary.add_argument("--max-history", type=int, default=20)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data", help="prepare or summarise a dataset", description=__doc__.splitlines()[0]
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from grlm.data import load_amazon, load_dataset, make_split, save_dataset
    from grlm.errors import GrlmError

    if args.data_command == "prepare":
        path = Path(args.dataset)
        if path.is_file() and ".json" in path.name:
            dataset = load_amazon(path, args.meta, k=args.k, name=args.name)
        else:
            dataset = load_dataset(args.dataset, name=args.name)
        save_dataset(dataset, args.out)
        print(json.dumps(dataset.summary(), indent=2))
        print(f"wrote {args.out}")
        return 0
    dataset = load_dataset(args.dataset)
    out = {"dataset": dataset.summary()}
    try:
        out["split"] = make_split(dataset, args.split, max_history=args.max_history).summary()
    except GrlmError as error:
        out["split"] = {"error": str(error)}
    print(json.dumps(out, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs this command alone (``python -m grlm.cli.data ...``)."""
    parser = argparse.ArgumentParser(prog="grlm data", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
