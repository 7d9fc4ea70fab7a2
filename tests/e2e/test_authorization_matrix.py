"""The authorization matrix, generated from the OpenAPI schema.

Every operation the gateway publishes is called by every kind of caller — anonymous, the
owner athlete, a coach with the athlete's consent, a coach of the group, an unrelated
athlete, a partner, an admin — against the owner's objects. Which callers may succeed
follows from the objects an operation touches (POLICY below, written once). The test
asserts there is no 2xx for a caller outside that set, and that the safe (GET) operations
do succeed for the callers inside it, so a 404 can never pass for the wrong reason.

A route added later is covered without new test code; if it takes an object this file
does not know, the test fails and asks for one line in OBJECTS and POLICY.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest
import websockets

from gateway.client import DeviceClient
from stack.processes import wait_until_async
from stack.settings import Settings

pytestmark = pytest.mark.e2e

CALLERS = ("anonymous", "owner", "coach", "bystander_coach", "foreign", "partner", "ml_engineer",
           "admin")
# owner: the athlete whose objects are tried; coach: coaches a group the owner consents to;
# bystander_coach: coaches another group the owner belongs to, without a consent.

# Who may act on each kind of object (besides the checks every route has).
POLICY: dict[str, set[str]] = {
    "workout": {"owner", "coach", "admin"},   # the athlete, consented coaches, admins
    "athlete": {"owner", "coach", "admin"},
    "group": {"coach", "admin"},              # the group's coaches
    "consent": {"owner"},                     # only the athlete it belongs to
    "session": {"owner"},
    "group_member": {"owner", "coach"},       # a group named in a body: you must belong to it
    "admin_user": {"admin"},                  # role management
    "notification": {"owner"},                # your own inbox
    "model": {"ml_engineer", "admin"},        # the model registry and its deploys
    "self": set(CALLERS) - {"anonymous"},     # your own account: any logged-in user
}
# Path or query parameter → kind of object; body field → kind of object.
OBJECTS = {"workout_id": "workout", "athlete": "athlete", "group_id": "group",
           "consent_id": "consent", "session_id": "session", "user_id": "admin_user",
           "role": "admin_user", "provider": "self", "sport": "self",
           "notification_id": "notification", "model_type": "model", "version": "model"}
BODY_OBJECTS = {"group_id": "group_member"}


class World:
    """The objects and callers every operation is tried against."""

    def __init__(self, stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
        self.owner, self.coach, self.foreign = account(), account(), account()
        self.bystander_coach = account(roles=("coach",))
        self.partner, self.admin = account(roles=("partner",)), account(roles=("admin",))
        self.ml_engineer = account(roles=("ml_engineer",))
        self.stack = stack

    async def build(self, http: httpx.AsyncClient) -> None:
        h = self.coach.headers
        self.group = (await http.post("/v1/groups", headers=h,
                                      json={"name": "Matrix", "sport": "run"})).json()["id"]
        await http.post(f"/v1/groups/{self.group}/members", headers=h,
                        json={"user_id": str(self.owner.id), "role": "athlete"})
        self.consent = (await http.post("/v1/consents", headers=self.owner.headers,
                                        json={"group_id": self.group})).json()["id"]
        other = (await http.post("/v1/groups", headers=self.bystander_coach.headers,
                                 json={"name": "Bystanders", "sport": "run"})).json()["id"]
        await http.post(f"/v1/groups/{other}/members", headers=self.bystander_coach.headers,
                        json={"user_id": str(self.owner.id), "role": "athlete"})
        sessions = (await http.get("/v1/sessions", headers=self.owner.headers)).json()
        self.session = sessions[0]["id"]
        with psycopg.connect(self.stack.pg_dsn, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO notification_logs (user_id, notification_type, channel, message,"
                " status) VALUES (%s, 'risk.alert', 'in_app', 'matrix', 'delivered') RETURNING id",
                (self.owner.id,)).fetchone()
            assert row is not None
            self.notification = str(row[0])
            self.model_version = f"matrix-{uuid.uuid4().hex[:8]}"  # a type nothing serves
            conn.execute("INSERT INTO ai_models (type, version, path) VALUES ('matrix', %s,"
                         " '/nonexistent')", (self.model_version,))
        self.workout = uuid.uuid4()
        t0 = int(time.time() * 1000)
        async with DeviceClient(self.stack.gateway_ws_url, self.owner.token) as device:
            await device.start(self.workout, "run", t0)
            await device.send_samples(self.workout, 0, [(t0, 45.0, 7.0, None, 140.0, 98.0)])
        async def stored() -> bool:
            url = f"/v1/workouts/{self.workout}"
            return (await http.get(url, headers=self.owner.headers)).status_code == 200

        assert await wait_until_async(stored, 15, interval_s=0.1), \
            "the matrix workout never reached the database"

    def value(self, name: str) -> str:
        return {"workout_id": str(self.workout), "athlete": str(self.owner.id),
                "group_id": self.group, "consent_id": self.consent, "session_id": self.session,
                "user_id": str(self.owner.id), "role": "coach", "provider": "mock",
                "sport": "run", "notification_id": self.notification,
                "model_type": "matrix", "version": self.model_version}[name]

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "anonymous" else getattr(self, caller).headers


def _example(schema: dict[str, Any], spec: dict[str, Any], world: World, name: str = "") -> Any:
    """A valid value for a JSON schema, so a request fails for authorization, not shape."""
    if "$ref" in schema:
        return _example(spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], spec, world)
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        if option.get("type") != "null":
            return _example(option, spec, world, name)
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


def _allowed(op: dict[str, Any], path: str, body: Any) -> set[str]:
    kinds = [OBJECTS[p["name"]] for p in op.get("parameters", [])
             if p["in"] in ("path", "query") and p["name"] in OBJECTS]
    if isinstance(body, dict):
        kinds += [BODY_OBJECTS[k] for k in body if k in BODY_OBJECTS]
    unknown = [p["name"] for p in op.get("parameters", [])
               if p["in"] == "path" and p["name"] not in OBJECTS]
    assert not unknown, f"{path}: teach the matrix the object behind {unknown}"
    allowed = set(POLICY["self"])
    for kind in kinds:
        allowed &= POLICY[kind]
    return allowed


async def test_no_caller_outside_the_policy_gets_a_2xx(stack: Settings, account) -> None:  # type: ignore[no-untyped-def]
    world = World(stack, account)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        await world.build(http)
        spec = (await http.get("/schema/openapi.json")).json()
        operations = _operations(spec)
        assert len(operations) >= 18
        tried, leaks, refused_good = 0, [], []
        for method, path, op in operations:
            if "public" in op.get("tags", []):
                continue  # anyone may call it: nothing to leak by design
            body = None
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                body = _example(schema, spec, world)
            allowed = _allowed(op, path, body)
            url = path
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    url = url.replace("{" + param["name"] + "}", world.value(param["name"]))
            query = {p["name"]: world.value(p["name"]) for p in op.get("parameters", [])
                     if p["in"] == "query" and p["name"] in OBJECTS}
            for caller in CALLERS:
                if caller in allowed and method != "GET":
                    continue  # allowed mutations would change the world the others are tried on
                response = await http.request(method, url, params=query, json=body,
                                              headers=world.headers(caller))
                tried += 1
                ok = 200 <= response.status_code < 300
                if ok and caller not in allowed:
                    leaks.append(f"{caller} {method} {path} → {response.status_code}")
                if caller in allowed and not ok:
                    refused_good.append(f"{caller} {method} {path} → {response.status_code}")
                if not ok:
                    assert response.headers["content-type"].startswith("application/json")
                    assert {"code", "message"} <= set(response.json())
                    assert response.status_code < 500, f"{caller} {method} {path}"
    assert tried > 100
    assert leaks == [], "unauthorized 2xx responses: " + "; ".join(leaks)
    assert refused_good == [], "callers the policy allows were refused: " + "; ".join(refused_good)


@pytest.mark.parametrize(("feed", "allowed"), [
    ("athlete", {"owner", "coach", "admin"}),
    ("group", {"coach", "admin"}),
])
async def test_live_channels_follow_the_same_policy(stack: Settings, account, feed: str,
                                                    allowed: set[str]) -> None:  # type: ignore[no-untyped-def]
    world = World(stack, account)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        await world.build(http)
    target = world.value("athlete") if feed == "athlete" else world.group
    for caller in CALLERS:
        url = f"{stack.gateway_ws_url}/v1/live?{feed}={target}"
        try:
            async with websockets.connect(url, additional_headers=world.headers(caller)) as ws:
                first = await asyncio.wait_for(ws.recv(), 10)
                opened = '"snapshot"' in str(first)
        except websockets.InvalidStatus:
            opened = False
        assert opened == (caller in allowed), f"{caller} on /v1/live?{feed}="
    # The device socket: any logged-in user streams their own workouts, nobody else.
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"{stack.gateway_ws_url}/v1/ingest"):
            pass
