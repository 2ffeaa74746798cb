"""`grlm serve` as a process on 127.0.0.1 (an ephemeral port, bounded waits), and its exit
codes for bad starts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from _serve_apps import TOKEN, as_json, random_catalog, random_queries
from _serve_process import CHILD_ENV, free_port, interrupt, serve_process
from grlm.cli import main
from grlm.ground import Grounder


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_process_answers_and_reloads(tmp_path, workers):
    catalog = random_catalog(11)
    (tmp_path / "tids.json").write_text(json.dumps(catalog))
    Grounder(catalog).save(tmp_path / "catalog.grlm")
    (tmp_path / "token").write_text(TOKEN + "\n")
    source = (
        ["--index", str(tmp_path / "catalog.grlm")]
        if workers == 1
        else ["--tids", str(tmp_path / "tids.json")]
    )
    process, url = serve_process(
        [*source, "--workers", str(workers), "--token-file", str(tmp_path / "token")], {}
    )
    try:
        grounder = Grounder(catalog)
        queries = random_queries(12, 20, catalog)
        with httpx.Client(base_url=url, timeout=10) as client:
            answer = client.post("/v1/ground", json={"term_ids": queries, "k": 4}).json()
            assert answer["results"] == [as_json(grounder.ground(q, k=4)) for q in queries]
            reload = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
            assert reload.status_code == 200 and reload.json()["catalog_version"] == 2
            assert client.post("/v1/admin/reload").status_code == 401
    finally:
        interrupt(process)
    assert process.returncode == 0, process.stderr.read().decode()


def test_workers_on_one_store_see_each_others_changes(tmp_path):
    from grlm.store import create_store

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    create_store(url, Grounder(random_catalog(11))).close()
    (tmp_path / "token").write_text(TOKEN + "\n")
    process, base = serve_process(
        ["--store", url, "--workers", "2", "--token-file", str(tmp_path / "token")], {}
    )
    query = {"term_ids": [["x1", "x2", "x3", "x4"]], "k": 1}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        for change, found in [
            (("PUT", {"items": {"new": ["x1", "x2", "x3", "x4"]}}), ["new"]),
            (("DELETE", {"item_ids": ["new"]}), []),
        ]:
            method, body = change
            done = httpx.request(method, f"{base}/v1/items", json=body, headers=auth, timeout=10)
            assert done.status_code == 200, done.text
            version = done.json()["catalog_version"]
            # A new connection each time: the requests land on either worker.
            for _ in range(20):
                answer = httpx.post(
                    f"{base}/v1/ground",
                    json=query,
                    headers={"X-Min-Catalog-Version": str(version)},
                    timeout=10,
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["catalog_version"] >= version
                assert answer.json()["results"][0]["items"][: len(found)] == found
                if not found:
                    assert "new" not in answer.json()["results"][0]["items"]
    finally:
        interrupt(process)
    assert process.returncode == 0, process.stderr.read().decode()


def test_store_starts_and_their_exit_codes(tmp_path, capsys):
    assert main(["serve", "--store", f"sqlite:///{tmp_path / 'none.db'}"]) == 3
    assert "none.db" in capsys.readouterr().err
    assert main(["serve", "--store", f"sqlite:///{tmp_path / 'none.db'}", "--workers", "2"]) == 3
    with pytest.raises(SystemExit) as stop:
        main(["serve", "--store", "sqlite:///x.db", "--tids", "x.json"])
    assert stop.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_serve_binds_loopback_by_default():
    from grlm.cli import build_parser

    args = build_parser().parse_args(["serve", "--tids", "x.json"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)


def test_bad_starts_have_their_exit_codes(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GRLM_ADMIN_TOKEN", raising=False)
    assert main(["serve", "--index", str(tmp_path / "missing.grlm")]) == 3
    assert "missing.grlm" in capsys.readouterr().err
    (tmp_path / "bad.grlm").write_bytes(b"junk")
    assert main(["serve", "--index", str(tmp_path / "bad.grlm")]) == 3
    assert main(["serve", "--tids", str(tmp_path / "bad.grlm")]) == 3
    assert main(["serve", "--tids", "x.json", "--coalesce-window-ms", "5"]) == 2
    assert main(["serve", "--tids", "x.json", "--max-k", "2000"]) == 2
    assert "--max-k must be at most 1024" in capsys.readouterr().err
    monkeypatch.setenv("GRLM_ADMIN_TOKEN", "short")
    assert main(["serve", "--tids", "x.json"]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    assert main(["serve", "--tids", "x.json", "--token-file", str(tmp_path / "none")]) == 3
    monkeypatch.setenv("GRLM_ADMIN_TOKEN", "s3cret-admin-tökén-0123")  # headers carry ASCII
    assert main(["serve", "--tids", "x.json"]) == 2
    assert "printable ASCII" in capsys.readouterr().err
    monkeypatch.delenv("GRLM_ADMIN_TOKEN")
    assert main(["serve", "--tids", "x.json", "--model", str(tmp_path / "nomodel")]) == 3
    assert main(["serve", "--store", "sqlite:///c.db", "--mode", "bag"]) == 2  # not ignored
    assert "--mode goes with --tids" in capsys.readouterr().err
    from grlm.ground.backend import resolve_device

    if resolve_device("auto") == "cpu":  # no GPU here: --device cuda is a usage error
        assert main(["serve", "--tids", "x.json", "--device", "cuda"]) == 2
        assert "device='cuda'" in capsys.readouterr().err


def test_port_in_use_exits_1(tmp_path):
    Grounder(random_catalog(1)).save(tmp_path / "c.grlm")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "grlm.cli",
                "serve",
                "--index",
                str(tmp_path / "c.grlm"),
                "--port",
                str(port),
            ],
            env=CHILD_ENV,
            timeout=60,
            capture_output=True,
            check=False,
        )
    assert done.returncode == 1, done.stderr.decode()


def test_import_grlm_and_its_cli_need_no_web_stack():
    code = (
        "import sys, grlm, grlm.cli; grlm.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'uvicorn', 'starlette', 'httpx', 'prometheus_client')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=CHILD_ENV,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("content", [None, b"{}"])  # missing, empty
def test_workers_with_a_catalog_no_worker_can_read_exit_3_at_once(tmp_path, content):
    # Before: each worker failed and was started again, forever (26 workers in 40 s).
    tids = tmp_path / "tids.json"
    if content is not None:
        tids.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "grlm.cli", "serve", "--tids", str(tids), "--workers", "2"]
        + ["--port", str(free_port())],
        env=CHILD_ENV,
        timeout=120,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 3, done.stderr.decode()
    assert done.stderr.decode().count("\n") <= 2


def test_a_worker_that_cannot_start_exits_with_uvicorns_startup_failure(tmp_path, monkeypatch):
    from grlm.serve.app import CONFIG_ENV, ServeConfig, app_from_environment
    from grlm.serve.state import CatalogSource
    from uvicorn.config import STARTUP_FAILURE

    config = ServeConfig(source=CatalogSource(str(tmp_path / "gone.grlm"), "index"))
    monkeypatch.setenv(CONFIG_ENV, config.to_json())
    with pytest.raises(SystemExit) as stop:
        app_from_environment()
    assert stop.value.code == STARTUP_FAILURE


def test_the_device_reaches_every_worker_resolved(tmp_path):
    from grlm.serve.app import ServeConfig
    from grlm.serve.state import source_from

    (tmp_path / "tids.json").write_text(json.dumps({"a": ["x"], "b": ["y"]}))
    source = source_from(None, str(tmp_path / "tids.json"), "bag", "cpu")
    config = ServeConfig.from_json(ServeConfig(source=source).to_json(), None)
    assert config.source.device == "cpu" and config.source.mode == "bag"
    grounder = config.source.load()
    assert grounder.device == "cpu" and grounder.mode == "bag"
    beside = config.source.index_beside("b.grlm")
    assert beside.device == "cpu" and beside.kind == "index"
