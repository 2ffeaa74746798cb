"""How a Term ID is written as model output — one definition for fine-tuning, decoding and tries.

Training tokenizes the prompt and the answer separately and concatenates the ids, and the
constrained decoder's token trie uses the very same ``encode_answer``, so a Term ID is tokenized
identically in training and in the trie whatever the tokenizer's merges across the boundary.

Two layouts: bracketed (``[perfume, feminine, woody]``, the paper's answers and the default) and
plain (``perfume feminine woody``, a packed objective's ``sft.lines: plain``); each has its parser.
:class:`grlm.objective.Objective` picks one for training, prompts, the trie and parsing.
"""

from __future__ import annotations

from collections.abc import Sequence

from grlm.errors import InvalidInputError
from grlm.term_ids import (
    format_term_id,  # the answer text: "[perfume, feminine, ..., woody]"
    normalize_term,
)

__all__ = [
    "encode_answer",
    "end_of_answer_id",
    "format_plain_term_id",
    "format_term_id",
    "parse_answer",
    "parse_plain_answer",
]


def end_of_answer_id(tokenizer) -> int:
    """The token that ends an answer: the tokenizer's EOS (``<|im_end|>`` for chat models)."""
    if tokenizer.eos_token_id is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no eos_token_id")
    return int(tokenizer.eos_token_id)


def encode_answer(tokenizer, terms: Sequence[str]) -> list[int]:
    """Token ids of the answer for ``terms`` followed by the end-of-answer token."""
    ids = tokenizer(format_term_id(terms), add_special_tokens=False)["input_ids"]
    return list(ids) + [end_of_answer_id(tokenizer)]


def format_plain_term_id(terms: Sequence[str]) -> str:
    """A Term ID as a plain line, ``perfume feminine oriental woody calvin-klein``: no brackets
    or commas, about 37% fewer tokens than :func:`format_term_id` on Beauty. Only for terms
    without whitespace (a space would end a term)."""
    for term in terms:
        if term.split() != [term]:  # empty, or split apart by parse_plain_answer
            raise InvalidInputError(
                f"plain lines (sft.lines: plain) need terms without whitespace; got {term!r} in "
                f"{list(terms)!r}"
            )
    return " ".join(terms)


def parse_answer(text: str, term_id_length: int | None = None) -> tuple[str, ...] | None:
    """Parses one generated answer written as :func:`format_term_id` (``[t1, t2, ...]``) into
    terms normalized by :func:`grlm.term_ids.normalize_term`, or None when nothing usable was
    generated.

    Text after the closing bracket is ignored; an answer cut before its closing bracket keeps
    what was generated; empty terms are dropped; terms beyond ``term_id_length`` are cut (the
    grounder refuses longer Term IDs).
    """
    body = text.strip()
    body = body.removeprefix("[")
    end = body.find("]")
    if end >= 0:
        body = body[:end]
    return _cut((normalize_term(piece) for piece in body.split(",")), term_id_length)


def parse_plain_answer(text: str, term_id_length: int | None = None) -> tuple[str, ...] | None:
    """As :func:`parse_answer` for a line written as :func:`format_plain_term_id`: the terms
    are the whitespace-separated words of its first line."""
    first_line = text.strip().split("\n", 1)[0]
    return _cut((normalize_term(word) for word in first_line.split()), term_id_length)


def _cut(terms, term_id_length: int | None) -> tuple[str, ...] | None:
    kept = tuple(term for term in terms if term)
    if term_id_length is not None:
        kept = kept[:term_id_length]
    return kept or None
