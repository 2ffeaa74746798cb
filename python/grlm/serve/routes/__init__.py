"""The routers of ``grlm serve``, one per concern. The application and ``grlm serve --help``
list the endpoints from them (:func:`endpoints`), so a route exists in one place: its module."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.routing import APIRoute

from grlm.serve.auth import require_admin
from grlm.serve.routes import admin, ground, health, items, recommend


def routers(*, recommend_model: bool) -> list[APIRouter]:
    """The routers of an application; /v1/recommend only with a model."""
    chosen = [ground.router, items.router, admin.router, health.router]
    if recommend_model:
        chosen.insert(1, recommend.router)
    return chosen


def is_protected(route: APIRoute) -> bool:
    """Whether ``route`` needs the admin token."""
    return any(depends.dependency is require_admin for depends in route.dependencies)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    example: str  # a request body, or ""
    note: str  # "", "bearer token", "with --model"


def endpoints() -> list[Endpoint]:
    """Every endpoint of every router (with a model loaded), in the order of ``routers``."""
    out = []
    for router in routers(recommend_model=True):
        for route in router.routes:
            schema = (
                (route.openapi_extra or {})
                .get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
            )
            example = ""
            if schema.get("examples"):  # in the fields' order (the schema sorts its examples)
                given = schema["examples"][0]
                example = json.dumps(
                    {name: given[name] for name in schema["properties"] if name in given}
                )
            note = "bearer token" if is_protected(route) else ""
            if router is recommend.router:
                note = "with --model"
            for method in sorted(route.methods):
                out.append(Endpoint(method, route.path, example, note))
    return out
