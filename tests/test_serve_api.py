"""grlm serve over FastAPI's TestClient: answers equal the Grounder's, every bad request is a
4xx with a one-line reason (never a 500), limits and the admin token hold, reload swaps."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from _serve_apps import TOKEN, as_json, make_app, random_catalog, random_queries
from fastapi.testclient import TestClient
from grlm.ground import Grounder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def catalog():
    return random_catalog(1)


@pytest.fixture(scope="module")
def grounder(catalog):
    return Grounder(catalog, priors={"i3": 2.0, "i7": 1.0})


@pytest.fixture(scope="module")
def client(grounder):
    with TestClient(make_app(grounder)) as c:
        yield c


@pytest.mark.parametrize("k", [1, 3, 10, 1000])
def test_ground_answers_equal_the_grounder(client, grounder, catalog, k):
    queries = random_queries(2, 50, catalog)
    batch = client.post("/v1/ground", json={"term_ids": queries, "k": k})
    assert batch.status_code == 200
    assert batch.json()["results"] == [as_json(grounder.ground(q, k=k)) for q in queries]
    for q in queries[:10]:  # one Term ID a request: the coalesced path
        single = client.post("/v1/ground", json={"term_ids": [q], "k": k}).json()
        assert single["results"] == [as_json(grounder.ground(q, k=k))]
        assert single["catalog_version"] == 1


def test_k_defaults_to_10(client, grounder):
    answer = client.post("/v1/ground", json={"term_ids": [["t1"]]}).json()
    assert answer["results"] == [as_json(grounder.ground(["t1"], k=10))]


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b"", 400, "empty body"),
        (b"{bad", 400, "bad JSON"),
        (b"\xff\xfe", 400, "not UTF-8"),
        (b"[1]", 400, "must be a JSON object"),
        (b"[" * 100000, 400, "bad JSON"),
        (b'{"k": 3}', 422, "missing field 'term_ids'"),
        (b'{"term_ids": [["a"]], "x": 1}', 422, "unknown field 'x'"),
        (b'{"term_ids": "a b"}', 422, "term_ids must be a list"),
        (b'{"term_ids": []}', 422, "holds 0 Term IDs"),
        (b'{"term_ids": [[]]}', 422, "term_ids[0] has 0 terms"),
        (b'{"term_ids": ["abc"]}', 422, "term_ids[0] must be a list"),
        (b'{"term_ids": [["a", 3]]}', 422, "term_ids[0][1] must be a string"),
        (b'{"term_ids": [["a", " "]]}', 422, "term_ids[0][1] is an empty term"),
        (b'{"term_ids": [["\\ud800"]]}', 422, "not valid Unicode"),
        (b'{"term_ids": [["a","b","c","d","e"]]}', 422, "1 to 4 are allowed"),
        (b'{"term_ids": [["a"]], "k": 0}', 422, "k must be in [1, 1024]"),
        (b'{"term_ids": [["a"]], "k": 1025}', 422, "k must be in [1, 1024]"),
        (b'{"term_ids": [["a"]], "k": 2.0}', 422, "k must be an integer"),
        (b'{"term_ids": [["a"]], "k": true}', 422, "k must be an integer"),
        (b'{"term_ids": [["a"]], "k": null}', 422, "k must be an integer"),
    ],
)
def test_bad_bodies_get_a_one_line_4xx(client, body, status, reason):
    response = client.post("/v1/ground", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert reason in error and "\n" not in error


def test_limits_on_body_term_ids_terms_and_term_length(grounder):
    with TestClient(
        make_app(
            grounder,
            limits=_limits(max_body_bytes=200, max_term_ids=3, max_terms=2, max_term_chars=5),
        )
    ) as c:
        big = c.post("/v1/ground", content=b'{"term_ids": [["' + b"a" * 300 + b'"]]}')
        assert big.status_code == 413 and "over the limit of 200" in big.json()["error"]
        many = c.post("/v1/ground", json={"term_ids": [["a"]] * 4})
        assert many.status_code == 422 and "1 to 3 are allowed" in many.json()["error"]
        long = c.post("/v1/ground", json={"term_ids": [["a", "b", "c"]]})
        assert long.status_code == 422 and "1 to 2 are allowed" in long.json()["error"]
        wide = c.post("/v1/ground", json={"term_ids": [["abcdef"]]})
        assert wide.status_code == 422 and "at most 5" in wide.json()["error"]
        assert c.post("/v1/ground", json={"term_ids": [["t1", "t2"]]}).status_code == 200


def _limits(**bounds):
    from grlm.serve.limits import Limits

    return Limits(**bounds)


def test_limits_refuse_nonsense():
    from grlm.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="max_k must be at most 1024"):
        _limits(max_k=5000)
    with pytest.raises(InvalidInputError, match="max_terms must be a positive int"):
        _limits(max_terms=0)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["term_ids", "k", "history", "x"]) | st.text(max_size=4),
            inner,
            max_size=3,
        )
    ),
    max_leaves=20,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=64),
        st.fixed_dictionaries({"term_ids": JSON_VALUES}, optional={"k": JSON_VALUES}).map(
            lambda v: json.dumps(v).encode()
        ),
    )
)
def test_no_body_makes_a_5xx(client, body):
    for route in ("/v1/ground", "/v1/admin/reload"):
        response = client.post(route, content=body, headers=AUTH if route != "/v1/ground" else {})
        assert response.status_code < 500, (route, body, response.text)
        if response.status_code >= 400:
            error = response.json()["error"]
            assert error and "\n" not in error


def test_admin_needs_the_token(grounder):
    with TestClient(make_app(grounder, token=None)) as c:
        disabled = c.post("/v1/admin/reload", headers=AUTH)
        assert disabled.status_code == 403 and "disabled" in disabled.json()["error"]
    with TestClient(make_app(grounder)) as c:
        missing = c.post("/v1/admin/reload")
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = c.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "wrong bearer token"
        basic = c.post("/v1/admin/reload", headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401


def test_read_token_from_file_and_environment(tmp_path):
    from grlm.serve.auth import read_token

    assert read_token(None, environ={}) is None
    assert read_token(None, environ={"GRLM_ADMIN_TOKEN": f" {TOKEN} "}) == TOKEN
    (tmp_path / "token").write_text(f"{TOKEN}\nignored\n")
    assert read_token(str(tmp_path / "token"), environ={}) == TOKEN
    with pytest.raises(ValueError, match="at least 16 characters"):
        read_token(None, environ={"GRLM_ADMIN_TOKEN": "short"})
    (tmp_path / "empty").write_text("")
    with pytest.raises(ValueError, match="at least 16 characters"):
        read_token(str(tmp_path / "empty"), environ={})


def test_reload_swaps_and_a_bad_file_keeps_the_old_catalog(tmp_path, catalog):
    first = Grounder(catalog)
    first.save(tmp_path / "a.grlm")
    second = Grounder({"new": ["t1", "t2", "t3", "t4"]})
    second.save(tmp_path / "b.grlm")
    (tmp_path / "bad.grlm").write_bytes(b"not an index")
    with TestClient(make_app(first, path=str(tmp_path / "a.grlm"))) as c:
        again = c.post("/v1/admin/reload", headers=AUTH)
        assert again.status_code == 200 and again.json()["catalog_version"] == 2
        swapped = c.post("/v1/admin/reload", headers=AUTH, json={"index": str(tmp_path / "b.grlm")})
        assert swapped.json() == {
            "catalog_version": 3,
            "items": 1,
            "source": str(tmp_path / "b.grlm"),
        }
        answer = c.post("/v1/ground", json={"term_ids": [["t1", "t2", "t3", "t4"]]}).json()
        assert answer["results"][0]["items"] == ["new"] and answer["catalog_version"] == 3
        bad = c.post("/v1/admin/reload", headers=AUTH, json={"index": str(tmp_path / "bad.grlm")})
        assert bad.status_code == 422
        assert "still serving version 3" in bad.json()["error"]
        missing = c.post("/v1/admin/reload", headers=AUTH, json={"index": str(tmp_path / "no")})
        assert missing.status_code == 422
        assert c.get("/healthz").json()["catalog_version"] == 3


class _HeldCore:
    """A core whose ground_batch waits for ``release``: a request held in flight."""

    def __init__(self, core, entered, release):
        self.core, self.entered, self.release = core, entered, release

    def ground_batch(self, *args, **kwargs):
        self.entered.set()
        assert self.release.wait(10)
        return self.core.ground_batch(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.core, name)

    def __len__(self):
        return len(self.core)


class _HeldGrounder:
    """A Grounder whose state (what a snapshot of it reads) holds batches in flight."""

    def __init__(self, grounder):
        self.grounder, self.entered, self.release = grounder, threading.Event(), threading.Event()

    def snapshot(self):
        return _HeldCore(self.grounder.snapshot(), self.entered, self.release)

    def __getattr__(self, name):
        return getattr(self.grounder, name)

    def __len__(self):
        return len(self.grounder)


def test_requests_in_flight_finish_on_the_old_catalog(tmp_path, catalog):
    import httpx

    old = Grounder(catalog)
    new = Grounder({"new": ["t1", "t2", "t3", "t4"]})
    new.save(tmp_path / "b.grlm")
    held = _HeldGrounder(old)
    app = make_app(held)
    query = {"term_ids": [list(catalog["i0"]), list(catalog["i1"])], "k": 5}

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            in_flight = asyncio.create_task(c.post("/v1/ground", json=query))
            while not held.entered.is_set():
                await asyncio.sleep(0.001)
            reload = await c.post(
                "/v1/admin/reload", headers=AUTH, json={"index": str(tmp_path / "b.grlm")}
            )
            after = await c.post("/v1/ground", json=query)
            held.release.set()
            return (await in_flight).json(), reload.json(), after.json()

    before, reload, after = asyncio.run(scenario())
    assert reload["catalog_version"] == 2
    assert before["catalog_version"] == 1
    assert before["results"] == [as_json(old.ground(q, k=5)) for q in query["term_ids"]]
    assert after["catalog_version"] == 2
    assert after["results"] == [as_json(new.ground(q, k=5)) for q in query["term_ids"]]
    assert after["results"] != before["results"]


def test_healthz_metrics_and_openapi(client):
    client.post("/v1/ground", json={"term_ids": [["t1"]]})
    client.post("/v1/ground", content=b"{")
    health = client.get("/healthz").json()
    assert health == {
        "status": "ok",
        "items": 60,
        "catalog_version": 1,
        "mode": "positional",
        "delta_items": 0,
        "recommend": False,
        "store": None,
    }
    text = client.get("/metrics").text
    assert 'grlm_requests_total{route="/v1/ground",status="200"}' in text
    assert 'grlm_requests_total{route="/v1/ground",status="400"}' in text
    assert 'grlm_request_seconds_bucket{le="0.001",route="/v1/ground"}' in text
    assert "grlm_catalog_items 60.0" in text and "grlm_catalog_version 1.0" in text
    assert "grlm_catalog_delta_items" in text and "grlm_coalesced_batch_size_count" in text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/ground", "/v1/items", "/v1/admin/reload", "/healthz", "/metrics"} <= set(paths)
    assert "/v1/recommend" not in paths  # no model loaded
    assert client.post("/v1/recommend", json={"history": ["i1"]}).status_code == 404
    assert client.get("/v1/ground").status_code == 405


def test_reload_takes_only_files_in_the_started_catalogs_folder(tmp_path, catalog):
    # Before: any path the server could read, and its errors told whether it existed.
    served, elsewhere = tmp_path / "served", tmp_path / "elsewhere"
    served.mkdir()
    elsewhere.mkdir()
    Grounder(catalog).save(served / "a.grlm")
    Grounder({"new": ["t1", "t2", "t3", "t4"]}).save(served / "b.grlm")
    Grounder({"other": ["t1"]}).save(elsewhere / "c.grlm")
    (served / "link.grlm").symlink_to(elsewhere / "c.grlm")
    with TestClient(make_app(Grounder(catalog), path=str(served / "a.grlm"))) as c:
        for outside in (
            str(elsewhere / "c.grlm"),
            "../elsewhere/c.grlm",
            "link.grlm",
            "/etc/passwd",
            "/nonexistent/x",
        ):
            refused = c.post("/v1/admin/reload", headers=AUTH, json={"index": outside})
            assert refused.status_code == 403, outside
            assert "folder" in refused.json()["error"] and outside not in refused.json()["error"]
        assert c.get("/healthz").json()["catalog_version"] == 1
        swapped = c.post("/v1/admin/reload", headers=AUTH, json={"index": "b.grlm"})
        assert swapped.status_code == 200 and swapped.json()["source"] == str(served / "b.grlm")


def test_big_answers_map_their_ids_off_the_event_loop_once_per_snapshot(monkeypatch, catalog):
    # Before: 1024 Term IDs at k = 1024 were mapped to ids on the event loop, 330 ns an id after
    # a change (a binary search per id): other clients waited behind it.
    import grlm.serve.service as service_module

    threads = []
    real = service_module._batch_json

    def recording(batch, item_ids):
        threads.append((threading.current_thread().name, type(item_ids)))
        return real(batch, item_ids)

    monkeypatch.setattr(service_module, "_batch_json", recording)
    grounder = Grounder(catalog)
    with TestClient(make_app(grounder)) as c:
        c.put("/v1/items", headers=AUTH, json={"items": {"new": ["t1", "t2", "t3", "t4"]}})
        query = {"term_ids": [list(catalog["i0"]), ["t1", "t2", "t3", "t4"]], "k": 5}
        answer = c.post("/v1/ground", json=query).json()
        assert "new" in answer["results"][1]["items"]
    assert threads and all(name.startswith("grlm-ground") for name, _ in threads)
    assert all(kind is list for _, kind in threads)
    snapshot = grounder.snapshot()
    assert snapshot.item_ids is snapshot.item_ids  # listed once per snapshot
