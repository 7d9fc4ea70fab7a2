"""Users the platform needs before accounts exist: the development user."""

from __future__ import annotations

import uuid

import psycopg


def ensure_dev_user(dsn: str, user_id: uuid.UUID, email: str = "dev@stride.local") -> None:
    """Create the user that the development token maps to (idempotent). It stands for a
    developer trying the platform, not a person: it is given the consent to process health
    data (journaled, by the system) whenever it has none, so the demo's heart rate counts."""
    from storage.consents import POLICY_VERSION
    from storage.health_consent import HEALTH_SCOPE

    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO users (id, email, first_name) VALUES (%s, %s, 'Dev')"
            " ON CONFLICT DO NOTHING",
            (user_id, email),
        )
        conn.execute(
            "WITH given AS (UPDATE users SET health_consent_at = now(),"
            "   health_consent_policy = %(policy)s"
            "   WHERE id = %(id)s AND health_consent_at IS NULL RETURNING id)"
            " INSERT INTO consent_journal (athlete_id, action, scope, purpose, policy_version)"
            " SELECT id, 'granted', %(scope)s, 'the development user (STRIDE_DEV_TOKEN)',"
            "   %(policy)s FROM given",
            {"id": user_id, "policy": POLICY_VERSION, "scope": HEALTH_SCOPE})
