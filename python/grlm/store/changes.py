"""Changes as a store keeps them: checked and normalized before they are committed (so that every
follower can apply every committed change), and written as one JSON document each."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from grlm.errors import InvalidInputError
from grlm.ground import checks
from grlm.ground.updates import CatalogChange
from grlm.store.catalog import CatalogConfig

# The steps of a change in the order they apply (as in grlm.ground.updates.apply_catalog_change).
PUT_STEPS = ("update", "upsert", "add")


@dataclass(frozen=True)
class CommittedChange:
    """A change the store has committed: ``version`` is its place in the catalog's one sequence,
    ``committed_at`` the committing process's clock (seconds since the epoch)."""

    version: int
    change: CatalogChange
    committed_at: float


def checked_change(change: CatalogChange, config: CatalogConfig) -> CatalogChange:
    """``change`` with its Term IDs normalized, or a TypeError / InvalidInputError naming what a
    Grounder of this catalog would refuse whatever the catalog holds (a bad Term ID or prior, an
    item listed twice in one step, an empty change). Whether the items are present is checked
    by the store, against the catalog the change is committed to."""
    from grlm import _core

    if not isinstance(change, CatalogChange):
        raise TypeError(f"a store commits a CatalogChange, got {type(change).__name__}")
    remove = checks.item_id_list(change.remove)
    seen: set[str] = set()
    for item_id in remove:
        if item_id in seen:
            raise InvalidInputError(f"item {item_id!r} is listed twice in remove")
        seen.add(item_id)
    steps: dict[str, dict[str, list[str]]] = {}
    for step in PUT_STEPS:
        ids, terms, _ = checks.change_items(getattr(change, step), None, step)
        if not ids:
            steps[step] = {}
            continue
        # A one-off index of the step's items runs every check the catalog's own index runs on a
        # Term ID (empty, too long, an empty or over-long term, bad UTF-8) and normalizes it.
        index = _core.Grounder(ids, terms, config.term_id_length, config.mode, [], None)
        steps[step] = {item_id: index.item_terms(i) for i, item_id in enumerate(ids)}
    if not isinstance(change.priors, Mapping):
        raise TypeError(
            f"priors must be a mapping item_id -> float, got {type(change.priors).__name__}"
        )
    put = set().union(*steps.values())
    priors = {}
    for item_id, value in change.priors.items():
        if item_id not in put:
            raise InvalidInputError(
                f"a prior is given for item {item_id!r}, which this change does not add or update"
            )
        priors[item_id] = checks.prior(value, item_id)
    if not remove and not put:
        raise InvalidInputError("an empty change: it adds, updates or removes no item")
    return CatalogChange(remove=remove, priors=priors, **steps)


def encode_change(change: CatalogChange) -> str:
    """One JSON document (its steps in apply order; empty steps left out)."""
    document: dict[str, object] = {}
    if change.remove:
        document["remove"] = list(change.remove)
    for step in PUT_STEPS:
        items = getattr(change, step)
        if items:
            document[step] = {item_id: list(terms) for item_id, terms in items.items()}
    if change.priors:
        document["priors"] = dict(change.priors)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def decode_change(text: str) -> CatalogChange:
    document = json.loads(text)
    return CatalogChange(
        remove=document.get("remove", []),
        priors=document.get("priors", {}),
        **{step: document.get(step, {}) for step in PUT_STEPS},
    )
