import json
import os
import subprocess
import sys

import pytest
from grlm.cli import main


def test_ground_command(tmp_path, capsys):
    tids = tmp_path / "tids.json"
    tids.write_text(json.dumps({"a": ["x", "y"], "b": ["x", "z"]}))
    queries = tmp_path / "queries.txt"
    queries.write_text("[x, z]\n\nx, w\n")
    index = tmp_path / "index.grlm"
    assert (
        main(
            [
                "ground",
                "--tids",
                str(tids),
                "--queries",
                str(queries),
                "--top-k",
                "1",
                "--save-index",
                str(index),
                "[q, q]",
            ]
        )
        == 0
    )
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["hit"], o["items"]) for o in out] == [
        ("none", []),
        ("direct", ["b"]),
        ("structural", ["a"]),
    ]
    assert main(["ground", "--index", str(index), "[x, y]"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == ["a"]


def test_ground_command_reports_bad_input(tmp_path, capsys):
    tids = tmp_path / "tids.jsonl"
    tids.write_text("not json\n")
    assert main(["ground", "--tids", str(tids), "[x]"]) == 3
    assert "tids.jsonl:1" in capsys.readouterr().err


@pytest.fixture
def tids(tmp_path):
    path = tmp_path / "tids.json"
    path.write_text(json.dumps({"a": ["x", "y"], "b": ["x", "z"]}))
    return path


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("grlm ground: error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("option", ["--tids", "--index"])
def test_unreadable_catalog_or_index_is_one_line_exit_3(tmp_path, capsys, option):
    # Before: a traceback for a directory.
    assert main(["ground", option, str(tmp_path), "[x]"]) == 3
    assert str(tmp_path) in one_error_line(capsys)
    assert main(["ground", option, str(tmp_path / "missing"), "[x]"]) == 3
    assert "missing" in one_error_line(capsys)


def test_non_utf8_catalog_is_one_line_exit_3(tmp_path, capsys):
    path = tmp_path / "tids.jsonl"
    path.write_bytes(b'{"item_id": "a", "terms": ["x"]}\n{"item_id": "b", "terms": ["\xff"]}\n')
    assert main(["ground", "--tids", str(path), "[x]"]) == 3
    assert "tids.jsonl:2: not UTF-8" in one_error_line(capsys)


def test_damaged_index_is_one_line_exit_3(tmp_path, capsys):
    path = tmp_path / "index.grlm"
    path.write_bytes(b"GRLMIDX\0garbage")
    assert main(["ground", "--index", str(path), "[x]"]) == 3
    assert "index.grlm" in one_error_line(capsys)


def test_unreadable_queries_file_is_one_line_exit_3(tids, tmp_path, capsys):
    assert main(["ground", "--tids", str(tids), "--queries", str(tmp_path)]) == 3
    assert "cannot read queries" in one_error_line(capsys)


def test_bad_query_lines_are_all_reported_with_their_line_numbers(tids, tmp_path, capsys):
    # Before: the first bad line stopped the file without its line number.
    queries = tmp_path / "queries.txt"
    queries.write_bytes(b"[x, y]\n[a, b, c]\n\n[\xff]\n[ , ]\n[x, z]\n")
    assert main(["ground", "--tids", str(tids), "--queries", str(queries)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing is grounded when any line is bad
    err = captured.err.splitlines()
    assert "queries.txt:2: 3 terms" in err[0]
    assert err[1].endswith("queries.txt:4: not UTF-8 (invalid start byte)")
    assert "queries.txt:5: no terms" in err[2]
    assert "3 invalid Term ID(s)" in err[3] and len(err) == 4
    assert main(["ground", "--tids", str(tids), "[x]", "[]"]) == 1
    assert "argument 2: no terms" in capsys.readouterr().err


def test_no_term_ids_is_a_usage_error(tids, tmp_path, capsys):
    # Before: exit 0 and no output.
    assert main(["ground", "--tids", str(tids)]) == 2
    assert "no Term IDs to ground" in one_error_line(capsys)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert main(["ground", "--tids", str(tids), "--queries", str(empty)]) == 2
    # Building an index alone is a job of its own.
    assert main(["ground", "--tids", str(tids), "--save-index", str(tmp_path / "i.grlm")]) == 0
    assert (tmp_path / "i.grlm").exists()


def test_unwritable_save_index_is_exit_3(tids, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    assert (
        main(["ground", "--tids", str(tids), "--save-index", str(tmp_path / "taken"), "[x]"]) == 3
    )
    assert "taken" in one_error_line(capsys)


def test_the_real_command_prints_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-m", "grlm.cli", "ground", "--tids", str(tmp_path), "[x]"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
