"""Structural scoring of a whole catalog on an NVIDIA GPU, many queries per launch.

The catalog's N x L term matrix is uploaded to the device once; a batch of Q generated Term IDs is
scored against every item in one launch sequence (the catalog is streamed once per group of
queries, not once per query) and each query's top-k (k <= 1024) is selected on the device. Scores
and lists are bit-identical to the CPU core's (``Grounder(device="cpu")``): the kernel runs the same
``__host__ __device__`` scoring functions and breaks ties the same way (score, then item prior,
then item index). Only items with a score above 0 are returned.

Inputs are of two kinds: Term IDs as lists of str, or an integer array of encoded ids (numpy, a
torch tensor or any DLPack producer). An array on a CUDA device is used in place, without a copy,
and the results come back as torch tensors on the same device, computed on the current torch
stream. k is at most ``grlm._core.MAX_TOP_K`` (1024); ``Grounder(device="cuda")`` serves a larger
k on its CPU scorer instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from grlm.errors import CudaError, InvalidInputError
from grlm.ground import checks
from grlm.ground.backend import cuda_compiled, cuda_device_count

PAD_TERM = 0xFFFFFFFE
_DLPACK_CUDA = 2  # kDLCUDA of DLPack's device types

__all__ = ["CudaStructuralScorer", "TopK", "cuda_compiled", "cuda_device_count"]


class TopK(NamedTuple):
    """Per-query top-k, best first.

    Attributes
    ----------
    items : array of int32, shape (Q, k)
        Catalog indices; -1 past the end of a query's results.
    scores : array of float64, shape (Q, k)
        Structural scores; 0.0 past the end.
    counts : array of int32, shape (Q,)
        Results per query (items with score > 0, at most k).

    numpy arrays for numpy/list input, torch tensors on the input's device for tensor input.
    """

    items: Any
    scores: Any
    counts: Any

    def lists(self) -> list[list[tuple[int, float]]]:
        """``[(item, score), ...]`` per query, without the padding."""
        items, scores, counts = (_to_numpy(a) for a in self)
        return [
            list(zip(items[q, :c].tolist(), scores[q, :c].tolist()))
            for q, c in enumerate(counts.tolist())
        ]


class CudaStructuralScorer:
    """Structural top-k on the GPU for the catalog of a :class:`grlm.ground.Grounder`.

    Parameters
    ----------
    grounder : grlm.ground.Grounder
        Its catalog (term matrix and tie ranks, copied to the device), scoring mode and weights
        are used; the grounder encodes Term IDs given as str (``Grounder.prepare``).
    device : int, optional
        CUDA device index; default the current device.

    Raises
    ------
    CudaError
        When the kernel is not compiled in or no GPU is visible.

    Examples
    --------
    >>> scorer = CudaStructuralScorer(grounder)                      # doctest: +SKIP
    >>> top = scorer.top_k([["skin care", "serum", "vitamin c"]], k=10)  # doctest: +SKIP
    >>> [grounder.item_ids[i] for i, _ in top.lists()[0]]            # doctest: +SKIP
    """

    def __init__(self, grounder, *, device: int | None = None):
        _check_available()
        from grlm.ground.grounder import Grounder

        if not isinstance(grounder, Grounder):
            raise TypeError(
                f"grounder must be a grlm.ground.Grounder, got {type(grounder).__name__}"
            )
        native = _native_scorer(
            grounder.term_matrix(),
            grounder.tie_rank(),
            len(grounder.vocab),
            grounder.mode,
            grounder.weights,
            device,
        )
        self._init(native, grounder)

    def _init(self, native, grounder) -> None:
        self._native = native
        self._grounder = grounder  # None for a scorer over raw arrays
        self._vocab: list[str] | None = None

    @classmethod
    def from_arrays(
        cls,
        term_matrix,
        *,
        tie_rank=None,
        vocab_size: int | None = None,
        mode: str = "positional",
        weights: Sequence[float] | None = None,
        device: int | None = None,
    ) -> CudaStructuralScorer:
        """A scorer over a raw term matrix, without a Grounder (e.g. for serving or benchmarks).

        Parameters
        ----------
        term_matrix : array of uint32, shape (N, L)
            Interned term ids per item, ``0xFFFFFFFE`` padding short Term IDs.
        tie_rank : array of uint32, shape (N,), optional
            A permutation of 0..N-1; lower wins ties. Default: the item index.
        vocab_size : int, optional
            Number of term ids; default ``max(term id) + 1``.
        mode : {"positional", "bag"}
            Bag mode needs explicit ``credits`` in :meth:`top_k` (there are no term strings).
        weights : sequence of float, optional
            Positional weights (L positive values), default
            ``grlm._core.default_position_weights(L)`` (1/(j+1)).
        """
        _check_available()
        terms = np.ascontiguousarray(term_matrix, dtype=np.uint32)
        if terms.ndim != 2:
            raise InvalidInputError(f"term_matrix must be 2-D (items, L), got shape {terms.shape}")
        if tie_rank is None:
            tie_rank = np.arange(terms.shape[0], dtype=np.uint32)
        if vocab_size is None:
            real = terms[terms < PAD_TERM]
            vocab_size = int(real.max()) + 1 if real.size else 0
        self = cls.__new__(cls)
        self._init(_native_scorer(terms, tie_rank, vocab_size, mode, weights, device), None)
        return self

    @property
    def mode(self) -> str:
        return self._native.mode

    @property
    def term_id_length(self) -> int:
        return self._native.term_id_length

    @property
    def num_items(self) -> int:
        return self._native.num_items

    @property
    def device(self) -> int:
        """CUDA device index holding the catalog."""
        return self._native.device

    def device_memory_bytes(self) -> int:
        """Device memory held (catalog, credit table, workspace)."""
        return self._native.device_memory_bytes()

    def prepare(self, queries: Sequence[Sequence[str]]):
        """Encodes Term IDs (lists of str) as the CPU core does.

        Returns
        -------
        ids : ndarray of uint32, shape (Q, L)
        credits : tuple (offsets int64 (Q+1,), terms uint32, units int32)
            Bag-mode credits (empty arrays in positional mode).
        """
        if self._grounder is None:
            raise InvalidInputError(
                "term strings need a scorer built from a Grounder; pass encoded ids instead"
            )
        return self._grounder.prepare(queries)

    def top_k(self, queries, *, k: int = 10, credits=None) -> TopK:
        """Top-k items of every query, best first.

        Parameters
        ----------
        queries : sequence of Term IDs, or an integer array of encoded ids, shape (Q, L)
            Term IDs as lists of str (scorers built from a Grounder), or an array (numpy, torch,
            any DLPack producer) of ids encoded as by the catalog (``0xFFFFFFFF`` unknown term,
            ``0xFFFFFFFE`` padding; uint32, or int32 holding the same bits, or any integer type
            holding the values). An array on a CUDA device is read in place on its device.
        k : int
            1..``grlm._core.MAX_TOP_K`` (1024).
        credits : tuple (offsets, terms, units), optional
            Bag mode with encoded ids: the queries' credits (see :meth:`prepare`). Without it, a
            scorer built from a Grounder derives them from the ids' terms, which needs every id
            to be known (an unknown term's string, and so its substring credits, is lost in
            encoding: pass the Term IDs as strings instead).

        Returns
        -------
        TopK
            numpy arrays, or torch tensors on the input's device for an input on a CUDA device.
        """
        from grlm import _core

        k = checks.checked_k(k, most=_core.MAX_TOP_K)
        if not hasattr(queries, "__dlpack__"):  # Term IDs as str
            ids, prepared = self.prepare(queries)
            return self._top_k_host(ids, k, prepared if credits is None else credits)
        device_type, _ = queries.__dlpack_device__()
        if device_type == _DLPACK_CUDA:
            return self._top_k_torch(_torch_tensor(queries), k, credits)
        return self._top_k_host(_ids_array(_host_array(queries), self.term_id_length), k, credits)

    def _top_k_host(self, ids: np.ndarray, k: int, credits) -> TopK:
        if self.mode == "bag" and credits is None:
            credits = self._credits_from_ids(ids)
        args = _numpy_credits(credits) if self.mode == "bag" else (None, None, None)
        items, scores, counts = self._native.top_k(ids, k, *args)
        return TopK(items, scores, counts)

    def _credits_from_ids(self, ids: np.ndarray):
        if self._grounder is None:
            raise InvalidInputError(
                "bag mode with encoded ids needs credits=(offsets, terms, units)"
            )
        if self._vocab is None:
            self._vocab = self._grounder.vocab
        queries = []
        for q, row in enumerate(ids.tolist()):
            terms = []
            for j, t in enumerate(row):
                if t == PAD_TERM:
                    if any(u != PAD_TERM for u in row[j:]):
                        raise InvalidInputError(f"query {q}: padding before a term: {row}")
                    break
                if t >= len(self._vocab):
                    raise InvalidInputError(
                        f"query {q}: bag mode needs the string of unknown term id {t:#x} at "
                        f"position {j}; pass the Term IDs as lists of str or pass credits"
                    )
                terms.append(self._vocab[t])
            if not terms:
                raise InvalidInputError(f"query {q} is empty (all padding)")
            queries.append(terms)
        return self.prepare(queries)[1]

    def _top_k_torch(self, ids, k: int, credits) -> TopK:
        import torch

        if ids.device.index != self.device:
            raise InvalidInputError(
                f"query tensor is on {ids.device}, the catalog on cuda:{self.device}"
            )
        if ids.dim() != 2 or ids.shape[1] != self.term_id_length:
            raise InvalidInputError(
                f"query ids must have shape (Q, {self.term_id_length}), got {tuple(ids.shape)}"
            )
        ids = _as_uint32_bits(ids)
        device = ids.device
        num_queries = ids.shape[0]
        credit_tensors: list[Any] = []
        if self.mode == "bag":
            if credits is None:
                credits = self._credits_from_ids(_ids_array(_host_array(ids), self.term_id_length))
            if not all(_is_torch_tensor(c) for c in credits):
                offsets, terms, units = _numpy_credits(credits)
                credits = (offsets, terms.view(np.int32), units)
            for value, dtype in zip(credits, (torch.int64, torch.int32, torch.int32)):
                t = torch.as_tensor(value, device=device)
                t = _as_uint32_bits(t) if dtype == torch.int32 else t.to(dtype)
                credit_tensors.append(t.contiguous())
            if credit_tensors[0].numel() != num_queries + 1:
                raise InvalidInputError("credit offsets must have Q + 1 entries")
        items = torch.empty((num_queries, k), dtype=torch.int32, device=device)
        scores = torch.empty((num_queries, k), dtype=torch.float64, device=device)
        counts = torch.empty((num_queries,), dtype=torch.int32, device=device)
        stream = torch.cuda.current_stream(device).cuda_stream
        ptrs = [t.data_ptr() for t in credit_tensors] if credit_tensors else [0, 0, 0]
        self._native.top_k_device(
            num_queries,
            k,
            ids.data_ptr(),
            items.data_ptr(),
            scores.data_ptr(),
            counts.data_ptr(),
            stream,
            *ptrs,
        )
        # Keep inputs alive until the stream has consumed them.
        for t in [ids, *credit_tensors]:
            t.record_stream(torch.cuda.current_stream(device))
        return TopK(items, scores, counts)

    def __repr__(self) -> str:
        return (
            f"CudaStructuralScorer({self.num_items} items, L={self.term_id_length}, "
            f"mode={self.mode!r}, device=cuda:{self.device})"
        )


def _check_available() -> None:
    if not cuda_compiled():
        raise CudaError(
            "grlm was built without the CUDA kernel (no nvcc at build time or GRLM_CUDA=OFF)"
        )
    if cuda_device_count() == 0:
        raise CudaError("no CUDA device is visible (no GPU or no driver)")


def _device_index(device: int | None) -> int:
    if device is None:
        return -1
    if isinstance(device, bool) or not isinstance(device, (int, np.integer)) or device < 0:
        raise InvalidInputError(f"device must be a CUDA device index >= 0, got {device!r}")
    return int(device)


def _native_scorer(terms, tie_rank, vocab_size: int, mode: str, weights, device: int | None):
    from grlm import _core

    return _core.CudaStructuralScorer(
        np.ascontiguousarray(terms, dtype=np.uint32),
        np.ascontiguousarray(tie_rank, dtype=np.uint32),
        int(vocab_size),
        mode,
        [float(w) for w in weights] if weights is not None else [],
        _device_index(device),
    )


def _is_torch_tensor(x) -> bool:
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported
    return torch is not None and isinstance(x, torch.Tensor)


def _torch_tensor(x):
    """A DLPack producer on a CUDA device as a torch tensor (no copy)."""
    if _is_torch_tensor(x):
        return x
    import torch

    return torch.from_dlpack(x)


def _as_uint32_bits(t):
    """A contiguous 32-bit integer tensor with the uint32 bit pattern (no copy when it is one)."""
    import torch

    if t.dtype == torch.int32 or getattr(torch, "uint32", None) == t.dtype:
        return t.contiguous()
    if t.dtype == torch.int64:
        # 0..2^32-1, or -1 / -2 for unknown / padding -> the same 32 bits as int32.
        return torch.where(t >= (1 << 31), t - (1 << 32), t).to(torch.int32).contiguous()
    if t.dtype in (torch.int16, torch.uint8, torch.int8):
        return t.to(torch.int32).contiguous()
    raise InvalidInputError(f"query ids must be an integer tensor, got {t.dtype}")


def _host_array(x) -> np.ndarray:
    """A host array (numpy, torch CPU tensor, DLPack producer) as numpy."""
    if isinstance(x, np.ndarray):
        return x
    if _is_torch_tensor(x):
        return x.detach().cpu().numpy()
    return np.from_dlpack(x)


def _to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if _is_torch_tensor(x) else np.asarray(x)


def _ids_array(ids: np.ndarray, length: int) -> np.ndarray:
    if ids.ndim != 2 or ids.shape[1] != length:
        raise InvalidInputError(f"query ids must have shape (Q, {length}), got {ids.shape}")
    if ids.dtype == np.uint32:
        return np.ascontiguousarray(ids)
    if ids.dtype == np.int32:
        return np.ascontiguousarray(ids).view(np.uint32)
    if not np.issubdtype(ids.dtype, np.integer):
        raise InvalidInputError(f"query ids must be integers, got {ids.dtype}")
    wide = ids.astype(np.int64)
    if ((wide < -2) | (wide > 0xFFFFFFFF)).any():
        raise InvalidInputError("query ids must be uint32 values (or -1 unknown, -2 padding)")
    return np.ascontiguousarray((wide & 0xFFFFFFFF).astype(np.uint32))


def _numpy_credits(credits):
    try:
        offsets, terms, units = credits
    except (TypeError, ValueError):
        raise InvalidInputError("credits must be a tuple (offsets, terms, units)") from None
    offsets = np.ascontiguousarray(_to_numpy(offsets), dtype=np.int64)
    terms = np.ascontiguousarray(_to_numpy(terms)).astype(np.uint32, copy=False)
    units = np.ascontiguousarray(_to_numpy(units), dtype=np.int32)
    if offsets.ndim != 1 or offsets.size == 0 or offsets[0] != 0 or (np.diff(offsets) < 0).any():
        raise InvalidInputError("credit offsets must start at 0 and be non-decreasing")
    if terms.size < offsets[-1] or units.size < offsets[-1]:
        raise InvalidInputError("credit terms/units are shorter than offsets[-1]")
    return offsets, terms, units
