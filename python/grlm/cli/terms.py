"""``grlm terms``: build, describe and compress Term IDs (Context-aware Term Generation)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grlm._io import atomic_write_json
from grlm.terms.request import add_build_arguments, ctg_request


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "terms", help="Term IDs: build (CTG), stats, compress", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="terms_command", required=True)

    build = commands.add_parser("build", help="generate Term IDs for a catalog")
    add_build_arguments(build)
    build.set_defaults(func=run_build)

    stats = commands.add_parser("stats", help="statistics of a Term ID file")
    stats.add_argument("file", help="JSONL Term IDs or the authors' item_id2tid.json")
    stats.add_argument("--json", default=None, help="also write the statistics here")
    stats.set_defaults(func=run_stats)

    compress = commands.add_parser("compress", help="fold the vocabulary onto K core terms")
    compress.add_argument("file", help="JSONL Term IDs or the authors' item_id2tid.json")
    compress.add_argument("--k", type=int, required=True, help="number of core terms")
    compress.add_argument("--out", required=True, help="compressed Term ID file (JSONL)")
    compress.add_argument("--embedder", default=None)
    compress.add_argument("--seed", type=int, default=0)
    compress.set_defaults(func=run_compress)


def run_build(args: argparse.Namespace) -> int:
    from grlm.terms.build import build_term_id_file, default_log_path

    items, request = ctg_request(args)
    built = build_term_id_file(items, **request)
    if built is not None:  # the main process
        log_path = Path(args.log) if args.log else default_log_path(args.out)
        print_build(*built, out=args.out, log_path=log_path)
    return 0


def print_build(result, report: dict, *, out, log_path) -> None:
    """Prints a build's statistics, completions and failures."""
    from grlm.terms.stats import format_stats

    print(format_stats(result.stats, title=f"Term IDs of {report['dataset']} -> {out}"))
    generated = result.stats["generation"].get("generated", 0)
    print(f"\n{generated} items generated in this run; {len(result.records)} records in {log_path}")
    completed = report["completed_from_neighbours"]
    if completed:
        print(
            f"{len(completed)} items completed from their neighbours' Term IDs: "
            + ", ".join(f"{i} (from {', '.join(n)})" for i, n in list(completed.items())[:20])
        )
    if result.failures:
        print(
            f"\n{len(result.failures)} items got no legal Term ID (see {log_path}): "
            + ", ".join(f["item_id"] for f in result.failures[:20]),
            file=sys.stderr,
        )


def run_stats(args: argparse.Namespace) -> int:
    from grlm.term_ids import load_term_ids
    from grlm.terms.stats import format_stats, term_id_stats

    stats = term_id_stats(load_term_ids(args.file))
    # A build's OUT.stats.json beside OUT adds how the Term IDs came about.
    report_path = Path(args.file + ".stats.json")
    if report_path.exists():
        report = json.loads(report_path.read_text(encoding="utf-8")).get("stats", {})
        if report.get("items") == stats["items"]:
            stats.update({k: report[k] for k in ("generation", "collisions") if k in report})
    if args.json:
        atomic_write_json(args.json, stats)
    print(format_stats(stats, title=f"Term IDs of {args.file}"))
    return 0


def run_compress(args: argparse.Namespace) -> int:
    from grlm.term_ids import load_term_ids, save_term_ids
    from grlm.terms.compress import compress_vocabulary
    from grlm.terms.embed import Embedder

    term_ids = load_term_ids(args.file)
    compressed, report = compress_vocabulary(
        term_ids, args.k, encoder=Embedder(args.embedder), seed=args.seed
    )
    out = Path(args.out)
    save_term_ids(out, compressed)
    atomic_write_json(out.with_name(out.name + ".compress.json"), report)
    width = max(len(k) for k in report)
    for key, value in report.items():
        if key != "mapping_examples":
            print(f"{key:<{width}}  {value}")
    print(
        "examples (term -> core term): "
        + ", ".join(f"{a} -> {b}" for a, b in report["mapping_examples"])
    )
    return 0
