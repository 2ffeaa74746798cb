"""The probe cases of issue 13 that ended in a wrong answer or an unclear exception: each now
ends in a correct answer or a clear Python exception naming the value."""

from __future__ import annotations

import json

import numpy as np
import pytest
from grlm.decoding import TokenTrie
from grlm.errors import InvalidInputError
from grlm.ground import Grounder
from grlm.term_ids import load_term_ids

CATALOG = {"a": ["x", "y"], "b": ["x", "z"], "c": ["w", "z"]}


@pytest.fixture(scope="module")
def grounder():
    return Grounder(CATALOG)


def test_batch_result_negative_indexes(grounder):
    # Before: [-1] read offsets[-1:0] (wrong items), [-2] mixed two queries.
    queries = [["x", "y"], ["x", "z"], ["w", "z"]]
    batch = grounder.ground_batch(queries, k=1)
    singles = [grounder.ground(q, k=1) for q in queries]
    for q in range(-3, 3):
        assert batch[q] == singles[q]
    assert batch[np.int64(-1)] == singles[-1]
    assert batch[-2:] == singles[-2:]
    for bad in (3, -4):
        with pytest.raises(IndexError):
            batch[bad]
    with pytest.raises(TypeError):
        batch["0"]


@pytest.mark.parametrize("term_id", [{"x": 1, "y": 2}, {"x", "y"}, frozenset({"x"})])
def test_unordered_term_ids_are_refused(grounder, term_id):
    # Before: a dict or a set was taken (a set's order is random).
    with pytest.raises(TypeError, match="ordered"):
        grounder.ground(term_id)
    with pytest.raises(TypeError):
        grounder.ground_batch([term_id])
    with pytest.raises(TypeError):
        Grounder({"a": term_id})


def test_ordered_sequences_are_still_taken(grounder):
    assert grounder.ground(("x", "y")).item_ids == ("a",)
    assert grounder.ground(np.array(["x", "y"])).item_ids == ("a",)
    assert grounder.ground(iter(["x", "y"])).item_ids == ("a",)


def test_empty_weights_are_refused():
    # Before: weights=[] silently meant the defaults.
    with pytest.raises(InvalidInputError, match=r"weights"):
        Grounder(CATALOG, weights=[])
    assert Grounder(CATALOG, weights=None).weights == [1.0, 0.5]


@pytest.mark.parametrize(
    "priors, error",
    [
        ([1.0, 2.0, 3.0], TypeError),
        ({"a": "high"}, InvalidInputError),
        ({"a": "1"}, InvalidInputError),
        ({"a": None}, InvalidInputError),
        ({"a": float("nan")}, InvalidInputError),
    ],
)
def test_bad_priors(priors, error):
    # Before: list priors gave AttributeError.
    with pytest.raises(error, match="prior"):
        Grounder(CATALOG, priors=priors)


def test_numpy_integers_for_k_and_num_threads(grounder):
    # Before: num_threads=np.int64(2) was refused while k=np.int64(3) was taken.
    batch = grounder.ground_batch([["x", "y"]], k=np.int64(3), num_threads=np.int64(2))
    assert batch[0].item_ids[0] == "a"
    for bad in (True, 1.5, "2"):
        with pytest.raises(TypeError, match="num_threads"):
            grounder.ground_batch([["x"]], num_threads=bad)
    for bad in (-1, 2**40):
        with pytest.raises(InvalidInputError, match="num_threads"):
            grounder.ground_batch([["x"]], num_threads=bad)


def test_error_messages_carry_no_build_paths(grounder):
    with pytest.raises(InvalidInputError) as info:
        grounder.ground(["x", "y", "z"])
    message = str(info.value)
    assert "/" not in message.split("[")[-1], message  # "[catalog.cc:58]", not a full path


def test_repeated_json_keys_raise(tmp_path):
    # Before: the last of two equal keys silently won.
    path = tmp_path / "tids.json"
    path.write_text('{"a": ["x"], "b": ["y"], "a": ["z"]}')
    with pytest.raises(InvalidInputError, match="'a' appears twice"):
        load_term_ids(path)
    path.write_text('{"item_id": "a", "terms": ["x"], "terms": ["y"]}\n')
    with pytest.raises(InvalidInputError, match="'terms' appears twice"):
        load_term_ids(path)


def test_deep_json_raises_invalid_input(tmp_path):
    # Before: RecursionError.
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        load_term_ids(path)
    path.write_text(json.dumps({"a": ["x"]}) + "\n" + '{"item_id": ' + "[" * 100_000 + "\n")
    with pytest.raises(InvalidInputError):
        load_term_ids(path)


def test_non_utf8_term_id_file_names_the_line(tmp_path):
    path = tmp_path / "tids.jsonl"
    path.write_bytes(b'{"item_id": "a", "terms": ["x"]}\n{"item_id": "b", "terms": ["\xff"]}\n')
    with pytest.raises(InvalidInputError, match=r"tids\.jsonl:2: not UTF-8"):
        load_term_ids(path)


@pytest.mark.parametrize("token", ["1", 1.5, True, None, np.float32(2.0)])
def test_trie_from_sequences_refuses_non_integer_tokens(token):
    # Before: "1" and 1.5 were turned into 1.
    with pytest.raises(InvalidInputError, match="not an integer"):
        TokenTrie.from_sequences({"a": [5, token, 1]}, end_token=1)


def test_trie_takes_numpy_integer_tokens_and_walks_out_of_range_tokens():
    trie = TokenTrie.from_sequences({"a": [np.int64(5), 6, 1], "b": np.array([5, 7, 1])}, 1)
    assert trie.items_of([5, 6, 1]) == ["a"]
    assert trie.walk([2**40]) == -1
    assert trie.walk([-3]) == -1
    assert trie.allowed_after([5]) == [6, 7]


def test_long_terms_cannot_stall_a_bag_build():
    # Before: one 100 kB catalog term took minutes to index (the substring index is quadratic
    # in a term's length). Catalog terms now have at most 256 bytes; queries may be longer.
    import time

    with pytest.raises(InvalidInputError, match="at most 256 bytes"):
        Grounder({"a": ["y" * 257]}, mode="bag")
    start = time.perf_counter()
    grounder = Grounder({f"i{n}": ["a" * (1 + n % 256)] for n in range(512)}, mode="bag")
    assert grounder.ground(["a" * 100_000], k=3).hit == "structural"
    assert time.perf_counter() - start < 30
