"""Small file helpers shared by the loaders: atomic writes and line-numbered JSONL reading."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grlm.errors import InvalidInputError


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path`` and renames it into place, so readers
    never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_jsonl(path: str | os.PathLike, records: list[dict[str, Any]]) -> None:
    """Writes one JSON object per line, atomically."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def open_text(path: Path):
    """Opens a text file, transparently decompressing ``.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def require_file(path: Path) -> Path:
    """Returns ``path`` when it is a non-empty file; raises a clear error otherwise."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path} is empty")
    return path


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (line number, object) for each non-blank line; malformed lines raise an error that
    names the file and line."""
    with open_text(require_file(path)) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{path}:{lineno}: malformed JSON: {error}") from None
            if not isinstance(obj, dict):
                raise InvalidInputError(f"{path}:{lineno}: expected a JSON object, got "
                                        f"{type(obj).__name__}")
            yield lineno, obj


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A non-empty JSON object from path; ``what`` names its values in the error message."""
    path = require_file(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{path}: malformed JSON: {error}") from None
    if not isinstance(raw, dict) or not raw:
        raise InvalidInputError(f"{path}: expected a non-empty JSON object of item id -> {what}")
    return raw


def chronological_sequences(
    per_user: dict[str, list[tuple[float, int, str]]],
) -> tuple[dict[str, list[str]], dict[str, list[float]]]:
    """Per user, items and times sorted by (time, original order) from (time, order, item)."""
    sequences, timestamps = {}, {}
    for user, events in per_user.items():
        events.sort()
        sequences[user] = [item for _, _, item in events]
        timestamps[user] = [time for time, _, _ in events]
    return sequences, timestamps
