"""REST: `POST /v1/users/me/email {email}` — change the address you log in with.

A credential change, so it needs the password given recently on this session (opt REAUTH:
`POST /v1/auth/reauth` first, gateway/access.py). 422 `invalid_email` for an address that is
not one, 409 `email_taken` when another account has it. The address is taken at once: a
confirmation mail to the new address (and a notice to the old one) comes later, with the
notification service's e-mail channel.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.status_codes import HTTP_200_OK

from gateway.access import REAUTH, principal_of
from gateway.accounts_api import Email
from gateway.errors import ApiError
from storage import accounts
from storage.account_email import EmailTaken, change_email

_emails = msgspec.json.Decoder(Email)


class EmailIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(max_length=1024)]
    """The new address (stored lower-case)."""


@post("/v1/users/me/email", opt=REAUTH, status_code=HTTP_200_OK,
      summary="Change your e-mail address (needs your password given recently)")
async def change_my_email(request: Request[Any, Any, Any], data: EmailIn) -> accounts.Profile:
    me = principal_of(request)
    try:
        email = _emails.decode(msgspec.json.encode(data.email.strip()))
    except msgspec.ValidationError:
        raise ApiError(422, "invalid_email", "that is not an e-mail address") from None
    async with request.app.state.pool.connection() as conn:
        try:
            await change_email(conn, me.user_id, email)
        except EmailTaken:
            raise ApiError(409, "email_taken", "another account uses this address") from None
        profile = await accounts.get_profile(conn, me.user_id)
    if profile is None:
        raise ApiError(404, "not_found", "no such user")
    return profile


ROUTES = [change_my_email]
