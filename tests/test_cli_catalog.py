"""grlm catalog create / show / checkpoint, on both store backends."""

from __future__ import annotations

import json

import pytest
from grlm.cli import main
from grlm.ground import CatalogChange, Grounder
from grlm.store import open_store

CATALOG = {"a": ["red", "lipstick"], "b": ["blue", "serum"], "c": ["red", "perfume"]}


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(["catalog", *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


@pytest.mark.parametrize("source", ["tids", "index"])
def test_create_show_and_checkpoint(store_url, tmp_path, capsys, source):
    tids = tmp_path / "tids.json"
    tids.write_text(json.dumps(CATALOG))
    if source == "index":
        Grounder(CATALOG, mode="bag").save(tmp_path / "catalog.grlm")
        origin = ["--index", str(tmp_path / "catalog.grlm")]
    else:
        origin = ["--tids", str(tids), "--mode", "bag"]
    code, created, _ = run(capsys, "create", "--store", store_url, *origin)
    assert code == 0
    assert (created["version"], created["items"], created["mode"]) == (0, 3, "bag")
    assert created["newest_checkpoint"]["version"] == 0
    with open_store(store_url) as store:
        assert store.catalog().term_ids == CATALOG
        store.commit_changes(CatalogChange(add={"d": ["x"]}))
    code, shown, _ = run(capsys, "show", "--store", store_url)
    assert code == 0
    assert (shown["version"], shown["items"], shown["changes_after_newest_checkpoint"]) == (1, 4, 1)
    code, written, _ = run(capsys, "checkpoint", "--store", store_url)
    assert code == 0 and written["checkpoint"]["version"] == 1
    assert written["pruned"] == 0  # the oldest kept checkpoint is version 0
    code, shown, _ = run(capsys, "show", "--store", store_url)
    assert shown["newest_checkpoint"]["version"] == 1
    assert shown["changes_after_newest_checkpoint"] == 0
    for n, keep in enumerate([["--keep-changes"]] * 2 + [[]]):  # checkpoints 2, 3, 4
        with open_store(store_url) as store:
            store.commit_changes(CatalogChange(add={f"n{n}": ["x"]}))
        code, written, _ = run(capsys, "checkpoint", "--store", store_url, *keep)
        assert code == 0 and written["pruned"] == (2 if not keep else 0)
    with open_store(store_url) as store:  # kept: 4, 3, 2; versions 1 and 2 are gone
        assert [c.version for c in store.changes_since(2)] == [3, 4]


def test_errors_are_one_line_with_an_exit_code(tmp_path, capsys):
    missing = f"sqlite:///{tmp_path}/none.db"
    code, out, err = run(capsys, "show", "--store", missing)
    assert (code, out) == (3, None)
    assert err.startswith("grlm catalog: error: no catalog store at") and err.count("\n") == 1
    code, _, err = run(capsys, "show", "--store", "mysql://h/db")
    assert code == 3 and "sqlite:///" in err
    code, _, err = run(capsys, "create", "--store", missing, "--tids", str(tmp_path / "no.json"))
    assert code == 3 and "no.json" in err
    Grounder(CATALOG).save(tmp_path / "c.grlm")
    code, _, err = run(
        capsys, "create", "--store", missing, "--index", str(tmp_path / "c.grlm"), "--mode", "bag"
    )
    assert code == 2 and "--mode goes with --tids" in err
    assert not (tmp_path / "none.db").exists()
