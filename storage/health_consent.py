"""The consent to process health data (`users.health_consent_*`, 0020) and a guardian's
consent for athletes under 16 (`guardian_consents`), each grant and withdrawal journaled in
`consent_journal` (scopes `health_processing` and `guardian`). The rules that read them are
privacy/age.py."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from psycopg import AsyncConnection

from privacy.age import Standing
from storage.consents import POLICY_VERSION

HEALTH_SCOPE = "health_processing"
HEALTH_PURPOSE = "processing of heart rate, SpO2 and what derives from them (GDPR art. 9(2)(a))"
GUARDIAN_SCOPE = "guardian"
GUARDIAN_PURPOSE = "a guardian's consent for an athlete under 16 (GDPR art. 8)"


class HealthConsent(msgspec.Struct, frozen=True, kw_only=True):
    given_at: dt.datetime | None
    policy_version: str | None


class GuardianConsent(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    athlete_id: uuid.UUID
    athlete_name: str
    guardian_email: str
    requested_at: dt.datetime
    confirmed_at: dt.datetime | None
    """None while the guardian has not confirmed."""


async def standing_of(conn: AsyncConnection, user_id: uuid.UUID) -> Standing | None:
    """What privacy/age.py needs of the account; None when there is no such account."""
    cur = await conn.execute(
        "SELECT u.birth_date, u.health_consent_at IS NOT NULL,"
        "  EXISTS (SELECT 1 FROM guardian_consents g WHERE g.athlete_id = u.id"
        "          AND g.confirmed_at IS NOT NULL AND g.withdrawn_at IS NULL)"
        " FROM users u WHERE u.id = %s", (user_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    return Standing(birth_date=row[0], health_consent=row[1], guardian_consent=row[2])


async def consent_of(conn: AsyncConnection, user_id: uuid.UUID) -> HealthConsent:
    cur = await conn.execute(
        "SELECT health_consent_at, health_consent_policy FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return HealthConsent(given_at=row[0] if row else None, policy_version=row[1] if row else None)


async def _journal(conn: AsyncConnection, actor: uuid.UUID | None, athlete: uuid.UUID,
                   action: str, scope: str, purpose: str, policy_version: str) -> None:
    await conn.execute(
        "INSERT INTO consent_journal (actor_id, athlete_id, action, scope, purpose, policy_version)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (actor, athlete, action, scope, purpose, policy_version))


async def give(conn: AsyncConnection, user_id: uuid.UUID, policy_version: str,
               actor_id: uuid.UUID | None, purpose: str = HEALTH_PURPOSE) -> bool:
    """Record the consent under `policy_version` (journaled), unless the same is in force
    already; whether it changed. Call inside a transaction."""
    cur = await conn.execute(
        "UPDATE users SET health_consent_at = now(), health_consent_policy = %s WHERE id = %s"
        " AND health_consent_policy IS DISTINCT FROM %s RETURNING id",
        (policy_version, user_id, policy_version))
    if await cur.fetchone() is None:
        return False
    await _journal(conn, actor_id, user_id, "granted", HEALTH_SCOPE, purpose, policy_version)
    return True


async def withdraw(conn: AsyncConnection, user_id: uuid.UUID, actor_id: uuid.UUID | None) -> bool:
    """End the consent (journaled); whether there was one. Call inside a transaction."""
    cur = await conn.execute(
        "UPDATE users u SET health_consent_at = NULL, health_consent_policy = NULL"
        " FROM users old WHERE u.id = %s AND old.id = u.id AND old.health_consent_at IS NOT NULL"
        " RETURNING old.health_consent_policy", (user_id,))
    row = await cur.fetchone()
    if row is None:
        return False
    await _journal(conn, actor_id, user_id, "withdrawn", HEALTH_SCOPE, HEALTH_PURPOSE, row[0])
    return True


_GUARDIAN = (
    "SELECT g.id, g.athlete_id,"
    "  coalesce(nullif(btrim(concat_ws(' ', u.first_name, u.last_name)), ''), 'Athlete'),"
    "  g.guardian_email, g.requested_at, g.confirmed_at"
    " FROM guardian_consents g JOIN users u ON u.id = g.athlete_id")


def _guardian(row: tuple[object, ...]) -> GuardianConsent:
    return msgspec.convert(dict(zip(GuardianConsent.__struct_fields__, row, strict=True)),
                           GuardianConsent, from_attributes=True)


async def guardian_of(conn: AsyncConnection, athlete_id: uuid.UUID) -> GuardianConsent | None:
    """The athlete's open guardian request or consent."""
    cur = await conn.execute(_GUARDIAN + " WHERE g.athlete_id = %s AND g.withdrawn_at IS NULL",
                             (athlete_id,))
    row = await cur.fetchone()
    return None if row is None else _guardian(row)


async def name_guardian(conn: AsyncConnection, athlete_id: uuid.UUID,
                        email: str) -> GuardianConsent:
    """Ask `email`'s holder to confirm, replacing an open request (or ending a consent given
    by someone else, journaled). Call inside a transaction."""
    current = await guardian_of(conn, athlete_id)
    if current is not None and current.guardian_email == email:
        return current
    if current is not None:
        await end_guardian(conn, current.id, athlete_id)
    await conn.execute("INSERT INTO guardian_consents (athlete_id, guardian_email) VALUES (%s, %s)",
                       (athlete_id, email))
    found = await guardian_of(conn, athlete_id)
    assert found is not None
    return found


async def requests_for(conn: AsyncConnection, email: str) -> list[GuardianConsent]:
    """Open requests and consents naming `email` as the guardian, newest first."""
    cur = await conn.execute(_GUARDIAN + " WHERE g.guardian_email = %s AND g.withdrawn_at IS NULL"
                             " ORDER BY g.requested_at DESC", (email,))
    return [_guardian(r) for r in await cur.fetchall()]


async def confirm(conn: AsyncConnection, request_id: uuid.UUID, guardian_id: uuid.UUID,
                  email: str) -> GuardianConsent | None:
    """The guardian (the holder of the request's e-mail) confirms; None when there is no such
    open request for them. Journaled. Call inside a transaction."""
    cur = await conn.execute(
        "UPDATE guardian_consents SET confirmed_at = now(), guardian_id = %s WHERE id = %s"
        " AND guardian_email = %s AND withdrawn_at IS NULL AND confirmed_at IS NULL"
        " RETURNING athlete_id", (guardian_id, request_id, email))
    row = await cur.fetchone()
    if row is None:
        return None
    await _journal(conn, guardian_id, row[0], "granted", GUARDIAN_SCOPE, GUARDIAN_PURPOSE,
                   POLICY_VERSION)
    return await guardian_of(conn, row[0])


async def end_guardian(conn: AsyncConnection, request_id: uuid.UUID, actor_id: uuid.UUID,
                       email: str | None = None) -> bool:
    """Withdraw a request or consent (by the guardian: `email` theirs; or by the athlete);
    a confirmed one is journaled as withdrawn. Call inside a transaction."""
    cur = await conn.execute(
        "UPDATE guardian_consents SET withdrawn_at = now() WHERE id = %s AND withdrawn_at IS NULL"
        " AND (%s::text IS NULL OR guardian_email = %s) RETURNING athlete_id, confirmed_at",
        (request_id, email, email))
    row = await cur.fetchone()
    if row is None:
        return False
    if row[1] is not None:
        await _journal(conn, actor_id, row[0], "withdrawn", GUARDIAN_SCOPE, GUARDIAN_PURPOSE,
                       POLICY_VERSION)
    return True
