"""What the routes share: the service object (a dependency) and the bounded body reader."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from grlm.serve.protocol import BadRequest
from grlm.serve.service import Service


async def get_service(request: Request) -> Service:
    """The application's one :class:`grlm.serve.service.Service`."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def read_body(request: Request, service: Service) -> bytes:
    """The body, refused with 413 as soon as it passes the body limit (declared or sent).

    The routes call it after their dependencies (the admin token first) have run; it is not a
    dependency itself, which would cost every request a second resolution (about 30 us of a
    one-Term-ID request's 500 in process)."""
    limit = service.limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, f"bad Content-Length header {declared[:20]!r}")
        if int(declared) > limit:
            raise BadRequest(413, f"body of {declared} bytes is over the limit of {limit}")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(413, f"body is over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # nobody will read the answer, but it is the client's doing
        raise BadRequest(400, "the client left before sending the whole body") from None
    return b"".join(chunks)
