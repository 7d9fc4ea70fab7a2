"""What of a person goes into their export: SECTIONS, the one registry.

Every table that holds something about a person is either read by a section here or named
in NOT_EXPORTED with the reason; tests/e2e/test_export.py fails when a table with a person
or workout column is in neither, so a feature that stores personal data later joins the
export by adding one entry here (and one to the erasure). Workouts themselves (summary,
samples, pauses) are written per workout by storage/export_zip.py, not here.

A section is one JSON file: the rows as PostgreSQL turns them into JSON (`to_jsonb`, every
column, timestamps in ISO 8601 with offset), minus the columns it leaves out — secrets and
hashes of secrets (password, session and device token hashes, TOTP secret, key material)
are never exported; their presence is.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from psycopg import AsyncConnection

Query = Callable[[AsyncConnection, uuid.UUID], Awaitable[bytes]]


class Section(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    """Its name in the ZIP."""
    describes: str
    """For manifest.json and README.txt: what the file holds, in a sentence or two."""
    tables: tuple[str, ...]
    """The tables it reads (the coverage test checks every personal table is read by one)."""
    query: Query


def rows(table: str, where: str, *, order: str = "", drop: tuple[str, ...] = (),
         one: bool = False, select: str = "t") -> Query:
    """The rows of `table` (alias t; or a whole FROM clause naming its main table t)
    matching `where` (with `%(u)s` for the person's id) as a JSON array (an object or null
    with `one`), without the `drop` columns."""
    item = f"to_jsonb({select}) - %(drop)s::text[]"
    source = table if " " in table else f"{table} t"
    value = (f"(SELECT {item} FROM {source} WHERE {where} LIMIT 1)" if one else
             f"coalesce((SELECT jsonb_agg({item}{' ORDER BY ' + order if order else ''})"
             f" FROM {source} WHERE {where}), '[]'::jsonb)")

    async def query(conn: AsyncConnection, user_id: uuid.UUID) -> bytes:
        cur = await conn.execute(f"SELECT jsonb_pretty({value})",
                                 {"u": user_id, "drop": list(drop)})
        row = await cur.fetchone()
        return (row[0] if row and row[0] is not None else "null").encode() + b"\n"

    return query


def combined(**parts: Query) -> Query:
    """One JSON object of several queries' results, under their names."""
    async def query(conn: AsyncConnection, user_id: uuid.UUID) -> bytes:
        out = [f'"{name}": {(await part(conn, user_id)).decode().strip()}'
               for name, part in parts.items()]
        return ("{\n" + ",\n".join(out) + "\n}\n").encode()

    return query


def _mfa() -> Query:
    return rows(
        "users", "t.id = %(u)s", one=True,
        select="""jsonb_build_object(
            'totp_enrolled', EXISTS (SELECT 1 FROM mfa_totp m WHERE m.user_id = t.id
                                     AND m.confirmed_at IS NOT NULL),
            'totp_enrolment_begun_at', (SELECT m.created_at FROM mfa_totp m WHERE m.user_id = t.id),
            'totp_confirmed_at', (SELECT m.confirmed_at FROM mfa_totp m WHERE m.user_id = t.id),
            'recovery_codes_unused', (SELECT count(*) FROM mfa_recovery_codes c
                                      WHERE c.user_id = t.id AND c.used_at IS NULL),
            'recovery_codes_used', (SELECT count(*) FROM mfa_recovery_codes c
                                    WHERE c.user_id = t.id AND c.used_at IS NOT NULL))""")


SECTIONS: list[Section] = [
    Section(file="profile.json", tables=("users",),
            describes="Your account and profile (e-mail, names, body data the metrics use, "
                      "goal, country, consent to health processing). The password is stored "
                      "only as a hash, which is not included.",
            query=rows("users", "t.id = %(u)s", one=True, drop=("password_hash",))),
    Section(file="roles.json", tables=("roles",),
            describes="Roles your account holds, when and by whom they were granted.",
            query=rows("roles", "t.user_id = %(u)s", order="t.granted_at")),
    Section(file="social_logins.json", tables=("social_logins",),
            describes="Sign-in providers linked to your account and your id there.",
            query=rows("social_logins", "t.user_id = %(u)s", order="t.created_at")),
    Section(file="sessions.json", tables=("sessions",),
            describes="Your login sessions: when opened, last used, expiry, revocation, "
                      "whether a second factor was given. Tokens are not stored, so not included.",
            query=rows("sessions", "t.user_id = %(u)s", order="t.created_at",
                       drop=("token_hash",))),
    Section(file="device_tokens.json", tables=("device_tokens",),
            describes="Device tokens you created (name, created, last used, revoked). The "
                      "tokens themselves are never stored or exported.",
            query=rows("device_tokens", "t.user_id = %(u)s", order="t.created_at",
                       drop=("token_hash",))),
    Section(file="mfa.json", tables=("mfa_totp", "mfa_recovery_codes"),
            describes="Whether two-factor sign-in (TOTP) is on and how many recovery codes "
                      "are left. The TOTP secret and the codes are never exported.",
            query=_mfa()),
    Section(file="privacy_settings.json", tables=("privacy_settings",),
            describes="What you show on shared surfaces (null: you never changed the "
                      "defaults, which are private).",
            query=rows("privacy_settings", "t.user_id = %(u)s", one=True)),
    Section(file="consents.json", tables=("consents",),
            describes="Consents you gave groups' coaches (scope live or history), with when "
                      "they were given and withdrawn.",
            query=rows("consents", "t.athlete_id = %(u)s", order="t.granted_at")),
    Section(file="consent_journal.json", tables=("consent_journal",),
            describes="The append-only journal of every change to consents about you or made "
                      "by you.",
            query=rows("consent_journal", "t.athlete_id = %(u)s OR t.actor_id = %(u)s",
                       order="t.at, t.id")),
    Section(file="groups.json", tables=("groups", "user_groups"),
            describes="Groups you belong to (your role, when you joined) and groups you created.",
            query=combined(
                memberships=rows("user_groups t JOIN groups g ON g.id = t.group_id",
                                 "t.user_id = %(u)s", order="t.joined_at",
                                 select="to_jsonb(t) || jsonb_build_object('group', to_jsonb(g))"),
                created=rows("groups", "t.created_by = %(u)s", order="t.created_at"))),
    Section(file="group_invitations.json", tables=("group_invitations",),
            describes="Invitations to coach a group that you received or sent.",
            query=rows("group_invitations", "t.invitee_id = %(u)s OR t.invited_by = %(u)s",
                       order="t.created_at")),
    Section(file="group_journal.json", tables=("group_journal",),
            describes="The append-only journal of group membership changes about you or made "
                      "by you.",
            query=rows("group_journal", "t.subject_id = %(u)s OR t.actor_id = %(u)s",
                       order="t.at, t.id")),
    Section(file="notifications.json", tables=("notification_logs", "notification_preferences"),
            describes="Notifications sent to you (message, channel, status) and your "
                      "notification preferences.",
            query=combined(
                notifications=rows("notification_logs", "t.user_id = %(u)s",
                                   order="t.created_at, t.id"),
                preferences=rows("notification_preferences", "t.user_id = %(u)s",
                                 order="t.notification_type, t.channel"))),
    Section(file="recommendations.json", tables=("recommendations",),
            describes="Workout recommendations (and offers) made for you, with the model that "
                      "made them.",
            query=rows("recommendations", "t.user_id = %(u)s", order="t.generated_at")),
    Section(file="inference_log.json", tables=("inference_log",),
            describes="Every model inference made about you (injury risk, recommendations): "
                      "the model and version, its inputs and output, when.",
            query=rows("inference_log", "t.user_id = %(u)s", order="t.at, t.id")),
    Section(file="leaderboards.json", tables=("leaderboard", "leaderboard_entries"),
            describes="Your leaderboard standings and the workouts counted on them.",
            query=combined(
                standings=rows("leaderboard", "t.user_id = %(u)s",
                               order="t.sport, t.region, t.period, t.period_start"),
                counted=rows("leaderboard_entries", "t.user_id = %(u)s"))),
    Section(file="achievements.json", tables=("user_achievements",),
            describes="Achievements you unlocked.",
            query=rows("user_achievements t JOIN achievements a ON a.id = t.achievement_id",
                       "t.user_id = %(u)s", order="t.unlocked_at",
                       select="to_jsonb(t) || jsonb_build_object('achievement', to_jsonb(a))")),
    Section(file="workout_ids.json", tables=("workout_ids",),
            describes="Every workout id your devices ever started, with when you deleted a "
                      "workout (the id stays reserved to you; its data is gone).",
            query=rows("workout_ids", "t.user_id = %(u)s", order="t.claimed_at")),
    Section(file="admin_audit.json", tables=("admin_audit",),
            describes="Entries of the admin audit log about your account (its target names "
                      "you) or made by you as an admin.",
            query=rows("admin_audit", "t.actor_id = %(u)s OR t.target = %(u)s::text"
                       " OR t.target LIKE '%%' || %(u)s::text || '%%'", order="t.at, t.id")),
    Section(file="dead_letter_journal.json", tables=("dead_letter_journal",),
            describes="Dead-lettered stream records you (as an admin) replayed or discarded. "
                      "The records themselves are on the dead-letter topic, encrypted with "
                      "your data key where they carry health data; they are not listed here.",
            query=rows("dead_letter_journal", "t.actor_id = %(u)s", order="t.at, t.id")),
    Section(file="models.json", tables=("ai_models", "ai_model_deployments"),
            describes="Model versions you registered or deployed and the deploys you made "
                      "(ML engineers).",
            query=combined(
                registered=rows("ai_models", "t.created_by = %(u)s OR t.deployed_by = %(u)s",
                                order="t.created_at"),
                deployments=rows("ai_model_deployments", "t.actor = %(u)s", order="t.at"))),
    Section(file="health_access_log.json", tables=("health_access_log",),
            describes="Who read your health data (coaches with your consent, admins, support "
                      "staff), what, when and on what basis.",
            query=rows("health_access_log", "t.subject_id = %(u)s", order="t.at, t.id")),
    Section(file="guardian_consents.json", tables=("guardian_consents",),
            describes="A guardian's consent for an account under 16 (art. 8), asked or given.",
            query=rows("guardian_consents", "t.athlete_id = %(u)s OR t.guardian_id = %(u)s",
                       order="t.requested_at")),
    Section(file="exports.json", tables=("export_jobs",),
            describes="Your exports: when asked for, their state and expiry.",
            query=rows("export_jobs", "t.user_id = %(u)s", order="t.created_at")),
]
"""Each file of the export besides the workouts; add a Section for a new personal table."""

NOT_EXPORTED: dict[str, str] = {
    "workouts": "Each workout is workouts/<id>.json (its summary as the API shows it to you).",
    "sensor_data": "Each workout's samples are workouts/<id>.csv (every field) and .gpx.",
    "workout_breaks": "A workout's pauses and resumes are rows of workouts/<id>.csv and the "
                      "segments of its .gpx.",
    "workout_metrics": "Live metric snapshots are computed from the samples (a re-import of the "
                       "CSV computes them again); the final figures are in workouts/<id>.json.",
    "workout_metrics_1m": "The per-minute rollup of the live metrics, as above.",
    "user_data_keys": "Your data key (wrapped): key material is never exported.",
    "erasure_journal": "Holds no personal data (a keyed pseudonym of erased accounts only).",
    "achievements": "The catalogue of achievements, the same for everyone; yours are in "
                    "achievements.json.",
}
"""Tables with a person or workout column that no section reads, and why."""


def describe(extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The sections as manifest.json lists them."""
    return [{"file": s.file, "describes": s.describes, "tables": list(s.tables),
             "format": "application/json", **(extra or {})} for s in SECTIONS]
