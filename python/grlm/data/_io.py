"""Helpers of the loaders: JSON objects, time-ordered sequences (file I/O: :mod:`grlm._io`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grlm._io import require_file
from grlm.errors import InvalidInputError

__all__ = ["chronological_sequences", "read_json_object"]


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
