"""REST: sign in with, or link, an OpenID Connect provider (configured in the settings).

    GET  /v1/auth/oidc/providers                  the configured providers
    GET  /v1/auth/oidc/{provider}/start           302 to the provider (sign-in)
    POST /v1/auth/oidc/{provider}/link            {authorize_url} to link the provider to you
    GET  /v1/auth/oidc/{provider}/callback        the provider sends the browser back here
    POST /v1/auth/oidc/{provider}/link/{link_id}  confirm a link the callback showed you
    POST /v1/auth/oidc/handoff                    the web app collects a browser callback's result

Every flow is bound to the browser that started it: `start` and `link` set an HttpOnly,
SameSite=Lax cookie whose hash the pending flow keeps, and the callback is refused
(`browser_mismatch`) from any other browser — so an attacker cannot start a flow and have
a victim finish it (login CSRF, RFC 6749 10.12). Linking takes two steps: the callback
shows which provider account would be linked, and only the session that asked for the
link can confirm it. A new identity gets a new account; an identity whose e-mail already
has an account is never merged silently (its owner signs in and links instead). Answers
that carry a token are never cached.

A browser (a callback asking for HTML) is sent on to the web app instead of shown JSON: the
result waits under a single-use code for `HANDOFF_TTL_S`, bound to the same browser cookie,
and the app's `/app/signin/oidc#handoff=<code>` page collects it with `POST …/handoff`. The
code travels in the URL fragment, which browsers never send to a server or a log, and the
token itself never appears in a URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter
from litestar.response import Redirect

from gateway.access import PUBLIC_ROUTE, principal_of
from gateway.accounts_api import NO_STORE, client_address
from gateway.auth import new_token
from gateway.errors import ApiError, refused
from gateway.oidc import Identity, OidcClient, OidcError, PendingLogin
from gateway.quotas import Refused
from storage import accounts, keyspace

PENDING_TTL_S = 600
HANDOFF_TTL_S = 60
HANDOFF_PAGE = "/app/signin/oidc"
COOKIE = "stride_oidc"
_pending = msgspec.msgpack.Decoder(PendingLogin)


class PendingLink(msgspec.Struct, frozen=True, kw_only=True):
    provider: str
    user_id: str
    session_id: str
    identity: Identity


class AuthorizeUrl(msgspec.Struct, frozen=True):
    authorize_url: str


class LinkProposal(msgspec.Struct, frozen=True, kw_only=True):
    """What the callback shows before anything is linked."""

    link_id: str
    provider: str
    subject: str
    email: str | None
    name: str | None
    confirm: str
    """POST here, from the session that asked for the link, to link this account."""


class HandoffIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=16, max_length=128)]


class OidcResult(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    provider: str
    linked: bool = False
    created: bool = False
    token: str | None = None
    expires_at: dt.datetime | None = None
    link: LinkProposal | None = None
    """Set when the callback finished a link request: confirm it to link."""


def _client(request: Request[Any, Any, Any], provider: str) -> OidcClient:
    client: OidcClient | None = request.app.state.oidc.get(provider)
    if client is None:
        raise ApiError(404, "not_found", f"no sign-in provider {provider!r}; "
                       "GET /v1/auth/oidc/providers lists them")
    return client


def _key(request: Request[Any, Any, Any], kind: str, name: str) -> str:
    return keyspace.oidc(request.app.state.redis_prefix, kind, name)


def _browser_secret(request: Request[Any, Any, Any]) -> tuple[str, Cookie]:
    """The browser's binding secret (kept if it has one, so parallel flows work) and the
    cookie that carries it."""
    secret = request.cookies.get(COOKIE) or secrets.token_urlsafe(32)
    cookie = Cookie(key=COOKIE, value=secret, max_age=PENDING_TTL_S, path="/v1/auth/oidc",
                    httponly=True, samesite="lax",
                    secure=str(request.app.state.public_url).startswith("https://"))
    return secret, cookie


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _begin(request: Request[Any, Any, Any], provider: str, who: str,
                 link: tuple[str, str] | None = None) -> tuple[str, Cookie]:
    try:
        await request.app.state.quotas.started_oidc_flow(who)
    except Refused as exc:
        raise refused(exc) from None
    secret, cookie = _browser_secret(request)
    url, state, pending = await _client(request, provider).start(
        _digest(secret), link_user_id=link[0] if link else None,
        link_session_id=link[1] if link else None)
    await request.app.state.redis.set(_key(request, "flow", state), msgspec.msgpack.encode(pending),
                                      ex=PENDING_TTL_S)
    return url, cookie


@get("/v1/auth/oidc/providers", summary="Sign-in providers", **PUBLIC_ROUTE)
async def providers(request: Request[Any, Any, Any]) -> list[str]:
    return sorted(request.app.state.oidc)


@get("/v1/auth/oidc/{provider:str}/start", summary="Sign in with a provider (redirects)",
     **PUBLIC_ROUTE)
async def start(request: Request[Any, Any, Any], provider: str) -> Redirect:
    url, cookie = await _begin(request, provider, f"address:{client_address(request)}")
    return Redirect(url, cookies=[cookie], headers=NO_STORE)


@post("/v1/auth/oidc/{provider:str}/link", status_code=200,
      summary="Link a provider to your account: open the returned URL in this browser")
async def link(request: Request[Any, Any, Any], provider: str) -> Response[AuthorizeUrl]:
    me = principal_of(request)
    if me.session_id is None:
        raise ApiError(403, "forbidden", "linking needs a login session")
    url, cookie = await _begin(request, provider, f"user:{me.user_id}",
                               (str(me.user_id), str(me.session_id)))
    return Response(AuthorizeUrl(url), cookies=[cookie], headers=NO_STORE)


@get("/v1/auth/oidc/{provider:str}/callback", summary="Where the provider returns", **PUBLIC_ROUTE)
async def callback(
    request: Request[Any, Any, Any], provider: str,
    code: Annotated[str, Parameter(max_length=2048)],
    attempt: Annotated[str, Parameter(query="state", max_length=256)],  # `state` is reserved
) -> Response[OidcResult]:
    client = _client(request, provider)
    state = request.app.state
    stored = await state.redis.getdel(_key(request, "flow", attempt))
    if stored is None:
        raise ApiError(400, "invalid_state", "unknown or expired sign-in attempt; start again")
    pending = _pending.decode(stored)
    if pending.provider != provider:
        raise ApiError(400, "invalid_state", "this sign-in attempt was for another provider")
    secret = request.cookies.get(COOKIE, "")
    if not hmac.compare_digest(_digest(secret), pending.browser):
        raise ApiError(400, "browser_mismatch", "this sign-in was started in another browser; "
                       "start it again here")
    try:
        identity = await client.finish(code, pending)
    except OidcError as exc:
        raise ApiError(401, "oidc_failed", str(exc)) from None
    if pending.link_user_id is not None:
        result = await _propose_link(request, provider, pending, identity)
    else:
        result = await _sign_in(request, provider, identity)
    if "text/html" in request.headers.get("accept", ""):
        return await _hand_to_web_app(request, secret, result)  # type: ignore[return-value]
    return Response(result, headers=NO_STORE)


async def _hand_to_web_app(request: Request[Any, Any, Any], secret: str,
                           result: OidcResult) -> Redirect:
    """Keep the result for the web app under a single-use code and send the browser there."""
    code = secrets.token_urlsafe(32)
    stored = msgspec.msgpack.encode((_digest(secret), msgspec.to_builtins(result)))
    await request.app.state.redis.set(_key(request, "handoff", code), stored, ex=HANDOFF_TTL_S)
    return Redirect(f"{HANDOFF_PAGE}#handoff={code}", headers=NO_STORE)


@post("/v1/auth/oidc/handoff", status_code=200, **PUBLIC_ROUTE,
      summary="The web app collects a browser sign-in's result (single use, same browser)")
async def handoff(request: Request[Any, Any, Any], data: HandoffIn) -> Response[OidcResult]:
    stored = await request.app.state.redis.getdel(_key(request, "handoff", data.code))
    if stored is None:
        raise ApiError(400, "invalid_handoff", "unknown, used or expired sign-in result; sign in again")
    browser, result = msgspec.msgpack.decode(stored)
    if not hmac.compare_digest(_digest(request.cookies.get(COOKIE, "")), browser):
        raise ApiError(400, "browser_mismatch", "this sign-in finished in another browser; "
                       "sign in again here")
    return Response(msgspec.convert(result, OidcResult), headers=NO_STORE)


async def _propose_link(request: Request[Any, Any, Any], provider: str, pending: PendingLogin,
                        identity: Identity) -> OidcResult:
    assert pending.link_user_id is not None and pending.link_session_id is not None
    link_id = secrets.token_urlsafe(24)
    proposal = PendingLink(provider=provider, user_id=pending.link_user_id,
                           session_id=pending.link_session_id, identity=identity)
    await request.app.state.redis.set(_key(request, "link", link_id),
                                      msgspec.msgpack.encode(proposal), ex=PENDING_TTL_S)
    return OidcResult(
        user_id=uuid.UUID(pending.link_user_id), provider=provider,
        link=LinkProposal(link_id=link_id, provider=provider, subject=identity.subject,
                          email=identity.email, name=identity.name,
                          confirm=f"/v1/auth/oidc/{provider}/link/{link_id}"))


@post("/v1/auth/oidc/{provider:str}/link/{link_id:str}", status_code=200,
      summary="Confirm a link the callback showed (from the session that asked for it)")
async def confirm_link(request: Request[Any, Any, Any], provider: str,
                       link_id: Annotated[str, Parameter(max_length=64)]) -> OidcResult:
    me = principal_of(request)
    key = _key(request, "link", link_id)
    stored = await request.app.state.redis.get(key)
    proposal = msgspec.msgpack.decode(stored, type=PendingLink) if stored else None
    if (proposal is None or proposal.provider != provider or proposal.user_id != str(me.user_id)
            or proposal.session_id != str(me.session_id)):
        raise ApiError(404, "not_found", "no such link waiting for this session; start again")
    await request.app.state.redis.delete(key)
    async with request.app.state.pool.connection() as conn:
        try:
            await accounts.link_social_login(conn, me.user_id, provider, proposal.identity.subject)
        except accounts.SocialLoginTaken:
            raise ApiError(409, "already_linked",
                           "this provider account is linked to another Stride account") from None
    return OidcResult(user_id=me.user_id, provider=provider, linked=True)


async def _sign_in(request: Request[Any, Any, Any], provider: str, identity: Identity) -> OidcResult:
    async with request.app.state.pool.connection() as conn:
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
        if await accounts.is_locked(conn, found):
            raise ApiError(403, "account_locked", "this account is locked; ask an administrator")
        token, digest = new_token()
        _, expires_at = await accounts.create_session(conn, found, digest,
                                                      request.app.state.session_lifetime)
    return OidcResult(user_id=found, provider=provider, created=created, token=token,
                      expires_at=expires_at)


ROUTES = [providers, start, link, callback, confirm_link, handoff]
