import json

from grlm.cli import main


def test_ground_command(tmp_path, capsys):
    tids = tmp_path / "tids.json"
    tids.write_text(json.dumps({"a": ["x", "y"], "b": ["x", "z"]}))
    queries = tmp_path / "queries.txt"
    queries.write_text("[x, z]\n\nx, w\n")
    index = tmp_path / "index.grlm"
    assert main(["ground", "--tids", str(tids), "--queries", str(queries), "--top-k", "1",
                 "--save-index", str(index), "[q, q]"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["hit"], o["items"]) for o in out] == [("none", []), ("direct", ["b"]),
                                                    ("structural", ["a"])]
    assert main(["ground", "--index", str(index), "[x, y]"]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == ["a"]


def test_ground_command_reports_bad_input(tmp_path, capsys):
    tids = tmp_path / "tids.jsonl"
    tids.write_text("not json\n")
    assert main(["ground", "--tids", str(tids), "[x]"]) == 2
    assert "tids.jsonl:1" in capsys.readouterr().err
