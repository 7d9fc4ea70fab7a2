"""The internal gateway's own sign-in: `POST /internal/v1/auth/login`, `…/logout`.

Only admins and ML engineers sign in here, and only with the code of their authenticator
app (a recovery code does not do: it is for getting back into one's account on the public
side). The password check, its throttling and the TOTP check are the public login's
(gateway/accounts_api.py), so an attempt here counts against the same limits. The session
minted is of the audience `internal`: it works on this gateway only, and no public token
works here (gateway/auth.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, post
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from gateway.access import PUBLIC_ROUTE, principal_of
from gateway.access_watch import AccessChanged
from gateway.accounts_api import NO_STORE, LoginOut, OneTimeCode, check_password
from gateway.auth import new_token
from gateway.errors import ApiError
from gateway.internal.permissions import STAFF
from storage import accounts


class InternalLoginIn(msgspec.Struct, kw_only=True):
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]
    otp: OneTimeCode | None = None
    """The authenticator app's 6-digit code: required."""


@post("/internal/v1/auth/login", status_code=HTTP_200_OK, **PUBLIC_ROUTE,
      summary="Sign in to the admin and ML areas: e-mail, password and TOTP code")
async def internal_login(request: Request[Any, Any, Any], data: InternalLoginIn) -> Response[LoginOut]:
    user_id, second = await check_password(request, data.email.lower(), data.password, data.otp,
                                           recovery_codes=False)
    async with request.app.state.pool.connection() as conn:
        profile = await accounts.get_profile(conn, user_id)
        if profile is None or not STAFF & set(profile.roles):
            raise ApiError(403, "forbidden", "only admins and ML engineers sign in here")
        if not second:
            raise ApiError(403, "mfa_enrollment_required",
                           "signing in here needs TOTP: enrol it on the public side "
                           "(POST /v1/users/me/mfa/totp, then …/confirm) and sign in with its code")
        token, digest = new_token()
        _, expires_at = await accounts.create_session(
            conn, user_id, digest, request.app.state.session_lifetime, mfa_verified=True,
            audience="internal")
    return Response(LoginOut(token=token, expires_at=expires_at, mfa=True), headers=NO_STORE)


@post("/internal/v1/auth/logout", status_code=HTTP_204_NO_CONTENT, summary="End this session")
async def internal_logout(request: Request[Any, Any, Any]) -> None:
    principal = principal_of(request)
    if principal.session_id is not None:
        async with request.app.state.pool.connection() as conn:
            await accounts.revoke_session(conn, principal.user_id, principal.session_id)
        await request.app.state.access_watch.announce(AccessChanged(session_id=principal.session_id))


ROUTES = [internal_login, internal_logout]
