"""The HTTP API of ``grlm serve``, declared once: request and response models (pydantic), from
which the OpenAPI schema is generated and by which every body is checked.

A body is read by the server itself (bounded as it streams, whatever its Content-Type: ``curl
-d`` sends a form type), parsed with :mod:`json`, then validated by its model in strict mode (no
coercion: ``2.0`` or ``true`` is not an int). The bounds that depend on the server's limits or
on the catalog (Term ID length) are checked after the types, with the validation context.
Every way a body can be wrong becomes a :class:`BadRequest` with an HTTP status and a one-line
reason, never an exception of another kind (the server answers those with 500, which a
client's mistake must never cause).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from itertools import chain
from operator import methodcaller
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from grlm.ground.grounder import HIT_TYPES
from grlm.serve.limits import Limits


class BadRequest(Exception):
    """A client error: ``status`` (4xx; 503 when the catalog store or the version asked for is
    not there yet), a one-line ``reason`` and any ``headers`` of the answer (``Retry-After``)."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


# What the core trims from a term (grlm::TermVocab): ASCII whitespace only. str.strip() would trim
# Unicode spaces too and judge a term by another rule than the core's.
ASCII_SPACE = " \t\n\r\v\f"
MAX_ITEM_ID_CHARS = 256
MAX_CATALOG_TERM_BYTES = 256  # the core's bound on a catalog term (kMaxTermBytes)

# A type error reads "<where> must be <description>, got <what>": each description is a noun
# phrase, and is also the schema's documentation of the value.
Term = Annotated[str, Field(description="a string")]
TermId = Annotated[list[Term], Field(description="a list of terms")]
ItemId = Annotated[str, Field(description="an item id string")]
K = Annotated[int, Field(description="an integer, the items per answer (1 to --max-k)")]


def _show(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_json_object(body: bytes) -> dict:
    """The body as a JSON object (400 for anything else)."""
    if not body:
        raise BadRequest(400, "empty body: expected a JSON object")
    try:
        text = body.decode("utf-8")  # json.loads would guess UTF-16 or -32 from the bytes
    except UnicodeDecodeError:
        raise BadRequest(400, "body is not UTF-8") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(
            400, f"bad JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise BadRequest(400, "bad JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise BadRequest(400, f"body must be a JSON object, got {type(value).__name__}")
    return value


class RequestBody(BaseModel):
    """A request body: unknown fields and type coercion refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @classmethod
    def parse(cls, body: bytes, **context):
        """The model of a JSON body; ``context`` (limits, the catalog's Term ID length) reaches
        the checks of the bounds."""
        value = parse_json_object(body)
        try:
            return cls.model_validate(value, context=context)
        except ValidationError as error:
            raise BadRequest(422, _reason(cls, error)) from None


def _reason(model: type[BaseModel], error: ValidationError) -> str:
    """One line for a validation error: a missing field first, then an unknown one, then the
    first wrong value, described by the schema."""
    rank = {"missing": 0, "extra_forbidden": 1}
    first = min(
        enumerate(error.errors(include_url=False)),
        key=lambda pair: (
            rank.get(pair[1]["type"], 2),
            str(pair[1]["loc"][-1]) if pair[1]["type"] == "extra_forbidden" else "",
            pair[0],
        ),
    )[1]
    loc = first["loc"]
    if first["type"] == "missing":
        return f"missing field {loc[-1]!r}"
    if first["type"] == "extra_forbidden":
        return f"unknown field {_show(loc[-1])}"
    where = str(loc[0]) + "".join(
        f"[{p}]" if isinstance(p, int) else f"[{_show(p)}]" for p in loc[1:]
    )
    node = _schema_at(_schema(model), loc)
    if "description" not in node:
        return f"{where}: {first['msg']}"
    value = first["input"]
    shown = _show(value) if node.get("type") == "integer" else type(value).__name__
    return f"{where} must be {node['description']}, got {shown}"


@cache
def _schema(model: type[BaseModel]) -> dict:
    return model.model_json_schema()


def _schema_at(schema: dict, loc: Sequence) -> dict:
    node = schema
    for part in loc:
        if part in node.get("properties", ()):
            node = node["properties"][part]
        elif isinstance(part, int) and "items" in node:
            node = node["items"]
        elif isinstance(part, str) and isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return {}
    return node


def _check_k(k: int, limits: Limits) -> None:
    if not 1 <= k <= limits.max_k:
        raise BadRequest(422, f"k must be in [1, {limits.max_k}], got {k}")


def _check_count(what: str, count: int, most: int, unit: str) -> None:
    if not 1 <= count <= most:
        raise BadRequest(422, f"{what} holds {count} {unit}; 1 to {most} are allowed")


def check_term_id(term_id: list[str], where: str, limits: Limits, term_id_length: int) -> None:
    """One Term ID (a list of str, as the model took it): 1 to min(max_terms, term_id_length)
    non-empty terms of at most max_term_chars characters, valid Unicode."""
    longest = min(limits.max_terms, term_id_length)
    if not 1 <= len(term_id) <= longest:
        raise BadRequest(422, f"{where} has {len(term_id)} terms; 1 to {longest} are allowed")
    for j, term in enumerate(term_id):
        if not term.strip(ASCII_SPACE):
            raise BadRequest(422, f"{where}[{j}] is an empty term")
        if len(term) > limits.max_term_chars:
            raise BadRequest(
                422,
                f"{where}[{j}] has {len(term)} characters; at most "
                f"{limits.max_term_chars} are allowed",
            )
        if not _encodes(term):  # a lone surrogate such as "\ud800" from a JSON escape
            raise BadRequest(422, f"{where}[{j}] is not valid Unicode")


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_item_id(item_id: str, where: str) -> None:
    if not item_id or len(item_id) > MAX_ITEM_ID_CHARS:
        raise BadRequest(
            422, f"{where} must have 1 to {MAX_ITEM_ID_CHARS} characters, got {len(item_id)}"
        )
    if not _encodes(item_id):
        raise BadRequest(422, f"{where} is not valid Unicode")


class GroundRequest(RequestBody):
    """``POST /v1/ground``: Term IDs to ground, each against the whole catalog."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"term_ids": [["perfume", "feminine", "oriental"]], "k": 5}]
        }
    )

    term_ids: list[TermId] = Field(description="a list of Term IDs (1 to --max-term-ids)")
    k: K = 10

    @model_validator(mode="after")
    def _within_bounds(self, info: ValidationInfo) -> GroundRequest:
        limits, length = info.context["limits"], info.context["term_id_length"]
        term_ids = self.term_ids
        _check_count("term_ids", len(term_ids), limits.max_term_ids, "Term IDs")
        # The common case in a few passes at C speed; anything else is checked again, one Term
        # ID at a time, for its reason.
        terms = list(chain.from_iterable(term_ids))
        if not (
            min(map(len, term_ids)) >= 1
            and max(map(len, term_ids)) <= min(limits.max_terms, length)
            and max(map(len, terms)) <= limits.max_term_chars
            and all(map(methodcaller("strip", ASCII_SPACE), terms))
            and _encodes("".join(terms))
        ):
            for i, term_id in enumerate(term_ids):
                check_term_id(term_id, f"term_ids[{i}]", limits, length)
        _check_k(self.k, limits)
        return self


class RecommendRequest(RequestBody):
    """``POST /v1/recommend``: a user's history, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"history": ["B001", "B002"], "k": 10}]}
    )

    history: list[ItemId] = Field(description="a list of item ids (1 to --max-history)")
    k: K = 10

    @model_validator(mode="after")
    def _within_bounds(self, info: ValidationInfo) -> RecommendRequest:
        limits = info.context["limits"]
        _check_count("history", len(self.history), limits.max_history, "items")
        _check_k(self.k, limits)
        return self


class ReloadRequest(RequestBody):
    """``POST /v1/admin/reload``: ``{}`` (or no body) reloads the file the server started from;
    ``{"index": PATH}`` that index file instead, in the started catalog's folder."""

    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"index": "beauty.grlm"}]})

    index: str | None = Field(None, description="a non-empty path string")

    @model_validator(mode="after")
    def _a_path(self) -> ReloadRequest:
        if self.index is not None and (not self.index or "\0" in self.index):
            raise BadRequest(422, f"index must be a non-empty path string, got {_show(self.index)}")
        return self

    @classmethod
    def parse(cls, body: bytes, **context) -> ReloadRequest:
        return cls() if not body.strip() else super().parse(body, **context)


class PutItemsRequest(RequestBody):
    """``PUT /v1/items``: items to add, or to give a new Term ID, in one all-or-nothing change."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": {"B009": ["a", "b", "c"]}}]}
    )

    items: dict[ItemId, TermId] = Field(
        description="an object {item id: [term, ...]} (1 to --max-items-per-update items)"
    )

    @model_validator(mode="after")
    def _within_bounds(self, info: ValidationInfo) -> PutItemsRequest:
        from grlm._core import normalize_term  # the core's own rule: what it will store

        limits, length = info.context["limits"], info.context["term_id_length"]
        _check_count("items", len(self.items), limits.max_items_per_update, "items")
        for item_id, terms in self.items.items():
            where = f"items[{_show(item_id)}]"
            _check_item_id(item_id, f"item id {_show(item_id)}")
            check_term_id(terms, where, limits, length)
            for j, term in enumerate(terms):
                if len(normalize_term(term).encode("utf-8")) > MAX_CATALOG_TERM_BYTES:
                    raise BadRequest(
                        422,
                        f"{where}[{j}] is longer than {MAX_CATALOG_TERM_BYTES} "
                        f"bytes, the most a catalog term may have",
                    )
        return self


class DeleteItemsRequest(RequestBody):
    """``DELETE /v1/items``: items to remove, in one all-or-nothing change."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"item_ids": ["B009"]}]})

    item_ids: list[ItemId] = Field(
        description="a list of item ids (1 to --max-items-per-update, each once)"
    )

    @model_validator(mode="after")
    def _within_bounds(self, info: ValidationInfo) -> DeleteItemsRequest:
        limits = info.context["limits"]
        _check_count("item_ids", len(self.item_ids), limits.max_items_per_update, "items")
        for i, item_id in enumerate(self.item_ids):
            _check_item_id(item_id, f"item_ids[{i}]")
        if len(set(self.item_ids)) != len(self.item_ids):
            raise BadRequest(422, "item_ids names an item twice")
        return self


def openapi_body(
    model: type[RequestBody], *, required: bool = True, min_version: bool = False
) -> dict:
    """The ``openapi_extra`` of a route whose body ``model`` the route reads itself (and, with
    ``min_version``, which takes the ``X-Min-Catalog-Version`` header)."""
    schema = {"application/json": {"schema": model.model_json_schema()}}
    extra: dict = {"requestBody": {"required": required, "content": schema}}
    if min_version:
        extra["parameters"] = [MIN_VERSION_PARAMETER]
    return extra


MIN_VERSION_PARAMETER = {
    "name": "X-Min-Catalog-Version",
    "in": "header",
    "required": False,
    "schema": {"type": "integer", "minimum": 0},
    "description": "read-your-writes: answer from this catalog version or a newer one "
    "(waited for a bounded time; 503 with Retry-After otherwise)",
}


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroundResult(Answer):
    hit: Literal[HIT_TYPES] = Field(description="how the Term ID met the catalog")
    items: list[str] = Field(description="item ids, best first")
    scores: list[float] = Field(description="their scores")


class GroundResponse(Answer):
    results: list[GroundResult] = Field(description="one per Term ID, in order")
    catalog_version: int


class RecommendResponse(Answer):
    items: list[str] = Field(description="item ids, best first")
    hits: list[Literal[HIT_TYPES]] = Field(description="how each item's beam met the catalog")
    catalog_version: int


class ChangeResponse(Answer):
    catalog_version: int = Field(description="the version after the change")
    items: int = Field(description="items in the catalog")


class ReloadResponse(ChangeResponse):
    source: str = Field(description="the index file now served")


class StoreHealth(Answer):
    applied_version: int = Field(description="the catalog version answers are computed from")
    store_version: int = Field(description="the newest version seen in the store")
    lag: int = Field(description="changes committed to the store, not yet applied here")
    state: Literal["ok", "unreachable", "failed"]
    last_error: str | None = Field(description="the reason of the last failure")


class HealthResponse(Answer):
    status: Literal["ok", "failed"] = Field(
        description="failed (answered with 503): the catalog stopped following its store, "
        "a committed change could not be applied here; restart the process"
    )
    items: int
    catalog_version: int
    mode: str
    delta_items: int = Field(description="items changed since the index was last compacted")
    recommend: bool = Field(description="whether /v1/recommend is served")
    store: StoreHealth | None = Field(
        default=None, description="the catalog store followed (grlm serve --store), or null"
    )


class ErrorResponse(Answer):
    error: str = Field(description="one line")


def error_responses(*statuses: int) -> dict:
    """The ``responses`` of a route for the given error statuses."""
    return {status: {"model": ErrorResponse} for status in statuses}


try:  # orjson (the serve extra) writes the same JSON as json.dumps, several times faster
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover - without it, the standard library

    def _dumps(data) -> bytes:
        return json.dumps(data, separators=(",", ":")).encode()


def json_response(data: dict | BaseModel, status: int = 200):
    """``data`` as a JSON response (a route returning a Response is not serialized again by
    FastAPI: its ``response_model`` then documents the answer)."""
    from starlette.responses import Response

    if isinstance(data, BaseModel):
        data = data.model_dump()
    return Response(_dumps(data), status_code=status, media_type="application/json")
