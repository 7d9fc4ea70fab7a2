"""REST: the lawful basis for your health data and the age gate (GDPR art. 9(2)(a), art. 8).

    GET    /v1/privacy/policy                    the current policy's version (public: sign-up)
    GET    /v1/me/health-consent                 where you stand: consent, age gate, guardian
    POST   /v1/me/health-consent {policy_version} give it (the current policy's version only)
    DELETE /v1/me/health-consent                 withdraw it: from then on no heart rate or
                                                 SpO2 of yours is taken in (the device gets
                                                 `health_consent_required`, README)
    PUT    /v1/me/guardian {email}               under 16: name a guardian to confirm
    DELETE /v1/me/guardian                       cancel the request / end the guardian's consent
    GET    /v1/guardian/requests                 as a guardian: requests naming your e-mail
    POST   /v1/guardian/requests/{id}/confirm    confirm (an account of that e-mail, of age)
    DELETE /v1/guardian/requests/{id}            withdraw your consent as the guardian

Every grant and withdrawal is journaled with its policy version (GET /v1/consents/journal).
The rules are privacy/age.py; storage is storage/health_consent.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import Request, delete, get, post, put
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from gateway.access import PUBLIC_ROUTE, principal_of
from gateway.accounts_api import Email, HealthConsentIn
from gateway.errors import ApiError
from privacy import age
from storage import accounts
from storage import health_consent as store
from storage.consents import POLICY_VERSION


class GuardianIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email
    """Your guardian's e-mail: they confirm from a Stride account with this address."""


class GuardianOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    athlete_id: uuid.UUID
    athlete_name: str
    guardian_email: str
    requested_at: dt.datetime
    confirmed_at: dt.datetime | None


class StandingOut(msgspec.Struct, frozen=True, kw_only=True):
    health_consent: bool
    """You consented to the processing of your health data and have not withdrawn."""
    policy_version: str | None
    """The policy version you consented under."""
    given_at: dt.datetime | None
    current_policy_version: str
    under_16: bool
    """By the birth date you gave; then a guardian must consent too."""
    guardian: GuardianOut | None
    health_processing: bool
    """Whether your heart rate and SpO2 are taken in and computed on now."""
    social: bool
    """Whether groups and leaderboards may show you to others."""


def current_policy(version: str) -> str:
    """`version` if it is the current policy's; 422 `policy_outdated` otherwise."""
    if version != POLICY_VERSION:
        raise ApiError(422, "policy_outdated", f"consent is given to the current privacy policy, "
                       f"version {POLICY_VERSION}; read it and send that version")
    return version


def _guardian_out(found: store.GuardianConsent | None) -> GuardianOut | None:
    return None if found is None else msgspec.convert(msgspec.structs.asdict(found), GuardianOut)


async def standing(conn: Any, user_id: uuid.UUID) -> StandingOut:
    found = await store.standing_of(conn, user_id)
    if found is None:
        raise ApiError(404, "not_found", "no such user")
    consent = await store.consent_of(conn, user_id)
    today = dt.datetime.now(dt.UTC).date()
    return StandingOut(
        health_consent=found.health_consent, policy_version=consent.policy_version,
        given_at=consent.given_at, current_policy_version=POLICY_VERSION,
        under_16=age.is_child(found.birth_date, today),
        guardian=_guardian_out(await store.guardian_of(conn, user_id)),
        health_processing=age.may_process_health(found, today),
        social=age.may_socialise(found, today))


class PolicyOut(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    """Send it as `health_consent.policy_version` to consent under this policy."""
    health_purpose: str
    """What the consent to process health data covers."""


@get("/v1/privacy/policy", summary="The current privacy policy's version (what sign-up's "
     "health_consent names)", **PUBLIC_ROUTE)
async def privacy_policy() -> PolicyOut:
    return PolicyOut(version=POLICY_VERSION, health_purpose=store.HEALTH_PURPOSE)


@get("/v1/me/health-consent", summary="Your consent to the processing of your health data, "
     "the age gate and your guardian")
async def my_health_consent(request: Request[Any, Any, Any]) -> StandingOut:
    async with request.app.state.pool.connection() as conn:
        return await standing(conn, principal_of(request).user_id)


@post("/v1/me/health-consent", status_code=HTTP_200_OK,
      summary="Consent to the processing of your health data (heart rate, SpO2 and what "
              "derives from them) under the current privacy policy")
async def give_health_consent(request: Request[Any, Any, Any], data: HealthConsentIn) -> StandingOut:
    me = principal_of(request).user_id
    version = current_policy(data.policy_version)
    async with request.app.state.pool.connection() as conn:
        async with conn.transaction():
            await store.give(conn, me, version, me)
        return await standing(conn, me)


@delete("/v1/me/health-consent", status_code=HTTP_204_NO_CONTENT,
        summary="Withdraw your consent: from now on no heart rate or SpO2 of yours is processed")
async def withdraw_health_consent(request: Request[Any, Any, Any]) -> None:
    me = principal_of(request).user_id
    async with request.app.state.pool.connection() as conn, conn.transaction():
        await store.withdraw(conn, me, me)


@put("/v1/me/guardian", status_code=HTTP_200_OK,
     summary="Under 16: name the guardian who confirms your consent")
async def name_guardian(request: Request[Any, Any, Any], data: GuardianIn) -> StandingOut:
    me = principal_of(request).user_id
    email = data.email.strip().lower()
    async with request.app.state.pool.connection() as conn:
        found = await store.standing_of(conn, me)
        profile = await accounts.get_profile(conn, me)
        if found is None or profile is None:
            raise ApiError(404, "not_found", "no such user")
        if not age.is_child(found.birth_date, dt.datetime.now(dt.UTC).date()):
            raise ApiError(409, "guardian_not_needed", "a guardian's consent is needed only under "
                           "16, by the birth date of your profile")
        if email == profile.email:
            raise ApiError(422, "own_email", "your guardian confirms from their own account")
        async with conn.transaction():
            await store.name_guardian(conn, me, email)
        return await standing(conn, me)


@delete("/v1/me/guardian", status_code=HTTP_204_NO_CONTENT,
        summary="Cancel your guardian request, or end your guardian's consent")
async def end_my_guardian(request: Request[Any, Any, Any]) -> None:
    me = principal_of(request).user_id
    async with request.app.state.pool.connection() as conn, conn.transaction():
        current = await store.guardian_of(conn, me)
        if current is not None:
            await store.end_guardian(conn, current.id, me)


async def _my_email(conn: Any, user_id: uuid.UUID) -> accounts.Profile:
    profile = await accounts.get_profile(conn, user_id)
    if profile is None:
        raise ApiError(404, "not_found", "no such user")
    return profile


@get("/v1/guardian/requests", summary="As a guardian: the requests and consents naming your e-mail")
async def guardian_requests(request: Request[Any, Any, Any]) -> list[GuardianOut]:
    async with request.app.state.pool.connection() as conn:
        profile = await _my_email(conn, principal_of(request).user_id)
        found = await store.requests_for(conn, profile.email)
    return [out for f in found if (out := _guardian_out(f)) is not None]


@post("/v1/guardian/requests/{request_id:uuid}/confirm", status_code=HTTP_200_OK,
      summary="As a guardian: consent for the athlete under 16 who named you")
async def confirm_guardian(request: Request[Any, Any, Any], request_id: uuid.UUID) -> GuardianOut:
    me = principal_of(request).user_id
    async with request.app.state.pool.connection() as conn:
        profile = await _my_email(conn, me)
        if not age.may_be_guardian(profile.birth_date, dt.datetime.now(dt.UTC).date()):
            raise ApiError(403, "guardian_not_of_age", "a guardian must be 18 or older: give your "
                           "birth date in your profile (PATCH /v1/users/me) first")
        async with conn.transaction():
            confirmed = await store.confirm(conn, request_id, me, profile.email)
    if confirmed is None:
        raise ApiError(404, "not_found", f"no open guardian request {request_id} for you")
    out = _guardian_out(confirmed)
    assert out is not None
    return out


@delete("/v1/guardian/requests/{request_id:uuid}", status_code=HTTP_204_NO_CONTENT,
        summary="As a guardian: withdraw your consent (or decline the request)")
async def withdraw_guardian(request: Request[Any, Any, Any], request_id: uuid.UUID) -> None:
    me = principal_of(request).user_id
    async with request.app.state.pool.connection() as conn:
        profile = await _my_email(conn, me)
        async with conn.transaction():
            ended = await store.end_guardian(conn, request_id, me, profile.email)
    if not ended:
        raise ApiError(404, "not_found", f"no open guardian request {request_id} for you")


ROUTES = [privacy_policy, my_health_consent, give_health_consent, withdraw_health_consent, name_guardian,
          end_my_guardian, guardian_requests, confirm_guardian, withdraw_guardian]
