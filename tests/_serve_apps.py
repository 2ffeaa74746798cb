"""Catalogs and applications for the tests of ``grlm serve``."""

from __future__ import annotations

import random

TOKEN = "s3cret-admin-token-0123"
VOCAB = [f"t{i}" for i in range(12)]


def random_catalog(seed: int, items: int = 60, length: int = 4) -> dict[str, list[str]]:
    """Small vocabulary, so Term IDs collide (direct hits with several items) and structural
    scores tie."""
    rng = random.Random(seed)
    return {f"i{n}": [rng.choice(VOCAB) for _ in range(length)] for n in range(items)}


def random_queries(seed: int, count: int, catalog: dict, length: int = 4) -> list[list[str]]:
    """Half copies of catalog Term IDs (direct hits), half random (structural or none)."""
    rng = random.Random(seed)
    terms = list(catalog.values())
    return [
        list(rng.choice(terms))
        if rng.random() < 0.5
        else [rng.choice(VOCAB + ["unknown"]) for _ in range(rng.randint(1, length))]
        for _ in range(count)
    ]


def make_app(grounder, *, token: str | None = TOKEN, path: str = "/nonexistent.grlm", **options):
    from grlm.serve.app import ServeConfig, create_app
    from grlm.serve.state import CatalogSource

    source = CatalogSource(path, "index")
    return create_app(ServeConfig(source=source, token=token, **options), grounder=grounder)


def as_json(result) -> dict:
    return {"hit": result.hit, "items": list(result.item_ids), "scores": list(result.scores)}
