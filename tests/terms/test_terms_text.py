"""Item text rendering."""

from __future__ import annotations

import pytest
from grlm.data.schema import Item
from grlm.errors import InvalidInputError
from grlm.terms.text import clean_text, item_text


def test_clean_text_list_literal_html_and_entities():
    raw = "['<b>Heavy-duty</b> staples &amp; more.', '', 'Second   paragraph']"
    assert clean_text(raw) == "Heavy-duty staples & more. Second paragraph"
    assert clean_text("[not a list") == "[not a list"
    assert clean_text("  a\n\tb ") == "a b"


def test_item_text_fields_order_and_missing():
    item = Item(
        "7",
        title="Drill",
        description="['Fast drill.']",
        brand="Acme",
        categories=("Tools", "Power Tools"),
    )
    assert item_text(item) == (
        "Title: Drill\nBrand: Acme\nCategories: Tools > Power Tools\nDescription: Fast drill."
    )
    assert item_text(Item("8", title="Only title")) == "Title: Only title"
    assert item_text(Item("9")) == "Item 9"


def test_description_truncated_at_word_boundary():
    item = Item("1", title="t", description="word " * 100)
    text = item_text(item, max_description=50).split("\n")[1]
    description = text.removeprefix("Description: ")
    assert description.endswith("...") and len(description) <= 53
    assert "wor..." not in description
    assert "Description" not in item_text(item, max_description=0)


def test_bad_limits():
    with pytest.raises(InvalidInputError, match="max_description"):
        item_text(Item("1", title="t"), max_description=-1)
