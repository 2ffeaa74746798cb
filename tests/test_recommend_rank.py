"""Beams → ranked distinct items; Term ID parsing; the generation config; batched beam search."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from grlm.answer_format import parse_answer
from grlm.recommend.rank import rank_items
from hypothesis import given
from hypothesis import strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class Result:
    item_ids: tuple
    hit: str
    scores: tuple = ()


def ids(ranked):
    return [r.item_id for r in ranked]


def test_direct_hits_first_then_structural_top_item_then_fill():
    results = [
        Result(("x", "y"), "direct"),  # two items share the Term ID: both, in tie order
        Result(("z", "x", "w"), "structural"),  # only its best item in the first pass
        None,  # a beam that did not parse
        Result((), "none"),
        Result(("x",), "direct"),  # duplicate of an earlier item
        Result(("v", "u"), "structural"),
    ]
    ranked = rank_items(results, k=10)
    assert ids(ranked) == ["x", "y", "z", "v", "w", "u"]
    assert [r.beam for r in ranked] == [0, 0, 1, 5, 1, 5]
    assert [r.hit for r in ranked] == [
        "direct",
        "direct",
        "structural",
        "structural",
        "structural",
        "structural",
    ]
    assert ids(rank_items(results, k=3)) == ["x", "y", "z"]
    assert ids(rank_items(results, k=1)) == ["x"]


def test_collapsed_beams_are_filled_from_structural_scores():
    results = [Result(("a", "b", "c"), "structural")] * 5
    assert ids(rank_items(results, k=3)) == ["a", "b", "c"]
    assert rank_items([None, Result((), "none")], k=5) == []
    with pytest.raises(ValueError):
        rank_items(results, k=0)


def _reference(results, k):
    first = []
    for r in results:
        if r is not None and r.hit != "none":
            first += list(r.item_ids) if r.hit == "direct" else list(r.item_ids[:1])
    rest = [i for r in results if r is not None and r.hit != "none" for i in r.item_ids]
    out = []
    for item in first + rest:
        if item not in out:
            out.append(item)
    return out[:k]


results_strategy = st.lists(
    st.one_of(
        st.none(),
        st.builds(
            Result,
            st.lists(st.sampled_from("abcdefgh"), max_size=4, unique=True).map(tuple),
            st.sampled_from(["direct", "structural"]),
        ),
        st.just(Result((), "none")),
    ),
    max_size=8,
)


@given(results_strategy, st.integers(1, 10))
def test_rank_items_matches_reference(results, k):
    ranked = ids(rank_items(results, k))
    assert ranked == _reference(results, k)
    assert len(set(ranked)) == len(ranked) <= k


def test_parse_answer():
    assert parse_answer("[Red, lip  gloss, hair-mask]") == ("red", "lip gloss", "hair-mask")
    assert parse_answer("[a, b, c, d, e, f]", term_id_length=5) == ("a", "b", "c", "d", "e")
    assert parse_answer("[a, b") == ("a", "b")
    assert parse_answer("[a, b] trailing, words") == ("a", "b")
    assert parse_answer("") is None
    assert parse_answer("[ , ]") is None


@pytest.fixture(scope="module")
def tiny():
    from _tiny_lm import chat_tokenizer, model_for

    tokenizer = chat_tokenizer()
    model = model_for(tokenizer, hidden=64)
    # a checkpoint whose own defaults ask for sampling must still be searched greedily
    model.generation_config.do_sample = True
    model.generation_config.temperature = 5.0
    return model, tokenizer


def test_generation_config_is_explicit_beam_search(tiny):
    from grlm.recommend.generate import generation_config

    _, tokenizer = tiny
    config = generation_config(tokenizer, num_beams=20, num_return_sequences=20, max_new_tokens=30)
    assert config.do_sample is False and config.num_beams == 20
    assert config.num_return_sequences == 20 and config.max_new_tokens == 30
    assert config.pad_token_id == tokenizer.pad_token_id
    assert config.eos_token_id == tokenizer.eos_token_id
    with pytest.raises(ValueError):
        generation_config(tokenizer, num_beams=4, num_return_sequences=5, max_new_tokens=3)


def _prompts(tokenizer, texts):
    from grlm.lm import prompt_ids

    return [prompt_ids(tokenizer, text, "S") for text in texts]


@pytest.mark.parametrize("decoder", ["fast", "hf"])
def test_batched_beam_search_equals_one_prompt_at_a_time(tiny, decoder):
    from grlm.recommend.generate import beam_search

    model, tokenizer = tiny
    prompts = _prompts(
        tokenizer, ["short", "a much longer prompt " * 6, "medium length prompt here"]
    )
    batched, _ = beam_search(
        model, tokenizer, prompts, decoder=decoder, num_beams=4, max_new_tokens=6, batch_size=3
    )
    for prompt, beams in zip(prompts, batched):
        alone, _ = beam_search(
            model, tokenizer, [prompt], decoder=decoder, num_beams=4, max_new_tokens=6, batch_size=1
        )
        assert len(beams) == 4
        assert [b.text for b in beams] == [b.text for b in alone[0]]
        assert [b.score for b in beams] == pytest.approx([b.score for b in alone[0]], abs=1e-4)
        assert beams[0].score >= beams[-1].score
    again, _ = beam_search(
        model, tokenizer, prompts, decoder=decoder, num_beams=4, max_new_tokens=6, batch_size=2
    )
    assert [[b.text for b in u] for u in again] == [[b.text for b in u] for u in batched]


CATALOG = {
    "a": ("red", "lip", "gloss"),
    "b": ("hair", "mask", "oil"),
    "c": ("red", "lip", "balm"),
    "d": ("nail", "polish", "red"),
    "e": ("hair", "mask", "clay"),
}


@pytest.mark.parametrize("objective", ["prefix", "packed"])
@pytest.mark.parametrize("decoder", ["fast", "hf"])
def test_constrained_beam_search_spells_catalog_term_ids_only(tiny, decoder, objective):
    from grlm.objective import Objective
    from grlm.recommend.generate import beam_search

    model, tokenizer = tiny
    trie = Objective(objective).trie(tokenizer, CATALOG)
    prompts = _prompts(tokenizer, ["one prompt", "another, longer prompt " * 3])
    beams, _ = beam_search(
        model,
        tokenizer,
        prompts,
        decoder=decoder,
        num_beams=4,
        max_new_tokens=16,
        batch_size=2,
        trie=trie,
    )
    allowed = set(CATALOG.values())
    for user_beams in beams:
        parsed = [parse_answer(b.text) for b in user_beams]
        assert len(parsed) == 4 and all(p in allowed for p in parsed), parsed
        assert len(set(parsed)) == len(parsed)
    free, _ = beam_search(
        model, tokenizer, prompts[:1], decoder=decoder, num_beams=4, max_new_tokens=16, batch_size=1
    )
    assert not any(parse_answer(b.text) in allowed for b in free[0])  # an untrained model


@pytest.mark.parametrize("objective", ["prefix", "packed"])
@pytest.mark.parametrize("constrained", [False, True])
def test_fast_and_hf_decoders_return_the_same_beams(tiny, objective, constrained):
    """The recommendation path's two decoders agree beam for beam (texts, scores), free and
    constrained, on prompts of different lengths decoded in one batch."""
    from grlm.objective import Objective
    from grlm.recommend.generate import beam_search

    model, tokenizer = tiny
    goal = Objective(objective)
    trie = goal.trie(tokenizer, CATALOG) if constrained else None
    prompts = [
        goal.history_prompt_ids(tokenizer, history, CATALOG)
        for history in (["a"], ["b", "c", "d"], ["e", "a"], ["d"] * 5)
    ]
    kwargs = {
        "num_beams": 5,
        "max_new_tokens": 12,
        "batch_size": 3,
        "trie": trie,
        "eos_token_id": goal.end_token(tokenizer),
    }
    fast, _ = beam_search(model, tokenizer, prompts, decoder="fast", **kwargs)
    hf, _ = beam_search(model, tokenizer, prompts, decoder="hf", **kwargs)
    for mine, theirs in zip(fast, hf):
        assert [b.text for b in mine] == [b.text for b in theirs]
        assert [b.score for b in mine] == pytest.approx([b.score for b in theirs], abs=1e-4)


def test_beam_search_refuses_bad_arguments(tiny):
    from grlm.errors import InvalidInputError
    from grlm.recommend.generate import beam_search

    model, tokenizer = tiny
    with pytest.raises(InvalidInputError, match="decoder"):
        beam_search(model, tokenizer, [[1, 2]], decoder="sampled")
    with pytest.raises(InvalidInputError, match="at least one token"):
        beam_search(model, tokenizer, [[]], decoder="hf")
    with pytest.raises(InvalidInputError, match="batch_size"):
        beam_search(model, tokenizer, [[1, 2]], decoder="fast", batch_size=0)


@pytest.mark.parametrize("decoder", ["fast", "hf"])
def test_recommend_keeps_the_order_of_cases(tiny, decoder):
    """Users are decoded in batches of similar prompt length, yet come back in case order, and
    a constrained run grounds every beam directly."""
    from grlm.ground import Grounder
    from grlm.objective import Objective
    from grlm.recommend import Case, recommend

    model, tokenizer = tiny
    goal = Objective("packed")
    histories = [["a", "b", "c", "d"], ["e"], ["b", "c"], ["a"] * 6, ["d", "e", "a"]]
    cases = [
        Case(f"u{i}", tuple(goal.history_prompt_ids(tokenizer, h, CATALOG)), "a")
        for i, h in enumerate(histories)
    ]
    grounder = Grounder(CATALOG)
    run = recommend(
        model,
        tokenizer,
        grounder,
        cases,
        k=3,
        num_beams=3,
        batch_size=2,
        trie=goal.trie(tokenizer, CATALOG),
        decoder=decoder,
        eos_token_id=goal.end_token(tokenizer),
    )
    assert [u.user_id for u in run.users] == [c.user_id for c in cases]
    assert all(hit == "direct" for u in run.users for hit in u.beam_hits)
    assert all(1 <= len(u.items) <= 3 for u in run.users)
