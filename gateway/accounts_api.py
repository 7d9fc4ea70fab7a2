"""REST: register, log in and out, re-authenticate, change the password, the profile
(`/v1/users/me`) and one's sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from gateway import cursors, mfa
from gateway.access import PUBLIC_ROUTE, principal_of
from gateway.access_watch import AccessChanged
from gateway.auth import Principal, new_token
from gateway.errors import ApiError, busy, refused
from gateway.hashing import Busy
from gateway.quotas import Refused
from gateway.text import END, HttpUrl, Name
from models.features import Goal, Inventory
from storage import accounts, health_consent
from storage import mfa as mfa_repo
from storage.consents import POLICY_VERSION
from streams import events, topics

log = logging.getLogger("stride.gateway")

MODEL_INPUTS = frozenset({"birth_date", "sex", "weight_kg", "hr_rest", "hr_max", "vo2max", "country",
                          "goal", "inventory"})
"""Profile fields the models read: changing one publishes UserMetricsUpdated."""
PUBLISH_TIMEOUT_S = 5.0
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""On every answer that carries a token: no cache may keep it (ASVS 8.2.1)."""

Email = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+" + END)]
Password = Annotated[str, msgspec.Meta(min_length=12, max_length=1024)]
OneTimeCode = Annotated[str, msgspec.Meta(min_length=6, max_length=20)]


class ProfileFields(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    first_name: Name | None | msgspec.UnsetType = msgspec.UNSET
    second_name: Name | None | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | None | msgspec.UnsetType = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9]{7,15}" + END)] | None | msgspec.UnsetType = (
        msgspec.UNSET)
    birth_date: dt.date | None | msgspec.UnsetType = msgspec.UNSET
    sex: Literal["male", "female"] | None | msgspec.UnsetType = msgspec.UNSET
    weight_kg: Annotated[float, msgspec.Meta(gt=0, le=500)] | None | msgspec.UnsetType = msgspec.UNSET
    hr_rest: Annotated[int, msgspec.Meta(ge=20, le=150)] | None | msgspec.UnsetType = msgspec.UNSET
    hr_max: Annotated[int, msgspec.Meta(ge=60, le=250)] | None | msgspec.UnsetType = msgspec.UNSET
    vo2max: Annotated[float, msgspec.Meta(gt=0, le=100)] | None | msgspec.UnsetType = msgspec.UNSET
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}" + END)] | None | msgspec.UnsetType = (
        msgspec.UNSET)
    city: Name | None | msgspec.UnsetType = msgspec.UNSET
    avatar_url: HttpUrl | None | msgspec.UnsetType = msgspec.UNSET
    goal: Goal | None | msgspec.UnsetType = msgspec.UNSET
    """What you train for; the recommendations follow it."""
    inventory: Inventory | None | msgspec.UnsetType = msgspec.UNSET
    """Equipment at hand; nothing needing other equipment is recommended."""

    def changes(self) -> dict[str, object]:
        return {f: v for f in self.__struct_fields__ if (v := getattr(self, f)) is not msgspec.UNSET
                and f not in ("email", "password", "health_consent")}


class HealthConsentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    policy_version: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    """The version of the privacy policy agreed to (GET /v1/me/health-consent names the
    current one)."""


class RegisterIn(ProfileFields, kw_only=True):
    email: Email
    password: Password
    health_consent: HealthConsentIn | None = None
    """Explicit consent to the processing of your health data (GDPR art. 9(2)(a)) under the
    privacy policy of this version. Without it the account is made, but no heart rate or
    SpO2 is taken in until it is given (POST /v1/me/health-consent)."""


class Registered(msgspec.Struct, frozen=True):
    id: uuid.UUID


class LoginIn(msgspec.Struct, kw_only=True):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]
    otp: OneTimeCode | None = None
    """With MFA: the authenticator app's 6-digit code, or one of the recovery codes."""


class LoginOut(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    expires_at: dt.datetime
    mfa: bool = False
    """Whether this session was opened with a second factor."""


class ReauthIn(msgspec.Struct, kw_only=True):
    password: Annotated[str, msgspec.Meta(max_length=1024)]
    otp: OneTimeCode | None = None


class PasswordIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(max_length=1024)]
    new_password: Password


def client_address(request: Request[Any, Any, Any]) -> str:
    peer = request.client.host if request.client else None
    return str(request.app.state.client_address.of(peer, request.headers))


@post("/v1/auth/register", summary="Create an account", **PUBLIC_ROUTE)
async def register(request: Request[Any, Any, Any], data: RegisterIn) -> Registered:
    state = request.app.state
    if data.health_consent is not None and data.health_consent.policy_version != POLICY_VERSION:
        raise ApiError(422, "policy_outdated", "consent is given to the current privacy policy, "
                       f"version {POLICY_VERSION}; read it and send that version")
    try:
        await state.quotas.registered(client_address(request))
        password_hash = await state.hashing.hash(data.password)
    except Refused as exc:
        raise refused(exc) from None
    except Busy:
        raise busy() from None
    async with state.pool.connection() as conn:
        try:
            async with conn.transaction():
                user_id = await accounts.create_user(conn, data.email.lower(), password_hash,
                                                     data.changes())
                if data.health_consent is not None:
                    await health_consent.give(conn, user_id, POLICY_VERSION, user_id)
        except accounts.EmailTaken:
            raise ApiError(409, "email_taken", "an account with this e-mail exists; log in") from None
        except accounts.ProfileRejected as exc:
            raise ApiError(422, "invalid", str(exc)) from None
    return Registered(user_id)


async def check_password(request: Request[Any, Any, Any], email: str, password: str,
                         otp: str | None, *, second_factor: bool = True,
                         recovery_codes: bool = True) -> tuple[uuid.UUID, bool]:
    """(user id, whether a second factor was given) for a right password — and code, when
    the account has MFA — or the error to answer. Every attempt is counted before the
    hash is checked (gateway/throttle.py). A locked account is refused even so. Without
    `recovery_codes`, only an authenticator app's code counts as the second factor."""
    state = request.app.state
    address = client_address(request)
    wait_s = await state.throttle.begin(email, address)
    if wait_s is not None:
        raise ApiError(429, "too_many_attempts", f"too many login attempts; try again in {wait_s} s",
                       headers={"Retry-After": str(wait_s)})
    async with state.pool.connection() as conn:
        found = await accounts.password_hash_of(conn, email)
    try:
        right = await state.hashing.verify(found[1] if found else None, password)
    except Busy:
        raise busy() from None
    if not right or found is None:
        raise ApiError(401, "invalid_credentials", "wrong e-mail or password")
    user_id, password_hash = found
    async with state.pool.connection() as conn:
        if await accounts.is_locked(conn, user_id):
            raise ApiError(403, "account_locked", "this account is locked; ask an administrator")
    second = await _second_factor(request, user_id, otp, recovery_codes) if second_factor else False
    await state.throttle.succeeded(email, address)
    if password_hash is not None and state.hashing.needs_rehash(password_hash):
        try:  # the parameters were raised since
            rehashed = await state.hashing.hash(password)
        except Busy:
            rehashed = None  # next time
        if rehashed is not None:
            async with state.pool.connection() as conn:
                await accounts.set_password_hash(conn, user_id, rehashed)
    return user_id, second


async def _second_factor(request: Request[Any, Any, Any], user_id: uuid.UUID,
                         otp: str | None, recovery_codes: bool = True) -> bool:
    async with request.app.state.pool.connection() as conn:
        totp = await mfa_repo.totp_of(conn, user_id)
        if totp is None or totp.confirmed_at is None:
            return False
        if otp is None:
            raise ApiError(401, "mfa_required", "this account uses a second factor: send `otp`, "
                           "the code of your authenticator app (or a recovery code)")
        if mfa.looks_like_recovery_code(otp):
            if not recovery_codes:
                raise ApiError(401, "totp_required", "a recovery code does not open this sign-in:"
                               " send the code of your authenticator app")
            ok = await mfa_repo.use_recovery_code(conn, user_id, mfa.recovery_hash(otp))
        else:
            step = mfa.matching_step(totp.secret, otp)
            ok = step is not None and await mfa_repo.use_step(conn, user_id, step, confirm=False)
    if not ok:
        raise ApiError(401, "invalid_otp", "wrong or already used code")
    return True


@post("/v1/auth/login", status_code=HTTP_200_OK, **PUBLIC_ROUTE,
      summary="Exchange e-mail and password (and, with MFA, a code) for a token")
async def login(request: Request[Any, Any, Any], data: LoginIn) -> Response[LoginOut]:
    user_id, second = await check_password(request, data.email.lower(), data.password, data.otp)
    token, digest = new_token()
    async with request.app.state.pool.connection() as conn:
        _, expires_at = await accounts.create_session(conn, user_id, digest,
                                                      request.app.state.session_lifetime,
                                                      mfa_verified=second)
    return Response(LoginOut(token=token, expires_at=expires_at, mfa=second), headers=NO_STORE)


@post("/v1/auth/reauth", status_code=HTTP_204_NO_CONTENT,
      summary="Confirm your password (and code, with MFA) before a sensitive change")
async def reauth(request: Request[Any, Any, Any], data: ReauthIn) -> None:
    me = principal_of(request)
    email = await _email_of(request, me)
    _, second = await check_password(request, email, data.password, data.otp)
    assert me.session_id is not None
    async with request.app.state.pool.connection() as conn:
        await accounts.reauthenticated(conn, me.session_id, mfa_verified=second)


async def _email_of(request: Request[Any, Any, Any], me: Principal) -> str:
    async with request.app.state.pool.connection() as conn:
        profile = await accounts.get_profile(conn, me.user_id)
    if profile is None or me.session_id is None:
        raise ApiError(403, "forbidden", "this needs a login session")
    return profile.email


@post("/v1/users/me/password", status_code=HTTP_204_NO_CONTENT,
      summary="Change your password; your other sessions end")
async def change_password(request: Request[Any, Any, Any], data: PasswordIn) -> None:
    me = principal_of(request)
    email = await _email_of(request, me)
    await check_password(request, email, data.current_password, None, second_factor=False)
    try:
        new_hash = await request.app.state.hashing.hash(data.new_password)
    except Busy:
        raise busy() from None
    async with request.app.state.pool.connection() as conn, conn.transaction():
        await accounts.set_password_hash(conn, me.user_id, new_hash)
        ended = await accounts.revoke_other_sessions(conn, me.user_id, keep=me.session_id)
    for session_id in ended:
        await request.app.state.access_watch.announce(AccessChanged(session_id=session_id))


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


@get("/v1/sessions", summary="Your open sessions, newest first (`X-Next-Cursor` for more)")
async def list_sessions(
    request: Request[Any, Any, Any],
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[list[SessionOut]]:
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        rows = await accounts.list_sessions(conn, principal.user_id, limit=limit + 1,
                                            before=cursors.keyset_of(cursor))
    page = rows[:limit]
    headers = cursors.next_page_headers(len(rows) > limit, page[-1].created_at if page else None,
                                        page[-1].id if page else None)
    return Response([SessionOut(id=r.id, created_at=r.created_at, last_seen_at=r.last_seen_at,
                                expires_at=r.expires_at, current=r.id == principal.session_id)
                     for r in page], headers=headers)


@delete("/v1/sessions/{session_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="End a session")
async def end_session(request: Request[Any, Any, Any], session_id: uuid.UUID) -> None:
    principal = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        if not await accounts.revoke_session(conn, principal.user_id, session_id):
            raise ApiError(404, "not_found", f"no open session {session_id}")
    await request.app.state.access_watch.announce(AccessChanged(session_id=session_id))


ROUTES = [register, login, reauth, change_password, logout, get_me, patch_me, list_sessions,
          end_session]
