"""REST: register, log in and out, the profile (`/v1/users/me`) and one's sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Annotated, Any, Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar import Request, delete, get, patch, post
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from gateway.access import PUBLIC_ROUTE, principal_of
from gateway.access_watch import AccessChanged
from gateway.auth import new_token
from gateway.errors import ApiError
from models.features import Goal, Inventory
from storage import accounts
from streams import events, topics

log = logging.getLogger("stride.gateway")

# Argon2id at OWASP's minimum (Password Storage Cheat Sheet): m = 19 MiB, t = 2, p = 1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the e-mail is unknown, so both answers take the same time.
_DUMMY_HASH = HASHER.hash("stride-dummy-password")
MODEL_INPUTS = frozenset({"birth_date", "sex", "weight_kg", "hr_rest", "hr_max", "vo2max", "country",
                          "goal", "inventory"})
"""Profile fields the models read: changing one publishes UserMetricsUpdated."""
PUBLISH_TIMEOUT_S = 5.0

Email = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Password = Annotated[str, msgspec.Meta(min_length=12, max_length=1024)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ProfileFields(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    first_name: Name | None | msgspec.UnsetType = msgspec.UNSET
    second_name: Name | None | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | None | msgspec.UnsetType = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9]{7,15}$")] | None | msgspec.UnsetType = (
        msgspec.UNSET)
    birth_date: dt.date | None | msgspec.UnsetType = msgspec.UNSET
    sex: Literal["male", "female"] | None | msgspec.UnsetType = msgspec.UNSET
    weight_kg: Annotated[float, msgspec.Meta(gt=0, le=500)] | None | msgspec.UnsetType = msgspec.UNSET
    hr_rest: Annotated[int, msgspec.Meta(ge=20, le=150)] | None | msgspec.UnsetType = msgspec.UNSET
    hr_max: Annotated[int, msgspec.Meta(ge=60, le=250)] | None | msgspec.UnsetType = msgspec.UNSET
    vo2max: Annotated[float, msgspec.Meta(gt=0, le=100)] | None | msgspec.UnsetType = msgspec.UNSET
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")] | None | msgspec.UnsetType = (
        msgspec.UNSET)
    city: Name | None | msgspec.UnsetType = msgspec.UNSET
    avatar_url: Annotated[str, msgspec.Meta(max_length=2048)] | None | msgspec.UnsetType = (
        msgspec.UNSET)
    goal: Goal | None | msgspec.UnsetType = msgspec.UNSET
    """What you train for; the recommendations follow it."""
    inventory: Inventory | None | msgspec.UnsetType = msgspec.UNSET
    """Equipment at hand; nothing needing other equipment is recommended."""

    def changes(self) -> dict[str, object]:
        return {f: v for f in self.__struct_fields__
                if (v := getattr(self, f)) is not msgspec.UNSET and f not in ("email", "password")}


class RegisterIn(ProfileFields, kw_only=True):
    email: Email
    password: Password


class Registered(msgspec.Struct, frozen=True):
    id: uuid.UUID


class LoginIn(msgspec.Struct, kw_only=True):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class LoginOut(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    expires_at: dt.datetime


@post("/v1/auth/register", summary="Create an account", **PUBLIC_ROUTE)
async def register(request: Request[Any, Any, Any], data: RegisterIn) -> Registered:
    password_hash = await asyncio.to_thread(HASHER.hash, data.password)
    async with request.app.state.pool.connection() as conn:
        try:
            user_id = await accounts.create_user(conn, data.email.lower(), password_hash,
                                                 data.changes())
        except accounts.EmailTaken:
            raise ApiError(409, "email_taken", "an account with this e-mail exists; log in") from None
    return Registered(user_id)


@post("/v1/auth/login", status_code=HTTP_200_OK, **PUBLIC_ROUTE,
      summary="Exchange e-mail and password for a token")
async def login(request: Request[Any, Any, Any], data: LoginIn) -> LoginOut:
    state = request.app.state
    email = data.email.lower()
    address = request.client.host if request.client else "unknown"
    wait_s = await state.throttle.retry_after_s(email, address)
    if wait_s is not None:
        raise ApiError(429, "too_many_attempts", f"too many failed logins; try again in {wait_s} s",
                       headers={"Retry-After": str(wait_s)})
    async with state.pool.connection() as conn:
        found = await accounts.password_hash_of(conn, email)
    if not await asyncio.to_thread(_verify, found[1] if found else None, data.password) or not found:
        await state.throttle.failed(email, address)
        raise ApiError(401, "invalid_credentials", "wrong e-mail or password")
    await state.throttle.succeeded(email)
    token, digest = new_token()
    rehashed = None
    if HASHER.check_needs_rehash(found[1] or ""):  # the parameters were raised since
        rehashed = await asyncio.to_thread(HASHER.hash, data.password)
    async with state.pool.connection() as conn:
        if rehashed is not None:
            await accounts.set_password_hash(conn, found[0], rehashed)
        _, expires_at = await accounts.create_session(conn, found[0], digest, state.session_lifetime)
    return LoginOut(token=token, expires_at=expires_at)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@post("/v1/auth/logout", status_code=HTTP_204_NO_CONTENT, summary="End this session")
async def logout(request: Request[Any, Any, Any]) -> None:
    principal = principal_of(request)
    if principal.session_id is not None:
        async with request.app.state.pool.connection() as conn:
            await accounts.revoke_session(conn, principal.user_id, principal.session_id)
        await request.app.state.access_watch.announce(AccessChanged(session_id=principal.session_id))


@get("/v1/users/me", summary="Your profile")
async def get_me(request: Request[Any, Any, Any]) -> accounts.Profile:
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        profile = await accounts.get_profile(conn, principal.user_id)
    if profile is None:
        raise ApiError(404, "not_found", "no such user")
    return profile


@patch("/v1/users/me", summary="Change your profile (fields the metrics use among them)")
async def patch_me(request: Request[Any, Any, Any], data: ProfileFields) -> accounts.Profile:
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        try:
            await accounts.update_profile(conn, principal.user_id, data.changes())
        except accounts.ProfileRejected as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        profile = await accounts.get_profile(conn, principal.user_id)
    assert profile is not None
    changed = sorted(MODEL_INPUTS & data.changes().keys())
    if changed:
        await _announce(request, events.UserMetricsUpdated(
            user_id=principal.user_id, update_id=uuid.uuid4(),
            at_ms=int(dt.datetime.now(dt.UTC).timestamp() * 1000), changed=changed))
    return profile


async def _announce(request: Request[Any, Any, Any], event: events.UserMetricsUpdated) -> None:
    """Tell the recommender. The change itself is stored already: with Kafka away the
    recommendations refresh after the next completed workout instead, and the log says so."""
    try:
        await asyncio.wait_for(request.app.state.events.publish([(topics.USER_METRICS, event)]),
                               PUBLISH_TIMEOUT_S)
    except Exception as exc:  # KafkaError, a timeout: not the athlete's problem
        log.warning("profile change of %s not announced: %r", event.user_id, exc)


class SessionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    current: bool
    """True for the session this request was made with."""


@get("/v1/sessions", summary="Your open sessions")
async def list_sessions(request: Request[Any, Any, Any]) -> list[SessionOut]:
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        rows = await accounts.list_sessions(conn, principal.user_id)
    return [SessionOut(id=r.id, created_at=r.created_at, last_seen_at=r.last_seen_at,
                       expires_at=r.expires_at, current=r.id == principal.session_id) for r in rows]


@delete("/v1/sessions/{session_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="End a session")
async def end_session(request: Request[Any, Any, Any], session_id: uuid.UUID) -> None:
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        if not await accounts.revoke_session(conn, principal.user_id, session_id):
            raise ApiError(404, "not_found", f"no open session {session_id}")
    await request.app.state.access_watch.announce(AccessChanged(session_id=session_id))


ROUTES = [register, login, logout, get_me, patch_me, list_sessions, end_session]
