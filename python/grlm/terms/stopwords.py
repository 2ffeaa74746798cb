"""The words no Term ID is built from: one English list, and the additions of each use.

Metadata Term IDs (:mod:`grlm.pipeline.terms`) come from titles of films and books, where
articles of other languages and sequel numerals carry no meaning; distinguishing words of
:mod:`grlm.terms.collisions` come from product texts, where sizes and pack counts tell nothing
of the item.
"""

from __future__ import annotations

__all__ = ["PRODUCT_STOPWORDS", "STOPWORDS", "TITLE_STOPWORDS"]

#: English function words.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
    ]
)

#: :data:`STOPWORDS` plus what titles add: demonstratives, other languages' articles, numerals.
TITLE_STOPWORDS = STOPWORDS | frozenset(
    [
        "this",
        "that",
        "de",
        "la",
        "le",
        "el",
        "les",
        "des",
        "du",
        "der",
        "die",
        "das",
        "und",
        "ii",
        "iii",
    ]
)

#: :data:`STOPWORDS` plus what product texts add: auxiliaries, sizes and pack counts.
PRODUCT_STOPWORDS = STOPWORDS | frozenset(
    [
        "are",
        "has",
        "have",
        "inch",
        "inches",
        "pack",
        "set",
        "x",
    ]
)
