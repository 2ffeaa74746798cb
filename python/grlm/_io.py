"""File helpers every stage shares: atomic text/JSON/JSONL writes and the one JSONL reader.

A write goes to a temporary file in the target's folder, is flushed to disk (fsync) and renamed
over the target (``os.replace``), so a reader sees the old file or the new one, never half of
one, even after a crash.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from grlm.errors import InvalidInputError

__all__ = [
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_text",
    "open_text",
    "read_jsonl",
    "require_file",
]


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, data: Any, *, default=None) -> None:
    """Writes ``data`` as indented JSON plus a newline, atomically; ``default`` as in
    :func:`json.dumps` (``str`` turns paths and other objects into text)."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=default) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[Any], *, default=None) -> None:
    """Writes one JSON value per line, atomically."""
    atomic_write_text(
        path, "".join(json.dumps(row, ensure_ascii=False, default=default) + "\n" for row in rows)
    )


def open_text(path: str | os.PathLike):
    """Opens a text file for reading, transparently decompressing ``.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def require_file(path: str | os.PathLike) -> Path:
    """Returns ``path`` when it is a non-empty file; raises a clear error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path} is empty")
    return path


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yields (line number, object) for each non-blank line of a JSONL file (``.gz`` too).

    An empty file yields nothing; a missing file raises :class:`FileNotFoundError`; a line that
    is not JSON, or not a JSON object, raises :class:`InvalidInputError` naming file and line.
    Callers that need content check it (e.g. with :func:`require_file`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{path}:{lineno}: malformed JSON: {error}") from None
            if not isinstance(obj, dict):
                raise InvalidInputError(
                    f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}"
                )
            yield lineno, obj
