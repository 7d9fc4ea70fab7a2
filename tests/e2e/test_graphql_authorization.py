"""The internal GraphQL API's authorization matrix, generated from the schema.

Every root query and mutation field is called by every kind of caller — anonymous, an
athlete with a public token (nobody but staff can sign in on the internal gateway, so that
is all an athlete can hold), a coach holding an internal session (no sign-in gives one; it
is made in the database, as a stolen or leftover one would be), an admin's public token
(opened with TOTP), an ML engineer and an admin with internal sessions — each time with
valid arguments taken from the field's own signature. Who may call a field is written once
below (POLICY); a field added to the schema fails this test until it is classified. The
test asserts:
- callers outside the policy get a refusal that says so (401/403 with a JSON code, or a
  GraphQL error with the code `forbidden`) and never data, and their mutations change
  nothing and leave no audit row;
- callers inside it get data; their mutations run in a fresh world of their own (made in
  the database), succeed (two, deploy and rollback, need real artefacts and are refused by
  the domain after authorization: EXPECTED) and leave exactly one audit row — who, what,
  target, from where, how it ended — which the audit log query then shows.
The queries are ad-hoc, so they run on an internal gateway of this module's own that allows
them (the stack's, as in production, runs persisted queries only).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
)
from helper_processes import STRIDE, Processes, free_port, http_url, tls_client_options

from gateway.auth import new_token
from gateway.internal.schema import build_schema
from privacy.health import HEALTH_FIELDS
from stack.settings import Settings
from streams import events, topics
from streams.tls import kafka_options

pytestmark = pytest.mark.e2e

CALLERS = ("anonymous", "athlete", "coach", "admin_public", "ml_engineer", "admin")
ROLES = {"athlete": ([], "public"), "coach": (["coach"], "internal"),
         "admin_public": (["admin"], "public"), "ml_engineer": (["ml_engineer"], "internal"),
         "admin": (["admin"], "internal")}
"""Each caller's roles (besides athlete) and the audience of its session."""
ADMIN = {"admin"}
ML = {"ml_engineer", "admin"}
POLICY: dict[str, set[str]] = {
    "me": ML | ADMIN,
    "users": ADMIN, "user": ADMIN, "userSessions": ADMIN, "groups": ADMIN,
    "groupMembers": ADMIN, "consentJournal": ADMIN, "auditLog": ADMIN,
    "grantRole": ADMIN, "revokeRole": ADMIN, "revokeSession": ADMIN, "lockUser": ADMIN,
    "unlockUser": ADMIN, "addGroupMember": ADMIN, "removeGroupMember": ADMIN,
    "models": ML, "model": ML, "inferenceLog": ML, "deployModel": ML, "rollbackModel": ML,
    "group": ADMIN, "serveStatus": ML,
    "deadLetters": ADMIN, "deadLetter": ADMIN, "replayDeadLetter": ADMIN,
    "discardDeadLetter": ADMIN, "stackHealth": ADMIN, "accessLog": ADMIN,
}
EXPECTED = {
    # The caller may deploy, but no Serve application runs the type `matrix`
    # (tests/integration/test_serve.py deploys real ones) …
    "deployModel": "not_found",
    # … and there is nothing of it to roll back to.
    "rollbackModel": "not_found",
}
REFUSAL_CODES = {"unauthorized", "wrong_audience", "forbidden"}
HEALTH_NAME = re.compile(r"(^|_)(hr|spo2|heart|risk|calorie|trimp|vo2|weight|birth|zone)")


class World:
    """Callers with their tokens and the objects the fields are called on, made in the
    database (cheap enough to make a fresh one per mutation and caller)."""

    def __init__(self, stack: Settings) -> None:
        self.ids: dict[str, uuid.UUID] = {}
        self.tokens: dict[str, str] = {}
        with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
            for caller, (roles, audience) in ROLES.items():
                self.ids[caller] = self._user(conn, caller, roles)
                self.tokens[caller] = self._session(conn, self.ids[caller], audience)[0]
            self.target = self._user(conn, "target", ["coach"])  # a role to revoke
            _, self.target_session = self._session(conn, self.target, "public")
            self.newcomer = self._user(conn, "newcomer", [])
            self.group = self._one(conn, "INSERT INTO groups (name, sport, created_by) VALUES"
                                         " ('Matrix', 'run', %s) RETURNING id", (self.ids["coach"],))
            for user, role in ((self.ids["coach"], "coach"), (self.target, "athlete")):
                conn.execute("INSERT INTO user_groups (user_id, group_id, role) VALUES (%s, %s, %s)",
                             (user, self.group, role))
            consent = self._one(conn, "INSERT INTO consents (athlete_id, group_id) VALUES (%s, %s)"
                                      " RETURNING id", (self.target, self.group))
            conn.execute("INSERT INTO consent_journal (actor_id, athlete_id, consent_id, group_id,"
                         " action, scope, purpose, policy_version) VALUES (%s, %s, %s, %s,"
                         " 'granted', 'live', 'live coaching', 'matrix')",
                         (self.target, self.target, consent, self.group))
            self.model_version = f"matrix-{uuid.uuid4().hex[:8]}"  # a type nothing serves
            conn.execute("INSERT INTO ai_models (type, version, path) VALUES ('matrix', %s,"
                         " '/nonexistent')", (self.model_version,))
            conn.execute("INSERT INTO inference_log (model_type, model_version, user_id, inputs,"
                         " output, latency_ms) VALUES ('matrix', %s, %s, '{}', '{}', 1.5)",
                         (self.model_version, self.target))
        self.dead_letter = asyncio.run(_dead_letter(stack, self.target))

    @staticmethod
    def _one(conn: psycopg.Connection, sql: str, params: tuple[Any, ...]) -> Any:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]

    def _user(self, conn: psycopg.Connection, name: str, roles: list[str]) -> uuid.UUID:
        user: uuid.UUID = self._one(conn, "INSERT INTO users (email, first_name) VALUES (%s,"
                                          " 'Matrix') RETURNING id",
                                    (f"gql-{name}-{uuid.uuid4().hex[:10]}@example.org",))
        for role in ["athlete", *roles]:
            conn.execute("INSERT INTO roles (user_id, role) VALUES (%s, %s)", (user, role))
        return user

    def _session(self, conn: psycopg.Connection, user: uuid.UUID,
                 audience: str) -> tuple[str, uuid.UUID]:
        """A session opened (as if just now) with a second factor."""
        token, digest = new_token()
        session = self._one(conn, "INSERT INTO sessions (user_id, token_hash, expires_at,"
                                  " mfa_verified, audience) VALUES (%s, %s, now() + interval"
                                  " '1 hour', true, %s) RETURNING id", (user, digest, audience))
        return token, session

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "anonymous" else {"Authorization": f"Bearer {self.tokens[caller]}"}

    def argument(self, field: str, name: str) -> Any:
        if (field, name) == ("addGroupMember", "userId"):
            return str(self.newcomer)  # someone not in the group yet
        if (field, name) == ("group", "id"):
            return str(self.group)
        values = {"userId": str(self.target), "id": str(self.target), "athleteId": str(self.target),
                  "sessionId": str(self.target_session), "groupId": str(self.group),
                  "role": "COACH", "type": "matrix", "modelType": "matrix",
                  "version": self.model_version, "reason": "the matrix",
                  "partition": self.dead_letter[0], "offset": self.dead_letter[1],
                  "note": "the matrix"}
        assert name in values, f"{field}: teach the matrix a value for the argument {name}"
        return values[name]


async def _dead_letter(stack: Settings, user: uuid.UUID) -> tuple[int, int]:
    """(partition, offset) of a new record on the dead-letter topic, as the stream worker
    writes them: a workout's start (of a user who exists, so a replay writes it)."""
    event = events.WorkoutStarted(workout_id=uuid.uuid4(), user_id=user, summary=events.WorkoutSummary(
        version=1, status="active", sport="run", started_at_ms=int(time.time() * 1000)))
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka,
                                **kafka_options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            stack.topic_prefix + topics.DEAD_LETTER, events.encode(event), key=events.key_of(event),
            headers=[("source", (stack.topic_prefix + topics.LIFECYCLE).encode()),
                     ("error", b"the matrix")])
    finally:
        await producer.stop()
    return sent.partition, sent.offset


def selection(field: GraphQLField, levels: int = 2) -> str:
    """Every leaf field of what `field` returns, and of the objects inside it (`levels` deep)."""
    named = get_named_type(field.type)
    if is_leaf_type(named):
        return ""
    assert isinstance(named, GraphQLObjectType)
    parts = [name + selection(sub, levels - 1) for name, sub in named.fields.items()
             if is_leaf_type(get_named_type(sub.type)) or levels > 1]
    return " { " + " ".join(parts) + " }"


class Call:
    """One root field as an operation, with valid variables from a world."""

    def __init__(self, kind: str, name: str, field: GraphQLField, world: World) -> None:
        self.kind, self.name = kind, name
        wanted = {a: arg for a, arg in field.args.items()  # the required ones, and a reason
                  if (is_non_null_type(arg.type) and arg.default_value is Undefined)
                  or a in ("reason",)}
        declared = ", ".join(f"${a}: {arg.type}" for a, arg in wanted.items())
        passed = ", ".join(f"{a}: ${a}" for a in wanted)
        self.query = (f"{kind} M{'(' + declared + ')' if wanted else ''} "
                      f"{{ {name}{'(' + passed + ')' if wanted else ''}{selection(field)} }}")
        self.variables = {a: world.argument(name, a) for a in wanted}

    def send(self, http: httpx.Client, world: World, caller: str) -> httpx.Response:
        return http.post("/graphql", headers=world.headers(caller),
                         json={"query": self.query, "variables": self.variables})


def refusal(response: httpx.Response, field: str) -> str | None:
    """What is wrong with a response that should refuse, or None if it refuses properly."""
    body = response.json()
    if response.status_code in (401, 403):
        return None if body.get("code") in REFUSAL_CODES else f"HTTP {response.status_code} {body}"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    if (body.get("data") or {}).get(field) is not None:
        return f"data {body['data']}"
    codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
    return None if codes == {"forbidden"} else f"errors {body.get('errors')}"


def root_fields(schema: GraphQLSchema) -> list[tuple[str, str, GraphQLField]]:
    assert schema.query_type is not None and schema.mutation_type is not None
    return [*(("query", n, f) for n, f in schema.query_type.fields.items()),
            *(("mutation", n, f) for n, f in schema.mutation_type.fields.items())]


@pytest.fixture(scope="module")
def adhoc_internal(processes: Processes) -> Iterator[httpx.Client]:
    port = free_port()
    base = http_url(f"127.0.0.1:{port}")
    processes.start([*STRIDE, "internal", "run"], f"{base}/healthz",
                    {"STRIDE_INTERNAL_PORT": str(port), "STRIDE_INTERNAL_ADHOC_QUERIES": "1"},
                    name="internal")
    with httpx.Client(base_url=base, timeout=60, **tls_client_options()) as http:
        yield http


def test_every_field_is_classified_and_none_carries_health_data() -> None:
    schema = build_schema()._schema
    names = {name for _, name, _ in root_fields(schema)}
    assert names == set(POLICY), ("classify the new fields in POLICY: "
                                  f"{sorted(names - set(POLICY))}; gone: {sorted(set(POLICY) - names)}")
    for type_name, named in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(named, GraphQLObjectType):
            continue
        for field_name in named.fields:
            snake = re.sub(r"(?<!^)([A-Z])", r"_\1", field_name).lower()
            assert snake not in HEALTH_FIELDS and not HEALTH_NAME.search(snake), \
                f"{type_name}.{field_name} looks like health data"


def test_every_caller_gets_exactly_what_the_policy_allows(stack: Settings,
                                                          adhoc_internal: httpx.Client) -> None:
    schema = build_schema()._schema
    shared = World(stack)
    tried, leaks, refused_good = 0, [], []
    for kind, name, field in root_fields(schema):
        allowed = POLICY[name]
        for caller in CALLERS:
            if caller in allowed and kind == "mutation":
                continue  # tried below, in a world of its own
            response = Call(kind, name, field, shared).send(adhoc_internal, shared, caller)
            tried += 1
            if caller not in allowed and (wrong := refusal(response, name)) is not None:
                leaks.append(f"{caller} {name}: {wrong}")
            if caller in allowed and (response.status_code != 200 or "errors" in response.json()
                                      or response.json()["data"][name] is None):
                refused_good.append(f"{caller} {name}: {response.status_code} {response.text[:200]}")
        for caller in sorted(allowed) if kind == "mutation" else []:
            fresh = World(stack)
            response = Call(kind, name, field, fresh).send(adhoc_internal, fresh, caller)
            tried += 1
            body = response.json()
            codes = [e["extensions"]["code"] for e in body.get("errors", [])]
            expected = EXPECTED.get(name)
            good = codes == [expected] if expected else (not codes and body["data"][name] is not None)
            if response.status_code != 200 or not good:
                refused_good.append(f"{caller} {name}: {response.status_code} {response.text[:200]}")
            _audited_once(stack, fresh, caller, name, expected or "ok", adhoc_internal)
    assert tried >= len(POLICY) * len(CALLERS)
    assert leaks == [], "refusals missing or unclear: " + "; ".join(leaks)
    assert refused_good == [], "callers the policy allows were refused: " + "; ".join(refused_good)
    _nothing_changed(stack, shared)


def _audited_once(stack: Settings, world: World, caller: str, action: str, outcome: str,
                  http: httpx.Client) -> None:
    actor = world.ids[caller]
    with psycopg.connect(stack.pg_dsn) as conn:
        rows = conn.execute("SELECT action, target, outcome, address, at > now() - interval"
                            " '5 minutes' FROM admin_audit WHERE actor_id = %s", (actor,)).fetchall()
    assert len(rows) == 1, f"{caller} {action}: audit rows {rows}"
    got_action, target, got_outcome, address, recent = rows[0]
    assert (got_action, got_outcome) == (action, outcome) and address and recent, rows[0]
    assert target.split(":", 1)[0] in ("user", "session", "group", "model", "deadletter"), target
    if caller == "admin":  # and the audit log shows it
        log = http.post("/graphql", headers=world.headers("admin"), json={
            "query": "query A($a: UUID) { auditLog(actorId: $a) { items { action target outcome } } }",
            "variables": {"a": str(actor)}}).json()
        assert log["data"]["auditLog"]["items"] == [
            {"action": action, "target": target, "outcome": outcome}], log


def _nothing_changed(stack: Settings, world: World) -> None:
    """The refused callers' mutations on the shared world did nothing and left no row."""
    with psycopg.connect(stack.pg_dsn) as conn:
        refused = [world.ids[c] for c in ROLES]
        # (The one query that is audited, a read of who read health data, does not count.)
        rows = conn.execute("SELECT count(*) FROM admin_audit WHERE actor_id = ANY(%s)"
                            " AND action <> 'accessLog'", (refused,)).fetchone()
        assert rows == (0,), "refused callers left audit rows"
        state = conn.execute(
            "SELECT u.locked_at, ARRAY(SELECT role FROM roles r WHERE r.user_id = u.id ORDER BY role),"
            " (SELECT revoked_at FROM sessions WHERE id = %s),"
            " (SELECT count(*) FROM user_groups WHERE group_id = %s)"
            " FROM users u WHERE u.id = %s", (world.target_session, world.group, world.target)).fetchone()
        settled = conn.execute("SELECT count(*) FROM dead_letter_journal WHERE partition = %s"
                               " AND record_offset = %s AND topic = %s",
                               (*world.dead_letter, stack.topic_prefix + topics.DEAD_LETTER)).fetchone()
    assert state == (None, ["athlete", "coach"], None, 2), state
    assert settled == (0,), "a refused caller settled a dead letter"
