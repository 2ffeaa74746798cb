"""What the server answers from, held as one immutable snapshot swapped whole.

A request reads ``holder.current`` once and uses that snapshot to the end, so a reload or a
catalog change that lands meanwhile never shows it half of anything: requests in flight finish
on the snapshot they started with, the next ones see the new one. Swapping is one attribute
assignment, done on the event loop (a single thread).

The catalog itself changes online (``Grounder.add_items`` and friends): a snapshot holds a
:class:`CatalogView`, the Grounder's own immutable state at the moment the snapshot was made, so
its answers are those of the catalog version the snapshot names, whatever changes later.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from grlm.ground.grounder import BatchResult, GroundResult


@dataclass(frozen=True)
class CatalogSource:
    """Where the catalog was read from: an index file (``Grounder.save``) or a Term ID file."""

    path: str
    kind: str  # "index" | "tids"
    mode: str = "positional"  # structural mode of a grounder built from a Term ID file

    def load(self):
        from grlm.ground import Grounder

        if self.kind == "index":
            return Grounder.load(self.path)
        return Grounder.from_file(self.path, mode=self.mode)


class CatalogView:
    """One state of a Grounder (``Grounder.snapshot()``), answering as the Grounder did when the
    view was taken, beside the Grounder itself (the writers' handle). A change applied to the
    Grounder afterwards is not seen here. Requests are checked before they reach it
    (:mod:`grlm.serve.requests`); the core still refuses what slips by.
    """

    def __init__(self, grounder):
        self.grounder = grounder
        self._state = grounder.snapshot()
        self.term_id_length = grounder.term_id_length
        self.mode = grounder.mode

    def ground(self, term_id, *, k: int) -> GroundResult:
        return self._state.ground(term_id, k=k)

    def ground_batch(self, term_ids, *, k: int, num_threads: int = 0) -> BatchResult:
        return self._state.ground_batch(term_ids, k=k, num_threads=num_threads)

    def item_terms(self, item_id: str) -> list[str]:
        return self._state.item_terms(item_id)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._state

    @property
    def item_ids(self):
        return self._state.item_ids

    @property
    def delta_size(self) -> int:
        """Items in the delta segments plus tombstones (0 for a freshly built index)."""
        return self._state.delta_size

    def __len__(self) -> int:
        return len(self._state)


@dataclass(frozen=True)
class Snapshot:
    """One consistent serving state: a view of the catalog, the Grounder it was taken from (the
    writers' handle), the catalog's token trie for /v1/recommend (or None without a model) and
    the catalog version (1 at start, +1 per reload or change)."""

    grounder: CatalogView
    trie: object | None
    version: int
    source: CatalogSource
    loaded_at: float

    @property
    def catalog(self):
        return self.grounder.grounder

    @property
    def items(self) -> int:
        return len(self.grounder)


class SnapshotHolder:
    """The current snapshot. Writers (reload, catalog changes) are serialized by the caller
    (one asyncio lock); readers never wait."""

    def __init__(self, snapshot: Snapshot):
        self.current = snapshot

    def swap(self, grounder, trie, source: CatalogSource) -> Snapshot:
        """Makes a snapshot of ``grounder``'s present state the current one."""
        snapshot = Snapshot(
            CatalogView(grounder), trie, self.current.version + 1, source, time.time()
        )
        self.current = snapshot
        return snapshot


def first_snapshot(grounder, source: CatalogSource, trie=None) -> Snapshot:
    return Snapshot(CatalogView(grounder), trie, 1, source, time.time())


def source_from(index: str | None, tids: str | None, mode: str) -> CatalogSource:
    if (index is None) == (tids is None):
        raise ValueError("give exactly one of index and tids")
    path = index if index is not None else tids
    return CatalogSource(os.path.abspath(path), "index" if index is not None else "tids", mode)
