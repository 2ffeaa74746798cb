"""The compiled grounder returns exactly what the plain-Python reference returns."""

from __future__ import annotations

import random

import pytest
from grlm.ground import Grounder
from grlm.ground.reference import ReferenceGrounder
from hypothesis import given, settings
from hypothesis import strategies as st

# Short words over a small alphabet: many equal terms, many substring relations, collisions.
WORDS = [
    "a",
    "ab",
    "abc",
    "b",
    "bc",
    "hair",
    "hair-mask",
    "mask",
    "water bottle",
    "Water  Bottle",
    "c",
    "ca",
    "serum",
    "se",
    "rum",
]
term = st.sampled_from(WORDS)


@st.composite
def catalogs(draw):
    length = draw(st.integers(1, 6))
    n = draw(st.integers(1, 25))
    term_ids = {f"item{i}": draw(st.lists(term, min_size=1, max_size=length)) for i in range(n)}
    priors = draw(
        st.one_of(
            st.none(),
            st.dictionaries(st.sampled_from(list(term_ids)), st.sampled_from([0.0, 1.0, 2.5])),
        )
    )
    queries = draw(
        st.lists(
            st.lists(
                st.one_of(term, st.sampled_from(["zzz", "unknown", "ha"])),
                min_size=1,
                max_size=length,
            ),
            min_size=1,
            max_size=8,
        )
    )
    # Catalog Term IDs as queries too, so direct hits (and collisions) are exercised.
    queries += [list(t) for t in list(term_ids.values())[:3]]
    return length, term_ids, priors, queries


@pytest.mark.parametrize("mode", ["positional", "bag"])
@settings(max_examples=150, deadline=None)
@given(data=catalogs(), k=st.integers(1, 30))
def test_matches_reference(mode, data, k):
    length, term_ids, priors, queries = data
    grounder = Grounder(term_ids, mode=mode, term_id_length=length, priors=priors)
    reference = ReferenceGrounder(term_ids, mode=mode, term_id_length=length, priors=priors)
    batch = grounder.ground_batch(queries, k=k, num_threads=2)
    for query, got in zip(queries, batch):
        hit, items, scores = reference.ground(query, k)
        assert got.hit == hit
        assert list(got.item_ids) == [reference.item_ids[i] for i in items]
        assert list(got.scores) == scores  # bit-identical, so ties break identically
        assert grounder.ground(query, k=k) == got


@settings(max_examples=50, deadline=None)
@given(weights=st.lists(st.floats(0.01, 10), min_size=3, max_size=3), seed=st.integers(0, 10**6))
def test_custom_positional_weights(weights, seed):
    rng = random.Random(seed)
    term_ids = {f"i{i}": [rng.choice("xyz") for _ in range(3)] for i in range(40)}
    grounder = Grounder(term_ids, weights=weights)
    reference = ReferenceGrounder(term_ids, weights=weights)
    for _ in range(10):
        query = [rng.choice("xyzw") for _ in range(3)]
        assert grounder.ground(query, k=40).scores == tuple(reference.ground(query, 40)[2])


def test_random_catalog_with_many_items_and_threads():
    rng = random.Random(7)
    vocab = [f"t{i}" for i in range(60)]
    term_ids = {f"i{i}": rng.sample(vocab, 5) for i in range(3000)}
    grounder = Grounder(term_ids, mode="bag")
    reference = ReferenceGrounder(term_ids, mode="bag")
    queries = [rng.sample(vocab + ["t", "1", "zz"], 5) for _ in range(20)]
    for query, got in zip(queries, grounder.ground_batch(queries, k=50, num_threads=3)):
        hit, items, scores = reference.ground(query, 50)
        assert (got.hit, list(got.scores)) == (hit, scores)
        assert list(got.item_ids) == [reference.item_ids[i] for i in items]
