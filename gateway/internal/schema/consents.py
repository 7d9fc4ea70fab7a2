"""The consent journal of every athlete (admins): grants and withdrawals, with filters."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import strawberry
from strawberry.types import Info

from gateway.internal.paging import Page, convert, keyset, page
from gateway.internal.permissions import Admin, context_of
from storage import admin_records


@strawberry.enum
class ConsentAction(enum.Enum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


@strawberry.enum
class ConsentScope(enum.Enum):
    LIVE = "live"
    HISTORY = "history"
    HEALTH_PROCESSING = "health_processing"
    """The athlete's consent to the processing of their health data (no group)."""
    GUARDIAN = "guardian"
    """A guardian's consent for an athlete under 16 (no group)."""


@strawberry.type(description="One grant or withdrawal of a consent, as journaled.")
class ConsentJournalEntry:
    id: uuid.UUID
    at: dt.datetime
    actor_id: uuid.UUID | None
    athlete_id: uuid.UUID
    consent_id: uuid.UUID | None
    group_id: uuid.UUID | None
    action: str
    scope: str
    purpose: str
    policy_version: str


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[Admin],
                      description="The consent journal of all athletes, newest first; each "
                                  "argument narrows it (`until` is exclusive).")
    async def consent_journal(self, info: Info, athlete_id: uuid.UUID | None = None,
                              group_id: uuid.UUID | None = None,
                              action: ConsentAction | None = None,
                              scope: ConsentScope | None = None, since: dt.datetime | None = None,
                              until: dt.datetime | None = None, limit: int = 50,
                              cursor: str | None = None) -> Page[ConsentJournalEntry]:
        before = keyset(cursor, limit)
        async with context_of(info).state.pool.connection() as conn:
            rows = await admin_records.consent_journal(
                conn, athlete_id=athlete_id, group_id=group_id,
                action=None if action is None else action.value,
                scope=None if scope is None else scope.value, since=since, until=until,
                limit=limit + 1, before=before)
        return page(rows, limit, lambda r: convert(ConsentJournalEntry, r))
