"""What the server answers from, held as one immutable snapshot swapped whole.

A request reads ``holder.current`` once and uses that snapshot to the end, so a reload or a
catalog change that lands meanwhile never shows it half of anything: requests in flight finish
on the snapshot they started with, the next ones see the new one. Swapping is one attribute
assignment (atomic under the GIL, and the event loop is a single thread anyway).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Snapshot:
    """One consistent serving state: the grounder, the recommender built on the same catalog
    (or None without a model), and the catalog version (1 at start, +1 per swap)."""

    grounder: object
    recommender: object | None
    version: int
    source: CatalogSource
    loaded_at: float

    @property
    def items(self) -> int:
        return len(self.grounder)


class SnapshotHolder:
    """The current snapshot. Writers (reload, catalog updates) are serialized by the caller
    (one asyncio lock); readers never wait."""

    def __init__(self, snapshot: Snapshot):
        self.current = snapshot

    def swap(self, grounder, recommender, source: CatalogSource) -> Snapshot:
        snapshot = Snapshot(grounder, recommender, self.current.version + 1, source,
                            time.time())
        self.current = snapshot
        return snapshot


def first_snapshot(source: CatalogSource, recommender_factory=None) -> Snapshot:
    grounder = source.load()
    recommender = recommender_factory(grounder) if recommender_factory else None
    return Snapshot(grounder, recommender, 1, source, time.time())


def source_from(index: str | None, tids: str | None, mode: str) -> CatalogSource:
    if (index is None) == (tids is None):
        raise ValueError("give exactly one of index and tids")
    path = index if index is not None else tids
    return CatalogSource(os.path.abspath(path), "index" if index is not None else "tids", mode)
