"""Term ID statistics on hand-checked examples."""

from __future__ import annotations

import math

import pytest
from grlm.errors import InvalidInputError
from grlm.terms.stats import format_stats, term_id_stats


def test_stats_by_hand():
    ids = {"1": ("a", "b"), "2": ("a", "b"), "3": ("a", "c d"), "4": ("e", "b-x"), "5": ("a", "b")}
    stats = term_id_stats(ids)
    assert stats["items"] == 5
    assert stats["distinct_term_ids"] == 3
    assert stats["items_in_collisions"] == 3
    assert stats["collision_groups"] == 1 and stats["largest_group"] == 3
    assert stats["collision_rate"] == pytest.approx(0.6)
    assert stats["vocabulary_size"] == 5  # a, b, c d, e, b-x
    assert stats["multiword_terms"] == pytest.approx(1 / 5)
    assert stats["hyphenated_terms"] == pytest.approx(1 / 5)
    first = stats["positions"][0]
    assert first["vocabulary_size"] == 2
    assert first["entropy_bits"] == pytest.approx(-(0.8 * math.log2(0.8) + 0.2 * math.log2(0.2)))
    assert first["top_terms"][0] == ("a", 4)
    assert stats["top_terms"][0] == ("a", 4)
    table = format_stats(stats, title="T")
    assert "items in collisions" in table and "3 (60.00 %)" in table


def test_no_collisions_and_empty():
    stats = term_id_stats({"1": ("a",), "2": ("b",)})
    assert stats["items_in_collisions"] == 0 and stats["largest_group"] == 1
    assert stats["positions"][0]["entropy_bits"] == pytest.approx(1.0)
    with pytest.raises(InvalidInputError):
        term_id_stats({})
