"""The ``grlm`` command. Each sub-command lives in its own module of this package with a
``register(subparsers)`` function; modules import their heavy dependencies only when run."""

from __future__ import annotations

import argparse
import importlib
import sys

from grlm.errors import GrlmError

COMMAND_MODULES = (
    "ground",
    "catalog",
    "serve",
    "baseline",
    "data",
    "terms",
    "train",
    "recommend",
    "run",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    from grlm import __version__

    parser = argparse.ArgumentParser(
        prog="grlm",
        description="grlm: generative recommendation with Term IDs — term generation, "
        "fine-tuning, grounding and serving.",
    )
    parser.add_argument("--version", action="version", version=f"grlm {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"grlm.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (GrlmError, FileNotFoundError) as error:
        print(f"grlm {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
