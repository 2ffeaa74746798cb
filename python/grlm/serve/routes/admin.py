"""``POST /v1/admin/reload``: a new index swapped in, behind the admin token."""

from fastapi import APIRouter, Depends, Request

from grlm.serve.auth import require_admin
from grlm.serve.dependencies import ServiceDep, read_body
from grlm.serve.protocol import (
    ReloadRequest,
    ReloadResponse,
    error_responses,
    json_response,
    openapi_body,
)

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin)])


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    responses=error_responses(400, 401, 403, 409, 413, 422),
    openapi_extra=openapi_body(ReloadRequest, required=False),
)
async def reload(request: Request, service: ServiceDep):
    """Loads the started index file again (or ``index``, a file in the started catalog's
    folder, relative to it) off the event loop and swaps it in; requests in flight finish on the
    old catalog."""
    return json_response(await service.reload(await read_body(request, service)))
