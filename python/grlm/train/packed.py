"""Packed sequence examples: one training sequence per user window (``sft.objective: packed``).

A window is up to ``max_history + 1`` consecutive items of a user's training sequence
(``split.train[user]``, which holds no validation or test target). Windows are cut from the end
of the sequence and overlap by one item, so every item after the user's first is a loss target
exactly once, with up to ``max_history`` items before it, as at inference. Validation examples
are the validation cases' histories (cut to ``max_history``) plus the target, with the loss on
the target line only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grlm.errors import InvalidInputError


@dataclass(frozen=True)
class PackedExample:
    """A window of ``items`` (oldest first) and their Term IDs; lines from ``first_target`` on
    carry the loss."""

    task: str
    user_id: str
    items: tuple[str, ...]
    terms: tuple[tuple[str, ...], ...]
    first_target: int

    def __post_init__(self):
        if len(self.items) != len(self.terms) or not 1 <= self.first_target < len(self.items):
            raise InvalidInputError(
                f"packed example of user {self.user_id!r}: {len(self.items)} items, "
                f"{len(self.terms)} Term IDs, first target {self.first_target}"
            )


def window_bounds(length: int, max_history: int) -> list[tuple[int, int]]:
    """``[start, end)`` bounds of the windows of a sequence of ``length`` items, oldest first:
    at most ``max_history + 1`` items each, cut from the end, consecutive windows sharing one
    item. Sequences under two items have none."""
    if max_history < 1:
        raise InvalidInputError(f"max_history must be at least 1, got {max_history}")
    bounds = []
    end = length
    while end >= 2:
        start = max(0, end - max_history - 1)
        bounds.append((start, end))
        end = start + 1
    return bounds[::-1]


def _terms(term_ids: Mapping[str, Sequence[str]], items: Sequence[str]):
    out = []
    for item_id in items:
        terms = term_ids.get(item_id)
        if not terms:
            raise InvalidInputError(f"item {item_id!r} has no Term ID")
        out.append(tuple(terms))
    return tuple(out)


def packed_train_examples(
    split, term_ids: Mapping[str, Sequence[str]], *, max_history: int = 20
) -> list[PackedExample]:
    """One example per window of every user's training sequence, users in sorted order."""
    examples = []
    for user in sorted(split.train):
        seq = tuple(split.train[user])
        for start, end in window_bounds(len(seq), max_history):
            items = seq[start:end]
            examples.append(PackedExample("seq", str(user), items, _terms(term_ids, items), 1))
    return examples


def packed_eval_examples(
    split, term_ids: Mapping[str, Sequence[str]], *, stage: str = "valid", max_history: int = 20
) -> list[PackedExample]:
    """One example per evaluation case of ``split.valid`` / ``split.test``: its history (the
    last ``max_history`` items) then its target, the loss on the target only."""
    if stage not in ("valid", "test"):
        raise InvalidInputError(f"stage must be 'valid' or 'test', got {stage!r}")
    examples = []
    for case in getattr(split, stage):
        history = tuple(case.history)[-max_history:]
        if not history:
            continue
        items = (*history, case.target)
        examples.append(
            PackedExample("seq", str(case.user_id), items, _terms(term_ids, items), len(history))
        )
    return examples
