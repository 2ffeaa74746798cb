"""The admin bearer token guarding the endpoints that change state."""

from __future__ import annotations

import hmac
import os

from grlm.serve.requests import BadRequest

TOKEN_ENV = "GRLM_ADMIN_TOKEN"
MIN_TOKEN_CHARS = 16


def read_token(token_file: str | None, environ=os.environ) -> str | None:
    """The admin token from ``token_file`` (its first line) or ``$GRLM_ADMIN_TOKEN``; None when
    neither is set, which disables the state-changing endpoints. A token shorter than 16
    characters (it could be guessed) or not printable ASCII (it could not be sent) is refused
    (ValueError)."""
    if token_file is not None:
        with open(token_file, encoding="utf-8") as stream:
            lines = stream.read().splitlines()
        token = lines[0].strip() if lines else ""
        where = token_file
    else:
        token = environ.get(TOKEN_ENV, "").strip()
        where = f"${TOKEN_ENV}"
        if not token:
            return None
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"{where}: the admin token must have at least {MIN_TOKEN_CHARS} "
            f"characters, it has {len(token)}"
        )
    if not (token.isascii() and token.isprintable()):
        # A client sends it in an HTTP header, which carries ASCII: any other token could be
        # configured but never presented.
        raise ValueError(f"{where}: the admin token must be printable ASCII characters")
    return token


def check_bearer(header: str | None, token: str | None) -> None:
    """Raises BadRequest unless ``header`` is ``Bearer <token>``, compared in constant time;
    403 when no token is configured at all."""
    if token is None:
        raise BadRequest(
            403,
            f"state-changing endpoints are disabled: no admin token is "
            f"configured (set ${TOKEN_ENV} or --token-file)",
        )
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise BadRequest(401, "missing bearer token (Authorization: Bearer <token>)")
    if not hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
    ):
        raise BadRequest(401, "wrong bearer token")
