"""REST: device tokens — long-lived credentials for watches and phones that open the
device WebSocket (`/v1/ingest`) and nothing else.

    POST   /v1/devices {name}     a new token, shown once (needs a recent password)
    GET    /v1/devices            yours, newest first, without the tokens
    DELETE /v1/devices/{id}       revoke: its open device connections close at once
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from gateway import cursors
from gateway.access import REAUTH, principal_of
from gateway.access_watch import AccessChanged
from gateway.accounts_api import NO_STORE
from gateway.auth import new_device_token
from gateway.errors import ApiError
from gateway.text import Name
from storage import devices as repo

MAX_DEVICES = 50


class DeviceIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    """What you call the device, e.g. "Forerunner 265"."""


class NewDevice(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    created_at: dt.datetime
    token: str
    """Give this to the device; it is not shown again."""


@post("/v1/devices", opt=REAUTH, status_code=201, summary="A token for a device (ingest only)")
async def add_device(request: Request[Any, Any, Any], data: DeviceIn) -> Response[NewDevice]:
    me = principal_of(request)
    token, digest = new_device_token()
    async with request.app.state.pool.connection() as conn:
        if len(await repo.list_tokens(conn, me.user_id, limit=MAX_DEVICES)) >= MAX_DEVICES:
            raise ApiError(409, "too_many_devices", f"at most {MAX_DEVICES} devices; revoke one first")
        made = await repo.create(conn, me.user_id, data.name, digest)
    return Response(NewDevice(id=made.id, name=made.name, created_at=made.created_at, token=token),
                    status_code=201, headers=NO_STORE)


@get("/v1/devices", summary="Your devices, newest first (`X-Next-Cursor` for more)")
async def list_devices(
    request: Request[Any, Any, Any],
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[list[repo.DeviceToken]]:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        rows = await repo.list_tokens(conn, me.user_id, limit=limit + 1,
                                      before=cursors.keyset_of(cursor))
    page = rows[:limit]
    return Response(page, headers=cursors.next_page_headers(
        len(rows) > limit, page[-1].created_at if page else None, page[-1].id if page else None))


@delete("/v1/devices/{device_id:uuid}", status_code=HTTP_204_NO_CONTENT,
        summary="Revoke a device's token; its connections close")
async def revoke_device(request: Request[Any, Any, Any], device_id: uuid.UUID) -> None:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        if not await repo.revoke(conn, me.user_id, device_id):
            raise ApiError(404, "not_found", f"no device {device_id}")
    await request.app.state.access_watch.announce(AccessChanged(session_id=device_id))


ROUTES = [add_device, list_devices, revoke_device]
