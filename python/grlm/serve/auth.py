"""The admin bearer token guarding the endpoints that change state: read once at start, checked
by the :func:`require_admin` dependency of every such route."""

from __future__ import annotations

import hmac
import os
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from grlm.serve.dependencies import ServiceDep
from grlm.serve.protocol import BadRequest

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


def check_bearer(given: str | None, token: str | None) -> None:
    """Raises BadRequest unless ``given`` (the credentials of ``Authorization: Bearer ...``) is
    ``token``, compared in constant time; 403 when no token is configured at all."""
    if token is None:
        raise BadRequest(
            403,
            f"state-changing endpoints are disabled: no admin token is "
            f"configured (set ${TOKEN_ENV} or --token-file)",
        )
    if not given:
        raise BadRequest(401, "missing bearer token (Authorization: Bearer <token>)")
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8")):
        raise BadRequest(401, "wrong bearer token")


_bearer = HTTPBearer(
    auto_error=False, description=f"the admin token (${TOKEN_ENV} or --token-file)"
)


async def require_admin(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The dependency of every state-changing route: the admin bearer token, or 401 (403 when
    the server has none). It runs before the route reads the body."""
    check_bearer(credentials.credentials if credentials else None, service.token)
