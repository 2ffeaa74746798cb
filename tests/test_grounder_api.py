"""Behaviour and bad input of the Python grounding API."""

from __future__ import annotations

import pytest
from grlm.errors import IndexFileError, InvalidInputError
from grlm.ground import Grounder

CATALOG = {
    "p1": ["perfume", "feminine", "oriental", "woody", "calvin-klein"],
    "p2": ["perfume", "feminine", "oriental", "woody", "calvin-klein"],  # shares p1's Term ID
    "s1": ["shampoo", "hair", "repair", "keratin", "unisex"],
    "w1": ["water bottle", "sport", "steel", "insulated", "unisex"],
}


@pytest.fixture
def grounder():
    return Grounder(CATALOG, priors={"p2": 5.0})


def test_direct_hit_returns_all_colliding_items_in_prior_order(grounder):
    result = grounder.ground(["Perfume", "feminine", " oriental", "woody", "CALVIN-KLEIN"])
    assert result.hit == "direct"
    assert result.item_ids == ("p2", "p1")
    assert grounder.ground(CATALOG["p1"], k=1).item_ids == ("p2",)


def test_structural_fallback_and_none(grounder):
    result = grounder.ground(["shampoo", "hair", "repair", "argan", "unisex"], k=2)
    assert result.hit == "structural"
    assert result.item_ids[0] == "s1"
    assert result.scores[0] == pytest.approx(1 + 1 / 2 + 1 / 3 + 1 / 5)
    assert grounder.ground(["nothing", "matches"]).hit == "none"


def test_inner_spaces_and_short_term_ids(grounder):
    assert grounder.ground(["Water   Bottle"], k=1).item_ids == ("w1",)
    assert grounder.term_id_length == 5


def test_batch_is_a_sequence_of_results(grounder):
    batch = grounder.ground_batch([CATALOG["s1"], ["zz"], CATALOG["w1"]], k=3)
    assert len(batch) == 3
    assert batch.hit_types == ["direct", "none", "direct"]
    assert batch[1].item_ids == ()
    assert [r.item_ids for r in batch[0:3:2]] == [("s1",), ("w1",)]


def test_huge_k_is_clamped(grounder):
    assert len(grounder.ground(["x", "x", "x", "x", "unisex"], k=10**12).item_ids) == 2


@pytest.mark.parametrize("k", [0, -1])
def test_bad_k(grounder, k):
    with pytest.raises(InvalidInputError, match="k must be at least 1"):
        grounder.ground(["perfume"], k=k)


@pytest.mark.parametrize("k", [1.5, "3", True, None])
def test_k_of_wrong_type(grounder, k):
    with pytest.raises(TypeError):
        grounder.ground(["perfume"], k=k)


@pytest.mark.parametrize(
    "term_id, error, match",
    [
        ([], InvalidInputError, "Term ID is empty"),
        (["a"] * 6, InvalidInputError, "at most 5"),
        (["perfume", "  "], InvalidInputError, "empty after normalization"),
        (["perfume", 3], TypeError, "must be str"),
        (["perfume", b"woody"], TypeError, "must be str"),
        (["perfume", "\udcff"], InvalidInputError, "UTF-8"),
        ("perfume feminine", TypeError, "str"),
        (None, TypeError, "list or tuple|sequence"),
    ],
)
def test_bad_term_ids(grounder, term_id, error, match):
    with pytest.raises(error, match=match):
        grounder.ground(term_id)
    with pytest.raises(error, match=match):
        grounder.ground_batch([CATALOG["p1"], term_id])


def test_term_ids_as_tuples_or_iterables(grounder):
    assert grounder.ground(tuple(CATALOG["s1"])).hit == "direct"
    assert grounder.ground(iter(CATALOG["s1"])).hit == "direct"
    assert grounder.ground_batch(iter([tuple(CATALOG["s1"])]))[0].hit == "direct"


def test_bad_catalogs():
    with pytest.raises(InvalidInputError, match="empty catalog"):
        Grounder({})
    with pytest.raises(InvalidInputError, match="has 0 terms"):
        Grounder({"a": []})
    with pytest.raises(InvalidInputError, match="1..16"):
        Grounder({"a": ["x"] * 17})
    with pytest.raises(TypeError):
        Grounder({"a": ["x", 1]})
    with pytest.raises(InvalidInputError, match="mode"):
        Grounder({"a": ["x"]}, mode="fuzzy")
    with pytest.raises(InvalidInputError, match="weights"):
        Grounder({"a": ["x", "y"]}, weights=[1.0])
    with pytest.raises(InvalidInputError, match="positive"):
        Grounder({"a": ["x", "y"]}, weights=[1.0, 0.0])
    with pytest.raises(InvalidInputError, match="not finite"):
        Grounder({"a": ["x"]}, priors={"a": float("nan")})
    with pytest.raises(InvalidInputError, match="device"):
        Grounder({"a": ["x"]}, device="tpu")


def test_save_load_round_trip(grounder, tmp_path):
    path = tmp_path / "index.grlm"
    grounder.save(path)
    loaded = Grounder.load(path)
    assert loaded.item_ids == grounder.item_ids
    assert loaded.mode == grounder.mode
    queries = [CATALOG["p1"], ["shampoo", "x"], ["unisex"]]
    assert list(loaded.ground_batch(queries)) == list(grounder.ground_batch(queries))
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupted_and_truncated_index_files(grounder, tmp_path):
    path = tmp_path / "index.grlm"
    grounder.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexFileError, match="truncated"):
        Grounder.load(path)
    corrupted = bytearray(data)
    corrupted[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    with pytest.raises(IndexFileError, match="checksum"):
        Grounder.load(path)
    path.write_bytes(b"GRLMIDX\0" + b"\x09\x00\x00\x00" + data[12:])
    with pytest.raises(IndexFileError, match="version 9"):
        Grounder.load(path)
    with pytest.raises(IndexFileError, match="cannot open"):
        Grounder.load(tmp_path / "missing.grlm")


def test_save_failure_keeps_existing_file(grounder, tmp_path):
    path = tmp_path / "index.grlm"
    grounder.save(path)
    before = path.read_bytes()
    (tmp_path / "index.grlm.tmp").mkdir()  # blocked the old fixed temporary name; not the new
    grounder.save(path)
    assert path.read_bytes() == before
    (tmp_path / "dir.grlm").mkdir()  # the rename over a directory fails
    with pytest.raises(Exception, match="cannot write"):
        grounder.save(tmp_path / "dir.grlm")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dir.grlm",
        "index.grlm",
        "index.grlm.tmp",
    ]


def test_from_file_reads_json_map_and_jsonl(tmp_path):
    import json

    (tmp_path / "map.json").write_text(json.dumps(CATALOG))
    (tmp_path / "tids.jsonl").write_text(
        "\n".join(json.dumps({"item_id": k, "terms": v}) for k, v in CATALOG.items())
    )
    for name in ("map.json", "tids.jsonl"):
        assert Grounder.from_file(tmp_path / name).item_ids == list(CATALOG)
    (tmp_path / "bad.jsonl").write_text('{"item_id": "a", "terms": ["x"]}\n{"oops": 1}\n')
    with pytest.raises(InvalidInputError, match="bad.jsonl:2"):
        Grounder.from_file(tmp_path / "bad.jsonl")


@pytest.mark.parametrize("term", ["日" * 100, "é" * 129 + "x", "\u2003" * 120 + "a"])
def test_a_long_multibyte_term_is_an_input_error_everywhere(term):
    # Before: the core cut its preview of the term inside a character (UnicodeDecodeError).
    with pytest.raises(InvalidInputError, match="at most 256 bytes"):
        Grounder({"a": [term]})
    live = Grounder({"a": ["x"]})
    for change in (live.add_items, live.upsert_items):
        with pytest.raises(InvalidInputError, match="at most 256 bytes") as info:
            change({"b": [term]})
        assert term[:10] in str(info.value)  # a preview cut at a character boundary
    assert len(live) == 1 and live.update_stats["version"] == 0
