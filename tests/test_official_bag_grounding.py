"""Bag mode against a literal transcription of the official GRLM grounding function.

The official code keys its catalog by the comma-joined Term ID and indexes each key under every
term of its Term ID once per occurrence (a list append per term, so a key whose Term ID repeats a
term is listed twice under it). A generated Term ID that is a key is a direct hit; otherwise every
generated term at position i is compared with every indexed term (1.0 equal, 0.8 when one
contains the other) and adds ``similarity / (i + 1)`` to each entry of that term's key list. The
transcription below keeps that loop as it is (floats, vocabulary scan) and is checked against the
compiled core and the Python reference on random catalogs whose Term IDs repeat terms.
"""

from __future__ import annotations

import random
from collections import defaultdict
from itertools import pairwise

import pytest
from grlm.ground import Grounder
from grlm.ground.reference import ReferenceGrounder
from grlm.term_ids import load_term_ids

# Words with substring relations, so partial credits and repeats interact.
WORDS = [
    "hair",
    "hair-mask",
    "mask",
    "air",
    "serum",
    "se",
    "rum",
    "oil",
    "face-oil",
    "gel",
    "cream",
    "hand-cream",
    "a",
    "ab",
    "abc",
]
UNKNOWN = ["zzz", "masks", "erum", "hand", "c"]


def official_grounding(key_items: dict[str, list[str]], generated: list[str]):
    """The official function, transcribed: (direct items or None, score of every credited key)."""
    keys_of_word: dict[str, list[str]] = defaultdict(list)
    for key in key_items:
        words = [w.strip().lower() for w in key.split(",")]
        for w in words:  # once per occurrence: a repeated term lists its key again
            keys_of_word[w].append(key)
    joined = ",".join(generated)
    if joined in key_items:
        return list(key_items[joined]), {}
    score: dict[str, float] = defaultdict(float)
    for i, g in enumerate(generated):
        weight = 1.0 / (i + 1)
        for word, keys in keys_of_word.items():
            similarity = 0.0
            if g == word:
                similarity = 1.0
            elif g in word or word in g:
                similarity = 0.8
            if similarity > 0:
                for key in keys:
                    score[key] += similarity * weight
    return None, dict(score)


def random_catalog(rng: random.Random, n: int, length: int) -> dict[str, list[str]]:
    term_ids = {}
    for i in range(n):
        terms = [rng.choice(WORDS) for _ in range(rng.randint(1, length))]
        if rng.random() < 0.4:  # a repeated term, as in 10 of the 12,101 Beauty Term IDs
            terms[rng.randrange(len(terms))] = rng.choice(terms)
        term_ids[f"item{i}"] = terms
    return term_ids


def random_query(rng: random.Random, term_ids, length: int) -> list[str]:
    query = list(rng.choice(list(term_ids.values())))
    for j in range(len(query)):
        r = rng.random()
        if r < 0.4:
            query[j] = rng.choice(WORDS)
        elif r < 0.5:
            query[j] = rng.choice(UNKNOWN)
    if rng.random() < 0.3:
        query.append(rng.choice(query))  # a repeated generated term
    return query[:length]


def check_against_official(term_ids: dict[str, list[str]], queries, grounders) -> int:
    """Asserts every grounder's result equals the official one; returns the structural count."""
    key_items: dict[str, list[str]] = defaultdict(list)
    key_of_item = {}
    for item, terms in term_ids.items():
        key_of_item[item] = ",".join(terms)
        key_items[key_of_item[item]].append(item)
    structural = 0
    for query in queries:
        direct, official = official_grounding(key_items, query)
        wanted = {
            item: official[key_of_item[item]] for item in term_ids if key_of_item[item] in official
        }
        for grounder in grounders:
            hit, items, scores = grounder(query)
            if direct is not None:
                assert hit == "direct" and sorted(items) == sorted(direct), query
                continue
            assert hit == ("structural" if wanted else "none"), query
            assert set(items) == set(wanted), query  # every credited item, no other
            for item, score in zip(items, scores):
                assert score == pytest.approx(wanted[item], abs=1e-9), (query, item)
            ranked = [wanted[item] for item in items]
            assert all(a >= b - 1e-9 for a, b in pairwise(ranked)), query
        structural += direct is None
    return structural


@pytest.mark.parametrize("seed", range(6))
def test_bag_mode_equals_the_official_function_on_repeated_terms(seed):
    rng = random.Random(seed)
    length = rng.randint(3, 6)
    term_ids = random_catalog(rng, rng.randint(20, 150), length)
    queries = [random_query(rng, term_ids, length) for _ in range(60)]
    grounder = Grounder(term_ids, mode="bag", term_id_length=length)
    reference = ReferenceGrounder(term_ids, mode="bag", term_id_length=length)
    n = len(term_ids)

    def core(query):
        result = grounder.ground(query, k=n)
        return result.hit, list(result.item_ids), list(result.scores)

    def oracle(query):
        hit, indices, scores = reference.ground(query, n)
        return hit, [reference.item_ids[i] for i in indices], scores

    assert check_against_official(term_ids, queries, [core, oracle]) > 20


def test_a_repeated_item_term_is_credited_per_occurrence():
    term_ids = {"twice": ["mask", "mask"], "once": ["mask", "serum"]}
    result = Grounder(term_ids, mode="bag").ground(["mask", "oil"], k=2)
    assert result.hit == "structural"
    assert result.item_ids == ("twice", "once")
    assert result.scores == (2.0, 1.0)


@pytest.mark.shared_data
def test_beauty_term_ids_that_repeat_a_term_ground_like_the_official_function(shared_data):
    beauty = load_term_ids(shared_data / "beauty" / "item_id2tid.json")
    repeating = [item for item, terms in beauty.items() if len(set(terms)) < len(terms)]
    assert len(repeating) == 10
    grounder = Grounder(beauty, mode="bag")
    rng = random.Random(1)
    vocab = sorted({t for terms in beauty.values() for t in terms})
    queries = []
    for item in repeating:
        terms = beauty[item]
        repeated = next(t for t in terms if terms.count(t) > 1)
        query = [repeated] + rng.sample(vocab, len(terms) - 1)  # only the repeated term is shared
        queries.append(query)
        queries.append(list(terms))  # a direct hit

    def core(query):
        result = grounder.ground(query, k=len(beauty))
        return result.hit, list(result.item_ids), list(result.scores)

    assert check_against_official(beauty, queries, [core]) == len(repeating)
