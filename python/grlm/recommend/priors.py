"""Tie-break priors of grounding: how popular each item is in the training data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

__all__ = ["popularity_priors"]


def popularity_priors(train: Mapping[str, Iterable[str]]) -> dict[str, float]:
    """Per item, how often it occurs in the training sequences (``split.train``); items never
    seen are absent (prior 0). A :class:`grlm.ground.Grounder` breaks ties between equally
    matching items by these."""
    counts = Counter(item for sequence in train.values() for item in sequence)
    return {item: float(n) for item, n in counts.items()}
