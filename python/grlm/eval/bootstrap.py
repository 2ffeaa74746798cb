"""Bootstrap confidence intervals of per-user metrics, and paired differences between models.

Every metric here is a mean over users of a per-user value (Recall@K: 1 when the target ranks in
the top K; NDCG@K; reciprocal rank), so its interval comes from resampling users with
replacement (percentile bootstrap). Two models evaluated on the same users are compared by
resampling the same users for both (paired bootstrap): the interval of the difference of means
is much tighter than the two separate intervals suggest, because both models find the same
easy users easy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from grlm.errors import InvalidInputError

DEFAULT_RESAMPLES = 2000
_CHUNK = 200  # resamples drawn at once (memory: _CHUNK x users integers)


def per_user_values(ranks, metric: str) -> np.ndarray:
    """The per-user value of ``metric`` ("recall@K", "ndcg@K" or "mrr") from 1-based target
    ranks (``inf`` for a target that was not ranked)."""
    ranks = np.asarray(ranks, dtype=np.float64).reshape(-1)
    name, _, k = metric.partition("@")
    if name == "mrr" and not k:
        return np.where(np.isfinite(ranks), 1.0 / ranks, 0.0)
    if name not in ("recall", "ndcg") or not k.isdigit() or int(k) < 1:
        raise InvalidInputError(f"unknown metric {metric!r} (recall@K, ndcg@K or mrr)")
    hit = ranks <= int(k)
    if name == "recall":
        return hit.astype(np.float64)
    return np.where(hit, 1.0 / np.log2(np.where(hit, ranks, 1.0) + 1.0), 0.0)


def _resampled_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, columns) means of ``values`` (users x columns) over resampled users; the
    resamples depend on the seed and the number of users only, so columns stay paired."""
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    means = []
    for start in range(0, n_resamples, _CHUNK):
        draws = rng.integers(0, n, size=(min(_CHUNK, n_resamples - start), n))
        means.append(values[draws].mean(axis=1))
    return np.concatenate(means)


def _check(values: np.ndarray, level: float, n_resamples: int) -> None:
    if values.shape[0] == 0:
        raise InvalidInputError("no users to bootstrap")
    if not 0 < level < 1:
        raise InvalidInputError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise InvalidInputError(f"n_resamples must be at least 1, got {n_resamples}")


def bootstrap_interval(
    values, *, level: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> dict:
    """``{"mean", "low", "high"}``: the mean of per-user ``values`` and its percentile
    bootstrap interval."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    _check(values, level, n_resamples)
    means = _resampled_means(values[:, None], n_resamples, seed)[:, 0]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high)}


def paired_difference(
    values_a, values_b, *, level: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> dict:
    """``{"mean", "low", "high"}`` of mean(a) - mean(b) over the same users, resampled together
    (paired bootstrap). ``values_a[i]`` and ``values_b[i]`` must be the same user's."""
    a = np.asarray(values_a, dtype=np.float64).reshape(-1)
    b = np.asarray(values_b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise InvalidInputError(f"paired values need the same users: {a.size} vs {b.size}")
    _check(a, level, n_resamples)
    means = _resampled_means((a - b)[:, None], n_resamples, seed)[:, 0]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return {"mean": float(a.mean() - b.mean()), "low": float(low), "high": float(high)}


def intervals_from_ranks(ranks, metrics: Iterable[str], **kwargs) -> dict[str, dict]:
    """``{metric: bootstrap_interval}`` for every metric of one model's per-user ranks."""
    return {m: bootstrap_interval(per_user_values(ranks, m), **kwargs) for m in metrics}


def paired_from_ranks(
    ranks_a: Mapping[str, float], ranks_b: Mapping[str, float], metrics: Iterable[str], **kwargs
) -> dict[str, dict]:
    """``{metric: paired_difference}`` of model a minus model b, over the users both ranked
    (``{user_id: rank}``), which must be the same users."""
    if set(ranks_a) != set(ranks_b):
        raise InvalidInputError(
            f"paired comparison over different users: "
            f"{len(set(ranks_a) ^ set(ranks_b))} users differ"
        )
    users = sorted(ranks_a)
    a = np.array([ranks_a[u] for u in users], dtype=np.float64)
    b = np.array([ranks_b[u] for u in users], dtype=np.float64)
    return {
        m: paired_difference(per_user_values(a, m), per_user_values(b, m), **kwargs)
        for m in metrics
    }
