"""The packed objective: windows, leakage rules, token layout shared by training, inference
prompts and the trie, and the loss mask."""

from __future__ import annotations

import os

import pytest
from grlm.data import Dataset, Item, leave_one_out
from grlm.errors import InvalidInputError
from grlm.objective import PACKED_INSTRUCTION, Objective, line_end_id
from grlm.train.encode import IGNORE_INDEX, encode_example, encode_examples
from grlm.train.examples import SFTExample
from grlm.train.packed import (
    PackedExample,
    packed_eval_examples,
    packed_train_examples,
    window_bounds,
)
from hypothesis import given, settings
from hypothesis import strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TERMS = {
    "a": ("red", "lip", "gloss"),
    "b": ("hair", "mask", "oil"),
    "c": ("nail", "polish", "red"),
    "d": ("soap", "bar", "olive"),
    "e": ("face", "cream", "night"),
}
PACKED = Objective("packed")


def _split(sequences):
    items = {i: Item(i) for seq in sequences.values() for i in seq}
    return leave_one_out(Dataset("toy", items, {u: list(s) for u, s in sequences.items()}))


def _window_reference(length, max_history):
    """Every target position t >= 1 once, with the most context a window can give it."""
    return {t: max(0, t - max_history) for t in range(1, length)}


@given(st.integers(0, 60), st.integers(1, 25))
def test_windows_teach_every_target_once_with_bounded_context(length, max_history):
    bounds = window_bounds(length, max_history)
    taught = {}
    for start, end in bounds:
        assert 2 <= end - start <= max_history + 1
        for t in range(start + 1, end):
            assert t not in taught
            taught[t] = start
    assert set(taught) == set(range(1, length))
    # the most recent targets (the ones most like inference) get their full history
    if length >= 2:
        assert taught[length - 1] == max(0, length - 1 - max_history)
    assert [b for b in bounds] == sorted(bounds)
    with pytest.raises(InvalidInputError):
        window_bounds(5, 0)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text("uvw", min_size=1, max_size=3),
        st.lists(st.sampled_from("abcde"), min_size=1, max_size=30),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 6),
)
def test_no_validation_or_test_leakage(sequences, max_history):
    """A packed window holds only items of the user's training sequence (all but the last two),
    in order, and its targets are exactly the training prefixes' targets."""
    if all(len(s) < 3 for s in sequences.values()):
        return
    split = _split(sequences)
    examples = packed_train_examples(split, TERMS, max_history=max_history)
    per_user = {}
    for e in examples:
        per_user.setdefault(e.user_id, []).append(e)
    for user, seq in sequences.items():
        windows = per_user.get(user, [])
        train = seq[:-2] if len(seq) >= 3 else []
        if len(train) < 2:
            assert not windows
            continue
        for window in windows:
            assert window.first_target == 1 and len(window.items) <= max_history + 1
            assert window.terms == tuple(TERMS[i] for i in window.items)
        # windows are slices of the training sequence only, every target taught once
        assert [w.items for w in windows] == [
            tuple(train[s:e]) for s, e in window_bounds(len(train), max_history)
        ]


def test_eval_examples_hold_history_then_target():
    split = _split({"u1": ["a", "b", "c", "d", "e"]})
    (valid,) = packed_eval_examples(split, TERMS, stage="valid", max_history=2)
    assert valid.items == ("b", "c", "d") and valid.first_target == 2
    (test,) = packed_eval_examples(split, TERMS, stage="test", max_history=20)
    assert test.items == ("a", "b", "c", "d", "e") and test.first_target == 4
    with pytest.raises(InvalidInputError, match="stage"):
        packed_eval_examples(split, TERMS, stage="train")
    with pytest.raises(InvalidInputError, match="no Term ID"):
        packed_train_examples(split, {"a": ("x",)})
    with pytest.raises(InvalidInputError, match="first target"):
        PackedExample("seq", "u", ("a",), (TERMS["a"],), 1)


@pytest.fixture(scope="module")
def tokenizer():
    from grlm.lm import load_tokenizer

    return load_tokenizer("smollm2")


def test_packed_layout_exact_tokens(tokenizer):
    """Instruction in the chat prompt, then one line per item, each line tokenized alone and
    ended by the newline token; the loss on every line after the first."""
    from grlm.lm import prompt_ids
    from grlm.train.examples import SYSTEM_PROMPT

    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    assert len(newline) == 1 and line_end_id(tokenizer) == newline[0]
    example = PackedExample("seq", "u", ("a", "b", "c"), (TERMS["a"], TERMS["b"], TERMS["c"]), 1)
    encoded = encode_example(tokenizer, example, objective=PACKED)
    prompt = prompt_ids(tokenizer, PACKED_INSTRUCTION, SYSTEM_PROMPT)
    lines = [
        tokenizer(f"[{', '.join(TERMS[i])}]", add_special_tokens=False)["input_ids"] + newline
        for i in "abc"
    ]
    assert list(encoded.input_ids) == prompt + lines[0] + lines[1] + lines[2]
    assert list(encoded.labels) == (
        [IGNORE_INDEX] * (len(prompt) + len(lines[0])) + lines[1] + lines[2]
    )
    assert tokenizer.decode(encoded.input_ids[len(prompt) :]) == (
        "[red, lip, gloss]\n[hair, mask, oil]\n[nail, polish, red]\n"
    )
    assert tokenizer.eos_token_id not in encoded.input_ids[len(prompt) :]


def test_training_tokens_equal_inference_prompt_and_trie(tokenizer):
    """Up to a target line, a packed training sequence is token for token the inference prompt
    of that history, and the target line is the trie's sequence of the target item: one
    tokenization everywhere."""
    example = PackedExample("seq", "u", ("d", "a", "e", "b"), tuple(TERMS[i] for i in "daeb"), 3)
    encoded = encode_example(tokenizer, example, objective=PACKED)
    prompt = PACKED.history_prompt_ids(tokenizer, ["d", "a", "e"], TERMS)
    assert list(encoded.input_ids[: len(prompt)]) == prompt
    trie = PACKED.trie(tokenizer, TERMS)
    assert trie.end_token == line_end_id(tokenizer)
    assert list(encoded.input_ids[len(prompt) :]) == trie.sequence("b")
    assert trie.items_of(encoded.input_ids[len(prompt) :]) == ["b"]
    assert [i for i, label in enumerate(encoded.labels) if label != IGNORE_INDEX] == list(
        range(len(prompt), len(encoded.input_ids))
    )


def test_gti_under_packed_ends_with_the_line_end(tokenizer):
    example = SFTExample("gti", "Give the Term ID of this item.\nTitle: Gloss", TERMS["a"], "a")
    packed = encode_example(tokenizer, example, objective=PACKED)
    prefix = encode_example(tokenizer, example)
    assert packed.input_ids[-1] == line_end_id(tokenizer)
    assert prefix.input_ids[-1] == tokenizer.eos_token_id
    assert packed.input_ids[:-1] == prefix.input_ids[:-1]


def test_encode_examples_drops_over_long_and_refuses_mismatched_objective(tokenizer):
    example = PackedExample("seq", "u", ("a", "b"), (TERMS["a"], TERMS["b"]), 1)
    kept, dropped = encode_examples(tokenizer, [example] * 3, max_length=10, objective=PACKED)
    assert kept == [] and dropped == 3
    kept, dropped = encode_examples(tokenizer, [example], max_length=512, objective=PACKED)
    assert len(kept) == 1 and dropped == 0
    with pytest.raises(InvalidInputError, match="packed objective"):
        encode_example(tokenizer, example)
    with pytest.raises(InvalidInputError, match="objective"):
        Objective("windows")
    with pytest.raises(InvalidInputError, match="at least one history item"):
        PACKED.history_prompt_ids(tokenizer, [], TERMS)


def test_packed_config_rules():
    from grlm.pipeline import config_from_dict

    base = {"terms": {"source": "metadata"}}
    assert config_from_dict(base).sft.objective == "packed"
    with pytest.raises(InvalidInputError, match="max_targets_per_user"):
        config_from_dict({**base, "sft": {"max_targets_per_user": 1}})
    with pytest.raises(InvalidInputError, match="max_windows_per_user"):
        config_from_dict({**base, "sft": {"objective": "prefix", "max_windows_per_user": 1}})
    with pytest.raises(InvalidInputError, match="sft.objective"):
        config_from_dict({**base, "sft": {"objective": "both"}})
    with pytest.raises(InvalidInputError, match="recommend.decoding"):
        config_from_dict({**base, "recommend": {"decoding": ["free", "free"]}})
    with pytest.raises(InvalidInputError, match="recommend.decoder"):
        config_from_dict({**base, "recommend": {"decoder": "vllm"}})
    with pytest.raises(InvalidInputError, match="grounding_device"):
        config_from_dict({**base, "recommend": {"grounding_device": "tpu"}})


PLAIN = Objective("packed", "short", "plain")


def test_plain_lines_drop_brackets_and_commas(tokenizer):
    """Plain lines are the terms joined by spaces and ended by the newline token; training,
    inference prompts and the trie share them, and parsing a line gives its terms back."""
    newline = line_end_id(tokenizer)
    line = PLAIN.answer_ids(tokenizer, TERMS["a"])
    assert line == tokenizer("red lip gloss", add_special_tokens=False)["input_ids"] + [newline]
    assert len(line) < len(PACKED.answer_ids(tokenizer, TERMS["a"]))
    example = PackedExample("seq", "u", ("d", "a", "e"), tuple(TERMS[i] for i in "dae"), 2)
    encoded = encode_example(tokenizer, example, objective=PLAIN)
    prompt = PLAIN.history_prompt_ids(tokenizer, ["d", "a"], TERMS)
    assert list(encoded.input_ids[: len(prompt)]) == prompt
    assert list(encoded.input_ids[len(prompt) :]) == PLAIN.trie(tokenizer, TERMS).sequence("e")
    assert tokenizer.decode(prompt[len(PLAIN.instruction_ids(tokenizer)) :]) == (
        "soap bar olive\nred lip gloss\n"
    )
    assert PLAIN.parse_answer(tokenizer.decode(line)) == TERMS["a"]
    assert PACKED.parse_answer("[red, lip, gloss]\n") == TERMS["a"]


def test_plain_lines_parse_and_refuse_what_they_cannot_write(tokenizer):
    assert PLAIN.parse_answer(" Red  Lip gloss\nsoap bar") == ("red", "lip", "gloss")
    assert PLAIN.parse_answer("a b c d e f", term_id_length=5) == ("a", "b", "c", "d", "e")
    assert PLAIN.parse_answer("  \n") is None
    with pytest.raises(InvalidInputError, match="without whitespace.*'lip gloss'"):
        PLAIN.answer_ids(tokenizer, ("red", "lip gloss"))
    with pytest.raises(InvalidInputError, match="sft.lines: plain needs the packed objective"):
        Objective("prefix", lines="plain")
    with pytest.raises(InvalidInputError, match="sft.lines must be one of"):
        Objective("packed", lines="csv")


def test_metadata_terms_hold_no_whitespace():
    from grlm.answer_format import format_plain_term_id
    from grlm.pipeline.terms import metadata_term_ids

    items = {
        "1": Item("1", "Casablanca (1942)", categories=("Film Noir", "Drama")),
        "2": Item("2", "", categories=()),
    }
    term_ids = metadata_term_ids(items)
    assert term_ids == {"1": ("film-noir", "drama", "1940s", "casablanca"), "2": ("item-2",)}
    assert format_plain_term_id(term_ids["1"]) == "film-noir drama 1940s casablanca"


_TERM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-'&.", min_size=1, max_size=12)


@given(st.lists(_TERM, min_size=1, max_size=8))
def test_plain_lines_round_trip(terms):
    """Any Term ID of whitespace-free normalized terms comes back from its plain line, as the
    bracketed one does from its own (for terms without commas or brackets)."""
    from grlm.answer_format import format_plain_term_id, format_term_id, parse_answer

    assert PLAIN.parse_answer(format_plain_term_id(terms) + "\n") == tuple(terms)
    assert PLAIN.parse_answer(format_plain_term_id(terms), term_id_length=3) == tuple(terms[:3])
    assert parse_answer(format_term_id(terms)) == tuple(terms)
