"""Parsing and validation of model answers: a corpus of messy outputs plus fuzzing."""

from __future__ import annotations

import pytest
from grlm.term_ids import format_term_id, normalize_term
from grlm.terms.parse import extract_terms, parse_output, validate_terms
from hypothesis import given
from hypothesis import strategies as st

FIVE = ("drill", "drilling", "cordless", "contractor", "two-speed")

# (answer as generated after the "[" prefix, expected terms)
PREFIXED = [
    ("drill, drilling, cordless, contractor, two-speed]", FIVE),
    ("Drill, Drilling, Cordless, Contractor, Two-Speed]\n\nThese keywords describe...", FIVE),
    ("'drill', 'drilling', 'cordless', 'contractor', 'two-speed']", FIVE),
    ('"drill","drilling","cordless","contractor","two-speed"]', FIVE),
    ("drill, drilling, cordless, contractor, two-speed", FIVE),  # cut before "]"
    ("drill, drilling, cordless, contractor, two-speed\n\nExplanation: a, b, c", FIVE),
    ("w1, w2, w3, w4, w5] [drill, drilling, cordless, contractor, two-speed]", FIVE),
    (
        "relay, starting, 500% increase, compressor, 10000]",
        ("relay", "starting", "500% increase", "compressor", "10000"),
    ),
    ('vise, quick  release, woodworking, 9"]', ("vise", "quick release", "woodworking", "9")),
    ("]", ()),
    ("", ()),
]

# Full answers, no prefix.
PLAIN = [
    ("Keywords: drill, drilling, cordless, contractor, two-speed", FIVE),
    ("**Answer**: [drill, drilling, cordless, contractor, two-speed]", FIVE),
    ("1. drill\n2. drilling\n3. cordless\n4. contractor\n5. two-speed", FIVE),
    ("- drill\n- drilling\n- cordless\n- contractor\n- two-speed", FIVE),
    ("1. drill 2. drilling 3. cordless 4. contractor 5. two-speed", FIVE),
    ("drill; drilling; cordless; contractor; two-speed.", FIVE),
    ("<|im_start|>assistant\n[drill, drilling, cordless, contractor, two-speed]<|im_end|>", FIVE),
    ("Here are the keywords:\n[drill, drilling, cordless, contractor, two-speed]", FIVE),
    ("drill drilling cordless contractor two-speed", FIVE),
    ("Sure!", ("sure",)),
]


@pytest.mark.parametrize("output, expected", PREFIXED)
def test_prefixed_corpus(output, expected):
    assert extract_terms(output, answer_prefix="[") == expected


@pytest.mark.parametrize("output, expected", PLAIN)
def test_plain_corpus(output, expected):
    assert extract_terms(output) == expected


@pytest.mark.parametrize(
    "terms, problem",
    [
        (FIVE, None),
        (FIVE[:4], "4 terms instead of 5"),
        (FIVE + ("x",), "6 terms instead of 5"),
        (("a", "a", "b", "c", "d"), "repeated term"),
        (("a", "b", "c", "d", "one two three four"), "more than 3 words"),
        (("a", "b", "c", "d", "x" * 41), "more than 40 characters"),
        (("a", "b", "c", "d", "%%"), "without letters or digits"),
        (("a", "b", "c", "d", ""), "empty term"),
    ],
)
def test_validate(terms, problem):
    problems = validate_terms(terms)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


term = st.from_regex(r"[A-Za-z][a-z0-9]{0,8}(-[a-z0-9]{1,5})?( [a-z]{1,6})?", fullmatch=True)


@given(
    st.lists(term, min_size=5, max_size=5, unique_by=normalize_term),
    st.sampled_from(["{}", "Keywords: {}", "{}\n\nThe end.", "Answer: {}."]),
    st.sampled_from(["'", '"', ""]),
)
def test_fuzz_wrapped_lists_parse_back(terms, wrapper, quote):
    text = wrapper.format(format_term_id(f"{quote}{t}{quote}" for t in terms))
    parsed = parse_output(text)
    assert parsed.terms == tuple(normalize_term(t) for t in terms)
    assert parsed.legal


@given(st.text(max_size=80))
def test_fuzz_arbitrary_text_never_crashes(text):
    parsed = parse_output(text, answer_prefix="[")
    assert all(t and normalize_term(t) == t for t in parsed.terms)
    assert parsed.legal == (not validate_terms(parsed.terms))
