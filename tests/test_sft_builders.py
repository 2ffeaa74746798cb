"""SFT example builders: exact prompt formats, no validation/test leakage, mixing, encoding."""

from __future__ import annotations

import os

import pytest
from grlm.answer_format import encode_answer, format_term_id
from grlm.data import Dataset, Item, leave_one_out
from grlm.errors import InvalidInputError
from grlm.train.encode import IGNORE_INDEX, encode_example, length_grouped_batches
from grlm.train.examples import (
    SFTExample,
    collab_examples,
    collab_prompt,
    gti_examples,
    history_prompt,
    mix,
    read_similar_items,
    seq_examples,
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
TITLES = {"a": "Lip Gloss", "b": "Hair Mask", "c": "", "d": "Olive Soap", "e": "Night Cream"}


def _dataset(sequences):
    items = {i: Item(i, title=TITLES.get(i, "")) for seq in sequences.values() for i in seq}
    return Dataset("toy", items, {u: list(s) for u, s in sequences.items()})


def test_history_prompt_exact_format():
    prompt = history_prompt(["a", "c"], TERMS, TITLES)
    assert prompt == (
        "A user interacted with these items, oldest first:\n"
        "[red, lip, gloss] Lip Gloss\n"
        "[nail, polish, red]\n"
        "Give the Term ID of the item the user will interact with next."
    )
    assert history_prompt(["a"], TERMS) == (
        "A user interacted with these items, oldest first:\n[red, lip, gloss]\n"
        "Give the Term ID of the item the user will interact with next."
    )


def test_gti_prompt_exact_format_and_skips_items_without_text():
    items = {
        "a": Item(
            "a",
            title="Lip Gloss",
            brand="Acme",
            categories=("Beauty", "Lips"),
            description="A  shiny\ngloss.",
        ),
        "b": Item("b"),
    }
    examples = gti_examples(items, TERMS)
    assert len(examples) == 1
    assert examples[0] == SFTExample(
        "gti",
        "Give the Term ID of this item.\nTitle: Lip Gloss\nBrand: Acme\n"
        "Categories: Beauty, Lips\nDescription: A shiny gloss.",
        TERMS["a"],
        "a",
    )


def test_seq_examples_every_training_prefix_and_eval_cases():
    split = leave_one_out(_dataset({"u1": ["a", "b", "c", "d", "e"]}))
    train = seq_examples(split, TERMS, stage="train", titles=TITLES)
    # training sequence a b c; targets b and c, never the held-out d (valid) or e (test)
    assert [(e.target_item, e.prompt) for e in train] == [
        ("b", history_prompt(["a"], TERMS, TITLES)),
        ("c", history_prompt(["a", "b"], TERMS, TITLES)),
    ]
    assert all(e.task == "seq" and e.user_id == "u1" for e in train)
    valid = seq_examples(split, TERMS, stage="valid", titles=TITLES)
    test = seq_examples(split, TERMS, stage="test", titles=TITLES)
    assert [(e.target_item, e.prompt) for e in valid] == [
        ("d", history_prompt(["a", "b", "c"], TERMS, TITLES))
    ]
    assert [(e.target_item, e.prompt) for e in test] == [
        ("e", history_prompt(["a", "b", "c", "d"], TERMS, TITLES))
    ]
    cut = seq_examples(split, TERMS, stage="test", max_history=2)
    assert cut[0].prompt == history_prompt(["c", "d"], TERMS)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text("uvw", min_size=1, max_size=3),
        st.lists(st.sampled_from("abcde"), min_size=1, max_size=9),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 4),
)
def test_no_validation_or_test_leakage(sequences, max_history):
    if all(len(s) < 3 for s in sequences.values()):
        return
    split = leave_one_out(_dataset(sequences))
    train = seq_examples(split, TERMS, stage="train", max_history=max_history)
    per_user = {}
    for e in train:
        per_user.setdefault(e.user_id, []).append(e)
    for user, seq in sequences.items():
        examples = per_user.get(user, [])
        if len(seq) < 3:
            assert not examples
            continue
        # exactly one example per training position t >= 1 of seq[:-2], in order, predicting
        # seq[t] from the items before it: no example predicts or shows the last two items
        assert len(examples) == max(0, len(seq) - 3)
        for t, example in enumerate(examples, start=1):
            assert example.target_item == seq[t]
            assert example.prompt == history_prompt(seq[max(0, t - max_history) : t], TERMS)


def test_collab_examples_and_similar_items_file(tmp_path):
    path = tmp_path / "similar.txt"
    path.write_text("anchor top1 top2 top3\na a b c\nb zz c a\nzz a b c\n")
    neighbours = read_similar_items(path)
    assert neighbours == {"a": ["a", "b", "c"], "b": ["zz", "c", "a"], "zz": ["a", "b", "c"]}
    examples = collab_examples(neighbours, TERMS, top_n=1)
    assert [(e.prompt, e.target_item) for e in examples] == [
        (collab_prompt(TERMS["a"]), "b"),
        (collab_prompt(TERMS["b"]), "c"),
    ]
    assert collab_prompt(TERMS["a"]) == (
        "Give the Term ID of an item often chosen together with this item: [red, lip, gloss]"
    )
    assert len(collab_examples(neighbours, TERMS, top_n=2)) == 4
    (tmp_path / "bad.txt").write_text("a b c\n")
    with pytest.raises(InvalidInputError, match="anchor"):
        read_similar_items(tmp_path / "bad.txt")


def test_mix_ratios():
    tasks = {
        "seq": [SFTExample("seq", str(i), ("x",), "a") for i in range(10)],
        "gti": [SFTExample("gti", str(i), ("y",), "a") for i in range(8)],
    }
    mixed = mix(tasks, {"seq": 2.5, "gti": 0.5}, seed=3)
    assert sum(e.task == "seq" for e in mixed) == 25
    assert sum(e.task == "gti" for e in mixed) == 4
    assert mix(tasks, {"seq": 2.5, "gti": 0.5}, seed=3) == mixed
    assert sum(e.task == "gti" for e in mix(tasks, {"gti": 0}, seed=0)) == 0
    with pytest.raises(InvalidInputError):
        mix(tasks, {"seq": -1})
    with pytest.raises(InvalidInputError):
        mix(tasks, {"sequence": 1})


@given(
    st.lists(st.integers(1, 300), max_size=200), st.integers(1, 9), st.integers(0, 5), st.booleans()
)
def test_length_grouped_batches_cover_every_example_once(lengths, batch_size, seed, grouped):
    batches = length_grouped_batches(lengths, batch_size, seed=seed, grouped=grouped)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert batches == length_grouped_batches(lengths, batch_size, seed=seed, grouped=grouped)


def test_length_grouping_reduces_padding():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(10, 400) for _ in range(800)]

    def padding(batches):
        return sum(
            max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches
        )

    grouped = padding(length_grouped_batches(lengths, 8, seed=1))
    plain = padding(length_grouped_batches(lengths, 8, seed=1, grouped=False))
    assert grouped < plain / 5


@pytest.fixture(scope="module")
def tokenizer():
    from grlm.lm import load_tokenizer

    return load_tokenizer("smollm2")


def test_encode_example_masks_the_prompt(tokenizer):
    example = SFTExample("seq", history_prompt(["a", "b"], TERMS), TERMS["c"], "c", "u")
    encoded = encode_example(tokenizer, example, system="SYS")
    messages = [{"role": "system", "content": "SYS"}, {"role": "user", "content": example.prompt}]
    prompt_text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    prompt = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer = encode_answer(tokenizer, TERMS["c"])
    assert list(encoded.input_ids) == list(prompt) + answer
    assert list(encoded.labels) == [IGNORE_INDEX] * len(prompt) + answer
    assert answer[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(answer[:-1]) == format_term_id(TERMS["c"])
    assert prompt_text.endswith("<|im_start|>assistant\n")
