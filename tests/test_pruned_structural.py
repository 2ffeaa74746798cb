"""Dynamic pruning of the CPU structural scorer (csrc/src/max_score.h) never changes an answer.

The catalogs are built to put pruning decisions on a knife's edge: few distinct terms (long
posting lists, so lists leave the essential set), many items with equal scores at the k-th place
(broken by priors with few distinct values, then catalog order), equal or float-rounding position
weights (a list set's bound equal to the k-th score), k above the number of matching items,
repeated terms, unknown and substring terms in bag mode, and online changes (delta segments,
tombstones). Items, scores and order must equal grlm.ground.reference's. Catalogs this small are
added up without pruning by default: here ``prune_above_items=0`` (kept by delta segments and
compactions), so every query is pruned.
"""

from __future__ import annotations

import random

import pytest
from grlm.ground import Grounder
from grlm.ground.reference import ReferenceGrounder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Words that contain each other (bag credits of 0.8), a hyphenated pair, and query-only words:
# unknown ones, one containing catalog words ("abcd"), one inside one ("ai").
WORDS = ["a", "ab", "abc", "b", "bc", "c", "hair", "hair-mask", "mask"]
QUERY_ONLY = ["zz", "abcd", "ai"]
WEIGHTS = [
    None,  # 1 / (j + 1)
    "equal",  # every set of m positions has the same bound: bounds equal to the k-th score
    "tenth",  # 0.1 each: sums that round (0.1 + 0.2 != 0.3), the bound must still be exact
    "halves",  # 1/2, 1/4, 1/4, ...: one position's weight equals the sum of later ones
]


def position_weights(kind: str | None, length: int) -> list[float] | None:
    if kind is None:
        return None
    if kind == "equal":
        return [1.0] * length
    if kind == "tenth":
        return [0.1] * length
    return [0.5] + [0.5 / max(1, length - 1)] * (length - 1)


def catalog(rng: random.Random, n: int, length: int, vocab: list[str]) -> dict[str, list[str]]:
    # Term ID lengths vary (padding); terms repeat inside a Term ID.
    return {f"i{i}": [rng.choice(vocab) for _ in range(rng.randint(1, length))] for i in range(n)}


def queries(rng: random.Random, term_ids: dict, vocab: list[str], length: int) -> list[list[str]]:
    items = list(term_ids.values())
    out = []
    for _ in range(12):
        kind = rng.randrange(4)
        if kind == 0:  # a near miss of a catalog Term ID: many items tie with it at the k-th
            query = list(rng.choice(items))
            query[rng.randrange(len(query))] = rng.choice(vocab + QUERY_ONLY)
        elif kind == 1:  # anything, unknown and substring terms included
            query = [rng.choice(vocab + QUERY_ONLY) for _ in range(rng.randint(1, length))]
        elif kind == 2:  # one term repeated
            query = [rng.choice(vocab)] * rng.randint(1, length)
        else:  # a catalog Term ID (a direct hit, or a miss after online changes)
            query = list(rng.choice(items))
        out.append(query)
    return out


def change_online(live: Grounder, term_ids: dict, priors: dict | None, rng, vocab, length):
    """Random adds, updates and removals through the online path; term_ids and priors follow
    (what a Grounder built from scratch on the final catalog would be given)."""
    for step in range(rng.randint(1, 6)):
        kind = rng.randrange(3)
        if kind == 0 or len(term_ids) < 3:
            new = {f"new{step}_{j}": catalog(rng, 1, length, vocab)["i0"] for j in range(3)}
            prior = None if priors is None else {item: float(rng.randrange(3)) for item in new}
            live.add_items(new, priors=prior)
            term_ids.update(new)
            if priors is not None:
                priors.update(prior)
        elif kind == 1:
            item = rng.choice(list(term_ids))
            terms = catalog(rng, 1, length, vocab)["i0"]
            live.update_items({item: terms})
            term_ids[item] = terms
        else:
            gone = rng.sample(list(term_ids), min(2, len(term_ids) - 1))
            live.remove_items(gone)
            for item in gone:
                del term_ids[item]
                if priors is not None:
                    priors.pop(item, None)


@pytest.mark.parametrize("mode", ["positional", "bag"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    length=st.integers(1, 5),
    vocab_size=st.integers(1, len(WORDS)),
    priors=st.sampled_from([None, 1, 3]),  # none, or this many distinct values
    weights=st.sampled_from(WEIGHTS),
    k=st.one_of(st.integers(1, 12), st.just(10_000)),
    online=st.booleans(),
)
def test_pruned_top_k_equals_reference(
    mode, seed, n, length, vocab_size, priors, weights, k, online
):
    rng = random.Random(seed)
    vocab = rng.sample(WORDS, vocab_size)
    term_ids = catalog(rng, n, length, vocab)
    prior_of = None if priors is None else {i: float(rng.randrange(priors)) for i in term_ids}
    options = {"mode": mode, "term_id_length": length}
    if mode == "positional":
        options["weights"] = position_weights(weights, length)
    grounder = Grounder(term_ids, priors=prior_of, prune_above_items=0, **options)
    if online:
        change_online(grounder, term_ids, prior_of, rng, vocab, length)
    reference = ReferenceGrounder(term_ids, priors=prior_of, **options)
    batch = queries(rng, term_ids, vocab, length)
    for query, got in zip(batch, grounder.ground_batch(batch, k=k, num_threads=1)):
        hit, items, scores = reference.ground(query, k)
        assert (got.hit, list(got.item_ids), list(got.scores)) == (
            hit,
            [reference.item_ids[i] for i in items],
            scores,
        ), query
