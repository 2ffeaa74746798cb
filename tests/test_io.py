"""grlm._io: atomic writes leave the old file or the new one, never a part; the one JSONL
reader names file and line on bad input."""

from __future__ import annotations

import gzip
import json
import os

import pytest
from grlm import _io
from grlm.errors import InvalidInputError


def test_writes_round_trip_and_leave_no_temp_files(tmp_path):
    target = tmp_path / "deep" / "a.json"
    _io.atomic_write_json(target, {"x": [1, 2], "ü": "ß"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"x": [1, 2], "ü": "ß"}
    rows = [{"i": i, "path": tmp_path / str(i)} for i in range(3)]
    _io.atomic_write_jsonl(tmp_path / "r.jsonl", rows, default=str)
    read = [row for _, row in _io.read_jsonl(tmp_path / "r.jsonl")]
    assert read == [{"i": i, "path": str(tmp_path / str(i))} for i in range(3)]
    _io.atomic_write_text(tmp_path / "t.txt", "one\ntwo\n")
    assert (tmp_path / "t.txt").read_text() == "one\ntwo\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "r.jsonl", "t.txt"]
    assert os.listdir(tmp_path / "deep") == ["a.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "keep.json"
    _io.atomic_write_json(target, {"old": True})
    with pytest.raises(TypeError):
        _io.atomic_write_json(target, {"new": object()})  # not JSON: fails before the rename
    with pytest.raises(TypeError):
        _io.atomic_write_text(target, b"bytes")  # fails while writing the temp file
    assert json.loads(target.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["keep.json"]


def test_read_jsonl_contract(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": 2}\n')
    assert list(_io.read_jsonl(path)) == [(1, {"a": 1}), (4, {"a": 2})]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert list(_io.read_jsonl(empty)) == []
    with gzip.open(tmp_path / "z.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write('{"z": true}\n')
    assert list(_io.read_jsonl(tmp_path / "z.jsonl.gz")) == [(1, {"z": True})]
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        list(_io.read_jsonl(tmp_path / "missing.jsonl"))
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(InvalidInputError, match=r"a\.jsonl:2: malformed JSON"):
        list(_io.read_jsonl(path))
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(InvalidInputError, match=r"a\.jsonl:2: expected a JSON object, got list"):
        list(_io.read_jsonl(path))


def test_require_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        _io.require_file(tmp_path / "nope")
    (tmp_path / "e").write_text("")
    with pytest.raises(InvalidInputError, match="is empty"):
        _io.require_file(tmp_path / "e")
    (tmp_path / "f").write_text("x")
    assert _io.require_file(tmp_path / "f") == tmp_path / "f"
