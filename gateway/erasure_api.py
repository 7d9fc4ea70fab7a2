"""REST: a person erases their account (GDPR art. 17).

    DELETE /v1/me   {password, otp?}   (or no body, within the re-authentication window)

The caller proves it is them again: the password in the body (and, with MFA, the code), or
a session whose password was given within `reauth_window_s` (a fresh login, or
`POST /v1/auth/reauth`). Then everything of theirs is erased from every store
(privacy/erasure.py orders the steps, storage/erasure.py does them) before the answer:
204, synchronously — each workout goes in its own short transaction, so a big account
takes longer but never holds a long lock; should the gateway die half-way, the worker's
maintenance job finishes it (the account is locked from the first step). Afterwards a
login with their e-mail fails exactly as for an unknown account, and their sockets (device
ingest, their own live feed) and coaches' feeds of them are closed or re-checked at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, delete
from litestar.datastructures import State
from litestar.status_codes import HTTP_204_NO_CONTENT

from gateway.access import principal_of, require_recent_auth
from gateway.access_watch import AccessChanged
from gateway.accounts_api import OneTimeCode, check_password
from gateway.errors import ApiError
from privacy.erasure import Erasure
from storage import accounts
from storage.erasure import PgAccount, RedisCaches

log = logging.getLogger("stride.gateway")


class EraseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)] | None = None
    """Your password; may be left out within the re-authentication window."""
    otp: OneTimeCode | None = None
    """With MFA: your authenticator app's code (or a recovery code)."""


def eraser(state: State) -> Erasure:
    """The erasure of this gateway: its pool and Redis, its placement to stop actors, its
    access watch to close sockets, the keyring's pseudonyms and the data-key cache."""
    keys = getattr(state, "data_keys", None)
    if keys is None:
        raise ApiError(503, "keys_unavailable", "erasure needs the key material (stride keys "
                       "unseal): the erasure journal names people by a keyed pseudonym")

    async def ended(user_id: uuid.UUID, tokens: list[uuid.UUID]) -> None:
        for token in tokens:
            await state.access_watch.announce(AccessChanged(session_id=token))
        await state.access_watch.announce(AccessChanged(user_id=user_id))
        await state.access_watch.announce(AccessChanged(athlete_id=user_id))

    async def stop_actor(workout_id: uuid.UUID) -> None:
        await asyncio.to_thread(state.placement.release, workout_id)

    return Erasure(PgAccount(state.pool, export_dir=state.exports.folder),
                   RedisCaches(state.redis, state.redis_prefix), keys.ring.pseudonym,
                   ended=ended, stop_actor=stop_actor, forget_keys=keys.forget)


@delete("/v1/me", status_code=HTTP_204_NO_CONTENT,
        summary="Erase your account and everything of yours, in every store (GDPR art. 17); "
                "send your password (and code, with MFA) unless you logged in just now")
async def erase_me(request: Request[Any, Any, Any], data: EraseIn | None = None) -> None:
    me = principal_of(request)
    if me.session_id is None:
        raise ApiError(403, "forbidden", "this needs a login session")
    if data is not None and data.password is not None:
        async with request.app.state.pool.connection() as conn:
            profile = await accounts.get_profile(conn, me.user_id)
        if profile is None:
            raise ApiError(404, "not_found", "no such account")
        await check_password(request, profile.email, data.password, data.otp)
    else:
        require_recent_auth(request, me)
    erasure = eraser(request.app.state)
    report = await erasure.erase(me.user_id)
    if report is None:
        raise ApiError(404, "not_found", "no such account")
    # Counts only: neither the id nor the e-mail of the person goes to the log.
    log.info("account erased in %d ms: %d workouts, %d actors stopped, %d Redis keys, rows %s",
             report.duration_ms, report.workouts, report.actors_stopped, report.redis_keys,
             report.rows)


ROUTES = [erase_me]
