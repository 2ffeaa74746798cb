"""Bootstrap intervals and paired differences of per-user metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from grlm.errors import InvalidInputError
from grlm.eval import metrics_from_ranks
from grlm.eval.bootstrap import (
    bootstrap_interval,
    intervals_from_ranks,
    paired_difference,
    paired_from_ranks,
    per_user_values,
)
from hypothesis import given, settings
from hypothesis import strategies as st

ranks_strategy = st.lists(
    st.one_of(st.integers(1, 40).map(float), st.just(math.inf)), min_size=1, max_size=60
)


@settings(max_examples=50, deadline=None)
@given(ranks_strategy)
def test_per_user_values_average_to_the_metrics(ranks):
    expected = metrics_from_ranks(ranks, (1, 5, 10, 20))
    for metric in ("recall@1", "recall@5", "ndcg@10", "ndcg@20", "mrr"):
        assert per_user_values(ranks, metric).mean() == pytest.approx(expected[metric])


def test_interval_of_a_proportion_matches_the_normal_approximation():
    rng = np.random.default_rng(1)
    values = (rng.random(4000) < 0.08).astype(float)
    ci = bootstrap_interval(values, seed=3)
    half = 1.96 * math.sqrt(values.mean() * (1 - values.mean()) / values.size)
    assert ci["low"] < ci["mean"] < ci["high"]
    assert ci["mean"] - ci["low"] == pytest.approx(half, rel=0.15)
    assert ci["high"] - ci["mean"] == pytest.approx(half, rel=0.15)
    assert bootstrap_interval(values, seed=3) == ci  # reproducible for a seed
    assert bootstrap_interval(np.ones(50)) == {"mean": 1.0, "low": 1.0, "high": 1.0}
    wide = bootstrap_interval(values[:200], seed=3)
    assert wide["high"] - wide["low"] > ci["high"] - ci["low"]


def test_paired_difference_is_tighter_than_separate_intervals():
    rng = np.random.default_rng(0)
    easy = rng.random(3000) < 0.1
    a = easy.astype(float)  # model a hits the easy users
    b = (easy & (rng.random(3000) < 0.9)).astype(float)  # b hits 90% of those
    d = paired_difference(a, b, seed=1)
    assert d["mean"] == pytest.approx(a.mean() - b.mean())
    assert 0 < d["low"] < d["mean"] < d["high"]
    ca, cb = bootstrap_interval(a, seed=1), bootstrap_interval(b, seed=1)
    assert d["high"] - d["low"] < (ca["high"] - ca["low"])
    assert cb["high"] > ca["low"]  # the separate intervals overlap; the paired one excludes 0
    same = paired_difference(a, a)
    assert same == {"mean": 0.0, "low": 0.0, "high": 0.0}


def test_paired_from_ranks_pairs_users_by_id():
    a = {"u1": 1.0, "u2": math.inf, "u3": 3.0}
    b = {"u3": 3.0, "u1": 1.0, "u2": math.inf}  # same users, other order
    out = paired_from_ranks(a, b, ["recall@5", "ndcg@10"])
    assert out["recall@5"] == {"mean": 0.0, "low": 0.0, "high": 0.0}
    assert intervals_from_ranks([1.0, math.inf], ["recall@1"])["recall@1"]["mean"] == 0.5
    with pytest.raises(InvalidInputError, match="different users"):
        paired_from_ranks(a, {"u1": 1.0}, ["recall@5"])


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidInputError, match="unknown metric"):
        per_user_values([1.0], "hit@5")
    with pytest.raises(InvalidInputError, match="unknown metric"):
        per_user_values([1.0], "recall@0")
    with pytest.raises(InvalidInputError, match="no users"):
        bootstrap_interval([])
    with pytest.raises(InvalidInputError, match="level"):
        bootstrap_interval([1.0], level=1.5)
    with pytest.raises(InvalidInputError, match="same users"):
        paired_difference([1.0, 0.0], [1.0])
