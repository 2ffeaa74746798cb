"""Term IDs as text: the one normalization rule, a tolerant parser and the file formats.

A Term ID is a short tuple of terms (five in GRLM). Every stage that compares terms — term
generation, fine-tuning, the grounding vocabulary — must agree on what makes two terms equal, so
the rule lives here once: :func:`normalize_term`. Terms keep inner spaces and hyphens
(``"water bottle"``, ``"hair-mask"``); only ASCII letters are lowercased, as in the compiled core.

Two file formats are read by :func:`load_term_ids`:

- JSONL, one ``{"item_id": ..., "terms": [...]}`` per line (what ``grlm terms build`` writes);
- the GRLM authors' JSON map ``{"item_id": [term, ...], ...}`` (``item_id2tid.json``).

This module needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from grlm._io import atomic_write_jsonl
from grlm.errors import InvalidInputError

__all__ = [
    "format_term_id",
    "load_term_ids",
    "normalize_term",
    "parse_term_id",
    "save_term_ids",
]

# ASCII whitespace only (what C's isspace() accepts in the "C" locale), so the Python and C++
# sides agree byte for byte; non-ASCII spaces are ordinary characters of a term.
_ASCII_WHITESPACE = " \t\n\r\v\f"
_WHITESPACE_RUN = re.compile(r"[ \t\n\r\v\f]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalize_term(term: str) -> str:
    """The canonical form of one term.

    Trims ASCII whitespace at both ends, collapses each inner run of ASCII whitespace to one
    space and lowercases ASCII letters. Everything else (hyphens, digits, punctuation, non-ASCII
    letters) is kept as it is. The result may be empty; callers decide whether that is an error.

    Parameters
    ----------
    term : str
        A raw term.

    Returns
    -------
    str
        The normalized term.

    Examples
    --------
    >>> normalize_term("  Hair-Mask ")
    'hair-mask'
    >>> normalize_term("Water \\t  Bottle")
    'water bottle'
    """
    if not isinstance(term, str):
        raise TypeError(f"a term must be str, got {type(term).__name__}: {term!r}")
    return _WHITESPACE_RUN.sub(" ", term.strip(_ASCII_WHITESPACE)).translate(_ASCII_LOWER)


# A list item marker at the start of a piece: "1.", "2)", "(3)", "-", "*", "•".
_ITEM_MARKER = re.compile(r"^(?:\(?\d{1,2}[.):]|[-*\u2022])\s+")
# Numbered items written on one line: "1. shampoo 2. color 3. care".
_INLINE_NUMBER = re.compile(r"(?:^|\s)\(?\d{1,2}[.)]\s+")
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"
_EDGE_PUNCT = _QUOTES + ".;:!?" + _ASCII_WHITESPACE


def _strip_piece(piece: str) -> str:
    piece = piece.strip(_ASCII_WHITESPACE)
    piece = _ITEM_MARKER.sub("", piece)
    # Quotes and sentence punctuation around a term are never part of it; a leading/trailing
    # hyphen is a list dash or a stray joiner.
    previous = None
    while previous != piece:
        previous = piece
        piece = piece.strip(_EDGE_PUNCT).strip("-")
    return normalize_term(piece)


def parse_term_id(text: str) -> list[str]:
    """Parses a Term ID written as text, tolerantly, into normalized terms.

    Accepts ``[w1, w2, ...]``, ``w1, w2, ...``, quoted terms (``['a', "b"]``), numbered or
    bulleted lists (one per line or ``1. a 2. b`` on one line), semicolon, pipe or newline
    separators, and (when no separator is present at all) single spaces between one-word terms.
    Only the first bracketed list is read when the text holds one. Empty pieces are dropped; the
    result is not checked for length or duplicates (see :func:`grlm.terms.parse.validate_terms`).

    Parameters
    ----------
    text : str
        The text, e.g. a language model's answer.

    Returns
    -------
    list of str
        The normalized terms in order.

    Raises
    ------
    InvalidInputError
        When the text holds no term at all.

    Examples
    --------
    >>> parse_term_id("[Hair-Mask, 'color lock', citrus]")
    ['hair-mask', 'color lock', 'citrus']
    >>> parse_term_id("1. soap 2. raw 3. ghana")
    ['soap', 'raw', 'ghana']
    """
    if not isinstance(text, str):
        raise TypeError(f"a Term ID text must be str, got {type(text).__name__}")
    body = text
    start = body.find("[")
    if start >= 0:
        end = body.find("]", start + 1)
        body = body[start + 1 : end] if end >= 0 else body[start + 1 :]
    body = body.replace("\u3001", ",").replace("\uff0c", ",")
    if re.search(r"[,;|\n]", body):
        pieces = re.split(r"[,;|\n]", body)
    elif len(_INLINE_NUMBER.findall(body)) >= 2:
        pieces = _INLINE_NUMBER.split(body)
    else:
        pieces = body.split()
    terms = [term for term in (_strip_piece(piece) for piece in pieces) if term]
    if not terms:
        raise InvalidInputError(f"no terms in Term ID text {text!r}")
    return terms


def format_term_id(terms: Iterable[str]) -> str:
    """Writes a Term ID the way prompts and model targets spell it: ``[w1, w2, w3, w4, w5]``."""
    return "[" + ", ".join(terms) + "]"


def _as_terms(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            terms = tuple(parse_term_id(value))
        except InvalidInputError:
            raise InvalidInputError(f"{where}: empty Term ID {value!r}") from None
    elif isinstance(value, (list, tuple)):
        terms = []
        for raw in value:
            if not isinstance(raw, str):
                raise InvalidInputError(f"{where}: term {raw!r} is not a string")
            terms.append(normalize_term(raw))
        terms = tuple(terms)
    else:
        raise InvalidInputError(f"{where}: terms must be a list of strings, got {value!r}")
    if not terms:
        raise InvalidInputError(f"{where}: empty Term ID")
    if any(not term for term in terms):
        raise InvalidInputError(f"{where}: empty term in {list(value)!r}")  # type: ignore[arg-type]
    return terms


def load_term_ids(path: str | os.PathLike[str]) -> dict[str, tuple[str, ...]]:
    """Reads a Term ID file: JSONL records or the authors' JSON map.

    Parameters
    ----------
    path : path-like
        A JSONL file of ``{"item_id": ..., "terms": [...]}`` lines (other keys are ignored), or
        a JSON object mapping item ids to term lists (``item_id2tid.json``).

    Returns
    -------
    dict of str to tuple of str
        Item id (as a string) to its normalized terms, in file order.

    Raises
    ------
    InvalidInputError
        When the file is not UTF-8 or in neither format, an item appears twice (also as a
        repeated key of the JSON map), a JSON object repeats a key, the JSON nests too deeply,
        or a Term ID is empty or holds an empty term. The message starts with ``path`` (and
        ``:line`` where there is one).
    OSError
        When the file cannot be read (missing, a directory, no permission).
    """
    path = Path(path)
    text = _read_utf8(path)
    stripped = text.strip()
    if not stripped:
        raise InvalidInputError(f"{path}: the Term ID file is empty")
    records: list[tuple[object, object, str]] = []
    whole = None
    try:
        whole = _json_loads(stripped, str(path))
    except json.JSONDecodeError:
        pass
    if isinstance(whole, dict) and not ("item_id" in whole and "terms" in whole):
        records = [(key, value, f"{path}: item {key!r}") for key, value in whole.items()]
    elif isinstance(whole, list):
        for index, record in enumerate(whole):
            if not isinstance(record, dict) or "item_id" not in record or "terms" not in record:
                raise InvalidInputError(f"{path}: element {index} is not an item_id/terms record")
            records.append((record["item_id"], record["terms"], f"{path}: element {index}"))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = _json_loads(line, where)
            except json.JSONDecodeError as error:
                raise InvalidInputError(
                    f"{where}: neither a JSON map of Term IDs nor JSONL ({error.msg})"
                ) from None
            if not isinstance(record, dict) or "item_id" not in record or "terms" not in record:
                raise InvalidInputError(f"{where}: a JSONL line needs 'item_id' and 'terms'")
            records.append((record["item_id"], record["terms"], where))
    result: dict[str, tuple[str, ...]] = {}
    for item_id, terms, where in records:
        if not isinstance(item_id, (str, int)) or isinstance(item_id, bool):
            raise InvalidInputError(
                f"{where}: item_id must be a string or integer, got {item_id!r}"
            )
        key = str(item_id)
        if key in result:
            raise InvalidInputError(f"{where}: item {key!r} appears twice")
        result[key] = _as_terms(terms, where)
    return result


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InvalidInputError(
            f"{path}:{line}: not UTF-8 (byte {error.start}: {error.reason})"
        ) from None


def _json_loads(text: str, where: str):
    """json.loads refusing repeated keys (the last would silently win) and deep nesting."""

    def no_repeated_keys(pairs):
        obj = {}
        for key, value in pairs:
            if key in obj:
                raise InvalidInputError(f"{where}: key {key!r} appears twice in one JSON object")
            obj[key] = value
        return obj

    try:
        return json.loads(text, object_pairs_hook=no_repeated_keys)
    except RecursionError:
        raise InvalidInputError(f"{where}: JSON nested too deeply") from None


def save_term_ids(path: str | os.PathLike[str], term_ids: Mapping[str, Iterable[str]]) -> None:
    """Writes Term IDs as JSONL (``{"item_id", "terms"}`` per line), atomically.

    Terms are written as given; normalize them first (every grlm writer does).
    """
    atomic_write_jsonl(
        path,
        ({"item_id": str(item_id), "terms": list(terms)} for item_id, terms in term_ids.items()),
    )
