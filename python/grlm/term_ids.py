"""Term ID text: the one normalization of terms, parsing of generated text, Term ID files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from grlm.errors import InvalidInputError

_ASCII_SPACE = " \t\n\r\x0b\x0c"
_ASCII_SPACE_RUN = re.compile(r"[ \t\n\r\x0b\x0c]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalize_term(term: str) -> str:
    """The grounding core's normalization: trim ASCII whitespace, collapse inner runs of it to one
    space, lowercase ASCII letters; hyphens, inner spaces and non-ASCII characters are kept."""
    if not isinstance(term, str):
        raise TypeError(f"a term must be str, got {type(term).__name__}: {term!r}")
    return _ASCII_SPACE_RUN.sub(" ", term.strip(_ASCII_SPACE)).translate(_ASCII_LOWER)


def parse_term_id(text: str) -> list[str]:
    """Parses ``[a, b, c]``, ``a, b, c`` or ``"a", "b"`` into normalized terms."""
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    terms = [normalize_term(part.strip().strip("'\"")) for part in body.split(",")]
    terms = [t for t in terms if t]
    if not terms:
        raise InvalidInputError(f"no terms in Term ID text {text!r}")
    return terms


def load_term_ids(path: str | Path) -> dict[str, list[str]]:
    """Reads ``{item_id: [terms]}`` from a JSON map (the GRLM authors' ``item_id2tid.json``) or a
    JSONL file of ``{"item_id": ..., "terms": [...]}`` lines."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise InvalidInputError(f"{path}: file is empty")
    if text.lstrip().startswith("{") and not path.suffix == ".jsonl":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and "item_id" not in data:
            return {str(k): _checked_terms(v, f"{path}: item {k}") for k, v in data.items()}
    return dict(_read_jsonl(path, text.splitlines()))


def _read_jsonl(path: Path, lines: Iterable[str]):
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            item_id, terms = str(record["item_id"]), record["terms"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise InvalidInputError(f"{path}:{number}: not a {{item_id, terms}} record: {error}")
        yield item_id, _checked_terms(terms, f"{path}:{number}")


def _checked_terms(terms, where: str) -> list[str]:
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise InvalidInputError(f"{where}: terms must be a list of strings, got {terms!r}")
    return terms
