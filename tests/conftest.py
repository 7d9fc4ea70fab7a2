"""Session fixtures: the running local stack, and factories for isolated resources.

Integration and e2e tests need the stack (`stride stack up`). `make test` starts it; when
pytest is run by hand and the stack is down, the `stack` fixture starts it and stops it
again at the end of the session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from user_accounts import Account, make_account

from stack.lifecycle import NOTHING_RUNS
from stack.settings import RAY_LOOPBACK_ENV, Settings, raised_limits, tls_env

for _key, _value in RAY_LOOPBACK_ENV.items():
    os.environ.setdefault(_key, _value)

REPO = Path(__file__).resolve().parent.parent
for _key, _value in raised_limits().items():  # the test stack's (`make test` exports them too)
    os.environ.setdefault(_key, _value)

# With STRIDE_TLS=on the tests are one more client of the stack: Kafka's client certificate,
# Ray's TLS variables and the trust of the stack's CA, like every `stride` command.
os.environ.update(tls_env(Settings.from_env()))

STRIDE = [sys.executable, "-m", "stack.cli"]


def stack_status(wait_s: float = 0) -> tuple[int, dict[str, dict[str, object]]]:
    out = subprocess.run([*STRIDE, "stack", "status", "--json", f"--wait={wait_s:g}"],
                         capture_output=True, text=True, cwd=REPO, timeout=120 + wait_s)
    return out.returncode, json.loads(out.stdout or "{}")


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The local stack, healthy; started here (and stopped after) if it was not running."""
    # A stack that is partly up is someone's, starting or restarting: wait for it (the
    # status command does) and leave it as it is; only a stack nothing of which ran is
    # started here, and stopped after.
    code, report = stack_status(wait_s=180)
    started = False
    if code == NOTHING_RUNS:
        subprocess.run([*STRIDE, "stack", "up"], check=True, cwd=REPO, timeout=900)
        started = True
    elif code != 0:
        down = sorted(name for name, s in report.items() if not s.get("healthy"))
        pytest.fail(f"the running stack did not become healthy within 180 s: {down} down "
                    "(`stride stack status`, `stride stack logs`)")
    yield Settings.from_env()
    if started:
        subprocess.run([*STRIDE, "stack", "down"], check=False, cwd=REPO, timeout=300)


@pytest.fixture
def unique() -> str:
    """A short random name for topics, key prefixes and databases of one test."""
    return "t" + uuid.uuid4().hex[:10]


class Eventually:
    """`await eventually(check, timeout_s=20)`: the value `check` returned once it was true
    (streams.retry.wait_until_async), or an AssertionError saying what it last was."""

    async def __call__(self, check, timeout_s: float = 30.0, interval_s: float = 0.2):  # type: ignore[no-untyped-def]
        from streams.retry import wait_until_async

        found = await wait_until_async(check, timeout_s, interval_s)
        if not found:
            raise AssertionError(f"condition not met within {timeout_s} s (last value {await check()!r})")
        return found


@pytest.fixture(scope="session")
def eventually() -> Eventually:
    return Eventually()


@pytest.fixture
def scratch_db(stack: Settings, unique: str) -> Iterator[str]:
    """A new, empty database on the stack's PostgreSQL; dropped after the test."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    admin = make_conninfo(stack.pg_dsn, dbname="postgres")
    name = f"stride_{unique}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_conninfo(stack.pg_dsn, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_db(scratch_db: str) -> str:
    from storage.migrate import migrate
    from storage.users import ensure_dev_user

    migrate(scratch_db)
    ensure_dev_user(scratch_db, DEV_USER)
    return scratch_db


DEV_USER = uuid.UUID("00000000-0000-4000-8000-000000000001")



SUITES = ("unit", "integration", "e2e", "faults", "logscan", "cluster")
"""Every test carries one of these markers, so one of `make test`'s runs selects it."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test no `make test` run selects would never run: refuse to start instead."""
    lost = [item.nodeid for item in items
            if not any(item.get_closest_marker(name) for name in SUITES)]
    if lost:
        raise pytest.UsageError(f"tests without one of the markers {SUITES} (so `make test` "
                                f"never runs them): {', '.join(lost[:10])}")


@pytest.fixture
def account(stack: Settings):  # type: ignore[no-untyped-def]
    """Factory: `account(roles=["admin"])` registers and logs in a fresh user (with TOTP
    enrolled, and a session opened with it, when a role requires MFA)."""

    def make(roles: tuple[str, ...] = (), **profile: object) -> Account:
        return make_account(stack.gateway_url, stack.pg_dsn, roles, **profile)

    return make


@pytest.fixture(scope="session")
def session_athlete(stack: Settings) -> Account:
    """One registered athlete for the tests that just need someone to stream as."""
    return make_account(stack.gateway_url, stack.pg_dsn, first_name="Sam")
