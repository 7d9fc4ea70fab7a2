"""The `stride` CLI as a user meets it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stack.settings import Settings

pytestmark = pytest.mark.e2e
STRIDE = [sys.executable, "-m", "stack.cli"]


def test_status_json_reports_every_component_healthy(stack: Settings) -> None:
    import json

    out = subprocess.run([*STRIDE, "stack", "status", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert set(report) == {"redis", "postgres", "kafka", "ray", "worker", "gateway", "internal"}
    assert all(c["healthy"] for c in report.values())
    assert report["gateway"]["url"] == stack.gateway_url
    assert "***" in report["postgres"]["url"]  # the password is never printed
    lag = report["worker"]["lag"]  # records the worker has not yet committed, per topic
    assert set(lag) == {"telemetry.samples", "workout.metrics", "workout.lifecycle", "risk.alerts",
                        "recommendations.ready", "user.metrics", "notifications.requested"}
    assert all(isinstance(n, int) and n >= 0 for n in lag.values())
    assert isinstance(report["worker"]["dead_letters"], int)  # records on stride.deadletter


def test_up_is_idempotent(stack: Settings) -> None:
    out = subprocess.run([*STRIDE, "stack", "up"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("already running") == 7


@pytest.mark.parametrize("args", [["--help"], ["stack", "--help"], ["stack", "up", "--help"],
                                  ["db", "migrate", "--help"], ["demo", "--help"],
                                  ["simulate", "--help"], ["bench", "actors", "--help"]])
def test_every_command_has_help(args: list[str]) -> None:
    out = subprocess.run([*STRIDE, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "usage: stride" in out.stdout


def test_simulate_streams_athletes_with_dropouts_and_loses_nothing(stack: Settings) -> None:
    out = subprocess.run([*STRIDE, "simulate", "--athletes", "6", "--duration", "10", "--rate", "2"],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    row = out.stdout.strip().splitlines()[-2]  # recorded … lost, in the table's one row
    numbers = [int(cell.strip().replace(",", "")) for cell in row.strip("│ ").split("│")]
    recorded, *_, stored, lost = numbers
    assert recorded == 6 * 20 and stored == recorded and lost == 0


def test_up_refuses_a_port_taken_by_a_stranger(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import socket

    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        env = {**os.environ, "STRIDE_HOME": str(tmp_path), "STRIDE_GATEWAY_PORT": str(port)}
        out = subprocess.run([*STRIDE, "stack", "up", "--only", "gateway"], capture_output=True,
                             text=True, timeout=120, env=env)
    assert out.returncode == 1
    assert f"port {port} for gateway is taken" in out.stderr
    assert "fix:" in out.stderr


def test_status_exits_nonzero_when_a_component_is_down(stack: Settings) -> None:
    import json
    import os
    import socket

    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    env = {**os.environ, "STRIDE_GATEWAY_PORT": str(free_port)}
    out = subprocess.run([*STRIDE, "stack", "status", "--json"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["gateway"]["healthy"] is False and report["redis"]["healthy"] is True


def test_a_component_can_be_an_existing_server(stack: Settings) -> None:
    import json
    import os

    env = {**os.environ, "STRIDE_REDIS_URL": stack.redis_url, "STRIDE_KAFKA": stack.kafka}
    out = subprocess.run([*STRIDE, "stack", "status", "--json"], capture_output=True, text=True,
                         timeout=120, env=env)
    report = json.loads(out.stdout)
    assert report["redis"] == {**report["redis"], "managed": False, "healthy": True, "pid": None}
    assert report["kafka"]["managed"] is False and report["kafka"]["healthy"] is True
    assert report["postgres"]["managed"] is True


def test_demo_serves_both_models_and_its_recommendations_name_them(stack: Settings) -> None:
    """`stride demo` as a new user runs it: the models are trained, registered and deployed
    if none serves, and every athlete's recommendations come from Ray Serve, naming the
    versions that made them."""
    import datetime as dt

    import psycopg

    started = dt.datetime.now(dt.UTC)
    out = subprocess.run([*STRIDE, "demo", "--athletes", "2", "--duration", "8"],
                         capture_output=True, text=True, timeout=420)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Recommendations after each workout" in out.stdout
    with psycopg.connect(stack.pg_dsn) as conn:
        deployed = dict(conn.execute(
            "SELECT type, version FROM ai_models WHERE status = 'deployed'").fetchall())
        sets = conn.execute(
            "SELECT r.items->>'model_version', r.items->>'risk_model_version'"
            " FROM recommendations r JOIN users u ON u.id = r.user_id"
            " WHERE u.email LIKE 'demo-%%' AND r.generated_at >= %s", (started,)).fetchall()
    assert set(deployed) == {"risk", "recommend"}
    assert len(sets) == 2 and set(sets) == {(deployed["recommend"], deployed["risk"])}
    _printed_sign_ins_work(stack, out.stdout)


def _printed_sign_ins_work(stack: Settings, printed: str) -> None:
    """Each web-app sign-in the demo printed opens its origin: the athlete and the coach on
    the public one, the admin and the ML engineer on the internal one with a TOTP code."""
    import re
    import time

    import httpx
    import pyotp

    found = re.findall(r"^  (athlete|coach|admin|ml_engineer) +(\S+)/ +(\S+@\S+) +password (\S+)"
                       r"(?:\n +TOTP secret (\S+))?", printed, flags=re.MULTILINE)
    roles = {role: (origin, email, password, secret) for role, origin, email, password, secret in found}
    assert set(roles) == {"athlete", "coach", "admin", "ml_engineer"}, printed[-3000:]
    for role, (origin, email, password, secret) in roles.items():
        if role in ("athlete", "coach"):
            assert origin == stack.gateway_url
            answer = httpx.post(f"{origin}/v1/auth/login", json={"email": email, "password": password})
        else:
            assert origin == stack.internal_gateway_url and secret
            # The demo's enrolment used the current step's code: the next one (within the drift).
            answer = httpx.post(f"{origin}/internal/v1/auth/login", json={
                "email": email, "password": password, "otp": pyotp.TOTP(secret).at(time.time() + 30)})
        assert answer.status_code == 200, (role, answer.text)
