"""Constrained beam search: the fast decoder equals the reference and Hugging Face's generate
(prefix_allowed_tokens_fn and our LogitsProcessor) in `full` mode; every result is a catalog item;
edge cases of the catalog."""

from __future__ import annotations

import math
import os

import pytest
import torch
from _decoding_models import one_thread, random_catalog
from _tiny_lm import tiny_model, word_tokenizer
from grlm.answer_format import encode_answer, format_term_id
from grlm.decoding import TokenTrie, reference_constrained_beam_search
from grlm.decoding.beam_search import BeamSearchDecoder, constrained_beam_search
from grlm.decoding.hf import (
    TrieLogitsProcessor,
    allowed_mask,
    beam_hypotheses,
    prefix_allowed_tokens_fn,
)
from grlm.errors import InvalidInputError
from grlm.lm import left_pad

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer()


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_model(len(tokenizer), init_range=0.5)


@pytest.fixture(scope="module")
def catalog():
    return random_catalog(30)


@pytest.fixture(scope="module")
def trie(catalog, tokenizer):
    return TokenTrie.from_items(catalog, tokenizer)


def prompts_of(tokenizer, texts=("user bought a red shoe . next :", "the hat")):
    return [tokenizer(t)["input_ids"] for t in texts]


def as_pairs(hyps):
    return [(tuple(h.tokens), h.score) for h in hyps]


def assert_same(got, expected):
    assert [t for t, _ in got] == [t for t, _ in expected]
    for (_, a), (_, b) in zip(got, expected):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-4)


def hf_beam_search(
    model,
    prompts,
    trie,
    *,
    num_beams,
    length_penalty,
    early_stopping,
    max_new_tokens,
    constraint,
    eos,
    pad=0,
):
    from transformers import GenerationConfig, LogitsProcessorList

    ids, mask = left_pad(prompts, pad, device="cpu")
    width = ids.shape[1]
    config = GenerationConfig(
        num_beams=num_beams,
        do_sample=False,
        length_penalty=length_penalty,
        early_stopping=early_stopping,
        max_new_tokens=max_new_tokens,
        num_return_sequences=num_beams,
        eos_token_id=eos,
        pad_token_id=pad,
        return_dict_in_generate=True,
        output_scores=True,
    )
    kwargs = {}
    if constraint == "prefix":
        kwargs["prefix_allowed_tokens_fn"] = prefix_allowed_tokens_fn(trie, width)
    elif constraint == "processor":
        kwargs["logits_processor"] = LogitsProcessorList([TrieLogitsProcessor(trie, width)])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config, **kwargs)
    return beam_hypotheses(out, num_beams, width, eos)


def reference_all(model, prompts, trie, keys, **kwargs):
    sequences = {k: trie.sequence(k) for k in keys}
    return [
        as_pairs(
            reference_constrained_beam_search(
                model, p, sequences, eos_token_id=trie.end_token, **kwargs
            )
        )
        for p in prompts
    ]


@pytest.mark.parametrize(
    "length_penalty,early_stopping", [(1.0, False), (0.0, "never"), (2.0, True), (-1.0, False)]
)
def test_matches_reference_and_hugging_face(
    model, tokenizer, catalog, trie, length_penalty, early_stopping
):
    prompts = prompts_of(tokenizer)
    nb = 4
    decoder = BeamSearchDecoder(
        model,
        trie,
        num_beams=nb,
        length_penalty=length_penalty,
        early_stopping=early_stopping,
        backend="torch",
    )
    ours = [as_pairs(h) for h in decoder.search(prompts)]
    reference = reference_all(
        model,
        prompts,
        trie,
        catalog,
        num_beams=nb,
        length_penalty=length_penalty,
        early_stopping=early_stopping,
    )
    for got, expected in zip(ours, reference):
        assert len(got) == nb
        assert_same(got, expected)
    if early_stopping is True:
        # Hugging Face starts beams 1.. at -1e9 instead of dropping them; under a trie with one
        # allowed first token they survive as junk hypotheses (~-1e9 / length ** penalty) that
        # fill the finished pool, and early_stopping=True then stops before the real ones finish.
        return
    for constraint in ("prefix", "processor"):
        hf = hf_beam_search(
            model,
            prompts,
            trie,
            num_beams=nb,
            length_penalty=length_penalty,
            early_stopping=early_stopping,
            max_new_tokens=trie.max_length,
            constraint=constraint,
            eos=trie.end_token,
        )
        for got, expected in zip(ours, hf):
            assert_same(got, expected)


def test_every_result_is_a_catalog_item(model, tokenizer, catalog, trie):
    results = constrained_beam_search(
        model, tokenizer, ["user bought a red shoe . next :", "blue"], trie, num_beams=6
    )
    for hyps in results:
        assert len(hyps) == 6
        for h in hyps:
            assert h.items, h
            for key in h.items:
                assert list(h.tokens) == encode_answer(tokenizer, catalog[key])
                assert tokenizer.decode(list(h.tokens[:-1])).replace(" ", "") == format_term_id(
                    catalog[key]
                ).replace(" ", "")
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)


def test_qwen3_and_expanded_cache_runner_agree_with_hf(tokenizer, catalog, trie):
    model = tiny_model(len(tokenizer), kind="qwen3", seed=3, init_range=0.5)
    prompts = prompts_of(tokenizer)
    shared = BeamSearchDecoder(model, trie, num_beams=5, backend="torch")
    expanded = BeamSearchDecoder(model, trie, num_beams=5, backend="torch", shared_prompt=False)
    got = [as_pairs(h) for h in shared.search(prompts)]
    for a, b in zip(got, [as_pairs(h) for h in expanded.search(prompts)]):
        assert_same(a, b)
    hf = hf_beam_search(
        model,
        prompts,
        trie,
        num_beams=5,
        length_penalty=1.0,
        early_stopping=False,
        max_new_tokens=trie.max_length,
        constraint="processor",
        eos=trie.end_token,
    )
    for a, b in zip(got, hf):
        assert_same(a, b)


def test_free_search_matches_hugging_face(model, tokenizer):
    prompts = prompts_of(tokenizer)
    decoder = BeamSearchDecoder(model, None, num_beams=3, backend="torch")
    ours = [as_pairs(h) for h in decoder.search(prompts, constrained=False, max_new_tokens=5)]
    hf = hf_beam_search(
        model,
        prompts,
        None,
        num_beams=3,
        length_penalty=1.0,
        early_stopping=False,
        max_new_tokens=5,
        constraint=None,
        eos=tokenizer.eos_token_id,
    )
    for a, b in zip(ours, hf):
        assert_same(a, b)
    reference = [
        as_pairs(
            reference_constrained_beam_search(
                model, p, None, eos_token_id=tokenizer.eos_token_id, num_beams=3, max_new_tokens=5
            )
        )
        for p in prompts
    ]
    for a, b in zip(ours, reference):
        assert_same(a, b)


def test_allowed_normalization_matches_reference(model, tokenizer, catalog, trie):
    prompts = prompts_of(tokenizer)
    decoder = BeamSearchDecoder(model, trie, num_beams=4, normalization="allowed", backend="torch")
    ours = decoder.search(prompts)
    reference = reference_all(model, prompts, trie, catalog, num_beams=4, normalization="allowed")
    for a, b in zip(ours, reference):
        assert_same(as_pairs(a), b)
    # Renormalised scores are log-probabilities within the catalog: they sum to at most 1.
    full = BeamSearchDecoder(model, trie, num_beams=4, backend="torch").search(prompts)
    for a, b in zip(ours, full):
        assert sum(math.exp(h.log_prob) for h in a) <= 1 + 1e-5
        assert a[0].log_prob >= b[0].log_prob


def test_edge_cases_single_item_more_beams_than_items_one_token(model, tokenizer):
    prompts = prompts_of(tokenizer)
    single = TokenTrie.from_items({"only": ["red", "shoe"]}, tokenizer)
    for hyps in BeamSearchDecoder(model, single, num_beams=4, backend="torch").search(prompts):
        assert [h.items for h in hyps] == [("only",)]
    eos = tokenizer.eos_token_id
    # One-token answers, and one that is a prefix of another's tokens.
    seqs = {"a": [9, eos], "b": [10, eos], "c": [9, 11, eos]}
    small = TokenTrie.from_sequences(seqs, eos)
    decoder = BeamSearchDecoder(model, small, num_beams=6, backend="torch")
    for prompt, hyps in zip(prompts, decoder.search(prompts)):
        assert sorted(h.items for h in hyps) == [("a",), ("b",), ("c",)]
        reference = reference_constrained_beam_search(
            model, prompt, seqs, eos_token_id=eos, num_beams=6
        )
        assert_same(as_pairs(hyps), as_pairs(reference))


def test_collisions_return_all_items(model, tokenizer):
    items = {"z1": ["red", "hat"], "a1": ["red", "hat"], "b": ["blue", "hat"]}
    trie = TokenTrie.from_items(items, tokenizer)
    hyps = BeamSearchDecoder(model, trie, num_beams=3, backend="torch").search(
        prompts_of(tokenizer)
    )[0]
    assert len(hyps) == 2
    assert ("a1", "z1") in [h.items for h in hyps]


def test_removed_item_is_never_produced(model, tokenizer, catalog):
    trie = TokenTrie.from_items(catalog, tokenizer)
    prompts = prompts_of(tokenizer)
    decoder = BeamSearchDecoder(model, trie, num_beams=4, backend="torch")
    first = decoder.search(prompts)[0]
    best = first[0].items
    for key in best:
        trie.remove(key)
    again = decoder.search(prompts)[0]
    assert all(set(h.items).isdisjoint(best) for h in again)
    # Same as searching a catalog that never had them.
    remaining = [k for k in catalog if k not in best]
    assert_same(as_pairs(again), reference_all(model, prompts[:1], trie, remaining, num_beams=4)[0])
    for key in best:
        trie.add(key, encode_answer(tokenizer, catalog[key]))
    assert decoder.search(prompts)[0][0].items == best


@pytest.mark.parametrize("restricted", [False, True])
def test_removal_mid_search(model, tokenizer, catalog, restricted):
    """Removal updates the trie's arrays in place; with a vocabulary the decoder scores a copy
    of them in logit columns, which must see the removal too."""
    trie = TokenTrie.from_items(catalog, tokenizer)
    prompts = prompts_of(tokenizer)[:1]
    vocabulary = None
    if restricted:
        vocabulary = {t for k in catalog for t in trie.sequence(k)} | {trie.end_token}
    decoder = BeamSearchDecoder(model, trie, num_beams=4, backend="torch", vocabulary=vocabulary)
    baseline = decoder.search(prompts)[0]
    victims = set(baseline[0].items) | set(baseline[1].items)

    def remove_after_two_steps(step):
        if step == 2:
            for key in victims:
                trie.remove(key)

    hyps = decoder.search(prompts, on_step=remove_after_two_steps)[0]
    assert hyps and all(set(h.items).isdisjoint(victims) for h in hyps)
    for h in hyps:
        assert trie.items_of(h.tokens)


def test_empty_catalog_and_bad_arguments(model, tokenizer):
    empty = TokenTrie(tokenizer.eos_token_id)
    decoder = BeamSearchDecoder(model, empty, num_beams=2, backend="torch")
    with pytest.raises(InvalidInputError, match="no items"):
        decoder.search(prompts_of(tokenizer))
    with pytest.raises(InvalidInputError, match="empty catalog"):
        reference_constrained_beam_search(model, [5], {}, eos_token_id=1, num_beams=2)
    with pytest.raises(InvalidInputError, match="normalization"):
        BeamSearchDecoder(model, empty, normalization="softmax")
    with pytest.raises(InvalidInputError, match="num_beams"):
        BeamSearchDecoder(model, empty, num_beams=0)
    with pytest.raises(InvalidInputError, match="max_new_tokens"):
        BeamSearchDecoder(model, None, num_beams=2).search([[5]], constrained=False)
    with pytest.raises(InvalidInputError, match="at least one token"):
        decoder.search([[]])


def test_logits_processor_masks_everything_on_a_dead_prefix(trie):
    arrays = trie.arrays("cpu")
    node = torch.tensor([0, -1])
    mask = allowed_mask(arrays, node, 40)
    assert mask[0].sum() == len(trie.allowed_tokens(0)) and mask[0].any()
    assert not mask[1].any()
    processor = TrieLogitsProcessor(trie, prompt_length=1)
    scores = processor(torch.tensor([[7], [7]]), torch.zeros(2, 40))
    processor_dead = processor(torch.tensor([[7, 4], [7, 4]]), torch.zeros(2, 40))  # "]" first
    assert torch.isinf(processor_dead).all()
    assert torch.isfinite(scores).sum() == 2 * len(trie.allowed_tokens(0))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gpu_graph_and_triton_match_eager_torch(tokenizer, catalog, trie, dtype):
    model = tiny_model(len(tokenizer), kind="qwen3", seed=5, init_range=0.5).to("cuda", dtype)
    prompts = prompts_of(tokenizer)
    eager = BeamSearchDecoder(model, trie, num_beams=5, backend="torch", cuda_graph=False)
    graph = BeamSearchDecoder(model, trie, num_beams=5, backend="triton", cuda_graph=True)
    expected = [as_pairs(h) for h in eager.search(prompts)]
    for _ in range(2):  # the second call replays the cached graph
        got = [as_pairs(h) for h in graph.search(prompts)]
        assert graph.cuda_graph and graph._graphs, "the step was not captured"
        for a, b in zip(got, expected):
            assert [t for t, _ in a] == [t for t, _ in b]
    if dtype == torch.float32:
        cpu = BeamSearchDecoder(
            tiny_model(len(tokenizer), kind="qwen3", seed=5, init_range=0.5),
            trie,
            num_beams=5,
            backend="torch",
        )
        for a, b in zip(expected, [as_pairs(h) for h in cpu.search(prompts)]):
            assert_same(a, b)


@pytest.mark.slow
def test_smollm2_tokenizer_answers_are_catalog_items_and_match_hf():
    """The real tokenizer (BPE with leading-space merges): the trie holds exactly the tokens of
    encode_answer, every hypothesis spells its item's Term ID, and HF generate agrees."""
    from grlm.assets import smollm2_gguf
    from transformers import AutoTokenizer

    folder, name = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = tiny_model(
        len(tokenizer),
        init_range=0.5,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    catalog = {
        "p1": ["perfume", "feminine", "oriental", "woody", "calvin-klein"],
        "p2": ["perfume", "feminine", "oriental", "woody", "calvin-klein"],
        "p3": ["perfume", "masculine", "fresh", "citrus", "hugo-boss"],
        "s1": ["shampoo", "hair", "repair", "keratin", "unisex"],
        "w1": ["water bottle", "sport", "steel", "insulated", "unisex"],
        "w2": ["water bottle", "kids"],
    }
    trie = TokenTrie.from_items(catalog, tokenizer)
    prompts = [
        tokenizer("The user bought shampoo. Next item:")["input_ids"],
        tokenizer("Recommend")["input_ids"],
    ]
    with one_thread():
        ours = BeamSearchDecoder(model, trie, num_beams=4, backend="torch").search(prompts)
        hf = hf_beam_search(
            model,
            prompts,
            trie,
            num_beams=4,
            length_penalty=1.0,
            early_stopping=False,
            max_new_tokens=trie.max_length,
            constraint="prefix",
            eos=trie.end_token,
            pad=tokenizer.pad_token_id,
        )
    for hyps, expected in zip(ours, hf):
        assert_same(as_pairs(hyps), expected)
        for h in hyps:
            text = tokenizer.decode(list(h.tokens), skip_special_tokens=True)
            assert {format_term_id(catalog[k]) for k in h.items} == {text}
