"""The argument checks of the grounding API (``Grounder``, its snapshots and its changes), each
written once: a user's mistake is a TypeError or an InvalidInputError naming the value."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from grlm.errors import InvalidInputError


def term_list(term_id, what: str) -> list[str]:
    """A Term ID as a list (a list is taken as it is; the core checks its terms)."""
    if isinstance(term_id, (str, bytes)):
        raise TypeError(
            f"{what} must be a sequence of terms, not a single {type(term_id).__name__}:"
            f" {term_id!r}"
        )
    if isinstance(term_id, list):
        return term_id
    # A set or a dict has no order a Term ID could take its positions from.
    if isinstance(term_id, (AbstractSet, Mapping)):
        raise TypeError(
            f"{what} must be an ordered sequence of str (list or tuple), got "
            f"{type(term_id).__name__}: {term_id!r}"
        )
    try:
        return list(term_id)
    except TypeError:
        raise TypeError(f"{what} must be a sequence of str, got {type(term_id).__name__}") from None


def query_list(term_ids) -> Sequence:
    """A batch of Term IDs (a sequence of sequences of str)."""
    if isinstance(term_ids, (str, bytes, AbstractSet, Mapping)):
        raise TypeError(f"term_ids must be a sequence of Term IDs, got {type(term_ids).__name__}")
    return term_ids if isinstance(term_ids, (list, tuple)) else list(term_ids)


def checked_k(k, num_items: int | None = None, *, most: int | None = None) -> int:
    """k as an int: at least 1, at most ``most`` (an InvalidInputError above it), capped at
    ``num_items`` (the catalog's size)."""
    if type(k) is int and 1 <= k and (most is None or k <= most):  # the common case, first
        return k if num_items is None else min(k, num_items)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}: {k!r}")
    if most is not None and not 1 <= k <= most:
        raise InvalidInputError(f"k must be in 1..{most}, got {k}")
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    return int(k if num_items is None else min(k, num_items))


def non_negative_int(value, name: str) -> int:
    """An int (numpy integers too, not a bool) at least 0 and below 2^63."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool: {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}") from None
    if not 0 <= value < 2**63:
        raise InvalidInputError(f"{name} must be in [0, 2^63), got {value}")
    return value


def checked_threads(num_threads) -> int:
    if isinstance(num_threads, bool):
        raise TypeError(f"num_threads must be an int, got bool: {num_threads!r}")
    try:
        num_threads = operator.index(num_threads)  # numpy integers too, as for k
    except TypeError:
        raise TypeError(
            f"num_threads must be an int, got {type(num_threads).__name__}: {num_threads!r}"
        ) from None
    if not 0 <= num_threads < 2**31:
        raise InvalidInputError(f"num_threads must be in [0, 2^31), got {num_threads}")
    return num_threads


def prior(value, item_id) -> float:
    """One item's prior: a finite number (not a bool or a string, which float() would take)."""
    if isinstance(value, (str, bytes, bool)) or not (
        isinstance(value, (int, float)) or hasattr(value, "__float__")
    ):
        raise InvalidInputError(f"prior of item {item_id!r} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidInputError(f"prior of item {item_id!r} is not finite: {value!r}")
    return value


def prior_list(priors: Mapping[str, float], item_ids: list[str]) -> list[float]:
    """The priors of a whole catalog, in its order; items missing from ``priors`` get 0."""
    if not isinstance(priors, Mapping):
        raise TypeError(f"priors must be a mapping item_id -> float, got {type(priors).__name__}")
    return [prior(priors[i], i) if i in priors else 0.0 for i in item_ids]


def item_id_list(item_ids: Iterable[str]) -> list[str]:
    if isinstance(item_ids, (str, bytes, Mapping)):
        raise TypeError(
            f"item_ids must be an iterable of str, got {type(item_ids).__name__}: {item_ids!r}"
        )
    ids = list(item_ids)
    for item_id in ids:
        if not isinstance(item_id, str):
            raise TypeError(f"item ids must be str, got {type(item_id).__name__}: {item_id!r}")
    return ids


def change_items(term_ids, priors, what: str):
    """``(ids, terms, priors)`` of a change ``{item_id: terms}``: the priors of the items given
    one, None for the others (an update then keeps the item's own)."""
    if not isinstance(term_ids, Mapping):
        raise TypeError(f"{what} takes a mapping item_id -> terms, got {type(term_ids).__name__}")
    if priors is not None and not isinstance(priors, Mapping):
        raise TypeError(f"priors must be a mapping item_id -> float, got {type(priors).__name__}")
    ids = item_id_list(list(term_ids))
    terms = []
    for item_id in ids:
        terms_of_item = term_list(term_ids[item_id], f"Term ID of item {item_id!r}")
        for term in terms_of_item:
            if not isinstance(term, str):
                raise TypeError(
                    f"Term ID of item {item_id!r}: terms must be str, got "
                    f"{type(term).__name__}: {term!r}"
                )
        terms.append(terms_of_item)
    priors_given = None
    if priors is not None:
        unknown = set(priors) - set(ids)
        if unknown:
            raise InvalidInputError(
                f"priors given for items not in this change: {sorted(map(repr, unknown))[:5]}"
            )
        priors_given = [prior(priors[i], i) if i in priors else None for i in ids]
    return ids, terms, priors_given
