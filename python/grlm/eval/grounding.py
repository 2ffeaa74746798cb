"""Grounding metrics of the GRLM paper, from the hit type of each generated Term ID.

For every example, a generative model returns a ranked list of Term IDs (beams); grounding maps
each one to a catalog item by ``"direct"`` mapping (the Term ID is exactly an item's), by
``"structural"`` scoring (term overlap), or not at all (``"none"``). Over the top K generated
Term IDs of all examples:

* ``vr@K`` (Valid Rate) = grounded (direct or structural) / generated;
* ``dhr@K`` (Direct Hit Rate) = direct / grounded, the share of successful groundings handled by
  direct mapping (0 when nothing was grounded);
* ``direct_rate@K`` = direct / generated, for reference.

Examples that generated fewer than K Term IDs contribute only what they generated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from grlm.errors import InvalidInputError
from grlm.ground.grounder import HIT_TYPES


def grounding_metrics(hit_types: Sequence[Sequence[str]], ks: Iterable[int] = (1, 5, 10)) -> dict:
    """VR@K, DHR@K and direct_rate@K from per-example lists of grounding hit types.

    Parameters
    ----------
    hit_types : sequence of sequences of str
        Per example, the hit type of each generated Term ID in rank order: ``"direct"``,
        ``"structural"`` or ``"none"``.
    ks : iterable of int, default (1, 5, 10)

    Returns
    -------
    dict
        ``vr@K``, ``dhr@K``, ``direct_rate@K``, ``generated@K`` per K, plus ``num_examples``.

    Raises
    ------
    InvalidInputError
        On an unknown hit type, a bad K or no examples.
    """
    ks = tuple(int(k) for k in ks)
    if not ks or any(k < 1 for k in ks):
        raise InvalidInputError(f"ks must be positive integers, got {ks}")
    if len(hit_types) == 0:
        raise InvalidInputError("no examples to evaluate")
    for i, types in enumerate(hit_types):
        if isinstance(types, str):
            raise InvalidInputError(f"example {i}: expected a list of hit types, got a string")
        for t in types:
            if t not in HIT_TYPES:
                raise InvalidInputError(
                    f"example {i}: unknown hit type {t!r} (expected one of {HIT_TYPES})"
                )
    out: dict = {}
    for k in ks:
        generated = direct = structural = 0
        for types in hit_types:
            top = list(types)[:k]
            generated += len(top)
            direct += top.count("direct")
            structural += top.count("structural")
        grounded = direct + structural
        out[f"vr@{k}"] = grounded / generated if generated else 0.0
        out[f"dhr@{k}"] = direct / grounded if grounded else 0.0
        out[f"direct_rate@{k}"] = direct / generated if generated else 0.0
        out[f"generated@{k}"] = generated
    out["num_examples"] = len(hit_types)
    return out
