"""normalize_term / parse_term_id / load_term_ids: the shared Term ID text rules."""

from __future__ import annotations

import json

import pytest
from grlm.errors import InvalidInputError
from grlm.term_ids import (
    format_term_id,
    load_term_ids,
    normalize_term,
    parse_term_id,
    save_term_ids,
)
from hypothesis import given
from hypothesis import strategies as st


def reference_normalize(term: str) -> str:
    """Character-by-character restatement of the rule, as the C++ core applies it."""
    spaces = set(" \t\n\r\v\f")
    out: list[str] = []
    pending_space = False
    for ch in term:
        if ch in spaces:
            pending_space = bool(out)
            continue
        if pending_space:
            out.append(" ")
            pending_space = False
        out.append(chr(ord(ch) + 32) if "A" <= ch <= "Z" else ch)
    return "".join(out)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Hair-Mask ", "hair-mask"),
        ("Water \t\n Bottle", "water bottle"),
        ("10X", "10x"),
        ("ÉCLAT", "Éclat"),  # only ASCII letters are lowercased
        ("a\u00a0b", "a\u00a0b"),  # a non-breaking space is not ASCII whitespace
        ("", ""),
    ],
)
def test_normalize_examples(raw, expected):
    assert normalize_term(raw) == expected


@given(st.text(alphabet=st.sampled_from(list("aZ- \t\n\r\v\fÉ\u00a0x1/")), max_size=30))
def test_normalize_matches_reference(raw):
    assert normalize_term(raw) == reference_normalize(raw)
    assert normalize_term(normalize_term(raw)) == normalize_term(raw)


def test_normalize_rejects_non_strings():
    with pytest.raises(TypeError, match="str"):
        normalize_term(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        parse_term_id(None)  # type: ignore[arg-type]


def test_normalize_examples_of_the_core():
    assert normalize_term("water\t\n Bottle") == "water bottle"
    assert normalize_term("CRÈME") == "crÈme"  # only ASCII is lowercased, as in the core


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_python_normalization_equals_the_core(text):
    core = pytest.importorskip("grlm._core")
    expected = normalize_term(text)
    if expected:
        assert core.normalize_term(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "[hair-mask, color-lock, citrus, protein, unisex]",
            ["hair-mask", "color-lock", "citrus", "protein", "unisex"],
        ),
        ("[Perfume, feminine,  woody]", ["perfume", "feminine", "woody"]),
        ('"a", "b"', ["a", "b"]),
        ("['Soap', \"Raw\", 'Ghana']", ["soap", "raw", "ghana"]),
        (
            "water bottle, steel; insulated | travel",
            ["water bottle", "steel", "insulated", "travel"],
        ),
        ("1. soap 2. raw 3. ghana", ["soap", "raw", "ghana"]),
        ("1) Foo\n2) Bar  baz\n3) qux.", ["foo", "bar baz", "qux"]),
        ("- a\n- b\n* c", ["a", "b", "c"]),
        ("shampoo color care", ["shampoo", "color", "care"]),
        ("[a, b", ["a", "b"]),
        ("[ , a,, ]", ["a"]),
        ("3.5mm, 1/2-inch", ["3.5mm", "1/2-inch"]),
    ],
)
def test_parse_examples(text, expected):
    assert parse_term_id(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "[]", "[ , ,]", "'' , \"\""])
def test_parse_without_terms_raises(text):
    with pytest.raises(InvalidInputError, match="no terms"):
        parse_term_id(text)


@given(
    st.lists(
        st.from_regex(r"[a-z0-9]+(-[a-z0-9]+)?( [a-z0-9]+)?", fullmatch=True),
        min_size=2,
        max_size=6,
    )
)
def test_parse_round_trips_formatted_ids(terms):
    # One term alone is ambiguous ("[a b]" reads as two terms), hence min_size=2.
    assert parse_term_id(format_term_id(terms)) == terms


@given(st.text(max_size=60))
def test_parse_never_crashes_and_returns_normalized_terms(text):
    try:
        terms = parse_term_id(text)
    except InvalidInputError:
        return
    assert terms and all(term and normalize_term(term) == term for term in terms)


def test_load_jsonl_and_authors_map(tmp_path):
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text('{"item_id": "7", "terms": ["A", "b c"]}\n\n{"item_id": 8, "terms": ["x"]}\n')
    assert load_term_ids(jsonl) == {"7": ("a", "b c"), "8": ("x",)}
    authors = tmp_path / "item_id2tid.json"
    authors.write_text(json.dumps({"1": ["Hair-Mask", "citrus"], "2": ["soap"]}, indent=2))
    assert load_term_ids(authors) == {"1": ("hair-mask", "citrus"), "2": ("soap",)}
    single = tmp_path / "one.jsonl"
    single.write_text('{"item_id": "1", "terms": ["a"]}')
    assert load_term_ids(single) == {"1": ("a",)}


def test_save_then_load(tmp_path):
    ids = {"1": ("a", "b"), "2": ("water bottle", "x-y")}
    save_term_ids(tmp_path / "out" / "t.jsonl", ids)
    assert load_term_ids(tmp_path / "out" / "t.jsonl") == ids
    assert not list((tmp_path / "out").glob("*.part"))


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ('{"item_id": "1", "terms": ["a"]}\nnot json\n', "neither"),
        ('{"item_id": "1"}\n{"item_id": "2", "terms": ["a"]}\n', "item_id' and 'terms"),
        ('{"1": ["a", "  "]}', "empty term"),
        ('{"1": []}', "empty Term ID"),
        ('{"1": "[ ]"}', "empty Term ID"),
        ('{"1": [3]}', "not a string"),
        ('{"item_id": "1", "terms": ["a"]}\n{"item_id": "1", "terms": ["b"]}\n', "twice"),
    ],
)
def test_load_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        load_term_ids(path)


@pytest.mark.shared_data
def test_load_authors_beauty(shared_data):
    ids = load_term_ids(shared_data / "beauty" / "item_id2tid.json")
    assert len(ids) == 12101
    assert ids["1"] == ("hair-mask", "color-lock", "citrus", "protein", "unisex")
