"""REST: sign in with, or link, an OpenID Connect provider (configured in the settings).

    GET  /v1/auth/oidc/providers             the configured providers
    GET  /v1/auth/oidc/{provider}/start      302 to the provider (sign-in)
    POST /v1/auth/oidc/{provider}/link       {authorize_url} to link the provider to you
    GET  /v1/auth/oidc/{provider}/callback   the provider sends the browser back here

A new identity gets a new account. An identity whose e-mail already has an account is not
merged silently — that would let whoever controls the provider account take the Stride
account over — the owner signs in and links it instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect

from gateway.access import PUBLIC_ROUTE, principal_of
from gateway.auth import new_token
from gateway.errors import ApiError
from gateway.oidc import OidcClient, OidcError, PendingLogin
from storage import accounts

PENDING_TTL_S = 600
_pending = msgspec.msgpack.Decoder(PendingLogin)


class AuthorizeUrl(msgspec.Struct, frozen=True):
    authorize_url: str


class OidcResult(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    provider: str
    linked: bool = False
    created: bool = False
    token: str | None = None
    expires_at: dt.datetime | None = None


def _client(request: Request[Any, Any, Any], provider: str) -> OidcClient:
    client: OidcClient | None = request.app.state.oidc.get(provider)
    if client is None:
        raise ApiError(404, "not_found", f"no sign-in provider {provider!r}; "
                       "GET /v1/auth/oidc/providers lists them")
    return client


async def _remember(request: Request[Any, Any, Any], state: str, pending: PendingLogin) -> None:
    key = f"{request.app.state.redis_prefix}:oidc:{state}"
    await request.app.state.redis.set(key, msgspec.msgpack.encode(pending), ex=PENDING_TTL_S)


@get("/v1/auth/oidc/providers", summary="Sign-in providers", **PUBLIC_ROUTE)
async def providers(request: Request[Any, Any, Any]) -> list[str]:
    return sorted(request.app.state.oidc)


@get("/v1/auth/oidc/{provider:str}/start", summary="Sign in with a provider (redirects)",
     **PUBLIC_ROUTE)
async def start(request: Request[Any, Any, Any], provider: str) -> Redirect:
    url, state, pending = await _client(request, provider).start()
    await _remember(request, state, pending)
    return Redirect(url)


@post("/v1/auth/oidc/{provider:str}/link", status_code=200,
      summary="Link a provider to your account: open the returned URL")
async def link(request: Request[Any, Any, Any], provider: str) -> AuthorizeUrl:
    me = principal_of(request)
    url, state, pending = await _client(request, provider).start(link_user_id=str(me.user_id))
    await _remember(request, state, pending)
    return AuthorizeUrl(url)


@get("/v1/auth/oidc/{provider:str}/callback", summary="Where the provider returns", **PUBLIC_ROUTE)
async def callback(
    request: Request[Any, Any, Any], provider: str,
    code: Annotated[str, Parameter(max_length=2048)],
    attempt: Annotated[str, Parameter(query="state", max_length=256)],  # `state` is reserved
) -> OidcResult:
    client = _client(request, provider)
    stored = await request.app.state.redis.getdel(f"{request.app.state.redis_prefix}:oidc:{attempt}")
    if stored is None:
        raise ApiError(400, "invalid_state", "unknown or expired sign-in attempt; start again")
    pending = _pending.decode(stored)
    if pending.provider != provider:
        raise ApiError(400, "invalid_state", "this sign-in attempt was for another provider")
    try:
        identity = await client.finish(code, pending)
    except OidcError as exc:
        raise ApiError(401, "oidc_failed", str(exc)) from None
    async with request.app.state.pool.connection() as conn:
        if pending.link_user_id is not None:
            user_id = uuid.UUID(pending.link_user_id)
            try:
                await accounts.link_social_login(conn, user_id, provider, identity.subject)
            except accounts.SocialLoginTaken:
                raise ApiError(409, "already_linked",
                               "this provider account is linked to another Stride account") from None
            return OidcResult(user_id=user_id, provider=provider, linked=True)
        found = await accounts.user_by_social_login(conn, provider, identity.subject)
        created = False
        if found is None:
            if not identity.email or not identity.email_verified:
                raise ApiError(403, "email_unverified",
                               "the provider shared no verified e-mail; register with a password "
                               "and link the provider instead")
            try:
                found = await accounts.create_social_user(conn, identity.email.lower(), provider,
                                                          identity.subject, identity.name)
            except accounts.EmailTaken:
                raise ApiError(409, "email_taken", "an account with this e-mail exists: log in "
                               f"and link {provider} from it (POST /v1/auth/oidc/{provider}/link)") from None
            created = True
        token, digest = new_token()
        _, expires_at = await accounts.create_session(conn, found, digest,
                                                      request.app.state.session_lifetime)
    return OidcResult(user_id=found, provider=provider, created=created, token=token,
                      expires_at=expires_at)


ROUTES = [providers, start, link, callback]
