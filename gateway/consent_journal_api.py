"""REST: `GET /v1/consents/journal` — your consent journal: every grant and withdrawal of
your consents (who acted, when, for which purpose, under which policy version), newest
first, a page at a time (`X-Next-Cursor`, gateway/cursors.py). The journal itself is
append-only (0003); this is its reading for the athlete it is about."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter

from gateway import cursors
from gateway.access import principal_of
from storage.consent_journal import JournalEntry, journal_of


@get("/v1/consents/journal",
     summary="Your consent journal: every grant and withdrawal, newest first")
async def consent_journal(
    request: Request[Any, Any, Any], limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(
        description="`X-Next-Cursor` of the previous page", max_length=200)] = None,
) -> Response[list[JournalEntry]]:
    async with request.app.state.pool.connection() as conn:
        rows = await journal_of(conn, principal_of(request).user_id, limit=limit + 1,
                                before=cursors.keyset_of(cursor))
    page = rows[:limit]
    headers = cursors.next_page_headers(len(rows) > limit, page[-1].at if page else None,
                                        page[-1].id if page else None)
    return Response(page, headers=headers)


ROUTES = [consent_journal]
