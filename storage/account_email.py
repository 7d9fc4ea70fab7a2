"""Changing an account's e-mail address (the login name): stored lower-case and unique
(0001), like at registration."""

from __future__ import annotations

import uuid

from psycopg import AsyncConnection, errors


class EmailTaken(Exception):
    """Another account uses the address."""


async def change_email(conn: AsyncConnection, user_id: uuid.UUID, email: str) -> bool:
    """Set the address (lower-cased); False if it was the account's already. EmailTaken if
    another account has it."""
    email = email.lower()
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "UPDATE users SET email = %s, updated_at = now() WHERE id = %s AND email <> %s",
                (email, user_id, email))
    except errors.UniqueViolation:
        raise EmailTaken(email) from None
    return cur.rowcount == 1
