"""The token trie of a catalog: every item's answer tokens, as the model writes them.

The sequences come from :func:`grlm.answer_format.encode_answer`, the same function fine-tuning
uses, so a Term ID is tokenized identically in training and in the trie.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grlm.answer_format import encode_answer, end_of_answer_id
from grlm.errors import InvalidInputError


def _sort_key(key: Hashable) -> tuple:
    # Items sharing a Term ID are reported in a fixed order whatever the insertion order.
    return (type(key).__name__, key) if isinstance(key, (int, str)) else ("~", repr(key))


@dataclass(frozen=True)
class TrieArrays:
    """The flat CSR arrays of a trie on one device (numpy on the CPU, torch tensors elsewhere).

    ``row_ptr[n] .. row_ptr[n+1]-1`` are the edges of node ``n``; ``child_token`` is ascending
    within a row; ``live[n]`` counts the live items below node ``n`` (0: never allowed).
    """

    row_ptr: Any
    child_token: Any
    child_node: Any
    live: Any
    structure_version: int


class TokenTrie:
    """Prefix trie over the answer tokens of every item, backed by the C++ core.

    Parameters
    ----------
    end_token
        The token ending every sequence (the tokenizer's EOS, from ``end_of_answer_id``).

    Build one with :meth:`from_items` (Term IDs and a tokenizer) or :meth:`from_sequences`.
    Item keys may be any hashable values (ints, strings); several items may share a sequence
    (collisions), and are then all reported for it, in sorted key order.

    A trie may be shared between threads: readers work on an immutable snapshot of the C++ trie
    and never block on a writer; writers (``add*``, ``remove``) run one at a time.
    """

    def __init__(self, end_token: int):
        from grlm import _core

        self._native = _core.TokenTrie(int(end_token))
        self._keys: list[Hashable] = []
        self._index: dict[Hashable, int] = {}
        self._identity = 0  # keys 0 .. _identity-1 are their own index (from_token_matrix)
        self._device_arrays: dict[str, TrieArrays] = {}
        # Serializes writers: the key table and the device arrays change with the native trie.
        self._write_lock = threading.Lock()

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_items(cls, items: Mapping[Hashable, Sequence[str]], tokenizer) -> TokenTrie:
        """Trie of ``{item_key: terms}``, each tokenized with ``encode_answer(tokenizer, terms)``."""
        trie = cls(end_of_answer_id(tokenizer))
        trie.add_items(items, tokenizer)
        return trie

    @classmethod
    def from_sequences(
        cls, sequences: Mapping[Hashable, Sequence[int]], end_token: int
    ) -> TokenTrie:
        """Trie of ``{item_key: token ids}``; every sequence must end with ``end_token``."""
        trie = cls(end_token)
        trie.add_sequences(sequences)
        return trie

    @classmethod
    def from_token_matrix(cls, tokens, end_token: int) -> TokenTrie:
        """Trie of ``N`` equal-length sequences (rows of an ``(N, L)`` integer array, each ending
        with ``end_token``) keyed ``0 .. N-1``: the bulk path for large synthetic catalogs."""
        matrix = np.ascontiguousarray(tokens, dtype=np.int32)
        if matrix.ndim != 2 or matrix.shape[1] == 0:
            raise InvalidInputError(f"tokens must be a non-empty (N, L) array, got {matrix.shape}")
        trie = cls(end_token)
        n, length = matrix.shape
        offsets = np.arange(n + 1, dtype=np.int64) * length
        trie._native.add_batch(np.arange(n, dtype=np.int64), matrix.reshape(-1), offsets)
        trie._keys = range(n)  # keys are their own dense indices: no dict of N entries
        trie._identity = n
        return trie

    def _find(self, key: Hashable) -> int | None:
        """Dense index of a key ever added (live or removed), or None."""
        if type(key) is int and 0 <= key < self._identity:
            return key
        return self._index.get(key)

    def add_items(self, items: Mapping[Hashable, Sequence[str]], tokenizer) -> None:
        """Adds ``{item_key: terms}`` (tokenized with ``encode_answer``)."""
        if end_of_answer_id(tokenizer) != self.end_token:
            raise InvalidInputError(
                f"tokenizer EOS {end_of_answer_id(tokenizer)} != trie end token {self.end_token}"
            )
        sequences = {}
        for key, terms in items.items():
            if isinstance(terms, str) or not terms:
                raise InvalidInputError(
                    f"item {key!r}: Term ID must be a non-empty list of terms, got {terms!r}"
                )
            sequences[key] = encode_answer(tokenizer, terms)
        self.add_sequences(sequences)

    def add_sequences(self, sequences: Mapping[Hashable, Sequence[int]]) -> None:
        """Adds ``{item_key: token ids}`` in one batch (validated before anything changes).

        Token ids must be ints (or numpy integers) in ``[0, 2^31)``; anything else raises
        InvalidInputError, never a silent conversion (``"1"`` or ``1.5`` are not token ids)."""
        if not isinstance(sequences, Mapping):
            raise TypeError(
                f"sequences must be a mapping item_key -> token ids, got {type(sequences).__name__}"
            )
        keys = list(sequences.keys())
        token_lists = [_token_list(key, sequences[key]) for key in keys]
        with self._write_lock:
            self._add_locked(keys, token_lists)

    def _add_locked(self, keys: list[Hashable], token_lists: list[list[int]]) -> None:
        known = [self._find(key) for key in keys]
        for key, index in zip(keys, known):
            if index is not None and self._native.contains(index):
                raise InvalidInputError(f"item {key!r} is already in the trie")
        if self._identity and any(index is None for index in known):
            self._keys = list(self._keys)  # leave the identity mode: fresh keys need indices
            self._index = {key: key for key in self._keys}
            self._identity = 0
        # Fresh keys get consecutive new indices; re-added keys keep their old index.
        indices = np.empty(len(keys), dtype=np.int64)
        fresh = []
        for i, (key, index) in enumerate(zip(keys, known)):
            if index is None:
                index = len(self._keys) + len(fresh)
                fresh.append(key)
            indices[i] = index
        offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum([len(tokens) for tokens in token_lists], out=offsets[1:])
        tokens = np.fromiter(
            (t for seq in token_lists for t in seq), dtype=np.int64, count=int(offsets[-1])
        )
        if tokens.size and (tokens.min() < 0 or tokens.max() >= 2**31):
            raise InvalidInputError("token ids must be in [0, 2^31)")
        # Keys first: a reader that finds a new index in the native trie must find its key.
        for key in fresh:
            self._index[key] = len(self._keys)
            self._keys.append(key)
        before = self._native.structure_version
        try:
            self._native.add_batch(indices, tokens.astype(np.int32), offsets)
        except BaseException:
            for key in fresh:
                del self._index[key]
            del self._keys[len(self._keys) - len(fresh) :]
            raise
        if self._native.structure_version != before:
            self._device_arrays.clear()
        else:
            for index in indices:
                self._bump_live(int(index), +1)

    def add(self, key: Hashable, sequence: Sequence[int]) -> None:
        """Adds one item; a new token path is merged into the device arrays at the next search."""
        self.add_sequences({key: sequence})

    def remove(self, key: Hashable) -> bool:
        """Removes an item; the next decoding step (even of a running search) never produces it.

        Returns False when the item is not in the trie."""
        with self._write_lock:
            index = self._find(key)
            if index is None or not self._native.contains(index):
                return False
            self._bump_live(index, -1)
            self._native.remove(index)
            return True

    def _bump_live(self, index: int, delta: int) -> None:
        if not self._device_arrays:
            return
        nodes = np.asarray(self._native.path_nodes(index), dtype=np.int64)
        for arrays in self._device_arrays.values():
            if isinstance(arrays.live, np.ndarray):
                np.add.at(arrays.live, nodes, delta)
            else:
                import torch

                idx = torch.from_numpy(nodes).to(arrays.live.device)
                arrays.live.index_add_(0, idx, torch.full_like(idx, delta, dtype=arrays.live.dtype))

    # -- queries --------------------------------------------------------------------------------
    @property
    def end_token(self) -> int:
        return int(self._native.end_token)

    @property
    def num_items(self) -> int:
        """Number of live items."""
        return int(self._native.num_items)

    @property
    def num_nodes(self) -> int:
        return int(self._native.num_nodes)

    @property
    def max_length(self) -> int:
        """Length of the longest token sequence (EOS included): the most decoding steps."""
        return int(self._native.max_length)

    def __len__(self) -> int:
        return self.num_items

    def __contains__(self, key: Hashable) -> bool:
        index = self._find(key)
        return index is not None and bool(self._native.contains(index))

    def sequence(self, key: Hashable) -> list[int]:
        """Token ids of a live item."""
        if key not in self:
            raise InvalidInputError(f"item {key!r} is not in the trie")
        return list(self._native.sequence(self._find(key)))

    def walk(self, tokens: Iterable[int]) -> int:
        """Node reached from the root by ``tokens`` over live edges, or -1 (a dead prefix).

        A token outside ``[0, 2^31)`` is in no sequence, so it ends in a dead prefix."""
        ids = [operator.index(t) for t in tokens]
        if any(not 0 <= t < 2**31 for t in ids):
            return -1
        return int(self._native.walk(np.asarray(ids, dtype=np.int32)))

    def allowed_tokens(self, node: int) -> list[int]:
        """Tokens of the live children of ``node`` (ascending); empty at a leaf or dead node."""
        node = operator.index(node)
        if node < 0:
            return []
        return list(self._native.allowed_tokens(node))

    def allowed_after(self, tokens: Iterable[int]) -> list[int]:
        """Tokens allowed after the prefix ``tokens`` (empty when the prefix is dead)."""
        return self.allowed_tokens(self.walk(tokens))

    def items_at(self, node: int) -> list[Hashable]:
        """Keys of the live items whose sequence ends at ``node``, in sorted key order."""
        node = operator.index(node)
        if node < 0:
            return []
        keys = [self._keys[i] for i in self._native.items_at(node)]
        return sorted(keys, key=_sort_key)

    def items_of(self, tokens: Iterable[int]) -> list[Hashable]:
        """Keys of the live items whose full sequence is ``tokens``."""
        return self.items_at(self.walk(tokens))

    def memory_bytes(self) -> int:
        """Bytes held by the C++ trie (the device arrays hold 4 x 4 bytes per node more)."""
        return int(self._native.memory_bytes())

    # -- arrays ---------------------------------------------------------------------------------
    def export(self) -> dict[str, np.ndarray]:
        """The CSR arrays as numpy (int32): row_ptr, child_token, child_node, live, item_ptr,
        items (the latter two index items by their dense index, see :meth:`key_of`)."""
        return dict(self._native.export())

    def key_of(self, index: int) -> Hashable:
        """Item key of a dense index found in the exported ``items`` array."""
        return self._keys[index]

    def arrays(self, device="cpu") -> TrieArrays:
        """The CSR arrays on ``device`` (cached; re-exported after a structural addition, and
        kept in sync in place on removal). ``"cpu"`` gives torch CPU tensors."""
        import torch

        device = torch.device(device)
        key = str(device)
        with self._write_lock:  # a consistent export, cached for the version it was taken at
            return self._arrays_locked(device, key)

    def _arrays_locked(self, device, key: str) -> TrieArrays:
        import torch

        cached = self._device_arrays.get(key)
        if cached is not None and cached.structure_version == self._native.structure_version:
            return cached
        if self.num_items == 0:
            raise InvalidInputError(
                "the trie holds no items: constrained decoding needs a non-empty catalog"
            )
        exported = self._native.export()
        arrays = TrieArrays(
            **{
                name: torch.from_numpy(np.asarray(exported[name])).to(device)
                for name in ("row_ptr", "child_token", "child_node", "live")
            },
            structure_version=int(self._native.structure_version),
        )
        self._device_arrays[key] = arrays
        return arrays


def _token_list(key: Hashable, sequence: Sequence[int]) -> list[int]:
    """The token ids of one item as Python ints, refusing anything that is not an integer."""
    if isinstance(sequence, (str, bytes)) or not isinstance(sequence, (Sequence, np.ndarray)):
        raise InvalidInputError(
            f"item {key!r}: token ids must be a sequence of ints, got {type(sequence).__name__}"
        )
    tokens = []
    for token in sequence:
        if isinstance(token, (bool, np.bool_)) or not isinstance(token, (int, np.integer)):
            raise InvalidInputError(f"item {key!r}: token id {token!r} is not an integer")
        tokens.append(int(token))
    return tokens
