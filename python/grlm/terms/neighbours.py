"""Nearest neighbours of each item by cosine similarity, the item itself excluded: faiss when it
is installed, else an exact numpy search (machines without faiss, e.g. a bare GPU image)."""

from __future__ import annotations

import numpy as np

from grlm.errors import InvalidInputError

__all__ = ["nearest_neighbours", "nearest_neighbours_reference"]

# Above this many items "auto" switches from exact search to an IVF index.
IVF_THRESHOLD = 200_000
# Query rows per block of the numpy search: a block's similarity row is n float32 each.
EXACT_BLOCK_ROWS = 1024


def _check(vectors: np.ndarray, k: int) -> np.ndarray:
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
        raise InvalidInputError(f"vectors must be a non-empty 2-D array, got shape {vectors.shape}")
    if not np.all(np.isfinite(vectors)):
        raise InvalidInputError("vectors hold NaN or infinite values")
    if k < 0:
        raise InvalidInputError(f"k must be >= 0, got {k}")
    if k > vectors.shape[0] - 1:
        raise InvalidInputError(
            f"k={k} neighbours asked for, but only {vectors.shape[0] - 1} other items exist"
        )
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def _drop_self(found: np.ndarray, k: int) -> np.ndarray:
    n = found.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    for row in range(n):
        others = [j for j in found[row] if j != row and j >= 0]
        if len(others) < k:
            raise InvalidInputError(
                f"the index returned only {len(others)} neighbours for row {row}"
            )
        out[row] = others[:k]
    return out


def _exact_neighbours(unit: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k by inner product of unit rows, in row blocks, without faiss.

    Same order as faiss's flat index and the reference: most similar first, equal scores by
    lower index (a stable sort of the negated scores).
    """
    n = unit.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, EXACT_BLOCK_ROWS):
        stop = min(start + EXACT_BLOCK_ROWS, n)
        similarity = unit[start:stop] @ unit.T
        similarity[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        out[start:stop] = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return out


def nearest_neighbours_reference(vectors: np.ndarray, k: int = 5) -> np.ndarray:
    """Brute-force numpy version of :func:`nearest_neighbours` (the tests' oracle)."""
    unit = _check(vectors, k)
    similarity = unit.astype(np.float64) @ unit.astype(np.float64).T
    np.fill_diagonal(similarity, -np.inf)
    # Stable sort on (-similarity) so equal scores keep the lower index first, like faiss.
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k].astype(np.int64)


def nearest_neighbours(
    vectors: np.ndarray, k: int = 5, *, index: str = "auto", device: str = "auto", nprobe: int = 16
) -> np.ndarray:
    """The k most similar rows of each row by cosine similarity, itself excluded.

    Parameters
    ----------
    vectors : ndarray of shape (n, d)
        Item embeddings (normalized here, so any scale works).
    k : int
        Neighbours per item, at most n - 1.
    index : {"auto", "flat", "ivf"}, keyword-only
        ``"flat"`` is exact inner-product search; ``"ivf"`` an inverted-file index (approximate,
        for large catalogs; needs faiss); ``"auto"`` is exact below 200,000 items, and always
        exact (numpy, O(n^2) time) when faiss is not installed.
    device : {"auto", "cpu", "cuda"}, keyword-only
        ``"auto"`` uses faiss's GPU index when faiss was built with GPU support and sees a GPU;
        the numpy search runs on the CPU.
    nprobe : int, keyword-only
        Lists visited per query by the IVF index.

    Returns
    -------
    ndarray of int64, shape (n, k)
        Row indices of the neighbours, most similar first.
    """
    unit = _check(vectors, k)
    n, d = unit.shape
    if k == 0:
        return np.empty((n, 0), dtype=np.int64)
    if index not in ("auto", "flat", "ivf"):
        raise InvalidInputError(f"index must be 'auto', 'flat' or 'ivf', got {index!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise InvalidInputError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is None:
        if index == "ivf" or device == "cuda":
            raise InvalidInputError(
                f"index={index!r}, device={device!r} need faiss, which is "
                "not installed (the exact numpy search runs with "
                "index='auto' or 'flat' on the CPU)"
            )
        return _exact_neighbours(unit, k)
    use_ivf = index == "ivf" or (index == "auto" and n >= IVF_THRESHOLD)
    if use_ivf:
        lists = max(1, min(int(4 * np.sqrt(n)), n // 39))
        built = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
        built.train(unit)
        built.nprobe = min(nprobe, lists)
    else:
        built = faiss.IndexFlatIP(d)
    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if device == "cuda" and gpus == 0:
        raise InvalidInputError("device='cuda' but this faiss has no GPU support or sees no GPU")
    if device in ("auto", "cuda") and gpus > 0:
        built = faiss.index_cpu_to_all_gpus(built)
    built.add(unit)
    # One extra hit makes room for the item itself; ties may put it after an identical item,
    # so _drop_self removes it wherever it is (and the (k+1)-th hit when it is absent).
    _, found = built.search(unit, min(k + 1, n))
    return _drop_self(found, k)
