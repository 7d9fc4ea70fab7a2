"""REST: an athlete's consents — what the coaches of a group may see (storage/consents.py).

    POST   /v1/consents {group_id, scope: live|history, purpose, history_from?}
    GET    /v1/consents           yours, current and withdrawn, each with the group's coaches
    DELETE /v1/consents/{id}      withdraw: open live feeds lose the athlete at once

`live` lets the group's coaches watch live sessions; `history` lets them read past
workouts, from the moment of the grant unless `history_from` names an earlier time.
Every change is journaled (who, what, when, purpose, policy version).
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
from gateway.access import principal_of
from gateway.access_watch import AccessChanged
from gateway.errors import ApiError
from gateway.groups_api import count_change, page_headers
from gateway.text import Purpose
from storage import consents
from storage import groups as groups_repo


class ConsentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    group_id: uuid.UUID
    scope: consents.Scope = "live"
    """`live`: the group's coaches watch your live sessions; `history`: they read your past
    workouts (from `history_from`)."""
    purpose: Purpose = "live coaching"
    history_from: dt.datetime | None = None
    """For `history`: the earliest workout start it covers; default now (nothing before)."""


@post("/v1/consents", summary="Let a group's coaches watch you live, or read your history")
async def grant_consent(request: Request[Any, Any, Any], data: ConsentIn) -> consents.Consent:
    me = principal_of(request)
    if data.history_from is not None and (data.scope != "history" or data.history_from.tzinfo is None):
        raise ApiError(400, "invalid", "`history_from` goes with scope `history`, as an ISO 8601 "
                       "time with its offset")
    await count_change(request)
    async with request.app.state.pool.connection() as conn:
        if await groups_repo.role_in_group(conn, me.user_id, data.group_id) is None:
            raise ApiError(404, "not_found", f"no group {data.group_id} that you belong to")
        consent = await consents.grant(conn, me.user_id, data.group_id, data.scope, data.purpose,
                                       data.history_from)
    await request.app.state.access_watch.announce(
        AccessChanged(athlete_id=me.user_id, group_id=data.group_id))
    return consent


@get("/v1/consents",
     summary="Your consents, current and withdrawn, with who coaches each group now")
async def list_consents(
    request: Request[Any, Any, Any], limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[list[consents.Consent]]:
    async with request.app.state.pool.connection() as conn:
        rows = await consents.mine(conn, principal_of(request).user_id, limit=limit + 1,
                                   before=cursors.keyset_of(cursor))
    return Response(rows[:limit], headers=page_headers(rows, limit, "granted_at"))


@delete("/v1/consents/{consent_id:uuid}", status_code=HTTP_204_NO_CONTENT,
        summary="Withdraw a consent (takes effect at once, live feeds included)")
async def withdraw_consent(request: Request[Any, Any, Any], consent_id: uuid.UUID) -> None:
    me = principal_of(request)
    await count_change(request)
    async with request.app.state.pool.connection() as conn:
        try:
            consent = await consents.withdraw(conn, me.user_id, consent_id, "withdrawn")
        except consents.NotFound:
            raise ApiError(404, "not_found", f"no active consent {consent_id}") from None
    await request.app.state.access_watch.announce(
        AccessChanged(athlete_id=consent.athlete_id, group_id=consent.group_id))


ROUTES = [grant_consent, list_consents, withdraw_consent]
