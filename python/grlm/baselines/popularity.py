"""Most-popular baseline: every user gets the items ranked by their count in the training
sequences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grlm.baselines.common import ItemIndex
from grlm.data.splits import Split


class PopularityRecommender:
    """Scores every item by how often it occurs in the training sequences of a split.

    Only ``split.train`` is counted, so no validation or test target leaks in. Items never seen
    in training score 0 and, with pessimistic tie-breaking, rank below all seen items.
    """

    def __init__(self, index: ItemIndex):
        self.index = index
        self.counts = np.zeros(len(index), dtype=np.float64)

    def fit(self, split: Split) -> PopularityRecommender:
        self.counts[:] = 0
        for seq in split.train.values():
            np.add.at(self.counts, self.index.indices(seq), 1.0)
        return self

    def score(self, histories: Sequence[Sequence[int]]) -> np.ndarray:
        """The same popularity row for every history."""
        return np.broadcast_to(self.counts, (len(histories), len(self.counts)))

    def top_items(self, k: int) -> list[str]:
        """The ``k`` most frequent item ids (ties by index order)."""
        order = np.argsort(-self.counts, kind="stable")[:k]
        return [self.index.ids[i] for i in order]
