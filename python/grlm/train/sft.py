"""The SFT data of a run: every task's examples from the training split, mixed by the task
ratios, and the validation examples, as the pipeline's sft stage writes them.

``config`` is a :class:`grlm.pipeline.config.SFTSection` (objective, tasks, similar_items,
collab_top_n, include_titles, max_targets_per_user, max_windows_per_user, max_train_users,
valid_users). Each random choice has its own seed offset from the run's ``seed``, so changing
one leaves the others alone.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grlm.data.sampling import sample_ids
from grlm.data.splits import Split
from grlm.errors import InvalidInputError

__all__ = [
    "SFTData",
    "build_sft",
    "build_sft_tasks",
    "keep_recent",
    "sample_examples",
    "sample_train_users",
    "titles_of",
    "valid_examples",
]


@dataclass
class SFTData:
    """What :func:`build_sft` builds: mixed training examples, validation examples, and a
    summary (tasks as built, as mixed, ratios, validation count)."""

    train: list
    valid: list
    summary: dict[str, Any]


def titles_of(items: Mapping[str, Any], config) -> dict[str, str] | None:
    """Item titles for the prompts, or None when ``config.include_titles`` is off."""
    if not config.include_titles:
        return None
    return {i: item.title for i, item in items.items()}


def sample_train_users(split: Split, max_users: int | None, seed: int) -> Split:
    """``split`` with the training sequences of ``max_users`` random users (all when None)."""
    if not max_users or max_users >= len(split.train):
        return split
    users = sample_ids(split.train, max_users, seed)
    return dataclasses.replace(split, train={u: split.train[u] for u in users})


def sample_examples(examples: Sequence, max_count: int | None, seed: int) -> list:
    """``max_count`` of ``examples`` drawn with ``seed``, in draw order (all, as given, when
    None, 0 or at least as many)."""
    if max_count and len(examples) > max_count:
        return random.Random(seed).sample(list(examples), max_count)
    return list(examples)


def keep_recent(examples: Sequence, keep: int | None) -> list:
    """Each user's last ``keep`` examples (examples come in time order per user), users in id
    order; all examples, as given, when ``keep`` is None or 0."""
    if not keep:
        return list(examples)
    per_user: dict[str, list] = {}
    for example in examples:
        per_user.setdefault(example.user_id, []).append(example)
    return [e for user in sorted(per_user) for e in per_user[user][-keep:]]


def build_sft_tasks(
    items: Mapping[str, Any], split: Split, term_ids, config, *, seed: int, max_history: int
) -> dict[str, list]:
    """Every task's examples as built from the training split (no validation or test
    target: ``split.train`` holds neither)."""
    from grlm.train.examples import (
        collab_examples,
        gti_examples,
        read_similar_items,
        seq_examples,
    )
    from grlm.train.packed import packed_train_examples

    train_split = sample_train_users(split, config.max_train_users, seed + 2)
    if config.objective == "packed":
        seq = packed_train_examples(train_split, term_ids, max_history=max_history)
    else:
        seq = seq_examples(
            train_split,
            term_ids,
            stage="train",
            titles=titles_of(items, config),
            max_history=max_history,
        )
    # One of the two applies per objective.
    tasks = {"seq": keep_recent(seq, config.max_targets_per_user or config.max_windows_per_user)}
    if config.tasks.get("gti", 0) > 0:
        tasks["gti"] = gti_examples(items, term_ids)
    if config.tasks.get("collab", 0) > 0:
        if not config.similar_items:
            raise InvalidInputError("sft.tasks.collab needs sft.similar_items")
        tasks["collab"] = collab_examples(
            read_similar_items(config.similar_items), term_ids, top_n=config.collab_top_n
        )
    return tasks


def valid_examples(
    items: Mapping[str, Any], split: Split, term_ids, config, *, max_history: int
) -> list:
    """One example per validation case of ``split``, in the objective's format."""
    from grlm.train.examples import seq_examples
    from grlm.train.packed import packed_eval_examples

    if config.objective == "packed":
        return packed_eval_examples(split, term_ids, stage="valid", max_history=max_history)
    return seq_examples(
        split, term_ids, stage="valid", titles=titles_of(items, config), max_history=max_history
    )


def build_sft(
    items: Mapping[str, Any], split: Split, term_ids, config, *, seed: int, max_history: int
) -> SFTData:
    """The run's SFT data: tasks mixed by ``config.tasks`` (:func:`grlm.train.examples.mix`)
    and at most ``config.valid_users`` random validation examples."""
    from grlm.train.examples import mix, task_counts

    tasks = build_sft_tasks(items, split, term_ids, config, seed=seed, max_history=max_history)
    mixed = mix(tasks, config.tasks, seed=seed)
    valid = sample_examples(
        valid_examples(items, split, term_ids, config, max_history=max_history),
        config.valid_users,
        seed + 3,
    )
    summary = {
        "objective": config.objective,
        "built": {t: len(v) for t, v in tasks.items()},
        "mixed": task_counts(mixed),
        "ratios": config.tasks,
        "valid": len(valid),
    }
    return SFTData(mixed, valid, summary)
