"""From a language model's answer to a legal Term ID: tolerant parsing and validation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from grlm.errors import InvalidInputError
from grlm.term_ids import parse_term_id

__all__ = ["ParsedOutput", "extract_terms", "parse_output", "validate_terms"]

# "Keywords:", "Answer -", "**Output**:" ... before the list.
_LABEL = re.compile(
    r"^\s*\**\s*(?:keywords?|terms?|answer|output|term id|result)\s*\**\s*[:\-=]\s*", re.IGNORECASE
)
_CHAT_TOKEN = re.compile(r"<\|[^|>]{1,40}\|>|</?s>")


def _terms(text: str) -> tuple[str, ...]:
    try:
        return tuple(parse_term_id(text))
    except InvalidInputError:
        return ()


def extract_terms(output: str, *, answer_prefix: str = "") -> tuple[str, ...]:
    """The terms a model's answer lists, normalized; empty when none can be found.

    ``answer_prefix`` is what the prompt already wrote of the answer (e.g. ``"["``); it is
    prepended before parsing. A bracketed list is preferred wherever it appears; otherwise the
    first non-empty line after an optional label (``Keywords:``) is read, or the whole text when
    it is a one-per-line list.
    """
    text = _CHAT_TOKEN.sub(" ", answer_prefix + output)
    if "[" in text:
        # The first list that yields any term: a model may echo "[w1, ...]" placeholders first.
        for match in re.finditer(r"\[", text):
            rest = text[match.start() :]
            if "]" not in rest:
                # An unclosed list ends where the model starts a new paragraph.
                rest = rest.split("\n\n", 1)[0]
            terms = _terms(rest)
            if terms and not all(re.fullmatch(r"w\d", t) for t in terms):
                return terms
        return ()
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return ()
    first = _LABEL.sub("", lines[0])
    if "," in first or ";" in first or len(lines) == 1:
        return _terms(first)
    return _terms("\n".join(_LABEL.sub("", line) for line in lines))


def validate_terms(
    terms: Sequence[str], *, num_terms: int = 5, max_words: int = 3, max_chars: int = 40
) -> list[str]:
    """Problems that make a Term ID illegal; an empty list means legal.

    Legal: exactly ``num_terms`` terms, none empty, all distinct, none longer than ``max_words``
    words or ``max_chars`` characters, none made of punctuation only.
    """
    problems = []
    if len(terms) != num_terms:
        problems.append(f"{len(terms)} terms instead of {num_terms}")
    if any(not t for t in terms):
        problems.append("empty term")
    if len(set(terms)) != len(terms):
        problems.append("repeated term")
    for term in terms:
        if len(term.split(" ")) > max_words:
            problems.append(f"term of more than {max_words} words: {term!r}")
        elif len(term) > max_chars:
            problems.append(f"term of more than {max_chars} characters: {term!r}")
        elif term and not any(ch.isalnum() for ch in term):
            problems.append(f"term without letters or digits: {term!r}")
    return problems


@dataclass(frozen=True)
class ParsedOutput:
    """A parsed answer: the terms found and why they are not a legal Term ID (if not)."""

    terms: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def legal(self) -> bool:
        return not self.problems


def parse_output(
    output: str, *, answer_prefix: str = "", num_terms: int = 5, max_words: int = 3
) -> ParsedOutput:
    """:func:`extract_terms` followed by :func:`validate_terms`."""
    terms = extract_terms(output, answer_prefix=answer_prefix)
    problems = validate_terms(terms, num_terms=num_terms, max_words=max_words)
    return ParsedOutput(terms, tuple(problems))
