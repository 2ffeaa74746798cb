"""Request bodies parsed and checked by hand: every way a body can be wrong becomes a
:class:`BadRequest` with an HTTP status and a one-line reason, never an exception of another
kind (the server answers those with 500, which a client's mistake must never cause)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from grlm.serve.limits import Limits


class BadRequest(Exception):
    """A client error: ``status`` (4xx) and a one-line ``reason``."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class GroundRequest:
    term_ids: list[list[str]]
    k: int


@dataclass(frozen=True)
class RecommendRequest:
    history: list[str]
    k: int


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


def _check_fields(body: dict, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    for name in required:
        if name not in body:
            raise BadRequest(422, f"missing field {name!r}")
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise BadRequest(422, f"unknown field {_show(unknown[0])}")


def parse_k(body: dict, limits: Limits, default: int = 10) -> int:
    k = body.get("k", default)
    if type(k) is not int:  # bool is an int subclass, and 10.0 is not an int either
        raise BadRequest(422, f"k must be an integer, got {_show(k)}")
    if not 1 <= k <= limits.max_k:
        raise BadRequest(422, f"k must be in [1, {limits.max_k}], got {k}")
    return k


# What the core trims from a term (grlm::TermVocab): ASCII whitespace only. str.strip() would trim
# Unicode spaces too and judge a term by another rule than the core's.
ASCII_SPACE = " \t\n\r\v\f"


def check_term_id(term_id, where: str, limits: Limits, term_id_length: int) -> list[str]:
    """One Term ID: a non-empty list of non-empty UTF-8 strings, at most
    min(max_terms, term_id_length) of them."""
    if not isinstance(term_id, list):
        raise BadRequest(422, f"{where} must be a list of terms, got {type(term_id).__name__}")
    longest = min(limits.max_terms, term_id_length)
    if not 1 <= len(term_id) <= longest:
        raise BadRequest(422, f"{where} has {len(term_id)} terms; 1 to {longest} are allowed")
    for j, term in enumerate(term_id):
        if not isinstance(term, str):
            raise BadRequest(422, f"{where}[{j}] must be a string, got {type(term).__name__}")
        if not term.strip(ASCII_SPACE):
            raise BadRequest(422, f"{where}[{j}] is an empty term")
        if len(term) > limits.max_term_chars:
            raise BadRequest(
                422,
                f"{where}[{j}] has {len(term)} characters; at most "
                f"{limits.max_term_chars} are allowed",
            )
        try:
            term.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate such as "\ud800" from a JSON escape
            raise BadRequest(422, f"{where}[{j}] is not valid Unicode") from None
    return term_id


def parse_ground(body: bytes, limits: Limits, term_id_length: int) -> GroundRequest:
    """``{"term_ids": [[term, ...], ...], "k": 10}``."""
    value = parse_json_object(body)
    _check_fields(value, ("term_ids",), ("k",))
    term_ids = value["term_ids"]
    if not isinstance(term_ids, list):
        raise BadRequest(422, f"term_ids must be a list of Term IDs, got {type(term_ids).__name__}")
    if not 1 <= len(term_ids) <= limits.max_term_ids:
        raise BadRequest(
            422, f"term_ids holds {len(term_ids)} Term IDs; 1 to {limits.max_term_ids} are allowed"
        )
    longest, chars = min(limits.max_terms, term_id_length), limits.max_term_chars
    for i, t in enumerate(term_ids):
        # The common case in one pass; anything else is checked again, slowly, for its reason.
        if not (
            type(t) is list
            and 0 < len(t) <= longest
            and all(type(x) is str and 0 < len(x) <= chars and not x.isspace() for x in t)
            and _encodes("".join(t))
        ):
            check_term_id(t, f"term_ids[{i}]", limits, term_id_length)
    return GroundRequest(term_ids, parse_k(value, limits))


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_recommend(body: bytes, limits: Limits) -> RecommendRequest:
    """``{"history": [item id, ...], "k": 10}`` (oldest first)."""
    value = parse_json_object(body)
    _check_fields(value, ("history",), ("k",))
    history = value["history"]
    if not isinstance(history, list):
        raise BadRequest(422, f"history must be a list of item ids, got {type(history).__name__}")
    if not 1 <= len(history) <= limits.max_history:
        raise BadRequest(
            422, f"history holds {len(history)} items; 1 to {limits.max_history} are allowed"
        )
    for i, item in enumerate(history):
        if not isinstance(item, str):
            raise BadRequest(
                422, f"history[{i}] must be an item id string, got {type(item).__name__}"
            )
    return RecommendRequest(history, parse_k(value, limits))


def parse_reload(body: bytes) -> str | None:
    """``{}`` or no body: reload the file the server started from; ``{"index": PATH}``: that
    index file instead."""
    if not body.strip():
        return None
    value = parse_json_object(body)
    _check_fields(value, (), ("index",))
    path = value.get("index")
    if path is not None and (not isinstance(path, str) or not path or "\0" in path):
        raise BadRequest(422, f"index must be a non-empty path string, got {_show(path)}")
    return path


MAX_ITEM_ID_CHARS = 256
MAX_CATALOG_TERM_BYTES = 256  # the core's bound on a catalog term (kMaxTermBytes)


def _check_item_id(item_id, where: str) -> str:
    if not isinstance(item_id, str):
        raise BadRequest(422, f"{where} must be an item id string, got {type(item_id).__name__}")
    if not item_id or len(item_id) > MAX_ITEM_ID_CHARS:
        raise BadRequest(
            422, f"{where} must have 1 to {MAX_ITEM_ID_CHARS} characters, got {len(item_id)}"
        )
    try:
        item_id.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(422, f"{where} is not valid Unicode") from None
    return item_id


def parse_put_items(body: bytes, limits: Limits, term_id_length: int) -> dict[str, list[str]]:
    """``{"items": {"<item id>": [term, ...], ...}}``: items to add or give a new Term ID."""
    value = parse_json_object(body)
    _check_fields(value, ("items",), ())
    items = value["items"]
    if not isinstance(items, dict):
        raise BadRequest(
            422, f"items must be an object {{item id: [terms]}}, got {type(items).__name__}"
        )
    if not 1 <= len(items) <= limits.max_items_per_update:
        raise BadRequest(
            422, f"items holds {len(items)} items; 1 to {limits.max_items_per_update} are allowed"
        )
    from grlm._core import normalize_term  # the core's own rule: what it will store

    checked = {}
    for item_id, terms in items.items():
        where = f"items[{_show(item_id)}]"
        _check_item_id(item_id, f"item id {_show(item_id)}")
        check_term_id(terms, where, limits, term_id_length)
        for j, term in enumerate(terms):
            if len(normalize_term(term).encode("utf-8")) > MAX_CATALOG_TERM_BYTES:
                raise BadRequest(
                    422,
                    f"{where}[{j}] is longer than {MAX_CATALOG_TERM_BYTES} "
                    f"bytes, the most a catalog term may have",
                )
        checked[item_id] = terms
    return checked


def parse_delete_items(body: bytes, limits: Limits) -> list[str]:
    """``{"item_ids": [item id, ...]}``: items to remove."""
    value = parse_json_object(body)
    _check_fields(value, ("item_ids",), ())
    item_ids = value["item_ids"]
    if not isinstance(item_ids, list):
        raise BadRequest(422, f"item_ids must be a list of item ids, got {type(item_ids).__name__}")
    if not 1 <= len(item_ids) <= limits.max_items_per_update:
        raise BadRequest(
            422,
            f"item_ids holds {len(item_ids)} items; 1 to {limits.max_items_per_update} are allowed",
        )
    for i, item_id in enumerate(item_ids):
        _check_item_id(item_id, f"item_ids[{i}]")
    if len(set(item_ids)) != len(item_ids):
        raise BadRequest(422, "item_ids names an item twice")
    return item_ids
