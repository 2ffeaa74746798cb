"""Term IDs from item metadata alone — a fast stand-in for Context-aware Term Generation.

``terms.source: metadata`` builds each item's Term ID without a language model: its categories
(most specific first is not known, so in the order given), the decade of a ``(YYYY)`` year in
the title, then title keywords, lowercased, distinct, cut to ``num_terms``. A term never holds
whitespace (``Film Noir`` becomes ``film-noir``), so every Term ID can be written as a plain line
(``sft.lines: plain``). It exists so the demo fits a 2-core budget; the paper's Term IDs come
from CTG (``terms.source: ctg``) or from the authors' files (``terms.source: file``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from grlm.errors import InvalidInputError
from grlm.term_ids import normalize_term
from grlm.terms.stopwords import TITLE_STOPWORDS

_YEAR = re.compile(r"\((\d{4})\)")
_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")


def metadata_terms(item, num_terms: int = 5) -> tuple[str, ...]:
    """One item's metadata Term ID (see the module docstring); may be shorter than
    ``num_terms`` when the metadata holds fewer distinct words."""
    terms: list[str] = []

    def add(term: str) -> None:
        term = _one_word(term)
        if term and term not in terms and len(terms) < num_terms:
            terms.append(term)

    categories = [c for c in item.categories if c and c.lower() != "unknown"]
    for category in categories[:2]:
        add(category)
    title = item.title or ""
    year = _YEAR.search(title)
    if year:
        add(f"{year.group(1)[:3]}0s")
    words = [w for w in _WORD.findall(_YEAR.sub(" ", title).lower()) if w not in TITLE_STOPWORDS]
    for word in words:
        add(word)
    for category in categories[2:]:
        add(category)
    return tuple(terms)


def _one_word(text: str) -> str:
    """A normalized term with its inner spaces hyphenated (``Film Noir`` -> ``film-noir``)."""
    return normalize_term(text).replace(" ", "-")


def metadata_term_ids(items: Mapping[str, object], num_terms: int = 5) -> dict[str, tuple]:
    """:func:`metadata_terms` for every item; items with no usable metadata get their item id
    as a one-term Term ID, so every item stays groundable."""
    if num_terms < 1:
        raise InvalidInputError(f"num_terms must be at least 1, got {num_terms}")
    out = {}
    for item_id, item in items.items():
        out[item_id] = metadata_terms(item, num_terms) or (_one_word(f"item {item_id}"),)
    return out
