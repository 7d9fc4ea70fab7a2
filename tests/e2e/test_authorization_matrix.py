"""The authorization matrix, generated from the OpenAPI schema.

Every operation the gateway publishes is called by every kind of caller — anonymous, the
owner athlete, a coach with the athlete's consent, a coach of another group, an unrelated
athlete, a partner, an ML engineer, an admin — against the owner's objects, each time with
a valid body. Which callers may succeed follows from the objects an operation touches
(POLICY below, written once). The test asserts:
- no 2xx for a caller outside that set, and a refusal that says so (401, 403 or 404 — never
  a 400/422 that could hide a missing check);
- a 2xx for every caller inside it: for reads in the shared world; for changes in a fresh
  world of their own (made straight in the database, so they are cheap), with what a
  valid call needs prepared first (PREPARE) — so a refusal can never pass for the wrong
  reason. Two calls whose valid form needs real artefacts are expected to be refused by
  the domain (EXPECTED), after authorization.

A route added later is covered without new test code; if it takes an object this file
does not know, the test fails and asks for one line in OBJECTS and POLICY (or, for a file
upload, in UPLOADS).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pyotp
import pytest
import websockets
from helper_processes import Gateway, Processes, oidc_provider, oidc_setting
from user_accounts import Account

from gateway.auth import new_device_token, new_token
from gateway.client import DeviceClient
from gateway.hashing import HASHER
from stack.settings import Settings
from storage.consents import POLICY_VERSION
from streams.retry import wait_until_async

pytestmark = pytest.mark.e2e

CALLERS = ("anonymous", "owner", "coach", "bystander_coach", "foreign", "partner", "ml_engineer",
           "admin")
# owner: the athlete whose objects are tried; coach: coaches a group the owner consents to;
# bystander_coach: coaches another group the owner belongs to, without a consent;
# foreign: an unrelated athlete — whom the coach has invited to coach, so the invitation's.

# Who may act on each kind of object (besides the checks every route has).
POLICY: dict[str, set[str]] = {
    "workout": {"owner", "coach", "admin"},   # the athlete, consented coaches, admins
    "own_workout": {"owner", "admin"},        # changing one: the athlete, admins
    "athlete": {"owner", "coach", "admin"},
    "group": {"coach", "admin"},              # the group's coaches
    "membership": {"owner", "coach"},         # leaving: any member
    "member": {"coach", "admin"},             # removing a member: the group's coaches
    "consent": {"owner"},                     # only the athlete it belongs to
    "session": {"owner"},
    "device": {"owner"},
    "invitation": {"foreign"},                # answered by the invitee only
    "group_invitation": {"coach", "admin"},   # withdrawn by the group's coaches
    "link": set(),                            # confirmed only by the session that asked
    "group_member": {"owner", "coach"},       # a group named in a body: you must belong to it
    "admin_user": {"admin"},                  # role management
    "notification": {"owner"},                # your own inbox
    "model": {"ml_engineer", "admin"},        # the model registry and its deploys
    "export": {"owner"},                      # your data export: yours alone
    "guardian_request": {"foreign"},          # confirmed by the guardian it names only
    "self": set(CALLERS) - {"anonymous"},     # your own account: any logged-in user
}
# Path or query parameter → kind of object (a few mean something else on one path).
OBJECTS = {"workout_id": "workout", "athlete": "athlete", "group_id": "group",
           "consent_id": "consent", "session_id": "session", "user_id": "admin_user",
           "role": "admin_user", "provider": "self", "sport": "self",
           "notification_id": "notification", "model_type": "model", "version": "model",
           "device_id": "device", "invitation_id": "invitation", "link_id": "link",
           "request_id": "guardian_request",
           "export_id": "export"}
ON_PATH = {("/v1/groups/{group_id}/members/{user_id}", "user_id"): "member",
           ("/v1/groups/{group_id}/invitations/{invitation_id}", "invitation_id"): "group_invitation",
           ("/v1/groups/{group_id}/leave", "group_id"): "membership"}
ON_OPERATION = {("PATCH", "/v1/workouts/{workout_id}", "workout_id"): "own_workout",
                ("DELETE", "/v1/workouts/{workout_id}", "workout_id"): "own_workout"}
"""Where the method decides: reading a workout is not changing it."""
BODY_OBJECTS = {"group_id": "group_member"}
PASSWORD = "the matrix's own password"
EXPECTED = {
    # The caller may deploy, but this registry row's type is one no Serve application
    # runs (tests/integration/test_serve.py deploys real ones) …
    ("POST", "/v1/admin/models/{model_type}/{version}/deploy"): {404},
    # … and there is no earlier version of its type to roll back to.
    ("POST", "/v1/admin/models/{model_type}/rollback"): {404},
}


class World:
    """The objects and callers every operation is tried against."""

    owner: Any
    coach: Any

    def __init__(self, stack: Settings, gateway: Gateway) -> None:
        self.stack, self.gateway = stack, gateway

    def value(self, name: str, path: str = "") -> str:
        if ON_PATH.get((path, name)) == "member":
            return str(self.owner.id)
        return {"workout_id": str(self.workout), "athlete": str(self.owner.id),
                "group_id": self.group, "consent_id": self.consent, "session_id": self.session,
                "user_id": str(self.owner.id), "role": "coach", "provider": "mock",
                "sport": "run", "notification_id": self.notification,
                "model_type": "matrix", "version": self.model_version, "device_id": self.device,
                "invitation_id": self.invitation, "link_id": "no-such-link",
                "request_id": self.guardian_request,
                "export_id": self.export}[name]

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "anonymous" else getattr(self, caller).headers

    # -- made in the database: fresh callers and objects for one change --

    def make(self) -> World:
        with psycopg.connect(self.stack.pg_dsn, autocommit=True) as conn:
            for caller in CALLERS[1:]:
                setattr(self, caller, self._user(conn, caller))
            self.group = self._group(conn, self.coach, "Matrix")
            self._join(conn, self.owner, self.group, "athlete")
            self.consent = str(conn.execute(
                "INSERT INTO consents (athlete_id, group_id) VALUES (%s, %s) RETURNING id",
                (self.owner.id, self.group)).fetchone()[0])  # type: ignore[index]
            other = self._group(conn, self.bystander_coach, "Bystanders")
            self._join(conn, self.owner, other, "athlete")
            self.session = str(self._session(conn, self.owner.id)[1])
            self.notification = str(conn.execute(
                "INSERT INTO notification_logs (user_id, notification_type, channel, message,"
                " status) VALUES (%s, 'risk.alert', 'in_app', 'matrix', 'delivered') RETURNING id",
                (self.owner.id,)).fetchone()[0])  # type: ignore[index]
            self.model_version = f"matrix-{uuid.uuid4().hex[:8]}"  # a type nothing serves
            conn.execute("INSERT INTO ai_models (type, version, path) VALUES ('matrix', %s,"
                         " '/nonexistent')", (self.model_version,))
            _, digest = new_device_token()
            self.device = str(conn.execute(
                "INSERT INTO device_tokens (user_id, name, token_hash) VALUES (%s, 'watch', %s)"
                " RETURNING id", (self.owner.id, digest)).fetchone()[0])  # type: ignore[index]
            self.invitation = str(conn.execute(
                "INSERT INTO group_invitations (group_id, invitee_id, invited_by) VALUES (%s, %s, %s)"
                " RETURNING id", (self.group, self.foreign.id, self.coach.id)).fetchone()[0])  # type: ignore[index]
            self.workout = uuid.uuid4()
            self.guardian_request = _guardian_request(conn, self)
            # A finished (failed) export: the owner may still start a new one.
            self.export = str(conn.execute(
                "INSERT INTO export_jobs (user_id, status, error) VALUES (%s, 'failed', 'matrix')"
                " RETURNING id", (self.owner.id,)).fetchone()[0])  # type: ignore[index]
        return self

    def _user(self, conn: psycopg.Connection, caller: str) -> Account:
        email = f"matrix-{caller}-{uuid.uuid4().hex[:10]}@example.org"
        user_id = conn.execute("INSERT INTO users (email, password_hash, first_name) VALUES"
                               " (%s, %s, 'Matrix') RETURNING id",
                               (email, _password_hash())).fetchone()[0]  # type: ignore[index]
        roles = {"bystander_coach": ["coach"], "partner": ["partner"], "admin": ["admin"],
                 "ml_engineer": ["ml_engineer"], "owner": ["coach"]}.get(caller, [])
        for role in ["athlete", *roles]:
            conn.execute("INSERT INTO roles (user_id, role) VALUES (%s, %s)", (user_id, role))
        token, _ = self._session(conn, user_id)
        return Account(user_id, email, PASSWORD, token)

    @staticmethod
    def _session(conn: psycopg.Connection, user_id: uuid.UUID) -> tuple[str, uuid.UUID]:
        """A session opened (as if just now) with a second factor."""
        token, digest = new_token()
        row = conn.execute("INSERT INTO sessions (user_id, token_hash, expires_at, mfa_verified)"
                           " VALUES (%s, %s, now() + interval '1 hour', true) RETURNING id",
                           (user_id, digest)).fetchone()
        assert row is not None
        return token, row[0]

    @staticmethod
    def _group(conn: psycopg.Connection, coach: Account, name: str) -> str:
        group = conn.execute("INSERT INTO groups (name, sport, created_by) VALUES (%s, 'run', %s)"
                             " RETURNING id", (name, coach.id)).fetchone()[0]  # type: ignore[index]
        World._join(conn, coach, str(group), "coach")
        return str(group)

    @staticmethod
    def _join(conn: psycopg.Connection, user: Account, group: str, role: str) -> None:
        conn.execute("INSERT INTO user_groups (user_id, group_id, role) VALUES (%s, %s, %s)",
                     (user.id, group, role))

    # -- the shared world, made through the API, with a streamed workout --

    async def build(self, http: httpx.AsyncClient, account: Callable[..., Account]) -> World:
        self.owner, self.coach, self.foreign = account(), account(), account()
        self.bystander_coach = account(roles=("coach",))
        self.partner, self.admin = account(roles=("partner",)), account(roles=("admin",))
        self.ml_engineer = account(roles=("ml_engineer",))
        h = self.coach.headers
        self.group = (await http.post("/v1/groups", headers=h,
                                      json={"name": "Matrix", "sport": "run"})).json()["id"]
        await http.post(f"/v1/groups/{self.group}/members", headers=h,
                        json={"user_id": str(self.owner.id), "role": "athlete"})
        self.invitation = (await http.post(f"/v1/groups/{self.group}/members", headers=h, json={
            "user_id": str(self.foreign.id), "role": "coach"})).json()["invitation_id"]
        self.consent = (await http.post("/v1/consents", headers=self.owner.headers,
                                        json={"group_id": self.group})).json()["id"]
        other = (await http.post("/v1/groups", headers=self.bystander_coach.headers,
                                 json={"name": "Bystanders", "sport": "run"})).json()["id"]
        await http.post(f"/v1/groups/{other}/members", headers=self.bystander_coach.headers,
                        json={"user_id": str(self.owner.id), "role": "athlete"})
        sessions = (await http.get("/v1/sessions", headers=self.owner.headers)).json()
        self.session = sessions[0]["id"]
        self.device = (await http.post("/v1/devices", headers=self.owner.headers,
                                       json={"name": "watch"})).json()["id"]
        with psycopg.connect(self.stack.pg_dsn, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO notification_logs (user_id, notification_type, channel, message,"
                " status) VALUES (%s, 'risk.alert', 'in_app', 'matrix', 'delivered') RETURNING id",
                (self.owner.id,)).fetchone()
            assert row is not None
            self.notification = str(row[0])
            self.model_version = f"matrix-{uuid.uuid4().hex[:8]}"
            conn.execute("INSERT INTO ai_models (type, version, path) VALUES ('matrix', %s,"
                         " '/nonexistent')", (self.model_version,))
            self.guardian_request = _guardian_request(conn, self)
        self.export = await self._export(http)
        self.workout = uuid.uuid4()
        t0 = int(time.time() * 1000)
        async with DeviceClient(self.gateway.ws_url, self.owner.token) as device:
            await device.start(self.workout, "run", t0)
            await device.send_samples(self.workout, 0, [(t0, 45.0, 7.0, None, 140.0, 98.0)])

        async def stored() -> bool:
            url = f"/v1/workouts/{self.workout}"
            return (await http.get(url, headers=self.owner.headers)).status_code == 200

        assert await wait_until_async(stored, 15, interval_s=0.1), \
            "the matrix workout never reached the database"
        return self

    async def _export(self, http: httpx.AsyncClient) -> str:
        """The owner's export, ready, so its download is tried for real."""
        started = (await http.post("/v1/me/export", headers=self.owner.headers)).json()

        async def ready() -> bool:
            job = await http.get(f"/v1/me/export/{started['id']}", headers=self.owner.headers)
            return bool(job.json()["status"] == "ready")

        assert await wait_until_async(ready, 60, interval_s=0.2), "the matrix export never got ready"
        return str(started["id"])


def _guardian_request(conn: psycopg.Connection, world: World) -> str:
    """The owner (a child, for this) named `foreign`, of age, as their guardian."""
    conn.execute("UPDATE users SET birth_date = '1980-05-01' WHERE id = %s", (world.foreign.id,))
    row = conn.execute("INSERT INTO guardian_consents (athlete_id, guardian_email) VALUES (%s, %s)"
                       " RETURNING id", (world.owner.id, world.foreign.email)).fetchone()
    assert row is not None
    return str(row[0])


def _child(world: World, caller: str, body: dict[str, Any]) -> None:
    """The caller under 16 (only then is a guardian named), naming someone else."""
    with psycopg.connect(world.stack.pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE users SET birth_date = now() - interval '12 years' WHERE id = %s",
                     (getattr(world, caller).id,))
    body.update(email=f"guardian-{uuid.uuid4().hex[:8]}@example.org")


@functools.cache
def _password_hash() -> str:
    return HASHER.hash(PASSWORD)


def _totp(world: World, caller: str, confirmed: bool) -> str:
    """Give the caller a TOTP secret (confirmed or only begun); returns it."""
    secret = pyotp.random_base32()
    with psycopg.connect(world.stack.pg_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO mfa_totp (user_id, secret, confirmed_at) VALUES (%s, %s,"
                     " CASE WHEN %s THEN now() END)", (getattr(world, caller).id, secret, confirmed))
    return secret


def _finished_workout(world: World) -> None:
    """The fresh world's workout, finished and stored (as the projection leaves one)."""
    start = int(time.time() * 1000) - 3_600_000
    summary = {"version": 1, "status": "finished", "sport": "run", "started_at_ms": start,
               "ended_at_ms": start + 60_000}
    with psycopg.connect(world.stack.pg_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO workout_ids (id, user_id) VALUES (%s, %s)",
                     (world.workout, world.owner.id))
        conn.execute("INSERT INTO workouts (id, user_id, sport, status, start_time, end_time,"
                     " version, summary) VALUES (%s, %s, 'run', 'finished', to_timestamp(%s / 1000.0),"
                     " to_timestamp(%s / 1000.0), 1, %s::jsonb)",
                     (world.workout, world.owner.id, start, start + 60_000, json.dumps(summary)))


def _second_coach(world: World, caller: str) -> None:
    with psycopg.connect(world.stack.pg_dsn, autocommit=True) as conn:
        World._join(conn, world.partner, world.group, "coach")


PREPARE: dict[tuple[str, str], Callable[[World, str, dict[str, Any]], None]] = {
    # What a valid call needs first: (world, caller, the body to complete).
    ("POST", "/v1/users/me/mfa/totp/confirm"):
        lambda w, c, body: body.update(code=pyotp.TOTP(_totp(w, c, False)).now()),
    ("DELETE", "/v1/users/me/mfa/totp"): lambda w, c, body: _totp(w, c, True) and None,
    ("POST", "/v1/users/me/mfa/recovery-codes"): lambda w, c, body: _totp(w, c, True) and None,
    ("POST", "/v1/groups/{group_id}/leave"):  # the only coach of a group may not leave it
        lambda w, c, body: _second_coach(w, c) if c == "coach" else None,
    ("POST", "/v1/groups/{group_id}/members"):  # someone not yet a member
        lambda w, c, body: body.update(user_id=str(w.foreign.id)),
    ("PATCH", "/v1/workouts/{workout_id}"):  # a workout to change, not still recording
        lambda w, c, body: _finished_workout(w) or body.update(title="Matrix"),
    ("DELETE", "/v1/workouts/{workout_id}"): lambda w, c, body: _finished_workout(w),
    ("PUT", "/v1/me/guardian"): _child,  # only a child names a guardian
    # Erasing one's account (with the password): like every change by an allowed caller it
    # runs in a fresh world whose caller is thrown away, never in the shared one.
    ("DELETE", "/v1/me"): lambda w, c, body: body.update(password=PASSWORD),
}
MATRIX_GPX = (b'<?xml version="1.0"?><gpx version="1.1" creator="matrix" '
              b'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
              b'<trkpt lat="45.0" lon="7.0"><time>2024-05-01T07:00:00Z</time></trkpt>'
              b'<trkpt lat="45.0001" lon="7.0"><time>2024-05-01T07:00:05Z</time></trkpt>'
              b'</trkseg></trk></gpx>')
UPLOADS: dict[tuple[str, str], dict[str, tuple[str, bytes, str]]] = {
    # Operations whose body is a form with a file: the file of a valid call.
    ("POST", "/v1/workouts/import"): {"file": ("matrix.gpx", MATRIX_GPX, "application/gpx+xml")},
}
BODY_VALUES = {"password": PASSWORD, "current_password": PASSWORD,
               "new_password": "a matrix passphrase, changed", "policy_version": POLICY_VERSION}


def _example(schema: dict[str, Any], spec: dict[str, Any], world: World, name: str = "") -> Any:
    """A valid value for a JSON schema, so a request fails for authorization, not shape."""
    if "$ref" in schema:
        return _example(spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], spec, world)
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        if option.get("type") != "null":
            return _example(option, spec, world, name)
    if name in BODY_VALUES:
        return BODY_VALUES[name]
    if name in OBJECTS:
        return world.value(name)
    if "enum" in schema:
        return schema["enum"][0]
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "object":
        return {key: _example(sub, spec, world, key)
                for key, sub in schema.get("properties", {}).items()
                if key in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "email" or name == "email":
        return f"m{uuid.uuid4().hex[:10]}@example.org"
    if fmt == "date":
        return "1990-01-01"
    return "a valid string value"  # 20 characters: long enough for passwords


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in spec["paths"].items()
            for method, op in item.items() if method in ("get", "post", "put", "patch", "delete")]


def _kind(method: str, path: str, name: str) -> str:
    return ON_OPERATION.get((method, path, name)) or ON_PATH.get((path, name)) or OBJECTS[name]


def _allowed(method: str, op: dict[str, Any], path: str, body: Any) -> set[str]:
    unknown = [p["name"] for p in op.get("parameters", [])
               if p["in"] == "path" and p["name"] not in OBJECTS]
    assert not unknown, f"{path}: teach the matrix the object behind {unknown}"
    kinds = [_kind(method, path, p["name"]) for p in op.get("parameters", [])
             if p["in"] in ("path", "query") and p["name"] in OBJECTS]
    if isinstance(body, dict):
        kinds += [BODY_OBJECTS[k] for k in body if k in BODY_OBJECTS]
    allowed = set(POLICY["self"])
    for kind in kinds:
        allowed &= POLICY[kind]
    return allowed


class Call:
    """One operation, filled in from a world."""

    def __init__(self, method: str, path: str, op: dict[str, Any], spec: dict[str, Any],
                 world: World) -> None:
        self.method, self.path = method, path
        self.body = None
        self.files = None
        if "requestBody" in op:
            content = op["requestBody"]["content"]
            if "application/json" in content:
                self.body = _example(content["application/json"]["schema"], spec, world)
            else:
                assert (method, path) in UPLOADS, f"{method} {path}: teach the matrix its upload"
                self.files = UPLOADS[(method, path)]
        self.url = path
        for param in op.get("parameters", []):
            if param["in"] == "path":
                self.url = self.url.replace("{" + param["name"] + "}",
                                            world.value(param["name"], path))
        self.query = {p["name"]: world.value(p["name"], path) for p in op.get("parameters", [])
                      if p["in"] == "query" and p["name"] in OBJECTS}

    async def send(self, http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        return await http.request(self.method, self.url, params=self.query, json=self.body,
                                  files=self.files, headers=headers)


@pytest.fixture(scope="module")
def matrix_gateway(processes: Processes) -> Gateway:
    """A gateway with an OpenID Connect provider configured, so its routes are tried too."""
    return Gateway(processes.gateway(**oidc_setting(oidc_provider(processes))))


async def test_every_caller_gets_exactly_what_the_policy_allows(
        stack: Settings, matrix_gateway: Gateway, account) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=matrix_gateway.url, timeout=60) as http:
        world = await World(stack, matrix_gateway).build(http, account)
        spec = (await http.get("/schema/openapi.json")).json()
        operations = _operations(spec)
        assert len(operations) >= 40
        tried, leaks, refused_good, unclear = 0, [], [], []
        for method, path, op in operations:
            if "public" in op.get("tags", []):
                continue  # anyone may call it: nothing to leak by design
            call = Call(method, path, op, spec, world)
            allowed = _allowed(method, op, path, call.body)
            for caller in CALLERS:
                if caller in allowed and method != "GET":
                    continue  # tried below, in a world of its own
                response = await call.send(http, world.headers(caller))
                tried += 1
                ok = 200 <= response.status_code < 300
                if ok and caller not in allowed:
                    leaks.append(f"{caller} {method} {path} → {response.status_code}")
                if caller in allowed and not ok:
                    refused_good.append(f"{caller} {method} {path} → {response.status_code}")
                if not ok:
                    assert response.headers["content-type"].startswith("application/json")
                    assert {"code", "message"} <= set(response.json())
                    if caller not in allowed and response.status_code not in (401, 403, 404):
                        unclear.append(f"{caller} {method} {path} → {response.status_code}")
            for caller in sorted(allowed) if method != "GET" else []:
                fresh = World(stack, matrix_gateway).make()
                call = Call(method, path, op, spec, fresh)
                if (method, path) in PREPARE:
                    if call.body is None:
                        call.body = {}
                    PREPARE[(method, path)](fresh, caller, call.body)
                    if not call.body and "requestBody" not in op:
                        call.body = None
                response = await call.send(http, fresh.headers(caller))
                tried += 1
                expected = EXPECTED.get((method, path))
                good = response.status_code in expected if expected else response.status_code < 300
                if not good:
                    refused_good.append(f"{caller} {method} {path} → {response.status_code} "
                                        f"{response.text[:120]}")
    assert tried > 300
    assert leaks == [], "unauthorized 2xx responses: " + "; ".join(leaks)
    assert refused_good == [], "callers the policy allows were refused: " + "; ".join(refused_good)
    assert unclear == [], "refusals that do not say who may not: " + "; ".join(unclear)


@pytest.mark.parametrize(("feed", "allowed"), [
    ("athlete", {"owner", "coach", "admin"}),
    ("group", {"coach", "admin"}),
])
async def test_live_channels_follow_the_same_policy(stack: Settings, matrix_gateway: Gateway, account,
                                                    feed: str, allowed: set[str]) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=matrix_gateway.url, timeout=30) as http:
        world = await World(stack, matrix_gateway).build(http, account)
    target = world.value("athlete") if feed == "athlete" else world.group
    for caller in CALLERS:
        url = f"{matrix_gateway.ws_url}/v1/live?{feed}={target}"
        try:
            async with websockets.connect(url, additional_headers=world.headers(caller)) as ws:
                if caller == "anonymous":  # a browser without a token to give
                    await ws.send('{"type": "auth", "token": ""}')
                first = await asyncio.wait_for(ws.recv(), 10)
                opened = '"snapshot"' in str(first)
        except websockets.InvalidStatus:
            opened = False
        assert opened == (caller in allowed), f"{caller} on /v1/live?{feed}="
    # The device socket: any logged-in user streams their own workouts, nobody else.
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"{matrix_gateway.ws_url}/v1/ingest"):
            pass
