"""grlm serve following a catalog store (``--store``): changes are committed to the store before
they are acknowledged, survive a restart, reach every app on the same store (two workers), and a
read can ask for the version it needs (``X-Min-Catalog-Version``)."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from _catalog_stores import make_unreachable
from _serve_apps import TOKEN, random_catalog
from fastapi.testclient import TestClient
from grlm.ground import Grounder
from grlm.store import create_store

AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEW = {"items": {"new": ["x1", "x2", "x3", "x4"]}}
QUERY = {"term_ids": [["x1", "x2", "x3", "x4"]], "k": 1}


@pytest.fixture
def catalog_url(store_url):
    """A new store holding a catalog of 60 items at version 0, once per backend."""
    create_store(store_url, Grounder(random_catalog(1))).close()
    return store_url


@pytest.fixture
def sqlite_url(tmp_path):
    """The same on SQLite only (what does not depend on the backend, and SQLite's lock)."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    create_store(url, Grounder(random_catalog(1))).close()
    return url


def store_app(url: str, **options):
    from grlm.serve.app import ServeConfig, create_app
    from grlm.serve.state import store_source

    return create_app(ServeConfig(source=store_source(url), store=url, token=TOKEN, **options))


def found_new(answer: dict) -> bool:
    return answer["results"][0]["items"] == ["new"]


def test_a_put_is_committed_and_survives_a_restart(catalog_url):
    with TestClient(store_app(catalog_url)) as c:
        assert c.get("/healthz").json()["catalog_version"] == 0
        put = c.put("/v1/items", headers=AUTH, json=NEW)
        assert put.status_code == 200, put.text
        assert put.json() == {"catalog_version": 1, "items": 61}
        answer = c.post("/v1/ground", json=QUERY).json()
        assert answer["catalog_version"] == 1 and found_new(answer)
        gone = c.request("DELETE", "/v1/items", headers=AUTH, json={"item_ids": ["i0"]})
        assert gone.json() == {"catalog_version": 2, "items": 60}
    with TestClient(store_app(catalog_url)) as c:  # a restart on the same store
        health = c.get("/healthz").json()
        assert health["catalog_version"] == 2 and health["items"] == 60
        assert health["store"] == {
            "applied_version": 2,
            "store_version": 2,
            "lag": 0,
            "state": "ok",
            "last_error": None,
        }
        assert found_new(c.post("/v1/ground", json=QUERY).json())
        text = c.get("/metrics").text
        assert "grlm_catalog_version 2.0" in text and "grlm_store_lag 0.0" in text
        assert 'grlm_store_state{state="ok"} 1.0' in text


def test_a_refused_change_commits_nothing(catalog_url):
    with TestClient(store_app(catalog_url)) as c:
        refused = c.request("DELETE", "/v1/items", headers=AUTH, json={"item_ids": ["absent"]})
        assert refused.status_code == 422
        assert c.get("/healthz").json()["store"]["store_version"] == 0


def test_two_apps_on_one_store_are_two_workers(catalog_url):
    with TestClient(store_app(catalog_url)) as one, TestClient(store_app(catalog_url)) as two:
        version = one.put("/v1/items", headers=AUTH, json=NEW).json()["catalog_version"]
        # Read-your-writes: the other worker answers from that version or a newer one.
        answer = two.post("/v1/ground", json=QUERY, headers={"X-Min-Catalog-Version": str(version)})
        assert answer.status_code == 200
        assert answer.json()["catalog_version"] >= version and found_new(answer.json())
        # And without the header, the follower catches up by itself, within a bounded wait.
        removed = two.request("DELETE", "/v1/items", headers=AUTH, json={"item_ids": ["new"]})
        wanted = removed.json()["catalog_version"]
        deadline = time.monotonic() + 5
        while one.get("/healthz").json()["catalog_version"] < wanted:
            assert time.monotonic() < deadline, "the follower did not catch up within 5 s"
            time.sleep(0.01)
        assert not found_new(one.post("/v1/ground", json=QUERY).json())


def test_a_version_not_reached_is_503_with_retry_after(sqlite_url, monkeypatch):
    import grlm.serve.service

    monkeypatch.setattr(grlm.serve.service, "MIN_VERSION_WAIT_S", 0.05)
    with TestClient(store_app(sqlite_url)) as c:
        answer = c.post("/v1/ground", json=QUERY, headers={"X-Min-Catalog-Version": "7"})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        assert "catalog version 7" in answer.json()["error"]


@pytest.mark.parametrize("value", ["-1", "one", "1.5", "1e3", "", "9" * 30, "٣".encode()])
def test_a_bad_min_version_header_is_400(sqlite_url, value):
    with TestClient(store_app(sqlite_url)) as c:
        answer = c.post("/v1/ground", json=QUERY, headers={"X-Min-Catalog-Version": value})
        assert answer.status_code == 400
        assert "X-Min-Catalog-Version" in answer.json()["error"]


def test_without_a_store_a_newer_version_is_503_at_once(tmp_path):
    from _serve_apps import make_app

    with TestClient(make_app(Grounder(random_catalog(1)))) as c:
        ok = c.post("/v1/ground", json=QUERY, headers={"X-Min-Catalog-Version": "1"})
        assert ok.status_code == 200
        started = time.monotonic()
        late = c.post("/v1/ground", json=QUERY, headers={"X-Min-Catalog-Version": "2"})
        assert late.status_code == 503 and time.monotonic() - started < 1
        assert "follows no catalog store" in late.json()["error"]


def test_an_unreachable_store_refuses_writes_and_reads_go_on(catalog_url, monkeypatch):
    import grlm.store.sqlite

    monkeypatch.setattr(grlm.store.sqlite, "BUSY_TIMEOUT_S", 0.05)
    with TestClient(store_app(catalog_url)) as c:
        assert c.put("/v1/items", headers=AUTH, json=NEW).status_code == 200
        back = make_unreachable(catalog_url)  # writes cannot land
        try:
            refused = c.put("/v1/items", headers=AUTH, json={"items": {"b": ["x9"]}})
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            reason = refused.json()["error"]
            assert reason.startswith("catalog store: ") and "\n" not in reason
            answer = c.post("/v1/ground", json=QUERY)
            assert answer.status_code == 200 and answer.json()["catalog_version"] == 1
            assert c.get("/healthz").json()["store"]["last_error"]  # the last failure's reason
        finally:
            back()
        again = c.put("/v1/items", headers=AUTH, json={"items": {"b": ["x9"]}})
        assert again.status_code == 200 and again.json()["catalog_version"] == 2


def test_a_follower_that_failed_makes_healthz_503(sqlite_url, monkeypatch):
    import grlm.store.follower
    from grlm.ground.updates import CatalogChange
    from grlm.store import open_store

    def refuse(*args, **kwargs):
        raise RuntimeError("cannot apply")

    with TestClient(store_app(sqlite_url)) as c:
        monkeypatch.setattr(grlm.store.follower, "apply_changes", refuse)
        with open_store(sqlite_url) as other:  # another process commits a change
            other.commit_changes(CatalogChange(add={"b": ["x9"]}))
        deadline = time.monotonic() + 5
        while (health := c.get("/healthz")).status_code == 200:
            assert time.monotonic() < deadline, "the follower did not fail within 5 s"
            time.sleep(0.01)
        assert health.status_code == 503 and health.json()["status"] == "failed"
        assert "cannot apply" in health.json()["store"]["last_error"]
        answer = c.post("/v1/ground", json=QUERY)  # reads go on from the applied version
        assert answer.status_code == 200 and answer.json()["catalog_version"] == 0
        refused = c.put("/v1/items", headers=AUTH, json=NEW)
        assert refused.status_code == 503 and "stopped" in refused.json()["error"]


def test_the_header_is_in_the_openapi_schema(sqlite_url):
    with TestClient(store_app(sqlite_url)) as c:
        paths = c.get("/openapi.json").json()["paths"]
    parameters = paths["/v1/ground"]["post"]["parameters"]
    assert [(p["name"], p["in"]) for p in parameters] == [("X-Min-Catalog-Version", "header")]


def test_reload_is_refused_with_a_store(sqlite_url):
    with TestClient(store_app(sqlite_url)) as c:
        answer = c.post("/v1/admin/reload", headers=AUTH)
        assert answer.status_code == 409 and "store" in answer.json()["error"]
