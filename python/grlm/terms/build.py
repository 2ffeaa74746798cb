"""A Term ID file for a catalog: the models loaded by name, :func:`build_term_ids` run, the
Term IDs and a report written. What ``grlm terms build`` and the pipeline's terms stage call.

Several processes (one per GPU, or CPU processes) share the generation under a launcher that
sets WORLD_SIZE/RANK/LOCAL_RANK, e.g.::

    torchrun --nproc_per_node 2 -m grlm.cli terms build --dataset D --out T.jsonl
    accelerate launch --num_processes 2 -m grlm.cli terms build --dataset D --out T.jsonl

Each process generates every world-th item into ``<log>.rank<r>``; rank 0 merges the logs,
resolves collisions and writes the files. One process needs no launcher.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grlm._io import atomic_write_json
from grlm.data.schema import Item
from grlm.terms.pipeline import BuildResult, CTGConfig, build_term_ids, run_settings
from grlm.terms.prompts import DEFAULT_TEMPLATE, PromptTemplate
from grlm.terms.shard import Shard

__all__ = ["DEFAULT_MODEL_KEY", "build_term_id_file", "default_log_path"]

#: The generator a build records in its settings when no model is named.
DEFAULT_MODEL_KEY = "smollm2-135m-instruct-gguf"


def default_log_path(out: str | os.PathLike[str]) -> Path:
    """Where a build of ``out`` logs its generations: ``<out>.log.jsonl``."""
    out = Path(out)
    return out.with_name(out.name + ".log.jsonl")


def build_term_id_file(
    items: Sequence[Item],
    out: str | os.PathLike[str],
    *,
    config: CTGConfig | None = None,
    template: PromptTemplate = DEFAULT_TEMPLATE,
    model: str | None = None,
    embedder: str | None = None,
    device: str = "auto",
    max_new_tokens: int = 48,
    limit: int | None = None,
    log_path: str | os.PathLike[str] | None = None,
    from_log: bool = False,
    progress: bool = True,
    source: str = "",
) -> tuple[BuildResult, dict] | None:
    """Builds the Term IDs of ``items`` into ``out`` (JSONL) and ``<out>.stats.json``.

    ``model`` is an HF causal LM id, folder or .gguf file (None: SmolLM2-135M-Instruct);
    ``embedder`` a sentence-transformers model (None: all-MiniLM-L6-v2); ``limit`` is only
    recorded (the caller cuts ``items``); ``source`` names the catalog in the report. Returns
    (result, report) on the main process, None on the other processes of a launcher.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from grlm.terms.embed import Embedder

    config = config or CTGConfig()
    shard = Shard.from_environment()
    device = shard.device if shard.device is not None and device == "auto" else device
    log_path = Path(log_path) if log_path else default_log_path(out)
    # Without context the embedder only completes items that repair leaves short; it loads its
    # model (or reads the cache) only then, and is no setting of the log.
    encoder = Embedder(embedder, device=device)
    settings = {
        "model": model or DEFAULT_MODEL_KEY,
        "embedder": encoder.model_key if config.context else None,
        "max_new_tokens": max_new_tokens,
        "limit": limit,
    }
    generator = None
    if not from_log:
        from grlm.terms import generate

        generator = generate.HFGenerator(
            model, max_new_tokens=max_new_tokens, batch_size=config.batch_size, device=device
        )
    result = build_term_ids(
        items,
        generator=generator,
        log_path=log_path,
        encoder=encoder,
        config=config,
        template=template,
        settings=settings,
        progress=progress,
        shard=shard,
        from_log=from_log,
    )
    if result is None:
        return None
    return result, _write_outputs(
        Path(out),
        result,
        run_settings(config, template, **settings),
        source=source,
        from_log=from_log,
    )


def _write_outputs(
    out: Path, result: BuildResult, settings: dict[str, Any], *, source: str, from_log: bool
) -> dict[str, Any]:
    """Writes OUT and OUT.stats.json of a build; returns the report."""
    from grlm.term_ids import save_term_ids

    save_term_ids(out, result.term_ids)
    completed = {
        i: r["completed_from"] for i, r in result.records.items() if r["status"] == "completed"
    }
    report = {
        "stats": result.stats,
        "examples": result.examples,
        "failures": [f["item_id"] for f in result.failures],
        "completed_from_neighbours": completed,
        "settings": settings,
        "dataset": source,
        "from_log": bool(from_log),
    }
    atomic_write_json(out.with_name(out.name + ".stats.json"), report)
    return report
