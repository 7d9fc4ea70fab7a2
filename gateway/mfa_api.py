"""REST: a second factor (TOTP) for every account, with one-time recovery codes.

    GET    /v1/users/me/mfa                      what is enrolled
    POST   /v1/users/me/mfa/totp                 start: a new secret and its otpauth:// URI
    POST   /v1/users/me/mfa/totp/confirm {code}  finish: MFA is on; ten recovery codes, once
    DELETE /v1/users/me/mfa/totp                 turn it off
    POST   /v1/users/me/mfa/recovery-codes       ten new codes (the old ones stop working)

Starting, turning off and new codes need a recent password (`POST /v1/auth/reauth`).
Confirming also marks this session as opened with a second factor, so a role that
requires MFA (admin, by default) acts at once.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.status_codes import HTTP_204_NO_CONTENT

from gateway import mfa
from gateway.access import REAUTH, principal_of
from gateway.accounts_api import NO_STORE
from gateway.errors import ApiError
from storage import accounts
from storage import mfa as repo


class MfaStatus(msgspec.Struct, frozen=True, kw_only=True):
    totp: bool
    recovery_codes_left: int
    required: bool
    """Whether a role you hold requires MFA (its powers act only through MFA sessions)."""


class TotpEnrolment(msgspec.Struct, frozen=True, kw_only=True):
    secret: str
    """Base32; type it into an authenticator app, or use the URI."""
    otpauth_uri: str


class CodeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=6, max_length=12)]


class RecoveryCodes(msgspec.Struct, frozen=True, kw_only=True):
    recovery_codes: list[str]
    """Each works once instead of a code; shown only now."""


@get("/v1/users/me/mfa", summary="Your second factors")
async def mfa_status(request: Request[Any, Any, Any]) -> MfaStatus:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        totp = await repo.totp_of(conn, me.user_id)
        left = await repo.recovery_codes_left(conn, me.user_id)
    required = request.app.state.auth.mfa_required_roles
    return MfaStatus(totp=totp is not None and totp.confirmed_at is not None,
                     recovery_codes_left=left,
                     required=bool(required & {*me.roles, *me.inactive_roles}))


@post("/v1/users/me/mfa/totp", opt=REAUTH, status_code=200,
      summary="Start TOTP enrolment: a secret for your authenticator app")
async def begin_totp(request: Request[Any, Any, Any]) -> Response[TotpEnrolment]:
    me = principal_of(request)
    secret = mfa.new_secret()
    async with request.app.state.pool.connection() as conn:
        profile = await accounts.get_profile(conn, me.user_id)
        if profile is None or not await repo.begin_enrolment(conn, me.user_id, secret):
            raise ApiError(409, "mfa_enabled", "TOTP is on already; turn it off first to re-enrol")
    return Response(TotpEnrolment(secret=secret, otpauth_uri=mfa.provisioning_uri(secret, profile.email)),
                    headers=NO_STORE)


@post("/v1/users/me/mfa/totp/confirm", status_code=200,
      summary="Finish TOTP enrolment with a code from the app; returns recovery codes")
async def confirm_totp(request: Request[Any, Any, Any], data: CodeIn) -> Response[RecoveryCodes]:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        totp = await repo.totp_of(conn, me.user_id)
        if totp is None:
            raise ApiError(409, "no_enrolment", "start with POST /v1/users/me/mfa/totp")
        if totp.confirmed_at is not None:
            raise ApiError(409, "mfa_enabled", "TOTP is on already")
        step = mfa.matching_step(totp.secret, data.code)
        if step is None or not await repo.use_step(conn, me.user_id, step, confirm=True):
            raise ApiError(400, "invalid_otp", "wrong or already used code; check the app's clock")
        codes = mfa.new_recovery_codes()
        await repo.replace_recovery_codes(conn, me.user_id, [mfa.recovery_hash(c) for c in codes])
        if me.session_id is not None and me.kind == "session":
            await accounts.reauthenticated(conn, me.session_id, mfa_verified=True)
    return Response(RecoveryCodes(recovery_codes=codes), headers=NO_STORE)


@delete("/v1/users/me/mfa/totp", opt=REAUTH, status_code=HTTP_204_NO_CONTENT,
        summary="Turn TOTP off (and drop the recovery codes)")
async def remove_totp(request: Request[Any, Any, Any]) -> None:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        if not await repo.remove(conn, me.user_id):
            raise ApiError(404, "not_found", "TOTP is not on")


@post("/v1/users/me/mfa/recovery-codes", opt=REAUTH, status_code=200,
      summary="Ten new recovery codes; the old ones stop working")
async def new_recovery_codes(request: Request[Any, Any, Any]) -> Response[RecoveryCodes]:
    me = principal_of(request)
    async with request.app.state.pool.connection() as conn:
        totp = await repo.totp_of(conn, me.user_id)
        if totp is None or totp.confirmed_at is None:
            raise ApiError(409, "mfa_off", "recovery codes come with TOTP; enrol first")
        codes = mfa.new_recovery_codes()
        await repo.replace_recovery_codes(conn, me.user_id, [mfa.recovery_hash(c) for c in codes])
    return Response(RecoveryCodes(recovery_codes=codes), headers=NO_STORE)


ROUTES = [mfa_status, begin_totp, confirm_totp, remove_totp, new_recovery_codes]
