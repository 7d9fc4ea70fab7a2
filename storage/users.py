"""Users the platform needs before accounts exist: the development user."""

from __future__ import annotations

import uuid

import psycopg


def ensure_dev_user(dsn: str, user_id: uuid.UUID, email: str = "dev@stride.local") -> None:
    """Create the user that the development token maps to (idempotent)."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO users (id, email, first_name) VALUES (%s, %s, 'Dev')"
            " ON CONFLICT DO NOTHING",
            (user_id, email),
        )
