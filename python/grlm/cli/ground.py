"""grlm ground: ground generated Term IDs against a catalog of Term IDs.

Every error is one line on stderr, ``grlm ground: error: FILE[:LINE]: reason``, and the exit
code says which kind it was (documented in ``grlm ground --help`` and the README):

0  every Term ID was grounded (or, with --save-index and no Term IDs, the index was written);
1  a Term ID is invalid: every bad one is reported with its file and line (or argument number),
   and nothing is grounded;
2  usage error: bad options, or no Term IDs to ground at all;
3  an input file cannot be read or is invalid (--tids, --index, --queries), or --save-index
   cannot be written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing

EXIT_OK, EXIT_BAD_QUERY, EXIT_USAGE, EXIT_BAD_FILE = 0, 1, 2, 3
# At most this many bad queries are listed; the count of the rest follows.
MAX_REPORTED = 20

EPILOG = """exit codes:
  0  every Term ID was grounded
  1  a Term ID is invalid (each reported as FILE:LINE: reason); nothing is grounded
  2  usage error, or no Term IDs to ground
  3  an input file cannot be read or is invalid, or --save-index cannot be written"""


class CommandError(Exception):
    """An error already worded for the user, with the exit code it ends the command with."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def register(subparsers) -> None:
    from grlm.ground.grounder import Mode

    parser = subparsers.add_parser(
        "ground",
        help="map generated Term IDs to catalog items (direct, then structural)",
        description="Ground Term IDs given as arguments or read from a file (one per line, "
        "'[a, b, c, d, e]' or 'a, b, c, d, e'); prints one JSON line per Term ID.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--tids", help="catalog Term IDs: JSON map {item_id: [terms]} or JSONL")
    source.add_argument("--index", help="a grounding index written by --save-index")
    parser.add_argument("--mode", choices=typing.get_args(Mode), default="positional")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--queries", help="file of Term IDs to ground, one per line ('-': stdin)")
    parser.add_argument("--save-index", help="write the built index to this file")
    parser.add_argument("term_ids", nargs="*", help="Term IDs to ground, e.g. '[a, b, c, d, e]'")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except CommandError as error:
        print(f"grlm ground: error: {error}", file=sys.stderr)
        return error.code


def _run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise CommandError(f"--top-k must be at least 1, got {args.top_k}", EXIT_USAGE)
    # (position, where, text) of every Term ID: arguments first, then the file's lines;
    # where = "argument N" or "FILE:LINE".
    lines = [(n, f"argument {n}", text) for n, text in enumerate(args.term_ids, start=1)]
    undecodable: list[tuple[int, str]] = []  # reported with the other bad lines, in order
    if args.queries is not None:
        lines += _read_query_lines(args.queries, undecodable, first=len(lines))
    if not lines and not undecodable and not args.save_index:
        raise CommandError(
            "no Term IDs to ground: give them as arguments or with --queries", EXIT_USAGE
        )
    grounder = _build_grounder(args)
    if args.save_index:
        _save_index(grounder, args.save_index)
    queries = _parse_queries(lines, grounder.term_id_length, undecodable)
    results = grounder.ground_batch(queries, k=args.top_k)
    try:
        for query, result in zip(queries, results):
            print(
                json.dumps(
                    {
                        "term_id": query,
                        "hit": result.hit,
                        "items": list(result.item_ids),
                        "scores": list(result.scores),
                    }
                )
            )
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _read_query_lines(
    name: str, undecodable: list[tuple[int, str]], first: int
) -> list[tuple[int, str, str]]:
    """Non-blank lines of the queries file (or stdin) with their FILE:LINE, decoded line by line
    so that a non-UTF-8 line is reported where it is (appended to undecodable)."""
    label = "<stdin>" if name == "-" else name
    try:
        if name == "-":
            raw_lines = sys.stdin.buffer.read().splitlines()
        else:
            with open(name, "rb") as stream:
                raw_lines = stream.read().splitlines()
    except OSError as error:
        raise CommandError(
            f"{label}: cannot read queries: {error.strerror}", EXIT_BAD_FILE
        ) from None
    lines = []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            reason = f"{label}:{number}: not UTF-8 ({error.reason})"
            undecodable.append((first + number, reason))
            continue
        if text.strip():
            lines.append((first + number, f"{label}:{number}", text))
    return lines


def _build_grounder(args: argparse.Namespace):
    from grlm.errors import GrlmError
    from grlm.ground import Grounder

    path = args.index or args.tids
    try:
        if args.index:
            return Grounder.load(args.index)
        return Grounder.from_file(args.tids, mode=args.mode)
    except OSError as error:
        raise CommandError(f"{path}: cannot read: {error.strerror}", EXIT_BAD_FILE) from None
    except GrlmError as error:
        message = str(error)
        if not message.startswith(str(path)):
            message = f"{path}: {message}"
        raise CommandError(message, EXIT_BAD_FILE) from None


def _save_index(grounder, path: str) -> None:
    from grlm.errors import GrlmError

    try:
        grounder.save(path)
    except OSError as error:
        raise CommandError(
            f"{path}: cannot write the index: {error.strerror}", EXIT_BAD_FILE
        ) from None
    except GrlmError as error:
        raise CommandError(f"{path}: {error}", EXIT_BAD_FILE) from None


def _parse_queries(
    lines: list[tuple[int, str, str]], term_id_length: int, bad: list[tuple[int, str]]
) -> list[list[str]]:
    """Parses every line; all bad ones (and those in bad already) are reported together, in
    the order of the input."""
    from grlm.errors import InvalidInputError
    from grlm.term_ids import parse_term_id

    queries = []
    for position, where, text in lines:
        try:
            terms = parse_term_id(text)
            for term in terms:
                term.encode("utf-8")  # a command-line argument may hold undecodable bytes
        except (InvalidInputError, UnicodeEncodeError) as error:
            reason = "not UTF-8" if isinstance(error, UnicodeEncodeError) else str(error)
            bad.append((position, f"{where}: {reason}"))
            continue
        if len(terms) > term_id_length:
            bad.append(
                (
                    position,
                    (
                        f"{where}: {len(terms)} terms, but the catalog's Term IDs "
                        f"have at most {term_id_length}"
                    ),
                )
            )
            continue
        queries.append(terms)
    _report([message for _, message in sorted(bad)])
    return queries


def _report(bad: list[str]) -> None:
    if not bad:
        return
    for line in bad[:MAX_REPORTED]:
        print(f"grlm ground: error: {line}", file=sys.stderr)
    more = f" ({len(bad) - MAX_REPORTED} more not shown)" if len(bad) > MAX_REPORTED else ""
    raise CommandError(f"{len(bad)} invalid Term ID(s); nothing was grounded{more}", EXIT_BAD_QUERY)
