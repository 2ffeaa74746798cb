"""The real datasets: shared Beauty/Industrial and the cached MovieLens-100k."""

from __future__ import annotations

import pytest
from grlm.assets import cache_dir
from grlm.data import leave_one_out, load_dataset, minionerec_split


@pytest.mark.shared_data
def test_beauty_counts(shared_data):
    ds = load_dataset(shared_data / "beauty")
    s = ds.summary()
    assert (s["users"], s["items"], s["interactions"]) == (22363, 12101, 194687)
    assert s["items_with_terms"] == 12101
    split = leave_one_out(ds)
    assert len(split.test) == 22363 and split.skipped_users == 0
    assert max(len(e.history) for e in split.test) == 20


@pytest.mark.shared_data
def test_industrial_rebuild(shared_data):
    ds = load_dataset(shared_data / "industrial")
    assert ds.num_items == 3686 and ds.num_users == 3285
    split = minionerec_split(ds)
    assert (len(split.valid), len(split.test)) == (4532, 4533)


@pytest.mark.skipif(
    not (cache_dir() / "ml-100k" / ".complete").exists(), reason="MovieLens-100k is not cached"
)
def test_movielens_100k():
    ds = load_dataset("ml-100k")
    assert (ds.name, ds.num_users, ds.num_items, ds.num_interactions) == (
        "ml-100k",
        943,
        1682,
        100000,
    )
    assert ds.items["1"].title == "Toy Story (1995)"
