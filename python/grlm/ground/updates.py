"""Online catalog changes of a :class:`grlm.ground.Grounder` (``add_items``, ``remove_items``,
``update_items``, ``compact``) and of its token trie, through one call.

The grounder's index becomes a built base segment and a few small delta segments, with tombstones
(``grlm::UpdatableGrounder`` in the C++ core). Every answer equals that of a Grounder built from
scratch on the current catalog, whose order is a dict's: an updated item keeps its position, a
removed one disappears, an added one goes last. Readers work on an immutable snapshot: a query sees
the catalog before a change or after it, never half of it, and never waits for a writer.

A change builds a segment of its own items (sometimes merged with the newest ones), whatever
the catalog's size. Once the delta items plus the tombstones pass ``DEFAULT_COMPACT_THRESHOLD``
(1024, read at a grounder's first change) the change also compacts: a full rebuild,
seconds at a million items, during which other writers wait and readers keep answering from the
previous snapshot.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from grlm.errors import InvalidInputError

# Delta items plus tombstones that trigger a compaction (see grlm::UpdatableGrounder).
DEFAULT_COMPACT_THRESHOLD = 1024


class CatalogUpdates:
    """The changing catalog of one Grounder: the native ``UpdatableGrounder`` and, on the GPU, the
    base segment's CUDA core (rebuilt after a compaction replaced the base)."""

    def __init__(self, base_core, device: str, compact_threshold: int | None = None):
        from grlm import _core

        if compact_threshold is None:
            compact_threshold = DEFAULT_COMPACT_THRESHOLD
        self._native = _core.UpdatableGrounder(base_core, compact_threshold)
        self._device = device
        self._cuda_lock = threading.Lock()
        self._cuda_base: tuple | None = None  # (base _core.Grounder, its GPU scorer)
        self._item_ids: tuple[int, list[str]] | None = None  # (snapshot version, ids)

    @property
    def native(self):
        return self._native

    def snapshot(self):
        return self._native.snapshot()

    def stats(self) -> dict[str, int]:
        """Sizes of the current snapshot (see ``Grounder.update_stats``)."""
        s = self._native.snapshot()
        return {
            "items": len(s),
            "delta_items": s.delta_size,
            "tombstones": s.num_tombstones,
            "delta_segments": s.num_delta_segments,
            "pending": s.pending,
            "version": s.version,
        }

    def item_ids(self) -> list[str]:
        """The current catalog's ids in order; built once per snapshot version (O(N))."""
        snapshot = self._native.snapshot()
        cached = self._item_ids
        if cached is None or cached[0] != snapshot.version:
            cached = self._item_ids = (snapshot.version, snapshot.item_ids())
        return cached[1]

    def reader(self):
        """``(core, item_ids)`` of one immutable snapshot: ``core.ground_one`` and
        ``core.ground_batch`` answer with positions into ``item_ids``."""
        snapshot = self._native.snapshot()
        if self._device == "cuda":
            return _CudaSnapshotReader(snapshot, self._cuda_core(snapshot.base)), snapshot
        return snapshot, snapshot

    def _cuda_core(self, base):
        from grlm import _core

        with self._cuda_lock:
            if self._cuda_base is None or self._cuda_base[0] is not base:
                self._cuda_base = (base, _core.CudaStructuralScorer(base, -1))
            return self._cuda_base[1]

    def add(self, term_ids: Mapping[str, Sequence[str]], priors: Mapping[str, float] | None):
        ids, terms, prior_list = _change_items(term_ids, priors, "add_items")
        self._native.add_items(ids, terms, prior_list)

    def update(self, term_ids: Mapping[str, Sequence[str]], priors: Mapping[str, float] | None):
        ids, terms, prior_list = _change_items(term_ids, priors, "update_items")
        self._native.update_items(ids, terms, prior_list)

    def upsert(self, term_ids: Mapping[str, Sequence[str]], priors: Mapping[str, float] | None):
        ids, terms, prior_list = _change_items(term_ids, priors, "upsert_items")
        self._native.upsert_items(ids, terms, prior_list)

    def remove(self, item_ids: Iterable[str]):
        self._native.remove_items(_item_id_list(item_ids))


class _CudaSnapshotReader:
    """A snapshot whose base segment is scored on the GPU; the delta and the merge on the CPU."""

    def __init__(self, snapshot, gpu_scorer):
        self._snapshot, self._gpu_scorer = snapshot, gpu_scorer

    def ground_batch(self, queries, k: int, num_threads: int = 0):
        snapshot = self._snapshot
        if snapshot.pristine:
            return snapshot.base.ground_batch(queries, k, num_threads, self._gpu_scorer)
        base = snapshot.base.ground_batch(
            queries, snapshot.base_k(k), num_threads, self._gpu_scorer
        )
        return snapshot.merge_batch(queries, k, *base, num_threads)

    def ground_one(self, query, k: int):
        if not isinstance(query, (list, tuple)):
            raise TypeError(f"a Term ID must be a list or tuple of str, got {type(query).__name__}")
        hits, _, items, scores = self.ground_batch([query], k)
        return int(hits[0]), items.tolist(), scores.tolist()


def _item_id_list(item_ids: Iterable[str]) -> list[str]:
    if isinstance(item_ids, (str, bytes, Mapping)):
        raise TypeError(
            f"item_ids must be an iterable of str, got {type(item_ids).__name__}: {item_ids!r}"
        )
    ids = list(item_ids)
    for item_id in ids:
        if not isinstance(item_id, str):
            raise TypeError(f"item ids must be str, got {type(item_id).__name__}: {item_id!r}")
    return ids


def _change_items(term_ids, priors, what: str):
    from grlm.ground.grounder import _as_term_list

    if not isinstance(term_ids, Mapping):
        raise TypeError(f"{what} takes a mapping item_id -> terms, got {type(term_ids).__name__}")
    if priors is not None and not isinstance(priors, Mapping):
        raise TypeError(f"priors must be a mapping item_id -> float, got {type(priors).__name__}")
    ids = _item_id_list(list(term_ids))
    terms = []
    for item_id in ids:
        term_list = _as_term_list(term_ids[item_id], f"Term ID of item {item_id!r}")
        for term in term_list:
            if not isinstance(term, str):
                raise TypeError(
                    f"Term ID of item {item_id!r}: terms must be str, got "
                    f"{type(term).__name__}: {term!r}"
                )
        terms.append(term_list)
    prior_list = None
    if priors is not None:
        unknown = set(priors) - set(ids)
        if unknown:
            raise InvalidInputError(
                f"priors given for items not in this change: {sorted(map(repr, unknown))[:5]}"
            )
        prior_list = [_prior(priors[i], i) if i in priors else None for i in ids]
    return ids, terms, prior_list


def _prior(value, item_id) -> float:
    if (
        isinstance(value, (str, bytes, bool))
        or not isinstance(value, (int, float))
        and not hasattr(value, "__float__")
    ):
        raise InvalidInputError(f"prior of item {item_id!r} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidInputError(f"prior of item {item_id!r} is not finite: {value!r}")
    return value


@dataclass
class CatalogChange:
    """One change of a catalog, applied to a Grounder and its TokenTrie together by
    :func:`apply_catalog_change`, so constrained decoding and grounding never disagree.

    Attributes
    ----------
    add : mapping of str to sequence of str
        New items and their Term IDs (appended to the catalog).
    update : mapping of str to sequence of str
        Present items given a new Term ID (they keep their position).
    upsert : mapping of str to sequence of str
        Items to update when present, else to add (a server's "add or replace").
    remove : sequence of str
        Present items to remove.
    """

    add: Mapping[str, Sequence[str]] = field(default_factory=dict)
    update: Mapping[str, Sequence[str]] = field(default_factory=dict)
    upsert: Mapping[str, Sequence[str]] = field(default_factory=dict)
    remove: Sequence[str] = ()


def apply_catalog_change(
    grounder,
    change: CatalogChange,
    *,
    trie=None,
    encode: Callable[[Sequence[str]], Sequence[int]] | None = None,
) -> None:
    """Applies ``change`` to ``grounder`` and, when given, to ``trie`` (the
    :class:`grlm.decoding.TokenTrie` of the same catalog, keyed by item id).

    ``encode`` turns a Term ID into the trie's token ids, as the trie was built: e.g.
    ``lambda terms: objective.answer_ids(tokenizer, terms)`` for a trie from
    ``Objective.trie``, or ``lambda terms: encode_answer(tokenizer, terms)`` for
    ``TokenTrie.from_items``.

    The steps are remove, update, upsert, add, each all-or-nothing. Every Term ID is encoded and
    every step checked by the grounder before the trie changes, so after an error the two still
    agree.
    Items sharing a Term ID share a trie path; removing one keeps the path alive for the others
    (the trie counts items, not sequences). A decoding step running during the change may see the
    trie before or after each step.
    """
    if (trie is None) != (encode is None):
        raise InvalidInputError("apply_catalog_change needs both trie and encode, or neither")
    tokens = {}
    if trie is not None:
        # Encoded before anything changes: an encoder error leaves both as they were.
        for mapping in (change.update, change.upsert, change.add):
            for item_id, terms in mapping.items():
                tokens[item_id] = list(encode(list(terms)))
    if change.remove:
        grounder.remove_items(change.remove)
        if trie is not None:
            for item_id in change.remove:
                trie.remove(item_id)
    if change.update:
        grounder.update_items(change.update)
        if trie is not None:
            for item_id in change.update:
                trie.remove(item_id)
            trie.add_sequences({i: tokens[i] for i in change.update})
    if change.upsert:
        grounder.upsert_items(change.upsert)
        if trie is not None:
            for item_id in change.upsert:
                trie.remove(item_id)  # False for a new item
            trie.add_sequences({i: tokens[i] for i in change.upsert})
    if change.add:
        grounder.add_items(change.add)
        if trie is not None:
            trie.add_sequences({i: tokens[i] for i in change.add})
