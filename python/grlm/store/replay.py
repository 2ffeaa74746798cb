"""Applying committed changes to a Grounder: a run of changes is folded into its net effect first,
so catching up on 10,000 small changes costs one removal and one upsert of their items (and at
most a compaction after each), not 10,000 changes.

The net effect of a run is exact because a catalog is a dict: an updated item keeps its place,
a removed one disappears, an added one goes last. So after the run: the items present before it
and removed at some point are removed; those present before and never removed carry their last
Term ID (and their last prior given, else their own); those added during the run go last, in the
order of their last addition, with the prior they were last given (0 when none was). Grounders
answer from the catalog alone, so the result equals applying the changes one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext

from grlm.ground.grounder import Grounder
from grlm.ground.updates import DEFAULT_COMPACT_THRESHOLD, CatalogChange, apply_catalog_change
from grlm.store.changes import CommittedChange


def apply_changes(
    grounder: Grounder,
    changes: Sequence[CommittedChange],
    *,
    trie=None,
    encode: Callable[[Sequence[str]], Sequence[int]] | None = None,
    unread: bool = False,
) -> None:
    """Applies ``changes`` (in version order, each valid on the catalog the previous ones left)
    to ``grounder`` and, when given, its token trie (see ``apply_catalog_change``). ``unread``:
    no reader holds ``grounder`` yet (a start), so a run too large to stay pending rebuilds its
    index once, not once per step (``Grounder._compacting_once``)."""
    if not changes:
        return
    net = net_change(grounder, [c.change for c in changes])
    if net is not None:
        long_run = len(net.remove) + len(net.upsert) > DEFAULT_COMPACT_THRESHOLD
        with grounder._compacting_once() if unread and long_run else nullcontext():
            apply_catalog_change(grounder, net, trie=trie, encode=encode)
        return
    for committed in changes:  # the net removal would empty the catalog before its additions
        apply_catalog_change(grounder, committed.change, trie=trie, encode=encode)


def net_change(grounder: Grounder, changes: Sequence[CatalogChange]) -> CatalogChange | None:
    """One change with the effect of ``changes`` applied in order to ``grounder``'s catalog;
    None when it cannot be one (its removals would leave the catalog empty before its
    additions, as when every item is replaced)."""
    snapshot = grounder.snapshot()
    removed: dict[str, None] = {}  # present before the run, removed during it (ordered set)
    updated: dict[str, list[str]] = {}  # present before and after, with their last Term ID
    added: dict[str, list[str]] = {}  # added during the run; dict order = order of last addition
    priors: dict[str, float] = {}

    def present(item_id: str) -> bool:
        return item_id in added or (item_id in snapshot and item_id not in removed)

    def put(item_id: str, terms, change: CatalogChange, *, may_add: bool) -> None:
        if present(item_id):
            (added if item_id in added else updated)[item_id] = list(terms)
            if item_id in change.priors:
                priors[item_id] = change.priors[item_id]
            return
        assert may_add, f"update of absent item {item_id!r} in a committed change"
        added[item_id] = list(terms)
        priors[item_id] = change.priors.get(item_id, 0.0)

    for change in changes:
        for item_id in change.remove:
            assert present(item_id), f"removal of absent item {item_id!r} in a committed change"
            if item_id in added:
                del added[item_id]
            else:
                removed[item_id] = None
                updated.pop(item_id, None)
            priors.pop(item_id, None)
        for item_id, terms in change.update.items():
            put(item_id, terms, change, may_add=False)
        for item_id, terms in change.upsert.items():
            put(item_id, terms, change, may_add=True)
        for item_id, terms in change.add.items():
            assert not present(item_id), f"addition of present item {item_id!r}"
            put(item_id, terms, change, may_add=True)
    if removed and len(removed) >= len(snapshot):
        return None
    # One upsert for both (the updated items are present, the added ones not): one segment, and
    # at most one compaction for it, where an update and an add would each build their own.
    return CatalogChange(remove=list(removed), upsert={**updated, **added}, priors=priors)
