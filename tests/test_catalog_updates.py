"""Online catalog changes (Grounder.add_items / remove_items / update_items / compact): after any
sequence of changes every answer equals that of a Grounder built from scratch on the final
catalog; bad changes raise and change nothing; the token trie follows through one call."""

from __future__ import annotations

import random
import threading

import pytest
from grlm.errors import InvalidInputError
from grlm.ground import Grounder, updates
from grlm.ground.updates import CatalogChange, apply_catalog_change
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# A tiny vocabulary whose words are substrings of each other: ties, shared Term IDs and bag
# credits are frequent.
WORDS = ["a", "ab", "abc", "b", "bc", "c"]
LENGTH = 3
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]

term_ids = st.lists(st.sampled_from(WORDS), min_size=1, max_size=LENGTH)
queries = st.lists(
    st.lists(st.sampled_from(WORDS + ["zz", "abcd"]), min_size=1, max_size=LENGTH),
    min_size=1,
    max_size=12,
)


def assert_same_answers(
    live: Grounder, catalog: dict, priors: dict | None, mode: str, device: str, batch: list
) -> None:
    fresh = Grounder(catalog, mode=mode, term_id_length=LENGTH, priors=priors, device=device)
    assert live.item_ids == list(catalog)
    assert len(live) == len(catalog)
    for k in (1, 2, 3, 10):
        got = list(live.ground_batch(batch, k=k))
        want = list(fresh.ground_batch(batch, k=k))
        assert got == want
        for query, expected in zip(batch, want):
            assert live.ground(query, k=k) == expected


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["positional", "bag"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_changes_equal_a_fresh_grounder(mode, device, data):
    with pytest.MonkeyPatch.context() as patch:
        # Small thresholds compact often; a large one lets delta segments pile up and merge.
        threshold = data.draw(st.sampled_from([1, 2, 3, 5, 8, 10_000]))
        patch.setattr(updates, "DEFAULT_COMPACT_THRESHOLD", threshold)
        check_random_changes(mode, device, data)


def check_random_changes(mode, device, data):
    initial = data.draw(st.lists(term_ids, min_size=1, max_size=8))
    catalog = {f"i{n}": terms for n, terms in enumerate(initial)}
    with_priors = data.draw(st.booleans())
    priors = (
        {item: float(data.draw(st.integers(0, 2))) for item in catalog} if with_priors else None
    )
    live = Grounder(catalog, mode=mode, term_id_length=LENGTH, priors=priors, device=device)
    batch = data.draw(queries)
    for step in range(data.draw(st.integers(1, 16))):
        op = data.draw(st.sampled_from(["add", "remove", "update", "upsert", "compact"]))
        if op == "add":
            item = f"n{step}" if data.draw(st.booleans()) or not catalog else f"re{step}"
            terms = data.draw(term_ids)
            prior = float(data.draw(st.integers(0, 2))) if with_priors else None
            live.add_items({item: terms}, priors=None if prior is None else {item: prior})
            catalog[item] = terms
            if priors is not None:
                priors[item] = prior
        elif op == "remove" and len(catalog) > 1:
            item = data.draw(st.sampled_from(list(catalog)))
            live.remove_items([item])
            del catalog[item]
        elif op == "update":
            item = data.draw(st.sampled_from(list(catalog)))
            terms = data.draw(term_ids)
            live.update_items({item: terms})
            catalog[item] = terms  # a dict keeps an updated key's position
        elif op == "upsert":  # a dict's assignment: a present item keeps its place and prior
            item = data.draw(st.sampled_from([*catalog, f"u{step}"]))
            terms = data.draw(term_ids)
            prior = None
            if with_priors and item not in catalog:
                prior = float(data.draw(st.integers(0, 2)))
                priors[item] = prior
            live.upsert_items({item: terms}, priors=None if prior is None else {item: prior})
            catalog[item] = terms
        elif op == "compact":
            live.compact()
        assert_same_answers(live, catalog, priors, mode, "cpu", batch)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["positional", "bag"])
def test_many_tombstones_ask_the_base_again(monkeypatch, mode, device):
    # More tombstones than the base's first answer has room for: it is asked again (on the GPU,
    # the base segment is scored by the CUDA scorer, the delta and the merge on the CPU).
    monkeypatch.setattr(updates, "DEFAULT_COMPACT_THRESHOLD", 100_000)
    rng = random.Random(3)
    catalog = {
        f"i{n}": [rng.choice(WORDS) for _ in range(rng.randint(1, LENGTH))] for n in range(300)
    }
    live = Grounder(catalog, mode=mode, term_id_length=LENGTH, device=device)
    batch = [[rng.choice(WORDS + ["zz"]) for _ in range(rng.randint(1, LENGTH))] for _ in range(40)]
    for round_ in range(5):
        gone = rng.sample(list(catalog), 30)
        live.remove_items(gone)
        for item in gone:
            del catalog[item]
        added = {f"a{round_}-{j}": [rng.choice(WORDS)] for j in range(5)}
        live.add_items(added)
        catalog.update(added)
        assert live.update_stats["tombstones"] > 16 + 10
        assert_same_answers(live, catalog, None, mode, device, batch)


def test_the_default_threshold_is_the_cores():
    from grlm import _core

    assert updates.DEFAULT_COMPACT_THRESHOLD == _core.DEFAULT_COMPACT_THRESHOLD


def test_a_refused_change_keeps_the_version_and_the_snapshot():
    live = Grounder({"a": ["x"], "b": ["y"]})
    live.add_items({"c": ["z"]})
    before = live.snapshot()
    assert before.version == 1
    for refused in (
        lambda: live.add_items({"c": ["w"]}),
        lambda: live.remove_items(["nope"]),
        lambda: live.remove_items(["a", "b", "c"]),
        lambda: live.update_items({"a": []}),
    ):
        with pytest.raises(InvalidInputError):
            refused()
        assert live.snapshot() is before
        assert live.update_stats["version"] == 1
    live.compact()
    assert live.snapshot().version == 2
    live.compact()  # already compact: no new version
    assert live.snapshot().version == 2


def test_update_stats_follow_the_changes(monkeypatch):
    monkeypatch.setattr(updates, "DEFAULT_COMPACT_THRESHOLD", 4)
    live = Grounder({"a": ["x"], "b": ["y"], "c": ["z"]})
    assert live.update_stats == {
        "items": 3,
        "delta_items": 0,
        "tombstones": 0,
        "delta_segments": 0,
        "pending": 0,
        "version": 0,
    }
    base_bytes = live.memory_bytes()
    live.add_items({"d": ["w"]})
    live.update_items({"a": ["v"]})
    assert live.update_stats == {
        "items": 4,
        "delta_items": 2,
        "tombstones": 1,
        "delta_segments": 1,
        "pending": 3,
        "version": 2,
    }
    assert live.memory_bytes() > base_bytes
    live.remove_items(["b", "c"])  # 5 pending > 4: compacted
    assert live.update_stats == {
        "items": 2,
        "delta_items": 0,
        "tombstones": 0,
        "delta_segments": 0,
        "pending": 0,
        "version": 3,
    }


def test_a_removed_then_readded_item_goes_last():
    live = Grounder({"a": ["x"], "b": ["x"], "c": ["x"]})
    live.remove_items(["a"])
    live.add_items({"a": ["x"]})
    assert live.item_ids == ["b", "c", "a"]
    assert live.ground(["x"]).item_ids == ("b", "c", "a")
    live.update_items({"b": ["y"]})
    assert live.item_ids == ["b", "c", "a"]
    assert live.ground(["y"]).item_ids == ("b",)


def test_priors_break_ties_across_segments():
    live = Grounder({"a": ["x"], "b": ["x"]}, priors={"a": 1.0, "b": 0.0})
    live.add_items({"c": ["x"], "d": ["x"]}, priors={"c": 2.0})
    assert live.ground(["x"]).item_ids == ("c", "a", "b", "d")
    # A catalog without priors gets them (everything else 0: the same tie order as none).
    plain = Grounder({"a": ["x"], "b": ["x"]})
    plain.add_items({"c": ["x"]}, priors={"c": 5.0})
    assert plain.ground(["x"]).item_ids == ("c", "a", "b")


def bad_changes():
    return [
        (lambda g: g.add_items({"new": ["x"], "a": ["y"]}), InvalidInputError, "'a'"),
        (lambda g: g.add_items({"new": ["x"], "bad": []}), InvalidInputError, "'bad'"),
        (
            lambda g: g.add_items({"new": ["x"], "bad": ["1", "2", "3", "4"]}),
            InvalidInputError,
            "'bad'",
        ),
        (lambda g: g.add_items({"new": ["x"], "bad": ["  "]}), InvalidInputError, "'bad'"),
        (lambda g: g.add_items({"new": ["x"], "bad": [1]}), TypeError, "'bad'"),
        (lambda g: g.add_items({"new": ["x"], "bad": "x"}), TypeError, "'bad'"),
        (
            lambda g: g.add_items({"new": ["x"]}, priors={"new": float("nan")}),
            InvalidInputError,
            "'new'",
        ),
        (lambda g: g.add_items({"new": ["x"]}, priors={"new": "1"}), InvalidInputError, "'new'"),
        (
            lambda g: g.add_items({"new": ["x"]}, priors={"other": 1.0}),
            InvalidInputError,
            "'other'",
        ),
        (lambda g: g.add_items({"": ["x"]}), InvalidInputError, "empty"),
        (lambda g: g.add_items({1: ["x"]}), TypeError, "str"),
        (lambda g: g.add_items([("new", ["x"])]), TypeError, "mapping"),
        (lambda g: g.remove_items(["a", "nope"]), InvalidInputError, "'nope'"),
        (lambda g: g.remove_items(["a", "a"]), InvalidInputError, "twice"),
        (lambda g: g.remove_items("a"), TypeError, "str"),
        (lambda g: g.remove_items(g.item_ids), InvalidInputError, "empty"),
        (lambda g: g.update_items({"a": ["y"], "nope": ["y"]}), InvalidInputError, "'nope'"),
        (lambda g: g.update_items({"a": ["y"], "b": []}), InvalidInputError, "'b'"),
        (lambda g: g.upsert_items({"a": ["y"], "new": ["y", ""]}), InvalidInputError, "'new'"),
    ]


@pytest.mark.parametrize("change,error,named", bad_changes())
@pytest.mark.parametrize("pending", [False, True])
def test_bad_changes_raise_and_change_nothing(change, error, named, pending):
    live = Grounder({"a": ["x", "y"], "b": ["x", "z"], "c": ["w"]}, term_id_length=3)
    if pending:  # a delta and a tombstone already there
        live.add_items({"d": ["x", "y"]})
        live.remove_items(["c"])
        live.add_items({"c": ["q"]})
    before_ids = live.item_ids
    before = list(live.ground_batch([["x", "y"], ["x"], ["w"], ["q"]], k=5))
    with pytest.raises(error, match=named):
        change(live)
    assert live.item_ids == before_ids
    assert list(live.ground_batch([["x", "y"], ["x"], ["w"], ["q"]], k=5)) == before


def test_save_after_changes_writes_the_current_catalog(tmp_path):
    live = Grounder({"a": ["x", "y"], "b": ["x", "z"]}, mode="bag")
    live.add_items({"c": ["x", "w"]})
    live.remove_items(["a"])
    live.update_items({"b": ["v"]})
    path = tmp_path / "index.grlm"
    live.save(path)
    loaded = Grounder.load(path)
    assert loaded.item_ids == ["b", "c"]
    assert loaded.mode == "bag"
    assert list(loaded.ground_batch([["x"], ["v"]])) == list(live.ground_batch([["x"], ["v"]]))
    assert [p.name for p in tmp_path.iterdir()] == ["index.grlm"]  # no temporary file left


def test_index_views_follow_the_changes():
    live = Grounder({"a": ["x", "y"], "b": ["x", "z"]})
    live.add_items({"c": ["q", "y"]})
    live.remove_items(["a"])
    fresh = Grounder({"b": ["x", "z"], "c": ["q", "y"]})
    assert live.vocab == fresh.vocab
    assert (live.term_matrix() == fresh.term_matrix()).all()
    assert (live.tie_rank() == fresh.tie_rank()).all()
    assert live.item_terms("c") == ["q", "y"]
    with pytest.raises(KeyError):
        live.item_terms("a")


def test_readers_see_whole_changes_while_a_writer_runs(monkeypatch):
    # Each change swaps the Term IDs of the items holding "p" and "q" in one call: a reader must
    # see exactly one item for each, never zero or two.
    monkeypatch.setattr(updates, "DEFAULT_COMPACT_THRESHOLD", 8)
    catalog = {f"f{i}": ["filler", "t"] for i in range(100)}
    catalog.update({"x": ["p"], "y": ["q"]})
    live = Grounder(catalog)
    stop = threading.Event()
    errors: list[str] = []
    reads = [0, 0]

    def read(reader: int):
        while not stop.is_set():
            p, q = live.ground_batch([["p"], ["q"]], k=5)
            if len(p.item_ids) != 1 or len(q.item_ids) != 1 or p.item_ids == q.item_ids:
                errors.append(f"{p} {q}")
            reads[reader] += 1

    readers = [threading.Thread(target=read, args=(r,)) for r in range(2)]
    for thread in readers:
        thread.start()
    try:
        # At least 200 changes, and on until both readers have read alongside them (bounded).
        step = 0
        while step < 200 or (min(reads) < 20 and step < 20_000):
            step += 1
            holder_p = live.ground(["p"]).item_ids[0]
            holder_q = live.ground(["q"]).item_ids[0]
            live.update_items({holder_p: ["q"], holder_q: ["p"]})
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert errors == []
    assert min(reads) > 0


class WordTokens:
    """A stand-in tokenizer: one token per word, then the end token 0."""

    def __init__(self):
        self.ids: dict[str, int] = {}

    def __call__(self, terms):
        return [self.ids.setdefault(t, len(self.ids) + 1) for t in terms] + [0]


def test_catalog_change_keeps_trie_and_grounder_in_step():
    from grlm.decoding import TokenTrie

    encode = WordTokens()
    catalog = {"a": ["x", "y"], "b": ["x", "y"], "c": ["z"]}  # a and b share a Term ID
    live = Grounder(catalog)
    trie = TokenTrie.from_sequences({i: encode(t) for i, t in catalog.items()}, end_token=0)
    shared = encode(["x", "y"])

    apply_catalog_change(live, CatalogChange(remove=["a"]), trie=trie, encode=encode)
    assert trie.walk(shared) != -1 and trie.items_of(shared) == ["b"]  # b keeps the path
    apply_catalog_change(
        live, CatalogChange(update={"b": ["z", "w"]}, add={"d": ["v"]}), trie=trie, encode=encode
    )
    assert trie.walk(shared) == -1  # nobody holds it any more
    apply_catalog_change(
        live, CatalogChange(upsert={"c": ["x", "y"], "e": ["z", "w"]}), trie=trie, encode=encode
    )
    assert trie.items_of(shared) == ["c"] and trie.items_of(encode(["z", "w"])) == ["b", "e"]
    apply_catalog_change(
        live, CatalogChange(remove=["e"], update={"c": ["z"]}), trie=trie, encode=encode
    )
    assert live.ground(["x", "y"]).hit != "direct"
    for item in live.item_ids:
        assert trie.sequence(item) == encode(live.item_terms(item))
    assert len(trie) == len(live) == 3

    # A refused change leaves both as they were.
    with pytest.raises(InvalidInputError, match="'nope'"):
        apply_catalog_change(
            live, CatalogChange(remove=["nope"], add={"e": ["u"]}), trie=trie, encode=encode
        )
    with pytest.raises(InvalidInputError, match="'c'"):
        apply_catalog_change(live, CatalogChange(add={"c": ["u"]}), trie=trie, encode=encode)
    assert sorted(live.item_ids) == sorted(
        trie.items_of(encode(["z"]))
        + trie.items_of(encode(["z", "w"]))
        + trie.items_of(encode(["v"]))
    )
    with pytest.raises(InvalidInputError, match="both"):
        apply_catalog_change(live, CatalogChange(remove=["c"]), trie=trie)


@pytest.mark.parametrize("device", DEVICES)
def test_a_snapshot_answers_as_the_catalog_was_when_taken(device):
    live = Grounder({"a": ["x", "y"], "b": ["x", "z"]}, device=device)
    before = live.snapshot()
    live.add_items({"c": ["x", "y"]})
    live.remove_items(["b"])
    after = live.snapshot()
    assert before.ground(["x", "y"], k=5).item_ids == ("a",)
    assert after.ground(["x", "y"], k=5).item_ids == ("a", "c")
    assert list(before.ground_batch([["x", "z"]], k=5)) == [
        Grounder({"a": ["x", "y"], "b": ["x", "z"]}).ground(["x", "z"], k=5)
    ]
    assert "b" in before and "b" not in after and "c" in after
    assert before.item_terms("b") == ["x", "z"]
    with pytest.raises(KeyError):
        after.item_terms("b")
    assert (len(before), len(after)) == (2, 2)
    with pytest.raises(InvalidInputError):
        before.ground(["x"], k=0)
