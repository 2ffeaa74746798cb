"""Ranking and grounding metrics against hand-computed values and a plain reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from grlm.errors import InvalidInputError
from grlm.eval import (
    RankAccumulator,
    evaluate_ranked_lists,
    evaluate_scores,
    grounding_metrics,
    metrics_from_ranks,
    rank_in_list,
    ranks_from_scores,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def test_hand_computed_ranked_lists():
    lists = [
        ["a", "b", "c"],  # target b at rank 2
        ["x", "x", "x", "y", "t"],  # duplicates count once: t at rank 3
        ["p", "q"],  # shorter than K, target absent
        [],  # nothing generated
    ]
    targets = ["b", "t", "z", "z"]
    m = evaluate_ranked_lists(lists, targets, ks=(1, 2, 3, 10))
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == pytest.approx(1 / 4)
    assert m["recall@3"] == pytest.approx(2 / 4)
    assert m["recall@10"] == pytest.approx(2 / 4)
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3)) / 4)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 4)
    assert m["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 4)
    assert m["num_examples"] == 4 and m["exclude_history"] is False


def test_rank_in_list_duplicates_and_exclusion():
    assert rank_in_list(["a", "a", "b"], "b") == 2.0
    assert rank_in_list(["h", "a", "b"], "b", exclude=["h"]) == 2.0
    assert rank_in_list(["a", "b"], "b", exclude=["b"]) == math.inf
    assert rank_in_list([], "b") == math.inf


def test_exclude_history_on_lists():
    lists = [["h1", "t1"], ["h2", "t2"]]
    off = evaluate_ranked_lists(lists, ["t1", "t2"], ks=(1,))
    on = evaluate_ranked_lists(
        lists, ["t1", "t2"], ks=(1,), histories=[["h1"], ["t2"]], exclude_history=True
    )
    assert off["recall@1"] == 0.0
    assert on["recall@1"] == 0.5  # t1 moves to rank 1; t2 is in its own history: never hit
    assert on["exclude_history"] is True
    with pytest.raises(InvalidInputError):
        evaluate_ranked_lists(lists, ["t1", "t2"], exclude_history=True)


def test_scores_hand_computed_and_pessimistic_ties():
    scores = np.array(
        [
            [0.1, 0.9, 0.5, 0.3],
            [1.0, 1.0, 1.0, 0.0],  # target 1 ties with 2 others -> rank 3
            [0.0, 0.0, 0.0, 0.0],
        ]
    )  # constant scores -> last
    ranks = ranks_from_scores(scores, [2, 1, 0])
    assert ranks.tolist() == [2.0, 3.0, 4.0]
    m = evaluate_scores(scores, [2, 1, 0], ks=(2, 3))
    assert m["recall@2"] == pytest.approx(1 / 3)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 3)
    assert m["mrr"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)


def test_scores_exclude_history():
    scores = np.array([[0.9, 0.8, 0.1], [0.9, 0.8, 0.1]])
    ranks = ranks_from_scores(scores, [1, 0], histories=[[0], [0]], exclude_history=True)
    assert ranks.tolist() == [1.0, math.inf]
    assert scores[0, 0] == 0.9  # input untouched


def test_errors():
    with pytest.raises(InvalidInputError):
        ranks_from_scores(np.array([[np.nan, 1.0]]), [0])
    with pytest.raises(InvalidInputError):
        ranks_from_scores(np.zeros((2, 3)), [0, 3])
    with pytest.raises(InvalidInputError):
        metrics_from_ranks([], (5,))
    with pytest.raises(InvalidInputError):
        metrics_from_ranks([1.0], (0,))
    with pytest.raises(InvalidInputError):
        evaluate_ranked_lists([["a"]], ["a", "b"])


def _reference_rank(row, target, history, exclude):
    """Sort all items by score descending; the target goes after every tie."""
    if exclude and target in history:
        return math.inf
    candidates = [i for i in range(len(row)) if not (exclude and i in history)]
    order = sorted(candidates, key=lambda i: (-row[i], i == target))
    return float(order.index(target) + 1)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.data())
def test_scores_match_reference_and_ranked_lists(n, m, data):
    values = st.integers(0, 3).map(float)  # few values so ties are frequent
    scores = np.array([[data.draw(values) for _ in range(m)] for _ in range(n)])
    targets = [data.draw(st.integers(0, m - 1)) for _ in range(n)]
    histories = [data.draw(st.lists(st.integers(0, m - 1), max_size=4)) for _ in range(n)]
    exclude = data.draw(st.booleans())
    ranks = ranks_from_scores(scores, targets, histories=histories, exclude_history=exclude)
    expected = [
        _reference_rank(scores[i], targets[i], set(histories[i]), exclude) for i in range(n)
    ]
    assert ranks.tolist() == expected
    # The same ranking written out as item-id lists (ties: target last) gives the same metrics.
    lists = []
    for i in range(n):
        order = sorted(range(m), key=lambda j: (-scores[i, j], j == targets[i]))
        lists.append([str(j) for j in order])
    a = evaluate_scores(scores, targets, ks=(1, 3), histories=histories, exclude_history=exclude)
    b = evaluate_ranked_lists(
        lists,
        [str(t) for t in targets],
        ks=(1, 3),
        histories=[[str(h) for h in hs] for hs in histories],
        exclude_history=exclude,
    )
    assert a == pytest.approx(b)


def test_torch_scores_and_accumulator_match_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(20, 30)).astype(np.float32)
    targets = rng.integers(0, 30, size=20)
    histories = [rng.integers(0, 30, size=3).tolist() for _ in range(20)]
    for exclude in (False, True):
        expected = ranks_from_scores(scores, targets, histories=histories, exclude_history=exclude)
        got = ranks_from_scores(
            torch.from_numpy(scores), targets, histories=histories, exclude_history=exclude
        )
        assert got.tolist() == expected.tolist()
        acc = RankAccumulator(exclude_history=exclude)
        acc.add_scores(scores[:7], targets[:7], histories[:7])
        acc.add_scores(torch.from_numpy(scores[7:]), targets[7:], histories[7:])
        assert acc.result((5,)) == metrics_from_ranks(expected, (5,), exclude_history=exclude)


def test_grounding_metrics_hand_computed():
    hits = [["direct", "structural", "none"], ["none", "direct"], ["structural"]]
    m = grounding_metrics(hits, ks=(1, 2, 3))
    # top-1: direct, none, structural -> 2/3 valid, 1/2 of grounded direct
    assert m["vr@1"] == pytest.approx(2 / 3)
    assert m["dhr@1"] == pytest.approx(1 / 2)
    assert m["direct_rate@1"] == pytest.approx(1 / 3)
    # top-3: 6 generated, 4 grounded, 2 direct
    assert m["generated@3"] == 6
    assert m["vr@3"] == pytest.approx(4 / 6)
    assert m["dhr@3"] == pytest.approx(2 / 4)
    assert grounding_metrics([["none"]], ks=(1,))["dhr@1"] == 0.0
    with pytest.raises(InvalidInputError):
        grounding_metrics([["exact"]])
    with pytest.raises(InvalidInputError):
        grounding_metrics([])
