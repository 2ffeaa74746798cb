"""Leave-one-out and chronological splits."""

from __future__ import annotations

import random

import pytest
from grlm.data import (
    Dataset,
    Item,
    chronological_split,
    leave_one_out,
    make_split,
    minionerec_split,
)
from grlm.errors import InvalidInputError
from hypothesis import given, settings
from hypothesis import strategies as st


def _dataset(seqs, times=None):
    items = {i: Item(i) for s in seqs.values() for i in s}
    return Dataset("t", items, seqs, times)


def test_leave_one_out_hand_example():
    ds = _dataset({"u": ["a", "b", "c", "d", "e"], "short": ["a", "b"], "three": ["x", "y", "z"]})
    split = leave_one_out(ds, max_history=2)
    assert split.skipped_users == 1
    assert split.train == {"u": ["a", "b", "c"], "three": ["x"]}
    v = {e.user_id: e for e in split.valid}
    t = {e.user_id: e for e in split.test}
    assert (v["u"].history, v["u"].target) == (("b", "c"), "d")
    assert (t["u"].history, t["u"].target) == (("c", "d"), "e")
    assert (t["three"].history, t["three"].target) == (("x", "y"), "z")
    assert split.summary()["skipped_users"] == 1
    assert leave_one_out(ds, max_history=None).test[0].history == ("a", "b", "c", "d")


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=30), min_size=1, max_size=8),
    st.integers(1, 25),
)
def test_leave_one_out_no_leak(seqs, max_history):
    ds = _dataset({f"u{i}": [str(x) for x in s] for i, s in enumerate(seqs)})
    if all(len(s) < 3 for s in seqs):
        with pytest.raises(InvalidInputError):
            leave_one_out(ds, max_history)
        return
    split = leave_one_out(ds, max_history)
    assert split.skipped_users == sum(1 for s in seqs if len(s) < 3)
    for v, t in zip(split.valid, split.test):
        seq = ds.sequences[v.user_id]
        train = split.train[v.user_id]
        assert train == seq[:-2]  # the valid and test positions are not in train
        assert len(v.history) <= max_history and len(t.history) <= max_history
        assert t.history[-1] == v.target  # test history includes the valid target
        assert v.history == tuple(train[-max_history:])
        assert t.target == seq[-1] and v.target == seq[-2]


def test_chronological_split_cuts_and_histories():
    ds = _dataset(
        {"a": ["1", "2", "3", "4"], "b": ["5", "6"], "c": ["7"]},
        {"a": [1, 2, 8, 9], "b": [3, 8], "c": [10]},
    )
    split = chronological_split(ds, valid_start=5, test_start=9, max_history=2)
    assert split.train == {"a": ["1", "2"], "b": ["5"]}
    assert [(e.user_id, e.history, e.target) for e in split.valid] == [
        ("a", ("1", "2"), "3"),
        ("b", ("5",), "6"),
    ]
    assert [(e.user_id, e.history, e.target) for e in split.test] == [("a", ("2", "3"), "4")]
    assert split.details["dropped_examples_without_history"] == 1  # c's only item
    assert split.skipped_users == 1


def test_chronological_fractions_and_errors():
    rng = random.Random(0)
    seqs, times = {}, {}
    for u in range(50):
        ts = sorted(rng.sample(range(10_000), 10))
        seqs[f"u{u}"] = [str(rng.randrange(20)) for _ in ts]
        times[f"u{u}"] = [float(t) for t in ts]
    split = chronological_split(_dataset(seqs, times))
    train = sum(len(s) for s in split.train.values())
    assert 0.75 < train / 500 < 0.85
    for e in split.valid + split.test:
        assert e.history  # never empty
    with pytest.raises(InvalidInputError, match="no timestamps"):
        chronological_split(_dataset({"u": ["a"]}))
    with pytest.raises(InvalidInputError):
        chronological_split(_dataset(seqs, times), valid_fraction=0.6, test_fraction=0.5)
    with pytest.raises(InvalidInputError):
        make_split(_dataset(seqs, times), "random")


def test_minionerec_split_reproduces_periods():
    ds = _dataset({"A": ["1", "2", "3", "4", "5"]}, {"A": [0, 0, 1, 1, 2]})
    split = minionerec_split(ds)
    assert split.train == {"A": ["1", "2"]}
    assert [e.target for e in split.valid] == ["3", "4"]
    assert [(e.history, e.target) for e in split.test] == [(("1", "2", "3", "4"), "5")]
