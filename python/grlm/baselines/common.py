"""Pieces shared by the classical baselines: the item index and full-ranking evaluation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from grlm.data.schema import Dataset
from grlm.data.splits import Example
from grlm.errors import InvalidInputError
from grlm.eval.ranking import DEFAULT_KS, RankAccumulator


class ItemIndex:
    """Dense integer ids for the catalog, in a fixed (sorted) order.

    ``index(item_id)`` is in ``[0, len)``; models that need a padding id use ``index + 1``.
    Sorting the ids (numerically when all are integers) makes the mapping independent of dict
    order, so runs are reproducible.
    """

    def __init__(self, item_ids: Iterable[str]):
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            raise InvalidInputError("an item index needs at least one item")
        numeric = all(i.isdigit() for i in ids)
        self.ids: list[str] = sorted(ids, key=(lambda i: (len(i), i)) if numeric else None)
        self._pos = {item_id: n for n, item_id in enumerate(self.ids)}

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> ItemIndex:
        """Every catalog item, used or not (full ranking is over the whole catalog)."""
        return cls(dataset.items)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, item_id: str) -> int:
        try:
            return self._pos[item_id]
        except KeyError:
            raise InvalidInputError(f"unknown item id {item_id!r}") from None

    def indices(self, item_ids: Iterable[str]) -> list[int]:
        return [self.index(i) for i in item_ids]


ScoreFn = Callable[[Sequence[Sequence[int]]], "np.ndarray"]


def evaluate_examples(
    score_fn: ScoreFn,
    examples: Sequence[Example],
    index: ItemIndex,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    exclude_history: bool = False,
    batch_size: int = 1024,
    progress: bool = False,
    desc: str = "eval",
    with_ranks: bool = False,
) -> dict:
    """Full-ranking metrics of a scoring model on evaluation examples.

    Parameters
    ----------
    score_fn : callable
        Takes a batch of histories (lists of item indices, oldest first) and returns scores of
        shape ``(batch, len(index))`` (numpy or torch), higher is better.
    examples : sequence of Example
    index : ItemIndex
    ks, exclude_history
        See :func:`grlm.eval.evaluate_scores`.
    batch_size : int, default 1024
    progress : bool, default False
        Show a tqdm bar.
    with_ranks : bool, default False
        Also return ``ranks``: ``{user_id: 1-based rank of the target or None}`` (the per-user
        values that bootstrap intervals and paired comparisons need).

    Returns
    -------
    dict
        The metrics of :func:`grlm.eval.metrics_from_ranks` (and ``ranks``).
    """
    if not examples:
        raise InvalidInputError("no examples to evaluate")
    acc = RankAccumulator(exclude_history=exclude_history)
    top1: set[int] = set()  # the distinct items recommended first (diversity of the lists)
    starts = range(0, len(examples), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    for start in starts:
        batch = examples[start : start + batch_size]
        histories = [index.indices(e.history) for e in batch]
        targets = index.indices(e.target for e in batch)
        scores = score_fn(histories)
        acc.add_scores(scores, targets, histories if exclude_history else None)
        top1.update(_first_items(scores, histories if exclude_history else None))
    result = acc.result(ks)
    result["distinct_top1"] = len(top1)
    if with_ranks:
        result["ranks"] = {
            e.user_id: (float(r) if np.isfinite(r) else None) for e, r in zip(examples, acc.ranks)
        }
    return result


def _first_items(scores, histories) -> list[int]:
    """The best-scored item of every row (history items excluded when ``histories`` is given;
    ties to the lower index, as ranks count them)."""
    if hasattr(scores, "detach"):  # a torch tensor
        scores = scores.detach().cpu().numpy()
    scores = np.array(scores, copy=True)
    if histories is not None:
        for row, history in enumerate(histories):
            scores[row, list(history)] = -np.inf
    return scores.argmax(axis=1).tolist()
