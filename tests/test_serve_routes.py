"""The shape of grlm serve: every route is declared once, in a router; the OpenAPI schema is
generated from the request and response models; every route not explicitly public needs the
admin token, checked before the body is read."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from _serve_apps import TOKEN, make_app, random_catalog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from grlm.ground import Grounder
from grlm.serve import protocol

# Routes anyone may call; every other one must need the admin token.
PUBLIC = {
    ("POST", "/v1/ground"),
    ("POST", "/v1/recommend"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
}
MODELS = {  # (method, path): (request model, response model)
    ("POST", "/v1/ground"): (protocol.GroundRequest, protocol.GroundResponse),
    ("POST", "/v1/recommend"): (protocol.RecommendRequest, protocol.RecommendResponse),
    ("PUT", "/v1/items"): (protocol.PutItemsRequest, protocol.ChangeResponse),
    ("DELETE", "/v1/items"): (protocol.DeleteItemsRequest, protocol.ChangeResponse),
    ("POST", "/v1/admin/reload"): (protocol.ReloadRequest, protocol.ReloadResponse),
    ("GET", "/healthz"): (None, protocol.HealthResponse),
    ("GET", "/metrics"): (None, None),
}


def _operations(schema: dict) -> dict:
    return {
        (method.upper(), path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


@pytest.fixture(scope="module")
def full_schema():
    """The OpenAPI schema of every router, /v1/recommend included (it needs no model to be
    described)."""
    from grlm.serve.routes import routers

    app = FastAPI()
    for router in routers(recommend_model=True):
        app.include_router(router)
    return app.openapi()


def test_the_schema_lists_every_route_with_its_models(full_schema):
    operations = _operations(full_schema)
    assert set(operations) == set(MODELS)  # a new route needs its models named here
    components = full_schema["components"]["schemas"]
    for key, (request, response) in MODELS.items():
        operation = operations[key]
        if request is None:
            assert "requestBody" not in operation, key
        else:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            declared = request.model_json_schema()
            assert body["title"] == request.__name__, key
            assert body["properties"].keys() == declared["properties"].keys(), key
            assert body.get("required") == declared.get("required"), key
            assert body["additionalProperties"] is False, key
            assert body["examples"], key  # the examples of the docs and of `grlm serve --help`
        if response is None:
            continue
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{response.__name__}", key
        assert set(components[response.__name__]["properties"]) == set(response.model_fields)
        if request is not None:
            for status in ("400", "413", "422"):
                error = operation["responses"][status]["content"]["application/json"]["schema"]
                assert error["$ref"] == "#/components/schemas/ErrorResponse", (key, status)


def test_protected_routes_declare_the_bearer_scheme(full_schema):
    for key, operation in _operations(full_schema).items():
        if key in PUBLIC:
            assert "security" not in operation, key
        else:
            assert operation["security"] == [{"HTTPBearer": []}], key
            assert {"401", "403"} <= set(operation["responses"]), key


def test_every_route_but_the_public_ones_needs_the_token():
    from grlm.serve.limits import Limits

    grounder = Grounder(random_catalog(31, items=10))
    # A body over the limit: the token is checked before the body is read (401, not 413).
    big = b'{"x": "' + b"a" * 400 + b'"}'
    with TestClient(make_app(grounder, limits=Limits(max_body_bytes=200))) as c:
        operations = _operations(c.app.openapi())
        protected = set(operations) - PUBLIC
        assert protected >= {("PUT", "/v1/items"), ("DELETE", "/v1/items")}
        for method, path in sorted(protected):
            for headers in ({}, {"Authorization": "Bearer " + "x" * 20}, {"Authorization": TOKEN}):
                answer = c.request(method, path, content=big, headers=headers)
                assert answer.status_code == 401, (method, path, headers, answer.text)
                assert answer.headers["WWW-Authenticate"] == "Bearer"
                assert "bearer token" in answer.json()["error"]
        assert c.get("/healthz").json()["catalog_version"] == 1
    with TestClient(make_app(grounder, token=None)) as c:
        for method, path in sorted(protected):
            answer = c.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 403, (method, path, answer.text)
            assert "disabled" in answer.json()["error"]


def test_answers_are_their_declared_models(tmp_path):
    catalog = random_catalog(32, items=10)
    Grounder(catalog).save(tmp_path / "a.grlm")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(make_app(Grounder(catalog), path=str(tmp_path / "a.grlm"))) as c:
        checks = [
            (protocol.GroundResponse, c.post("/v1/ground", json={"term_ids": [["t1"]], "k": 3})),
            (
                protocol.GroundResponse,
                c.post("/v1/ground", json={"term_ids": [["t1"], ["t2", "t3"]]}),
            ),
            (
                protocol.ChangeResponse,
                c.put("/v1/items", headers=auth, json={"items": {"n": ["t1"]}}),
            ),
            (
                protocol.ChangeResponse,
                c.request("DELETE", "/v1/items", headers=auth, json={"item_ids": ["n"]}),
            ),
            (protocol.ReloadResponse, c.post("/v1/admin/reload", headers=auth)),
            (protocol.HealthResponse, c.get("/healthz")),
            (protocol.ErrorResponse, c.post("/v1/ground", json={"term_ids": []})),
        ]
        for model, answer in checks:
            model.model_validate(answer.json())  # extra fields refused: the models are exact


def test_the_cli_help_lists_the_routers_endpoints(capsys):
    from grlm.cli import main
    from grlm.serve.routes import endpoints

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    listed = {(e.method, e.path) for e in endpoints()}
    assert listed == set(MODELS)
    for endpoint in endpoints():
        start = [endpoint.method, endpoint.path]
        line = next(line for line in text.splitlines() if line.split()[:2] == start)
        assert endpoint.example in line
        assert ("(bearer token)" in line) == ((endpoint.method, endpoint.path) not in PUBLIC)
