"""Grounding over the GRLM authors' own Beauty Term IDs (../shared/data/beauty)."""

from __future__ import annotations

import random

import pytest
from grlm.ground import Grounder
from grlm.ground.reference import ReferenceGrounder
from grlm.term_ids import load_term_ids

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def beauty(shared_data):
    return load_term_ids(shared_data / "beauty" / "item_id2tid.json")


@pytest.mark.parametrize("mode", ["positional", "bag"])
def test_every_catalog_term_id_grounds_directly_to_its_items(beauty, mode):
    grounder = Grounder(beauty, mode=mode)
    groups: dict[tuple[str, ...], list[str]] = {}
    for item_id, terms in beauty.items():
        groups.setdefault(tuple(t.strip().lower() for t in terms), []).append(item_id)
    items = list(beauty)
    batch = grounder.ground_batch([beauty[i] for i in items], k=50)
    assert set(batch.hit_types) == {"direct"}
    for item_id, result in zip(items, batch):
        key = tuple(t.strip().lower() for t in beauty[item_id])
        assert sorted(result.item_ids) == sorted(groups[key])
    assert sum(len(g) > 1 for g in groups.values()) > 0  # the data does have collisions


@pytest.mark.parametrize("mode", ["positional", "bag"])
def test_perturbed_term_ids_ground_like_the_reference(beauty, mode):
    grounder = Grounder(beauty, mode=mode)
    reference = ReferenceGrounder(beauty, mode=mode)
    rng = random.Random(0)
    vocab = reference.vocab
    items = rng.sample(list(beauty), 25)
    queries = []
    for item_id in items:
        query = list(beauty[item_id])
        query[rng.randrange(len(query))] = rng.choice(vocab + ["zz-unknown"])
        queries.append(query)
    for query, got in zip(queries, grounder.ground_batch(queries, k=10)):
        hit, indices, scores = reference.ground(query, 10)
        assert got.hit == hit
        assert list(got.item_ids) == [reference.item_ids[i] for i in indices]
        assert list(got.scores) == scores
