"""From beams to a ranked list of distinct items (Elastic Identifier Grounding, GRLM Sec. 3.3).

Each beam is parsed to a Term ID and grounded: a direct hit gives the items carrying exactly
that Term ID, otherwise structural mapping gives the catalog's closest items. The list is built
in two passes over the beams, best beam first:

1. each beam contributes its grounded answer — every item of a direct hit (several items may
   share a Term ID; the grounder's tie order decides), or the top item of a structural hit —
   skipping items already listed;
2. while fewer than ``k`` items are listed (beams collapsed onto the same items), each beam in
   order contributes its remaining grounded items in the grounder's score order.

Nothing here depends on how the grounder is built: it is any object with
``ground_batch(list_of_term_lists, k) -> [GroundResult]`` (``grlm.ground.Grounder``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HIT_DIRECT = "direct"
HIT_NONE = "none"


@dataclass(frozen=True)
class RankedItem:
    item_id: str
    beam: int  # index of the beam that contributed it
    hit: str  # hit type of that beam


def rank_items(results: Sequence[object | None], k: int) -> list[RankedItem]:
    """The ranked distinct items of one user from the grounding results of its beams (best
    beam first; None for a beam that did not parse). Each result has ``item_ids`` (best first)
    and ``hit`` ("direct", "structural" or "none")."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    ranked: list[RankedItem] = []
    seen: set[str] = set()

    def add(item_id: str, beam: int, hit: str) -> bool:
        if item_id not in seen:
            seen.add(item_id)
            ranked.append(RankedItem(item_id, beam, hit))
        return len(ranked) >= k

    for beam, result in enumerate(results):
        if result is None or result.hit == HIT_NONE or not result.item_ids:
            continue
        picks = result.item_ids if result.hit == HIT_DIRECT else result.item_ids[:1]
        for item_id in picks:
            if add(item_id, beam, result.hit):
                return ranked
    for beam, result in enumerate(results):
        if result is None or result.hit == HIT_NONE:
            continue
        for item_id in result.item_ids:
            if add(item_id, beam, result.hit):
                return ranked
    return ranked
