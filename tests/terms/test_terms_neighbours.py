"""faiss neighbours and the numpy fallback (no faiss) against the numpy reference."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from grlm.errors import InvalidInputError
from grlm.terms import neighbours as neighbours_module
from grlm.terms.neighbours import nearest_neighbours, nearest_neighbours_reference
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 60), st.integers(1, 16), st.integers(0, 2**31 - 1), st.data())
def test_flat_matches_reference(n, d, seed, data):
    k = data.draw(st.integers(0, min(n - 1, 8)))
    vectors = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    vectors *= np.random.default_rng(seed + 1).uniform(0.1, 10, size=(n, 1))  # scale is ignored
    found = nearest_neighbours(vectors, k, index="flat")
    expected = nearest_neighbours_reference(vectors, k)
    assert found.shape == (n, k)
    assert not (found == np.arange(n)[:, None]).any()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    # Equal-similarity ties may be ordered differently; the similarities must agree.
    sim_found = np.take_along_axis(unit @ unit.T, found, axis=1)
    sim_expected = np.take_along_axis(unit @ unit.T, expected, axis=1)
    np.testing.assert_allclose(sim_found, sim_expected, atol=1e-5)


def test_self_excluded_even_with_duplicates():
    vectors = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32)
    found = nearest_neighbours(vectors, 2)
    for row in range(4):
        assert row not in found[row]
    assert set(found[0]) == {1, 2}


def test_ivf_finds_true_neighbours_on_clustered_data():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    vectors = (np.repeat(centres, 50, axis=0) + 0.01 * rng.normal(size=(1000, 16))).astype(
        np.float32
    )
    found = nearest_neighbours(vectors, 5, index="ivf", nprobe=64)
    expected = nearest_neighbours_reference(vectors, 5)
    same_cluster = (found // 50) == (np.arange(1000)[:, None] // 50)
    assert same_cluster.mean() > 0.99
    assert found.shape == expected.shape


@pytest.mark.parametrize(
    "vectors, k, message",
    [
        (np.zeros((0, 3)), 1, "non-empty"),
        (np.ones((3,)), 1, "2-D"),
        (np.ones((3, 2)), 3, "only 2 other items"),
        (np.ones((3, 2)), -1, "k must be"),
        (np.array([[1.0, np.nan], [1.0, 0.0]]), 1, "NaN"),
    ],
)
def test_bad_inputs(vectors, k, message):
    with pytest.raises(InvalidInputError, match=message):
        nearest_neighbours(vectors, k)


@pytest.fixture
def no_faiss(monkeypatch):
    """``import faiss`` raises ImportError, as on a machine without faiss."""
    monkeypatch.setitem(sys.modules, "faiss", None)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 60), st.integers(4, 16), st.integers(0, 2**31 - 1), st.data())
def test_fallback_matches_faiss(n, d, seed, data):
    k = data.draw(st.integers(0, min(n - 1, 8)))
    vectors = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    with_faiss = nearest_neighbours(vectors, k, index="flat", device="cpu")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "faiss", None)
        without = nearest_neighbours(vectors, k)
    # Random vectors in 4+ dimensions have no ties: both exact searches agree index for index.
    np.testing.assert_array_equal(without, with_faiss)
    np.testing.assert_array_equal(without, nearest_neighbours_reference(vectors, k))


def test_fallback_runs_without_faiss_in_blocks(no_faiss, monkeypatch):
    with pytest.raises(ImportError):
        import faiss  # noqa: F401
    monkeypatch.setattr(neighbours_module, "EXACT_BLOCK_ROWS", 7)
    vectors = np.random.default_rng(3).normal(size=(50, 12)).astype(np.float32)
    found = nearest_neighbours(vectors, 5)
    np.testing.assert_array_equal(found, nearest_neighbours_reference(vectors, 5))


def test_fallback_ties_by_lower_index(no_faiss):
    vectors = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [1, 0]], dtype=np.float32)
    found = nearest_neighbours(vectors, 3)
    np.testing.assert_array_equal(found, nearest_neighbours_reference(vectors, 3))
    assert found[0].tolist() == [1, 2, 4]
    assert found[4].tolist() == [0, 1, 2]


@pytest.mark.parametrize("options", [{"index": "ivf"}, {"device": "cuda"}])
def test_fallback_refuses_what_needs_faiss(no_faiss, options):
    with pytest.raises(InvalidInputError, match="need faiss"):
        nearest_neighbours(np.eye(4, dtype=np.float32), 2, **options)
