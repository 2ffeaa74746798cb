"""The resumable generation log: one JSON record per finished item, appended as results come.

The first line is a header with the run's settings; a restarted run with other settings is
refused instead of mixing two configurations in one file. A line cut off by a kill is ignored
(and overwritten) on restart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from grlm.errors import InvalidInputError

__all__ = ["GenerationLog"]

LOG_VERSION = 1


class GenerationLog:
    """Append-only JSONL of per-item generation records keyed by ``item_id``.

    Parameters
    ----------
    path : path-like
        The log file; created when absent.
    settings : mapping
        What must match for a restart to continue this log (model, context, template...).
    """

    def __init__(self, path: str | os.PathLike[str], settings: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.settings = json.loads(json.dumps(dict(settings)))
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.exists() and self.path.stat().st_size > 0:
            self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", encoding="utf-8") as out:
                out.write(
                    json.dumps({"grlm_terms_log": LOG_VERSION, "settings": self.settings}) + "\n"
                )
                out.flush()
                os.fsync(out.fileno())

    def _read(self) -> None:
        with open(self.path, "rb") as stream:
            data = stream.read()
        lines = data.split(b"\n")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            raise InvalidInputError(f"{self.path}: not a grlm terms log (bad header)") from None
        if not isinstance(header, dict) or header.get("grlm_terms_log") != LOG_VERSION:
            raise InvalidInputError(f"{self.path}: not a grlm terms log of version {LOG_VERSION}")
        if header.get("settings") != self.settings:
            old, new = header.get("settings", {}), self.settings
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise InvalidInputError(
                f"{self.path} was written with other settings ({', '.join(changed)} differ); "
                "use another output file or delete this log to start over"
            )
        position = len(lines[0]) + 1  # bytes known good so far
        for index, line in enumerate(lines[1:], start=1):
            end = position + len(line) + (index < len(lines) - 1)
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line cut off by a kill: everything from here is redone
                if not isinstance(record, dict) or "item_id" not in record:
                    raise InvalidInputError(f"{self.path}:{index + 1}: not a generation record")
                self.records[str(record["item_id"])] = record
            position = end
        if position < len(data):
            with open(self.path, "r+b") as stream:
                stream.truncate(position)
        if not data[:position].endswith(b"\n"):
            # The last record is whole but lacks its newline: add it so appends start a line.
            with open(self.path, "ab") as stream:
                stream.write(b"\n")

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.records

    def __len__(self) -> int:
        return len(self.records)

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Writes records and makes them durable before returning."""
        lines = []
        for record in records:
            record = dict(record)
            self.records[str(record["item_id"])] = record
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        if not lines:
            return
        with open(self.path, "a", encoding="utf-8") as out:
            out.write("".join(lines))
            out.flush()
            os.fsync(out.fileno())
