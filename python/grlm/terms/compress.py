"""Semantic space compression: fold the term vocabulary onto K core terms by k-means."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grlm.errors import InvalidInputError
from grlm.terms.collisions import find_collisions

__all__ = ["compress_vocabulary"]


def compress_vocabulary(
    term_ids: Mapping[str, Sequence[str]],
    k: int,
    *,
    encoder,
    iterations: int = 25,
    seed: int = 0,
    candidates: int = 8,
) -> tuple[dict[str, tuple[str, ...]], dict[str, Any]]:
    """Replaces every term by its nearest of K core terms.

    The distinct terms are embedded and clustered by spherical k-means (faiss); each cluster's
    core term is the vocabulary term closest to its centroid, so core terms are real terms. A
    term maps to its most similar core term; when that core term is already in the same Term ID (two
    terms of one item folded together), the term takes the nearest other core term not yet in
    it, so every Term ID keeps distinct terms.

    Parameters
    ----------
    term_ids : mapping of item id to terms
    k : int
        Number of core terms, 1 <= k <= vocabulary size.
    encoder : object with ``encode(texts) -> ndarray``
        E.g. :class:`grlm.terms.embed.Embedder`.
    iterations, seed : int, keyword-only
        k-means iterations and seed.
    candidates : int, keyword-only
        Nearest core terms looked at per term when the first one is already used.

    Returns
    -------
    (dict, dict)
        The compressed Term IDs and a report (vocabulary and collisions before/after).
    """
    import faiss

    vocabulary = sorted({t for terms in term_ids.values() for t in terms})
    if not vocabulary:
        raise InvalidInputError("no terms to compress")
    if not 1 <= k <= len(vocabulary):
        raise InvalidInputError(
            f"k must be between 1 and the vocabulary size {len(vocabulary)}, got {k}"
        )
    vectors = np.ascontiguousarray(encoder.encode(vocabulary), dtype=np.float32)
    faiss.normalize_L2(vectors)
    dim = vectors.shape[1]
    kmeans = faiss.Kmeans(
        dim,
        k,
        niter=iterations,
        seed=seed,
        spherical=True,
        min_points_per_centroid=1,
        max_points_per_centroid=1 << 20,
    )
    kmeans.train(vectors)
    # Core term of a cluster: the vocabulary term most similar to its centroid.
    term_index = faiss.IndexFlatIP(dim)
    term_index.add(vectors)
    _, nearest_term = term_index.search(np.ascontiguousarray(kmeans.centroids, np.float32), 1)
    core_terms = [vocabulary[i] for i in nearest_term[:, 0]]
    # Unique core vectors: two centroids may pick the same term.
    unique_cores = sorted(set(core_terms))
    row_of = {term: row for row, term in enumerate(vocabulary)}
    core_vectors = vectors[[row_of[t] for t in unique_cores]]
    core_index = faiss.IndexFlatIP(dim)
    core_index.add(np.ascontiguousarray(core_vectors))
    depth = min(candidates, len(unique_cores))
    _, ranked = core_index.search(vectors, depth)
    options = {term: [unique_cores[j] for j in ranked[i]] for i, term in enumerate(vocabulary)}

    compressed: dict[str, tuple[str, ...]] = {}
    kept_original = 0
    for item_id, terms in term_ids.items():
        new_terms: list[str] = []
        for term in terms:
            choice = next((c for c in options[term] if c not in new_terms), None)
            if choice is None:
                choice = term  # every nearby core term is used: keep the term itself
                kept_original += 1
            new_terms.append(choice)
        compressed[item_id] = tuple(new_terms)
    before = find_collisions(term_ids)
    after = find_collisions(compressed)
    vocabulary_after = {t for terms in compressed.values() for t in terms}
    report = {
        "k": k,
        "vocabulary_before": len(vocabulary),
        "core_terms": len(unique_cores),
        "vocabulary_after": len(vocabulary_after),
        "terms_kept_uncompressed": kept_original,
        "distinct_term_ids_before": len({tuple(t) for t in term_ids.values()}),
        "distinct_term_ids_after": len(set(compressed.values())),
        "items_in_collisions_before": sum(len(g) for g in before),
        "items_in_collisions_after": sum(len(g) for g in after),
        "mapping_examples": [
            (t, options[t][0]) for t in vocabulary[:: max(1, len(vocabulary) // 20)]
        ][:20],
    }
    return compressed, report
