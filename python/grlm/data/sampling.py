"""Seeded user samples of a run: the users a run keeps, the users it evaluates.

Each sample draws with its own ``random.Random(seed)`` from sorted ids, so a run's choice depends
only on the data and the seed, and returns ids sorted again.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from grlm.data.schema import Dataset
from grlm.data.splits import Split

__all__ = ["cut_to_users", "sample_dataset_users", "sample_ids", "sample_split_users"]


def sample_ids(ids: Iterable[str], max_count: int | None, seed: int) -> list[str]:
    """``max_count`` of ``ids`` drawn with ``seed`` (all when None, 0 or at least as many),
    sorted."""
    ids = sorted(ids)
    if max_count and max_count < len(ids):
        ids = sorted(random.Random(seed).sample(ids, max_count))
    return ids


def sample_dataset_users(dataset: Dataset, max_users: int | None, seed: int) -> Dataset:
    """``dataset`` with only ``max_users`` random users (the whole dataset when None, 0 or at
    least as many); items stay."""
    users = sample_ids(dataset.sequences, max_users, seed)
    if len(users) == len(dataset.sequences):
        return dataset
    return Dataset(
        dataset.name, dataset.items, {u: dataset.sequences[u] for u in users}, source=dataset.source
    )


def cut_to_users(split: Split, users: Iterable[str]) -> Split:
    """``split`` with validation and test cases of ``users`` only; training sequences stay."""
    keep = set(users)
    return Split(
        split.protocol,
        split.train,
        [e for e in split.valid if e.user_id in keep],
        [e for e in split.test if e.user_id in keep],
        split.max_history,
        split.skipped_users,
    )


def sample_split_users(split: Split, max_users: int | None, seed: int) -> Split:
    """``split`` with validation and test cases of ``max_users`` random test users (all when
    None or 0): the users a run evaluates, the same for every model."""
    return cut_to_users(split, sample_ids((case.user_id for case in split.test), max_users, seed))
