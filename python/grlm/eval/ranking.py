"""Full-ranking metrics with one target per example: Recall@K (= HR@K), NDCG@K and MRR.

Two entry points compute the same numbers:

* :func:`evaluate_scores` — from a score matrix over the whole catalog (numpy or torch; used by
  the classical baselines), vectorised and chunk-friendly through :class:`RankAccumulator`;
* :func:`evaluate_ranked_lists` — from ranked item-id lists (used by generative models). A list
  may be shorter than K and may repeat an item: repeats count once (at their first position).

Conventions
-----------
* Ranks are 1-based. With one target, Recall@K = HR@K = [rank <= K], NDCG@K = 1/log2(rank + 1)
  when rank <= K, else 0, and MRR = mean of 1/rank (0 when the target is absent from a ranked
  list, so for lists of length L it is MRR@L).
* Ties in a score matrix are broken pessimistically: every other item scoring exactly the
  target's score ranks ahead of it, so a constant model gets no credit and the result never
  depends on item order.
* ``exclude_history`` (off by default, as in the GRLM paper) removes the user's history items
  from the ranking before the target is ranked; a target that is itself in the history can then
  never be hit. Every result dict says which setting produced it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from grlm.errors import InvalidInputError

DEFAULT_KS = (1, 5, 10, 20)
MISSING_RANK = np.inf  # rank of a target that is absent from a list or excluded


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks or any(k < 1 for k in ks):
        raise InvalidInputError(f"ks must be a non-empty sequence of positive integers, got {ks}")
    return ks


def metrics_from_ranks(
    ranks, ks: Iterable[int] = DEFAULT_KS, *, exclude_history: bool = False
) -> dict:
    """Recall@K, NDCG@K and MRR from the 1-based ranks of the targets.

    Parameters
    ----------
    ranks : array-like of float
        One rank per example; ``inf`` for a target that was not ranked.
    ks : iterable of int
    exclude_history : bool
        Recorded in the result only (says how the ranks were made).

    Returns
    -------
    dict
        ``recall@K``, ``ndcg@K`` per K, ``mrr``, ``num_examples``, ``exclude_history``.
    """
    ks = _check_ks(ks)
    ranks = np.asarray(ranks, dtype=np.float64).reshape(-1)
    if ranks.size == 0:
        raise InvalidInputError("no examples to evaluate")
    if np.isnan(ranks).any() or (ranks < 1).any():
        raise InvalidInputError("ranks must be >= 1 (or inf for a missing target)")
    out: dict = {}
    found = np.isfinite(ranks)
    gains = np.zeros_like(ranks)
    gains[found] = 1.0 / np.log2(ranks[found] + 1.0)
    for k in ks:
        hit = ranks <= k
        out[f"recall@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, gains, 0.0).mean())
    out["mrr"] = float(np.where(found, 1.0 / np.where(found, ranks, 1.0), 0.0).mean())
    out["num_examples"] = int(ranks.size)
    out["exclude_history"] = bool(exclude_history)
    return out


def rank_in_list(ranked: Sequence[str], target: str, exclude: Iterable[str] = ()) -> float:
    """1-based rank of ``target`` in ``ranked`` after dropping repeats and ``exclude`` items.

    Returns
    -------
    float
        The rank, or ``inf`` when the target is absent or excluded.
    """
    excluded = set(exclude)
    if target in excluded:
        return MISSING_RANK
    seen: set[str] = set()
    rank = 0
    for item in ranked:
        if item in seen or item in excluded:
            continue
        seen.add(item)
        rank += 1
        if item == target:
            return float(rank)
    return MISSING_RANK


def evaluate_ranked_lists(
    ranked_lists: Sequence[Sequence[str]],
    targets: Sequence[str],
    *,
    ks: Iterable[int] = DEFAULT_KS,
    histories: Sequence[Iterable[str]] | None = None,
    exclude_history: bool = False,
) -> dict:
    """Metrics from one ranked list of item ids per example (best first).

    Parameters
    ----------
    ranked_lists : sequence of sequences of str
        May be shorter than K and may hold repeats (counted once, at the first position).
    targets : sequence of str
        One target item id per list.
    ks : iterable of int, default (1, 5, 10, 20)
    histories : sequence of iterables of str, optional
        Needed when ``exclude_history`` is true.
    exclude_history : bool, default False
        Drop history items from each list before ranking.

    Returns
    -------
    dict
        See :func:`metrics_from_ranks`.
    """
    if len(ranked_lists) != len(targets):
        raise InvalidInputError(f"{len(ranked_lists)} ranked lists for {len(targets)} targets")
    if exclude_history and (histories is None or len(histories) != len(targets)):
        raise InvalidInputError("exclude_history=True needs one history per target")
    ranks = [
        rank_in_list(ranked, target, histories[i] if exclude_history else ())
        for i, (ranked, target) in enumerate(zip(ranked_lists, targets))
    ]
    return metrics_from_ranks(ranks, ks, exclude_history=exclude_history)


def ranks_from_scores(
    scores,
    targets,
    *,
    histories: Sequence[Sequence[int]] | None = None,
    exclude_history: bool = False,
) -> np.ndarray:
    """1-based pessimistic ranks of the targets in a score matrix (higher score = better).

    Parameters
    ----------
    scores : numpy.ndarray or torch.Tensor, shape (n, num_items)
        Not modified. NaN scores are an error.
    targets : array-like of int, shape (n,)
        Column index of each row's target.
    histories : sequence of sequences of int, optional
        Column indices of each row's history items (needed for ``exclude_history``).
    exclude_history : bool, default False
        Give history columns ``-inf`` before ranking; a target in its own history gets rank
        ``inf``.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    is_torch = type(scores).__module__.startswith("torch")
    if is_torch:
        import torch

        scores = scores.detach()
        if scores.dtype not in (torch.float32, torch.float64):
            scores = scores.float()
        targets_t = torch.as_tensor(np.asarray(targets, dtype=np.int64), device=scores.device)
    else:
        scores = np.asarray(scores)
        if not np.issubdtype(scores.dtype, np.floating):
            scores = scores.astype(np.float64)
        targets_t = np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2:
        raise InvalidInputError(
            f"scores must be 2-D (examples x items), got shape {tuple(scores.shape)}"
        )
    n, num_items = scores.shape
    if targets_t.shape != (n,):
        raise InvalidInputError(f"{tuple(targets_t.shape)} targets for {n} score rows")
    if n and (int(targets_t.min()) < 0 or int(targets_t.max()) >= num_items):
        raise InvalidInputError(f"target index out of range [0, {num_items})")
    has_nan = torch.isnan(scores).any() if is_torch else np.isnan(scores).any()
    if bool(has_nan):
        raise InvalidInputError("scores contain NaN")
    excluded_target = np.zeros(n, dtype=bool)
    if exclude_history:
        if histories is None or len(histories) != n:
            raise InvalidInputError("exclude_history=True needs one history per score row")
        rows = np.repeat(np.arange(n), [len(h) for h in histories])
        cols = np.fromiter((c for h in histories for c in h), dtype=np.int64, count=rows.size)
        if cols.size and (cols.min() < 0 or cols.max() >= num_items):
            raise InvalidInputError(f"history index out of range [0, {num_items})")
        targets_np = np.asarray(targets, dtype=np.int64)
        excluded_target[rows[cols == targets_np[rows]]] = True
        scores = scores.clone() if is_torch else scores.copy()
        if is_torch:
            import torch

            scores[
                torch.as_tensor(rows, device=scores.device),
                torch.as_tensor(cols, device=scores.device),
            ] = -math.inf
        else:
            scores[rows, cols] = -np.inf
    if is_torch:
        target_scores = scores.gather(1, targets_t.view(-1, 1))
        ahead = (scores >= target_scores).sum(dim=1).cpu().numpy()
    else:
        target_scores = scores[np.arange(n), targets_t][:, None]
        ahead = (scores >= target_scores).sum(axis=1)
    ranks = ahead.astype(np.float64)  # counts the target itself, so this is the 1-based rank
    ranks[excluded_target] = MISSING_RANK
    return ranks


def evaluate_scores(
    scores,
    targets,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    histories: Sequence[Sequence[int]] | None = None,
    exclude_history: bool = False,
) -> dict:
    """Metrics from a full score matrix; see :func:`ranks_from_scores` and
    :func:`metrics_from_ranks`."""
    ranks = ranks_from_scores(scores, targets, histories=histories, exclude_history=exclude_history)
    return metrics_from_ranks(ranks, ks, exclude_history=exclude_history)


class RankAccumulator:
    """Collects target ranks chunk by chunk (so the full score matrix never has to exist) and
    turns them into metrics at the end.

    Example
    -------
    >>> acc = RankAccumulator(exclude_history=False)
    >>> for scores, targets in batches:                # doctest: +SKIP
    ...     acc.add_scores(scores, targets)
    >>> acc.result(ks=(5, 10))                          # doctest: +SKIP
    """

    def __init__(self, *, exclude_history: bool = False):
        self.exclude_history = exclude_history
        self._ranks: list[np.ndarray] = []

    def add_scores(
        self, scores, targets, histories: Sequence[Sequence[int]] | None = None
    ) -> np.ndarray:
        """Ranks one chunk of rows and keeps the ranks; returns them."""
        ranks = ranks_from_scores(
            scores, targets, histories=histories, exclude_history=self.exclude_history
        )
        self._ranks.append(ranks)
        return ranks

    def add_ranks(self, ranks) -> None:
        """Adds already computed ranks."""
        self._ranks.append(np.asarray(ranks, dtype=np.float64).reshape(-1))

    @property
    def ranks(self) -> np.ndarray:
        return np.concatenate(self._ranks) if self._ranks else np.zeros(0)

    def result(self, ks: Iterable[int] = DEFAULT_KS) -> dict:
        """Metrics over every rank added so far."""
        return metrics_from_ranks(self.ranks, ks, exclude_history=self.exclude_history)
