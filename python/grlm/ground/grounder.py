"""The compiled grounder: direct mapping through an exact Term ID index, structural mapping on a
miss. A thin typed wrapper over ``grlm._core``: a catalog is always the core's changing catalog
(``UpdatableGrounder``; a freshly built index is its state with no changes), read through one
path, the immutable ``CatalogSnapshot`` whose grounding calls hold the policy (written once, in
C++, for every device). Every docstring of the grounding API lives here."""

from __future__ import annotations

import operator
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from grlm.errors import InvalidInputError
from grlm.ground import checks, updates
from grlm.term_ids import load_term_ids

HitType = Literal["none", "direct", "structural"]
# The one definition of the hit type names; index = the core's code (grlm::HitType).
HIT_TYPES: tuple[HitType, ...] = ("none", "direct", "structural")
Mode = Literal["positional", "bag"]
# Bag-mode credits of encoded queries: (offsets int64 (Q+1,), terms uint32, units int32).
Credits = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class GroundResult:
    """Items a generated Term ID grounds to, best first.

    Attributes
    ----------
    item_ids : tuple of str
        On a direct hit every item whose Term ID equals the query (at most k); otherwise the
        structural top-k. Empty when no item shares a credited term with the query.
    scores : tuple of float
        Structural score of each item under the grounder's mode.
    hit : {"direct", "structural", "none"}
        Which path produced the result (direct hits make the Direct Hit Rate).
    """

    item_ids: tuple[str, ...]
    scores: tuple[float, ...]
    hit: HitType


class BatchResult(Sequence[GroundResult]):
    """Results of ``Grounder.ground_batch`` held as flat arrays; indexing gives a GroundResult.

    Attributes
    ----------
    hits : ndarray of uint8, shape (Q,)
        0 none, 1 direct, 2 structural (``HIT_TYPES[code]``).
    offsets : ndarray of int64, shape (Q + 1,)
        Results of query q are ``items[offsets[q]:offsets[q + 1]]``.
    items : ndarray of int64
        Catalog indices (``Grounder.item_ids[index]``).
    scores : ndarray of float64
    """

    def __init__(self, item_ids: Sequence[str], hits, offsets, items, scores):
        self._item_ids = item_ids
        self.hits, self.offsets, self.items, self.scores = hits, offsets, items, scores

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, q):  # type: ignore[override]
        if isinstance(q, slice):
            return [self[i] for i in range(*q.indices(len(self)))]
        try:
            q = operator.index(q)
        except TypeError:
            raise TypeError(
                f"BatchResult indices must be integers or slices, not {type(q).__name__}"
            ) from None
        # Negative indexes count from the end, as for a list; offsets[q + 1] would be wrong.
        if q < 0:
            q += len(self)
        if not 0 <= q < len(self):
            raise IndexError(f"query index out of range for {len(self)} results")
        begin, end = self.offsets[q], self.offsets[q + 1]
        return GroundResult(
            item_ids=tuple(self._item_ids[i] for i in self.items[begin:end]),
            scores=tuple(self.scores[begin:end].tolist()),
            hit=HIT_TYPES[self.hits[q]],
        )

    def __iter__(self) -> Iterator[GroundResult]:
        return (self[q] for q in range(len(self)))

    @property
    def hit_types(self) -> list[HitType]:
        return [HIT_TYPES[h] for h in self.hits]


class Grounder:
    """Elastic Identifier Grounding over a catalog of Term IDs.

    Parameters
    ----------
    term_ids : mapping of str to sequence of str
        ``{item_id: [term1, ..., termL]}``. Terms are normalized (trim, collapse inner whitespace,
        lowercase ASCII; hyphens and inner spaces kept). Term IDs may collide: all items of a
        Term ID are returned by direct mapping.
    mode : {"positional", "bag"}
        Structural scoring. ``positional`` (the paper): sum of ``weights[j]`` over positions whose
        terms are equal. ``bag`` (the official GRLM code): each generated term at position j
        credits, with weight 1/(j+1), every item holding an equal term (1.0) or a term that
        contains it or is contained in it (0.8), once per occurrence: an item holding a term
        twice is credited twice, as the official code indexes a Term ID under each occurrence.
    weights : sequence of float, optional
        Positional weights, one per position, positive; default ``1/(j+1)``.
    term_id_length : int, optional
        L, the longest Term ID (1..16); default: the longest in ``term_ids``. Shorter Term IDs
        are padded; padding matches nothing.
    priors : mapping of str to float, optional
        Per-item prior (e.g. training popularity) breaking ties: higher first, then catalog
        order. Items missing from the mapping get 0.
    prune_above_items : int, optional
        The CPU scorer searches a catalog of more items than this with dynamic pruning, reading
        only what can still enter the top k, and adds every posting up on a smaller one, which is
        faster there; default ``grlm._core.DEFAULT_PRUNE_ABOVE_ITEMS`` (65,536). Answers never
        depend on it (the exactness tests set 0). Delta segments and compactions keep it.
    device : {"cpu", "cuda", "auto"}
        Where structural scoring runs (``grlm.ground.backend.resolve_device``): ``"cuda"`` keeps
        a GPU scorer of the catalog, and the structural top-k of all direct misses of a batch
        runs there in one GPU batch; results are identical to ``"cpu"``. A k above
        ``grlm._core.MAX_TOP_K`` (1024) is served by the CPU scorer (same results, slower).

    The catalog can change online (``add_items``, ``remove_items``, ``update_items``; see
    ``grlm.ground.updates``): answers always equal those of a Grounder built from the current
    catalog, and a query sees the catalog before a change or after it.
    """

    def __init__(
        self,
        term_ids: Mapping[str, Sequence[str]],
        *,
        mode: Mode = "positional",
        weights: Sequence[float] | None = None,
        term_id_length: int | None = None,
        priors: Mapping[str, float] | None = None,
        prune_above_items: int | None = None,
        device: str = "cpu",
    ):
        from grlm import _core

        if not isinstance(term_ids, Mapping):
            raise TypeError(
                f"term_ids must be a mapping item_id -> terms, got {type(term_ids).__name__}"
            )
        if not term_ids:
            raise InvalidInputError("cannot build a Grounder from an empty catalog")
        item_ids = list(term_ids)
        terms = [checks.term_list(term_ids[i], f"Term ID of item {i!r}") for i in item_ids]
        if term_id_length is None:
            term_id_length = max(len(t) for t in terms) or 1  # an empty Term ID fails below
        prior_list = None if priors is None else checks.prior_list(priors, item_ids)
        if weights is not None:
            weights = list(weights)
            if not weights:  # the core reads [] as "the defaults": say so instead of guessing
                raise InvalidInputError(
                    "weights must hold one weight per position, got []; "
                    "pass weights=None for the defaults"
                )
        if prune_above_items is None:
            prune_above_items = _core.DEFAULT_PRUNE_ABOVE_ITEMS
        index = _core.Grounder(
            item_ids,
            terms,
            term_id_length,
            mode,
            weights if weights is not None else [],
            prior_list,
            checks.non_negative_int(prune_above_items, "prune_above_items"),
        )
        self._start(index, device, item_ids)

    @classmethod
    def from_file(cls, path: str | os.PathLike, **options) -> Grounder:
        """Builds from a Term ID file: the authors' JSON map ``{"item_id": [terms]}`` or JSONL
        lines ``{"item_id": ..., "terms": [...]}``. Options as for the constructor."""
        return cls(load_term_ids(path), **options)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str = "cpu") -> Grounder:
        """Loads an index written by ``save``; raises IndexFileError, naming the file and the
        field, for anything else (missing, a directory, truncated, corrupted, another format
        version). Memory stays within the file's size plus the index it describes."""
        from grlm import _core

        self = cls.__new__(cls)
        self._start(_core.Grounder.load(os.fspath(path)), device, None)
        return self

    def _start(self, index, device: str, item_ids: list[str] | None) -> None:
        """Wraps a built index (``_core.Grounder``) as the catalog's first state; ``item_ids``:
        its ids when at hand."""
        from grlm import _core
        from grlm.ground.backend import resolve_device

        self.device = resolve_device(device)
        # The compaction threshold is read here, when the catalog is made.
        self._catalog = _core.UpdatableGrounder(index, updates.DEFAULT_COMPACT_THRESHOLD)
        self._write_lock = threading.Lock()  # one change at a time; readers never take it
        self._current: GrounderSnapshot | None = None
        self._publish(item_ids)

    def _publish(self, item_ids: list[str] | None = None) -> None:
        """Makes the catalog's present state the one readers get (after a change; under the
        write lock). On the GPU, a new base segment (after a compaction) gets its own scorer,
        uploaded here, before any reader sees the state."""
        native = self._catalog.snapshot()
        current = self._current
        if current is not None and current.version == native.version:
            return  # nothing changed (an error, or compacting a compact catalog)
        backend = None
        if self.device == "cuda":
            from grlm import _core

            backend = current._backend if current is not None else None
            if not native.scores_base(backend):
                backend = _core.CudaStructuralScorer(native, -1)
        self._current = GrounderSnapshot(native, backend, item_ids)

    def _change(self, apply, *args) -> None:
        with self._write_lock:
            try:
                apply(*args)
            finally:  # a refused change publishes nothing new (the version did not move)
                self._publish()

    def save(self, path: str | os.PathLike) -> None:
        """Writes the current catalog (compacted first) to one binary file (version header,
        checksum), through a new temporary file (unique name, never through a symlink) renamed
        into place; on failure nothing is left behind. A path holding a NUL character raises
        InvalidInputError."""
        path = os.fspath(path)
        if "\0" in (path if isinstance(path, str) else path.decode(errors="replace")):
            raise InvalidInputError(f"index path contains a NUL character: {path!r}")
        Path(os.fsdecode(path)).parent.mkdir(parents=True, exist_ok=True)
        self._change(self._catalog.save, path)

    # -- online changes (grlm.ground.updates) ---------------------------------------------------
    def add_items(
        self, term_ids: Mapping[str, Sequence[str]], *, priors: Mapping[str, float] | None = None
    ) -> None:
        """Adds items ``{item_id: terms}`` at the end of the catalog, without a rebuild; items
        missing from ``priors`` get 0. All-or-nothing: an id already present (or a bad Term ID or
        prior) raises InvalidInputError naming the item, and nothing changes."""
        change = checks.change_items(term_ids, priors, "add_items")
        self._change(self._catalog.add_items, *change)

    def update_items(
        self, term_ids: Mapping[str, Sequence[str]], *, priors: Mapping[str, float] | None = None
    ) -> None:
        """Gives present items new Term IDs ``{item_id: terms}`` (and new priors where given);
        they keep their position. All-or-nothing; an unknown id raises InvalidInputError."""
        change = checks.change_items(term_ids, priors, "update_items")
        self._change(self._catalog.update_items, *change)

    def upsert_items(
        self, term_ids: Mapping[str, Sequence[str]], *, priors: Mapping[str, float] | None = None
    ) -> None:
        """``update_items`` for the items present and ``add_items`` for the others, as one
        all-or-nothing change (what a server's "add or replace" needs)."""
        change = checks.change_items(term_ids, priors, "upsert_items")
        self._change(self._catalog.upsert_items, *change)

    def remove_items(self, item_ids: Iterable[str]) -> None:
        """Removes items. All-or-nothing; an unknown id, or removing every item (a Grounder
        needs one), raises InvalidInputError."""
        self._change(self._catalog.remove_items, checks.item_id_list(item_ids))

    def compact(self) -> None:
        """Folds the changes into a freshly built index (automatic once they pass
        ``grlm.ground.updates.DEFAULT_COMPACT_THRESHOLD``); answers do not change."""
        self._change(self._catalog.compact)

    @property
    def update_stats(self) -> dict[str, int]:
        """``items`` (catalog size), ``delta_items``, ``tombstones``, ``delta_segments``,
        ``pending`` (what the next compaction folds in; it runs past
        ``grlm.ground.updates.DEFAULT_COMPACT_THRESHOLD``) and ``version`` (+1 per change)."""
        native = self.snapshot()._native
        return {
            "items": len(native),
            "delta_items": native.delta_size,
            "tombstones": native.num_tombstones,
            "delta_segments": native.num_delta_segments,
            "pending": native.pending,
            "version": native.version,
        }

    @contextmanager
    def _compacting_once(self) -> Iterator[None]:
        """For a Grounder no reader holds yet (a start replaying a change log): the changes made
        inside rebuild the index once, at the end, instead of at each step that passes the
        compaction threshold (at 1M items, a replay's removal and upsert of 10,000 items then
        costs one rebuild of about a second, not two). Its version starts again from 0."""
        from grlm import _core

        def rewrap(threshold: int) -> None:  # the same index, a new catalog (from version 0)
            with self._write_lock:
                self._catalog = _core.UpdatableGrounder(self._catalog.index(), threshold)
                self._current = None
                self._publish()

        rewrap(2**62)  # a threshold no change reaches
        try:
            yield
        finally:
            rewrap(updates.DEFAULT_COMPACT_THRESHOLD)  # index(): the one rebuild

    def _index(self):
        """The current catalog as one built index (``_core.Grounder``), compacting pending
        changes first."""
        with self._write_lock:
            try:
                return self._catalog.index()
            finally:
                self._publish()

    def snapshot(self) -> GrounderSnapshot:
        """The catalog as it is now, immutable: its answers never see a later change (a server
        answers each request from one snapshot). Cheap: no copy of the index is made."""
        return self._current

    def ground(self, term_id: Sequence[str], *, k: int = 10) -> GroundResult:
        """Grounds one generated Term ID: direct mapping, then structural top-k on a miss.

        Raises InvalidInputError for an empty or over-long Term ID, an empty term or k < 1, and
        TypeError for terms that are not str. Unknown terms are not errors: they match nothing.
        """
        return self._current.ground(term_id, k=k)

    def ground_batch(
        self, term_ids: Sequence[Sequence[str]], *, k: int = 10, num_threads: int = 0
    ) -> BatchResult:
        """Grounds many Term IDs (each a list or tuple of str) at once with the GIL released, on
        ``num_threads`` threads (0: all cores). Returns a BatchResult (a sequence of
        GroundResult over flat arrays). Errors as for ``ground``."""
        return self._current.ground_batch(term_ids, k=k, num_threads=num_threads)

    def prepare(self, term_ids: Sequence[Sequence[str]]) -> tuple[np.ndarray, Credits]:
        """Encodes Term IDs exactly as grounding the current catalog's built index does (after
        compacting pending changes), for scorers that take encoded queries
        (``grlm.ground.cuda.CudaStructuralScorer.top_k``).

        Returns
        -------
        ids : ndarray of uint32, shape (Q, L)
            Term ids; ``0xFFFFFFFF`` an unknown term, ``0xFFFFFFFE`` padding.
        credits : tuple (offsets int64 (Q+1,), terms uint32, units int32)
            Bag mode: the credit units each query gives each vocabulary term, query q's at
            ``offsets[q]:offsets[q + 1]`` (empty arrays in positional mode).
        """
        queries = [
            q if isinstance(q, (list, tuple)) else checks.term_list(q, "a Term ID")
            for q in checks.query_list(term_ids)
        ]
        ids, offsets, terms, units = self._index().prepare_queries(queries)
        return ids, (offsets, terms, units)

    @property
    def item_ids(self) -> Sequence[str]:
        """Catalog item ids; position = the index used in BatchResult.items."""
        return self._current.item_ids

    @property
    def mode(self) -> Mode:
        return self._current.mode

    @property
    def weights(self) -> list[float]:
        return self._current._native.weights

    @property
    def term_id_length(self) -> int:
        return self._current.term_id_length

    @property
    def vocab(self) -> list[str]:
        """Interned terms; position = term id."""
        return self._index().vocab

    @property
    def priors(self) -> list[float] | None:
        """Per-item priors in catalog order; None when the catalog was given none."""
        return self._index().priors

    def term_matrix(self) -> np.ndarray:
        """The N x L uint32 matrix of interned term ids (0xFFFFFFFE pads short Term IDs)."""
        return self._index().term_matrix()

    def tie_rank(self) -> np.ndarray:
        """Per item, its rank by (prior desc, index asc): the tie-break of equal scores."""
        return self._index().tie_rank()

    def item_terms(self, item_id: str) -> list[str]:
        return self._current.item_terms(item_id)

    def memory_bytes(self) -> int:
        """Approximate memory held by the index (with pending changes, all its segments)."""
        return self._current._native.memory_bytes()

    def __len__(self) -> int:
        return len(self._current)

    def __repr__(self) -> str:
        return (
            f"Grounder({len(self)} items, {len(self.vocab)} terms, mode={self.mode!r}, "
            f"device={self.device!r})"
        )


class GrounderSnapshot:
    """One immutable state of a Grounder's catalog (``Grounder.snapshot()``): it answers as the
    catalog was when it was taken, whatever changes come later, through the same grounding
    policy and device as its Grounder. Thread-safe."""

    __slots__ = ("_backend", "_ids", "_native")

    def __init__(self, native, backend=None, item_ids: list[str] | None = None):
        # native: a _core.CatalogSnapshot; backend: the GPU scorer of its base segment, or None
        # (the CPU scorer); item_ids: its ids when at hand (else listed at the first need).
        self._native, self._backend, self._ids = native, backend, item_ids

    def ground(self, term_id: Sequence[str], *, k: int = 10) -> GroundResult:
        """As ``Grounder.ground``."""
        if not isinstance(term_id, (list, tuple)):
            term_id = checks.term_list(term_id, "a Term ID")
        native = self._native
        k = checks.checked_k(k, len(native))
        # The core makes the result's tuples, sharing the str objects of the ids when listed.
        hit, ids, scores = native.ground_one(term_id, k, self._backend, self._ids)
        return GroundResult(ids, scores, HIT_TYPES[hit])

    def ground_batch(
        self, term_ids: Sequence[Sequence[str]], *, k: int = 10, num_threads: int = 0
    ) -> BatchResult:
        """As ``Grounder.ground_batch``."""
        queries = checks.query_list(term_ids)
        num_threads = checks.checked_threads(num_threads)
        k = checks.checked_k(k, len(self._native))
        arrays = self._native.ground_batch(queries, k, num_threads, self._backend)
        return BatchResult(self._ids if self._ids is not None else self._native, *arrays)

    @property
    def item_ids(self) -> Sequence[str]:
        """The catalog's item ids in order; position = the index in BatchResult.items. A list,
        made once per snapshot (O(N)) at the first read."""
        ids = self._ids
        if ids is None:  # two threads may both list them: the same list, once each
            ids = self._ids = self._native.item_ids()
        return ids

    @property
    def version(self) -> int:
        """The catalog's version: +1 per change (compactions included), 0 when built."""
        return self._native.version

    @property
    def mode(self) -> Mode:
        return self._native.mode

    @property
    def term_id_length(self) -> int:
        return self._native.term_id_length

    def item_terms(self, item_id: str) -> list[str]:
        """The Term ID of an item; KeyError for an item not in this catalog state."""
        index = self._native.item_index(item_id)
        if index < 0:
            raise KeyError(item_id)
        return self._native.item_terms(index)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self._native.item_index(item_id) >= 0

    @property
    def delta_size(self) -> int:
        """Items in the delta segments plus tombstones (0 for a freshly built index)."""
        return self._native.delta_size + self._native.num_tombstones

    def __len__(self) -> int:
        return len(self._native)
