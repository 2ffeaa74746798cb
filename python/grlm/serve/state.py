"""What the server answers from, held as one immutable state swapped whole.

A request reads ``CatalogHolder.current`` once and uses that state to the end, so a reload or a
catalog change that lands meanwhile never shows it half of anything: requests in flight finish
on the state they started with, the next ones see the new one. Swapping is one attribute assignment,
done on the event loop (a single thread).

The catalog itself changes online (``Grounder.add_items`` and friends): a state holds the
Grounder's own immutable snapshot (``Grounder.snapshot()``, the one reader of the library,
``recommend`` and the server), so its answers are those of the catalog version the state names,
whatever changes later.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass

from grlm.ground.grounder import GrounderSnapshot


@dataclass(frozen=True)
class CatalogSource:
    """Where the catalog was read from: an index file (``Grounder.save``) or a Term ID file."""

    path: str
    kind: str  # "index" | "tids" | "store" (followed through a StoreFollower, never loaded)
    mode: str = "positional"  # structural mode of a grounder built from a Term ID file
    device: str = "cpu"  # where structural grounding runs (grlm.ground.backend.resolve_device)

    def index_beside(self, path: str) -> CatalogSource | None:
        """The index file ``path`` (relative: to this source's folder) as a source, when it lies
        in this source's folder or below it; None otherwise. Reload takes no other file: it must
        not read, or tell the existence or size of, any file the server can reach."""
        folder = os.path.dirname(self.path)
        candidate = os.path.abspath(os.path.join(folder, path))
        real_folder, real = os.path.realpath(folder), os.path.realpath(candidate)
        if os.path.commonpath([real_folder, real]) != real_folder:
            return None
        return dataclasses.replace(self, path=candidate, kind="index")

    def load(self):
        from grlm.ground import Grounder

        if self.kind == "index":
            return Grounder.load(self.path, device=self.device)
        return Grounder.from_file(self.path, mode=self.mode, device=self.device)


@dataclass(frozen=True)
class ServingState:
    """One consistent serving state: the catalog as it was when the state was made
    (``snapshot``, a :class:`grlm.ground.grounder.GrounderSnapshot`, whose answers never see a
    later change), the Grounder it was taken from (``grounder``, the writers' handle), the
    catalog's token trie for /v1/recommend (or None without a model) and the catalog version (1
    at start, +1 per reload or change)."""

    snapshot: GrounderSnapshot
    grounder: object
    trie: object | None
    version: int
    source: CatalogSource
    loaded_at: float

    @property
    def items(self) -> int:
        return len(self.snapshot)


class CatalogHolder:
    """The catalog being served: its current state. Writers (reload, catalog changes) are
    serialized by the caller (one asyncio lock); readers never wait."""

    def __init__(self, state: ServingState):
        self.current = state

    def swap(self, grounder, trie, source: CatalogSource) -> ServingState:
        """Makes a state of ``grounder``'s present catalog the current one."""
        state = ServingState(
            grounder.snapshot(), grounder, trie, self.current.version + 1, source, time.time()
        )
        self.current = state
        return state


class FollowedCatalog:
    """The catalog being served when it follows a store (``grlm serve --store``): its current
    state is the follower's applied version and snapshot (``StoreFollower.current()``), made a
    :class:`ServingState` once per version. The follower applies committed changes on its own
    thread, to the Grounder and to the token trie it was given; readers never wait."""

    def __init__(self, follower, trie, source: CatalogSource):
        self.follower = follower
        self._trie, self._source = trie, source
        self._state = self._state_of(follower.current())

    def _state_of(self, applied) -> ServingState:
        return ServingState(
            applied.snapshot,
            self.follower.grounder,
            self._trie,
            applied.version,
            self._source,
            time.time(),
        )

    @property
    def current(self) -> ServingState:
        applied, state = self.follower.current(), self._state
        if applied.version != state.version:
            state = self._state = self._state_of(applied)
        return state


def first_state(grounder, source: CatalogSource, trie=None) -> ServingState:
    return ServingState(grounder.snapshot(), grounder, trie, 1, source, time.time())


def store_source(url: str, device: str = "cpu") -> CatalogSource:
    """The source of a catalog followed from the store at ``url`` (its password hidden)."""
    from grlm.store.base import redacted

    return CatalogSource(redacted(url), "store", device=device)


def source_from(
    index: str | None, tids: str | None, mode: str, device: str = "cpu"
) -> CatalogSource:
    if (index is None) == (tids is None):
        raise ValueError("give exactly one of index and tids")
    path = index if index is not None else tids
    kind = "index" if index is not None else "tids"
    return CatalogSource(os.path.abspath(path), kind, mode, device)
