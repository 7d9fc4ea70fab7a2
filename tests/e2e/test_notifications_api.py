"""The in-app inbox through the running gateway: pages, the unread filter, marking read, and
the errors a client gets for someone else's notification or a bad cursor."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from stack.settings import Settings

pytestmark = pytest.mark.e2e

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def http(stack: Settings) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client


def insert(stack: Settings, user_id: uuid.UUID, rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Notification rows for a user, as the risk-alert agent would write them."""
    ids = []
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        for row in rows:
            cur = conn.execute(
                "INSERT INTO notification_logs (user_id, notification_type, channel, message,"
                " status, dedupe_key, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (user_id, row.get("type", "risk.alert"), row.get("channel", "in_app"),
                 row["message"], row.get("status", "delivered"), row.get("dedupe_key"),
                 row["created_at"], row["created_at"]))
            found = cur.fetchone()
            assert found is not None
            ids.append(found[0])
    return ids


def inbox(stack: Settings, user_id: uuid.UUID) -> tuple[list[uuid.UUID], dict[uuid.UUID, uuid.UUID]]:
    """Seven in-app notifications (two pairs written at the same instant), newest first,
    plus a push record that is not part of the inbox; returns (ids newest first, workouts)."""
    workouts = {}
    rows = []
    for i, minutes in enumerate([0, 1, 1, 2, 3, 3, 4]):
        workout = uuid.uuid4()
        risk = i % 2 == 0
        rows.append({"message": f"note {i}", "created_at": T0 + dt.timedelta(minutes=minutes),
                     "type": "risk.alert" if risk else "account.notice",
                     "dedupe_key": f"risk.alert:{workout}:high:{user_id}" if risk else None})
    ids = insert(stack, user_id, rows)
    for i, nid in enumerate(ids):
        if i % 2 == 0:
            workouts[nid] = uuid.UUID(str(rows[i]["dedupe_key"]).split(":")[1])
    insert(stack, user_id, [{"message": "push copy", "channel": "push", "status": "sent",
                             "created_at": T0 + dt.timedelta(minutes=9)}])
    newest_first = sorted(zip(rows, ids, strict=True), key=lambda p: (p[0]["created_at"], str(p[1])),
                          reverse=True)
    return [nid for _, nid in newest_first], workouts


def pages(http: httpx.Client, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    """Every page of the inbox, following `next`; returns the pages' JSON bodies."""
    bodies = []
    params = dict(query)
    while True:
        response = http.get("/v1/notifications/me", headers=headers, params=params)
        assert response.status_code == 200, response.text
        bodies.append(response.json())
        if bodies[-1]["next"] is None:
            return bodies
        params["before"] = bodies[-1]["next"]
        assert len(bodies) < 20, "pagination does not end"


def test_the_inbox_comes_in_pages_newest_first(stack: Settings, account, http: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    me = account()
    expected, workouts = inbox(stack, me.id)

    bodies = pages(http, me.headers, limit=3)

    assert [len(b["items"]) for b in bodies] == [3, 3, 1]
    items = [item for b in bodies for item in b["items"]]
    assert [uuid.UUID(i["id"]) for i in items] == expected
    assert all(b["unread"] == 7 for b in bodies)
    assert "push copy" not in {i["message"] for i in items}
    first = items[0]
    assert first["type"] == "risk.alert" and first["channel"] == "in_app"
    assert first["status"] == "delivered" and first["created_at"].endswith("Z")
    for item in items:
        assert ("workout_id" in item) == (uuid.UUID(item["id"]) in workouts)
        if "workout_id" in item:
            assert uuid.UUID(item["workout_id"]) == workouts[uuid.UUID(item["id"])]
    one_page = http.get("/v1/notifications/me", headers=me.headers).json()
    assert len(one_page["items"]) == 7 and one_page["next"] is None


def test_read_notifications_leave_the_unread_filter(stack: Settings, account, http: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    me = account()
    expected, _ = inbox(stack, me.id)
    read = [expected[0], expected[4]]

    for nid in read:
        assert http.post(f"/v1/notifications/{nid}/read", headers=me.headers).status_code == 204
    again = http.post(f"/v1/notifications/{read[0]}/read", headers=me.headers)

    assert again.status_code == 204  # marking read is idempotent
    unread = [i for b in pages(http, me.headers, unread="true", limit=2) for i in b["items"]]
    assert [uuid.UUID(i["id"]) for i in unread] == [n for n in expected if n not in read]
    everything = http.get("/v1/notifications/me", headers=me.headers).json()
    assert everything["unread"] == 5
    status = {uuid.UUID(i["id"]): i["status"] for i in everything["items"]}
    assert {n for n, s in status.items() if s == "read"} == set(read)


def test_someone_elses_notification_is_not_found(stack: Settings, account, http: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    owner, other = account(), account()
    theirs = insert(stack, owner.id, [{"message": "yours only", "created_at": T0}])[0]

    for nid in (theirs, uuid.uuid4()):
        response = http.post(f"/v1/notifications/{nid}/read", headers=other.headers)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert http.get("/v1/notifications/me", headers=other.headers).json() == {
        "items": [], "next": None, "unread": 0}
    mine = http.get("/v1/notifications/me", headers=owner.headers).json()
    assert mine["unread"] == 1 and mine["items"][0]["status"] == "delivered"


@pytest.mark.parametrize("query", [
    {"before": "not-a-cursor"}, {"before": "bm90IG1zZ3BhY2s"}, {"before": "kqF4oXk"},
    {"limit": "0"}, {"limit": "1000"}, {"unread": "perhaps"},
])
def test_bad_queries_get_a_400_with_a_code(account, http: httpx.Client, query: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    me = account()
    response = http.get("/v1/notifications/me", headers=me.headers, params=query)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] in {"bad_cursor", "invalid", "bad_request"}
    if "before" in query:
        assert body["code"] == "bad_cursor"


def test_the_inbox_needs_a_login(http: httpx.Client) -> None:
    assert http.get("/v1/notifications/me").status_code == 401
    assert http.post(f"/v1/notifications/{uuid.uuid4()}/read").status_code == 401
