from hypothesis import given
from hypothesis import strategies as st

from grlm import _core
from grlm.term_ids import normalize_term, parse_term_id


def test_normalize_examples():
    assert normalize_term("  Hair-Mask ") == "hair-mask"
    assert normalize_term("water\t\n Bottle") == "water bottle"
    assert normalize_term("CRÈME") == "crÈme"  # only ASCII is lowercased, as in the core


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_python_normalization_equals_the_core(text):
    expected = normalize_term(text)
    if expected:
        assert _core.normalize_term(text) == expected


def test_parse_term_id():
    assert parse_term_id("[Perfume, feminine,  woody]") == ["perfume", "feminine", "woody"]
    assert parse_term_id('"a", "b"') == ["a", "b"]
