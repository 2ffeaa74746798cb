"""Context-aware Term Generation end to end: texts, neighbours, prompts, batched generation with
retries, repair, collision resolution and statistics."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from grlm.data.schema import Item
from grlm.errors import InvalidInputError
from grlm.terms.collisions import distinguishing_words, resolve_collisions
from grlm.terms.generate import TextGenerator
from grlm.terms.io import GenerationLog
from grlm.terms.parse import parse_output, validate_terms
from grlm.terms.prompts import DEFAULT_TEMPLATE, PromptTemplate
from grlm.terms.shard import Shard
from grlm.terms.stats import term_id_stats
from grlm.terms.stopwords import PRODUCT_STOPWORDS
from grlm.terms.text import item_text

__all__ = [
    "BuildResult",
    "CTGConfig",
    "build_term_ids",
    "complete_from_neighbours",
    "finalize",
    "find_neighbours",
    "generate_records",
    "generation_stats",
    "prepare_prompts",
    "repair_terms",
    "run_settings",
]

TermId = tuple[str, ...]


@dataclass(frozen=True)
class CTGConfig:
    """Settings of a CTG run (everything but the model objects)."""

    context: bool = True
    neighbours: int = 5
    num_terms: int = 5
    max_words: int = 3
    max_description: int = 150
    neighbour_max_description: int = 0
    neighbour_max_title: int = 80
    sample_seeds: tuple[int, ...] = (1, 2, 3)
    repair: bool = True
    resolve_collisions: bool = True
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.neighbours < 0 or self.num_terms < 1 or self.max_words < 1 or self.batch_size < 1:
            raise InvalidInputError(f"invalid CTG settings: {self}")


@dataclass
class BuildResult:
    """Output of :func:`build_term_ids`."""

    term_ids: dict[str, TermId]
    records: dict[str, dict[str, Any]]
    failures: list[dict[str, Any]]
    stats: dict[str, Any]
    examples: list[dict[str, Any]] = field(default_factory=list)


def find_neighbours(
    items: Sequence[Item], texts: Mapping[str, str], encoder, k: int
) -> dict[str, list[str]]:
    """Each item's ``k`` nearest neighbours (item ids, most similar first) by the cosine
    similarity of its text's embedding: the lists CTG's prompts use."""
    from grlm.terms.neighbours import nearest_neighbours

    ids = [item.item_id for item in items]
    found = nearest_neighbours(encoder.encode([texts[i] for i in ids]), k)
    return {item_id: [ids[j] for j in found[row]] for row, item_id in enumerate(ids)}


def prepare_prompts(
    items: Sequence[Item], config: CTGConfig, *, encoder=None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Item texts and, with context, each item's neighbour texts (by embedding similarity)."""
    texts = {
        item.item_id: item_text(item, max_description=config.max_description) for item in items
    }
    if len(texts) != len(items):
        raise InvalidInputError("item ids are not unique")
    neighbour_texts: dict[str, list[str]] = {item.item_id: [] for item in items}
    if config.context and config.neighbours > 0:
        if encoder is None:
            raise InvalidInputError("context needs an embedding model (encoder)")
        if len(items) <= config.neighbours:
            raise InvalidInputError(
                f"{len(items)} items cannot each have {config.neighbours} "
                "neighbours; lower --neighbours or use --no-context"
            )
        found = find_neighbours(items, texts, encoder, config.neighbours)
        short = {
            item.item_id: item_text(
                item,
                max_description=config.neighbour_max_description,
                max_title=config.neighbour_max_title,
            )
            for item in items
        }
        for item_id, neighbours in found.items():
            neighbour_texts[item_id] = [short[j] for j in neighbours]
    return texts, neighbour_texts


def _usable_terms(
    pool: Iterable[str], chosen: list[str], *, num_terms: int, max_words: int
) -> list[str]:
    """``chosen`` extended with the terms of ``pool`` that a repair may use, in order, until it
    holds ``num_terms``: new, longer than one letter, not a stop word, legal on its own."""
    for term in pool:
        if len(chosen) == num_terms:
            break
        if (
            term not in chosen
            and len(term) > 1
            and term not in PRODUCT_STOPWORDS
            and not validate_terms([term], num_terms=1, max_words=max_words)
        ):
            chosen.append(term)
    return chosen


def repair_terms(
    attempts: Sequence[Sequence[str]], text: str, *, num_terms: int = 5, max_words: int = 3
) -> TermId | None:
    """A legal Term ID from illegal answers: their usable terms in order, deduplicated, cut to
    ``num_terms`` (one-letter terms and stop words skipped), completed with words of the item's
    own text; ``None`` when even that gives fewer than ``num_terms`` terms."""
    pool = [t for terms in attempts for t in terms] + distinguishing_words(text)
    chosen = _usable_terms(pool, [], num_terms=num_terms, max_words=max_words)
    return tuple(chosen) if len(chosen) == num_terms else None


def complete_from_neighbours(
    attempts: Sequence[Sequence[str]],
    text: str,
    neighbour_term_ids: Sequence[Sequence[str]],
    *,
    num_terms: int = 5,
    max_words: int = 3,
) -> TermId | None:
    """:func:`repair_terms` with the item's neighbours' Term IDs as the last source: the usable
    terms of its answers, then of its own text, then of ``neighbour_term_ids`` (nearest first,
    each in its positions' order), terms already present and unusable ones skipped by the same
    rules; ``None`` when even that gives fewer than ``num_terms`` terms."""
    pool = (
        [t for terms in attempts for t in terms]
        + distinguishing_words(text)
        + [t for terms in neighbour_term_ids for t in terms]
    )
    chosen = _usable_terms(pool, [], num_terms=num_terms, max_words=max_words)
    return tuple(chosen) if len(chosen) == num_terms else None


def run_settings(config: CTGConfig, template: PromptTemplate, **extra: Any) -> dict[str, Any]:
    """What a resumed run must share with the run that wrote the log: every setting that changes
    answers (not batch size, not collision handling, which happens after generation)."""
    settings = {**asdict(config), **extra}
    settings["template"] = hashlib.sha256(
        json.dumps(asdict(template), sort_keys=True).encode()
    ).hexdigest()[:16]
    settings.pop("batch_size")
    settings.pop("resolve_collisions")
    return settings


def _ask(
    batch: Sequence[str],
    *,
    generator: TextGenerator,
    texts: Mapping[str, str],
    neighbour_texts: Mapping[str, Sequence[str]],
    config: CTGConfig,
    template: PromptTemplate,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, TermId]]:
    """Asks for the Term IDs of a batch: greedy, then the stricter prompt, then sampling with
    each of ``config.sample_seeds``, each round only for items still without a legal answer.
    Returns every item's attempts and the legal Term IDs found."""
    prefix = template.answer_prefix
    attempts: dict[str, list[dict[str, Any]]] = {i: [] for i in batch}
    legal: dict[str, TermId] = {}
    modes: list[tuple[str, bool, int | None]] = [("greedy", False, None), ("strict", True, None)]
    modes += [(f"sample:{s}", True, s) for s in config.sample_seeds]
    for mode, strict, seed in modes:
        todo = [i for i in batch if i not in legal]
        if not todo:
            break
        conversations = [
            template.messages(
                texts[i], neighbour_texts.get(i, ()), num_terms=config.num_terms, strict=strict
            )
            for i in todo
        ]
        outputs = generator.generate(conversations, answer_prefix=prefix, seed=seed)
        if len(outputs) != len(todo):
            raise InvalidInputError(
                f"the generator returned {len(outputs)} answers for {len(todo)} prompts"
            )
        for item_id, output in zip(todo, outputs):
            parsed = parse_output(
                output, answer_prefix=prefix, num_terms=config.num_terms, max_words=config.max_words
            )
            attempts[item_id].append(
                {
                    "mode": mode,
                    "output": output,
                    "terms": list(parsed.terms),
                    "problems": list(parsed.problems),
                }
            )
            if parsed.legal:
                legal[item_id] = parsed.terms
    return attempts, legal


def _record(
    item_id: str, tried: list[dict[str, Any]], terms: TermId | None, text: str, config: CTGConfig
) -> dict[str, Any]:
    """An item's log record: its legal Term ID (status ok at the first try, else retried) or
    one repaired from its answers and text (repaired), else none (failed)."""
    if terms is not None:
        status = "ok" if len(tried) == 1 else "retried"
    else:
        terms = (
            repair_terms(
                [a["terms"] for a in tried],
                text,
                num_terms=config.num_terms,
                max_words=config.max_words,
            )
            if config.repair
            else None
        )
        status = "repaired" if terms is not None else "failed"
    return {
        "item_id": item_id,
        "terms": list(terms) if terms else None,
        "status": status,
        "attempts": tried,
    }


def generate_records(
    items: Sequence[Item],
    *,
    generator: TextGenerator,
    log: GenerationLog,
    texts: Mapping[str, str],
    neighbour_texts: Mapping[str, Sequence[str]],
    config: CTGConfig = CTGConfig(),
    template: PromptTemplate = DEFAULT_TEMPLATE,
    progress: bool = True,
) -> dict[str, Any]:
    """Generates every item missing from ``log`` and appends its record, batch by batch.

    Each item is asked greedily; an illegal answer is retried with the stricter prompt, then with
    sampling for each of ``config.sample_seeds``; what is still illegal is repaired from the
    answers and the item's text (``config.repair``) or recorded as failed. Returns timing of
    this call (items generated, seconds).
    """
    pending = [item.item_id for item in items if item.item_id not in log]
    bar = None
    if progress and pending:
        from tqdm import tqdm

        bar = tqdm(
            total=len(items),
            initial=len(items) - len(pending),
            unit="item",
            desc="CTG",
            smoothing=0.1,
            dynamic_ncols=True,
        )
    started = time.perf_counter()
    for start in range(0, len(pending), config.batch_size):
        batch = pending[start : start + config.batch_size]
        attempts, legal = _ask(
            batch,
            generator=generator,
            texts=texts,
            neighbour_texts=neighbour_texts,
            config=config,
            template=template,
        )
        records = [
            _record(item_id, attempts[item_id], legal.get(item_id), texts[item_id], config)
            for item_id in batch
        ]
        log.append(records)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    return {"generated": len(pending), "seconds": time.perf_counter() - started}


def _repair_logged(
    records: dict[str, dict[str, Any]],
    order: Sequence[str],
    *,
    texts: Mapping[str, str],
    config: CTGConfig,
) -> list[str]:
    """Repairs again (in ``records``) every item logged without a Term ID; returns the items
    still without one."""
    if not config.repair:
        return []
    short = [i for i in order if not records[i]["terms"]]
    for item_id in short:
        terms = repair_terms(
            [a["terms"] for a in records[item_id]["attempts"]],
            texts[item_id],
            num_terms=config.num_terms,
            max_words=config.max_words,
        )
        if terms is not None:
            records[item_id] = {**records[item_id], "terms": list(terms), "status": "repaired"}
    return [i for i in short if not records[i]["terms"]]


def _complete_short(
    items: Sequence[Item],
    records: dict[str, dict[str, Any]],
    short: Sequence[str],
    *,
    texts: Mapping[str, str],
    encoder,
    config: CTGConfig,
) -> None:
    """Completes (in ``records``) the ``short`` items from their neighbours' Term IDs as
    generated (before this step and collision resolution); see :func:`finalize`."""
    k = min(config.neighbours, len(items) - 1)
    if not short or encoder is None or k <= 0:
        return
    neighbours = find_neighbours(items, texts, encoder, k)
    for item_id in short:
        usable = [j for j in neighbours[item_id] if j not in short]
        answers = [a["terms"] for a in records[item_id]["attempts"]]
        terms = complete_from_neighbours(
            answers,
            texts[item_id],
            [records[j]["terms"] for j in usable],
            num_terms=config.num_terms,
            max_words=config.max_words,
        )
        if terms is None:
            continue
        own = _usable_terms(
            [t for a in answers for t in a] + distinguishing_words(texts[item_id]),
            [],
            num_terms=config.num_terms,
            max_words=config.max_words,
        )
        # The first neighbour (nearest first) holding each borrowed term.
        taken = list(
            dict.fromkeys(
                next(j for j in usable if t in records[j]["terms"]) for t in terms if t not in own
            )
        )
        records[item_id] = {
            **records[item_id],
            "terms": list(terms),
            "status": "completed",
            "completed_from": taken,
        }


def _regenerator(
    generator: TextGenerator,
    *,
    texts: Mapping[str, str],
    neighbour_texts: Mapping[str, Sequence[str]],
    config: CTGConfig,
    template: PromptTemplate,
):
    """The ``regenerate`` callback of :func:`resolve_collisions`: strict prompts that name the
    taken Term IDs to avoid; round 0 greedy, later rounds sample with the configured seeds."""
    prefix = template.answer_prefix

    def regenerate(requests, round_index):
        conversations = [
            template.messages(
                texts[i],
                neighbour_texts.get(i, ()),
                num_terms=config.num_terms,
                strict=True,
                avoid=avoid,
            )
            for i, avoid in requests
        ]
        seed = None
        if round_index > 0 and config.sample_seeds:
            seed = config.sample_seeds[(round_index - 1) % len(config.sample_seeds)]
        outputs = generator.generate(conversations, answer_prefix=prefix, seed=seed)
        return {
            i: parse_output(
                o, answer_prefix=prefix, num_terms=config.num_terms, max_words=config.max_words
            ).terms
            for (i, _), o in zip(requests, outputs)
        }

    return regenerate


def generation_stats(
    statuses: Sequence[str], timing: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """How the catalog's items got their Term IDs (one status per item) and, with ``timing``,
    how fast the items of this run were generated."""
    n = len(statuses)
    generation: dict[str, Any] = {
        "catalog_items": n,
        "legal_first_try": statuses.count("ok"),
        "legal_first_try_rate": statuses.count("ok") / n,
        "retried": statuses.count("retried"),
        "legal_after_retries_rate": (statuses.count("ok") + statuses.count("retried")) / n,
        "repaired": statuses.count("repaired"),
        "completed_from_neighbours": statuses.count("completed"),
        "failed": statuses.count("failed"),
    }
    if timing:
        generation.update(timing)
        if timing.get("generated"):
            generation["items_per_second"] = timing["generated"] / max(timing["seconds"], 1e-9)
    return generation


def finalize(
    items: Sequence[Item],
    records: Mapping[str, Mapping[str, Any]],
    *,
    texts: Mapping[str, str],
    neighbour_texts: Mapping[str, Sequence[str]],
    generator: TextGenerator | None,
    config: CTGConfig = CTGConfig(),
    template: PromptTemplate = DEFAULT_TEMPLATE,
    timing: Mapping[str, Any] | None = None,
    encoder=None,
) -> BuildResult:
    """Term IDs from generation records: completion from neighbours, collision resolution
    (regenerating later items with the taken Term ID as "must differ", then text replacement)
    and statistics.

    With ``config.repair``, an item logged without a Term ID is repaired again
    (:func:`repair_terms`) and, when its answers and text still give too few usable terms and
    ``encoder`` is given, completed from its neighbours' Term IDs as generated
    (:func:`complete_from_neighbours`); its record here (the log is left as written) gets status
    ``completed`` and ``completed_from``, the neighbours whose terms it took. Neighbours
    are found as for the prompts (:func:`find_neighbours`, ``config.neighbours`` of them, fewer
    in a smaller catalog), only when some item needs them, with or without context. Without
    ``generator`` collisions are resolved from item text only.
    """
    missing = [item.item_id for item in items if item.item_id not in records]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} items have no generation record, e.g. {missing[:5]}"
        )
    order = [item.item_id for item in items]
    records = dict(records)
    short = _repair_logged(records, order, texts=texts, config=config)
    _complete_short(items, records, short, texts=texts, encoder=encoder, config=config)
    term_ids = {i: tuple(records[i]["terms"]) for i in order if records[i]["terms"]}
    failures = [
        {"item_id": i, "attempts": records[i]["attempts"]} for i in order if not records[i]["terms"]
    ]
    report = None
    if config.resolve_collisions and term_ids:
        regenerate = (
            None
            if generator is None
            else _regenerator(
                generator,
                texts=texts,
                neighbour_texts=neighbour_texts,
                config=config,
                template=template,
            )
        )
        term_ids, report = resolve_collisions(
            term_ids,
            texts=texts,
            regenerate=regenerate,
            num_terms=config.num_terms,
            max_words=config.max_words,
        )
    stats = term_id_stats(term_ids) if term_ids else {"items": 0}
    stats["generation"] = generation_stats([records[i]["status"] for i in order], timing)
    if report is not None:
        stats["collisions"] = report.as_dict()
    examples = [
        {"item_id": i, "text": texts[i], "terms": list(term_ids[i]), "status": records[i]["status"]}
        for i in order[:10]
        if i in term_ids
    ]
    return BuildResult(term_ids, records, failures, stats, examples)


def _logged_records(
    items: Sequence[Item], log_path, settings: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The records of a log that must hold every item (a ``from_log`` build)."""
    if not os.path.exists(log_path):
        raise InvalidInputError(f"--from-log: no generation log at {log_path}")
    log = GenerationLog(os.fspath(log_path), settings)
    missing = [item.item_id for item in items if item.item_id not in log.records]
    if missing:
        raise InvalidInputError(
            f"--from-log: {log.path} lacks {len(missing)} of {len(items)} "
            f"items (e.g. {missing[:5]}); rerun without --from-log to "
            "generate them"
        )
    return log.records


def _merged_records(
    items: Sequence[Item], log_path, settings: Mapping[str, Any], shard: Shard
) -> dict[str, dict[str, Any]]:
    """The main process's view after every shard finished: all shards' records."""
    records: dict[str, dict[str, Any]] = {}
    for rank in range(shard.world):
        path = dataclasses.replace(shard, rank=rank).log_path(log_path)
        records.update(GenerationLog(path, settings).records)
    return records


def build_term_ids(
    items: Sequence[Item],
    *,
    generator: TextGenerator | None,
    log_path,
    encoder=None,
    config: CTGConfig = CTGConfig(),
    template: PromptTemplate = DEFAULT_TEMPLATE,
    settings: Mapping[str, Any] | None = None,
    progress: bool = True,
    shard: Shard | None = None,
    from_log: bool = False,
) -> BuildResult | None:
    """Runs CTG over ``items`` (resumable through the log at ``log_path``): the one CTG driver.

    Parameters
    ----------
    items : sequence of Item
        The catalog, in the order that decides which item of a collision keeps its Term ID.
    generator : TextGenerator or None
        E.g. :class:`grlm.terms.generate.HFGenerator`; None only with ``from_log``.
    log_path : path-like
        The generation log; a rerun skips the items it holds.
    encoder : TextEncoder, optional
        Embedding model for the neighbours: needed with ``config.context``; without context
        used only to complete items that repair leaves short (see :func:`finalize`).
    settings : mapping, optional
        Extra settings that must match on resume (model and embedder names).
    shard : Shard, optional
        This process's share under ``torchrun`` (:meth:`Shard.from_environment`): it generates
        every world-th item into ``<log_path>.rank<r>``; the main process merges the logs and
        returns the result, the others return None.
    from_log : bool
        Redo only what follows generation from a log that holds every item (no generator).
    """
    if not items:
        raise InvalidInputError("the catalog is empty")
    shard = shard or Shard()
    settings = run_settings(config, template, **(settings or {}))
    texts, neighbour_texts = prepare_prompts(items, config, encoder=encoder)
    if from_log:
        if shard.world > 1:
            raise InvalidInputError("--from-log runs in one process")
        records = _logged_records(items, log_path, settings)
        timing: dict[str, Any] | None = {"generated": 0, "seconds": 0.0}
    else:
        if generator is None:
            raise InvalidInputError("a CTG build needs a generator (or from_log)")
        log = GenerationLog(shard.log_path(log_path), settings)
        timing = generate_records(
            shard.items(items),
            generator=generator,
            log=log,
            texts=texts,
            neighbour_texts=neighbour_texts,
            config=config,
            template=template,
            progress=progress and shard.is_main,
        )
        timing = shard.gather_timings(timing)
        if timing is None:
            return None
        records = (
            log.records if shard.world == 1 else _merged_records(items, log_path, settings, shard)
        )
    return finalize(
        items,
        records,
        texts=texts,
        neighbour_texts=neighbour_texts,
        generator=generator,
        config=config,
        template=template,
        timing=timing,
        encoder=encoder,
    )
