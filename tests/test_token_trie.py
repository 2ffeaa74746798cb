"""TokenTrie: built from encode_answer, collisions, removal/addition without rebuild, arrays."""

from __future__ import annotations

import numpy as np
import pytest
from _decoding_models import random_catalog
from _tiny_lm import word_tokenizer
from grlm.answer_format import encode_answer
from grlm.decoding import TokenTrie
from grlm.errors import InvalidInputError
from hypothesis import given, settings
from hypothesis import strategies as st

EOS = 1


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer()


def walk_arrays(arrays: dict) -> dict[int, tuple[int, ...]]:
    """Item index -> token sequence, following only live edges of the exported arrays."""
    found = {}
    stack = [(0, ())]
    while stack:
        node, prefix = stack.pop()
        for i in range(arrays["item_ptr"][node], arrays["item_ptr"][node + 1]):
            found[int(arrays["items"][i])] = prefix
        for e in range(arrays["row_ptr"][node], arrays["row_ptr"][node + 1]):
            if arrays["live"][arrays["child_node"][e]] > 0:
                stack.append(
                    (int(arrays["child_node"][e]), prefix + (int(arrays["child_token"][e]),))
                )
    return found


def test_built_from_encode_answer(tokenizer):
    items = random_catalog(30)
    trie = TokenTrie.from_items(items, tokenizer)
    assert trie.end_token == tokenizer.eos_token_id
    for key, terms in items.items():
        assert trie.sequence(key) == encode_answer(tokenizer, terms)
        assert key in trie.items_of(encode_answer(tokenizer, terms))
    assert trie.num_items == len(items)
    assert trie.max_length == max(len(encode_answer(tokenizer, t)) for t in items.values())


def test_collisions_are_reported_together_in_key_order(tokenizer):
    trie = TokenTrie.from_items({"b": ["red", "hat"], "a": ["red", "hat"], "c": ["red"]}, tokenizer)
    assert trie.items_of(encode_answer(tokenizer, ["red", "hat"])) == ["a", "b"]
    # Insertion order does not matter.
    trie2 = TokenTrie.from_items({"a": ["red", "hat"], "b": ["red", "hat"]}, tokenizer)
    assert trie2.items_of(encode_answer(tokenizer, ["red", "hat"])) == ["a", "b"]


def test_allowed_tokens_and_dead_prefixes():
    trie = TokenTrie.from_sequences({"x": [5, 6, EOS], "y": [5, 7, EOS], "z": [8, EOS]}, EOS)
    assert trie.allowed_after([]) == [5, 8]
    assert trie.allowed_after([5]) == [6, 7]
    assert trie.allowed_after([5, 6]) == [EOS]
    assert trie.allowed_after([5, 6, EOS]) == []
    assert trie.allowed_after([9]) == []  # dead prefix: nothing, never "anything"
    assert trie.walk([9]) == -1
    assert trie.remove("y")
    assert trie.allowed_after([5]) == [6]
    assert trie.items_of([5, 7, EOS]) == []
    assert not trie.remove("y")
    trie.add("y", [5, 7, EOS])  # re-add: same path, no structural change
    assert trie.allowed_after([5]) == [6, 7]


def test_device_arrays_follow_removal_and_addition():
    trie = TokenTrie.from_sequences({"x": [5, 6, EOS], "y": [5, 7, EOS]}, EOS)
    arrays = trie.arrays("cpu")
    trie.remove("x")
    assert trie.arrays("cpu") is arrays  # updated in place, no re-export
    node = trie.walk([5])
    edges = range(int(arrays.row_ptr[node]), int(arrays.row_ptr[node + 1]))
    live = {int(arrays.child_token[e]) for e in edges if arrays.live[arrays.child_node[e]] > 0}
    assert live == {7}
    trie.add("w", [5, 9, EOS])  # a new path: the next use re-exports
    fresh = trie.arrays("cpu")
    assert fresh is not arrays
    found = walk_arrays({k: np.asarray(v) for k, v in trie.export().items()})
    assert {trie.key_of(i): s for i, s in found.items()} == {"y": (5, 7, EOS), "w": (5, 9, EOS)}


def test_bad_input_and_empty_catalog(tokenizer):
    with pytest.raises(InvalidInputError, match="end with the end token"):
        TokenTrie.from_sequences({"x": [5, 6]}, EOS)
    with pytest.raises(InvalidInputError, match="inside a sequence"):
        TokenTrie.from_sequences({"x": [5, EOS, 6, EOS]}, EOS)
    with pytest.raises(InvalidInputError, match="non-empty list"):
        TokenTrie.from_items({"x": []}, tokenizer)
    with pytest.raises(InvalidInputError, match="non-empty list"):
        TokenTrie.from_items({"x": "red"}, tokenizer)
    trie = TokenTrie.from_sequences({"x": [5, EOS]}, EOS)
    with pytest.raises(InvalidInputError, match="already in the trie"):
        trie.add("x", [6, EOS])
    empty = TokenTrie(EOS)
    with pytest.raises(InvalidInputError, match="no items"):
        empty.arrays("cpu")
    trie.remove("x")
    with pytest.raises(InvalidInputError, match="no items"):
        trie.arrays("cpu")


sequences = st.lists(st.integers(3, 6), min_size=0, max_size=4).map(lambda s: s + [EOS])


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.integers(0, 50), sequences, min_size=1, max_size=25),
    st.lists(st.integers(0, 50), max_size=10),
    st.dictionaries(st.integers(100, 120), sequences, max_size=8),
)
def test_arrays_enumerate_exactly_the_live_items(initial, removed, added):
    trie = TokenTrie.from_sequences(initial, EOS)
    live = dict(initial)
    for key in removed:
        assert trie.remove(key) == (key in live)
        live.pop(key, None)
    for key, seq in added.items():
        trie.add(key, seq)
        live[key] = seq
    found = walk_arrays({k: np.asarray(v) for k, v in trie.export().items()})
    assert {trie.key_of(i): list(s) for i, s in found.items()} == live
    for key, seq in live.items():
        assert key in trie.items_of(seq)


def test_from_token_matrix_keys_are_row_numbers():
    matrix = np.array([[5, 6, EOS], [5, 7, EOS], [5, 6, EOS]])
    trie = TokenTrie.from_token_matrix(matrix, EOS)
    assert trie.items_of([5, 6, EOS]) == [0, 2]
    assert 1 in trie and 3 not in trie
    assert trie.remove(1) and 1 not in trie
    trie.add(1, [5, 7, EOS])
    trie.add("extra", [8, EOS])  # a non-row key switches to an explicit index
    assert trie.items_of([8, EOS]) == ["extra"]
    assert trie.items_of([5, 7, EOS]) == [1]
    with pytest.raises(InvalidInputError, match=r"\(N, L\)"):
        TokenTrie.from_token_matrix(np.array([5, EOS]), EOS)
