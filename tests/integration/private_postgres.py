"""A PostgreSQL server of a test's own, so the test can restart it without disturbing the
stack's server that every other test uses. Same binaries and settings as the stack's."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import psycopg

from stack import postgres_local
from stack.settings import local_pg_dsn
from storage.migrate import migrate
from streams.retry import wait_until


class PrivatePostgres:
    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return local_pg_dsn(self.home, self.port)

    def start(self, timeout_s: float = 60) -> None:
        postgres_local.ensure_initdb(self.home)
        log = (self.home / "postgres.log").open("ab")
        self.proc = subprocess.Popen(postgres_local.server_argv(self.home, self.port),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        admin = self.dsn.replace("/stride?", "/postgres?")
        proc = self.proc

        def accepts() -> bool:
            if proc.poll() is not None:
                return True  # exited: reported below
            with psycopg.connect(admin, connect_timeout=2):
                return True

        if not wait_until(accepts, timeout_s, interval_s=0.2) or proc.poll() is not None:
            raise AssertionError(f"private PostgreSQL did not start; see {self.home / 'postgres.log'}")
        postgres_local.ensure_database(self.dsn)

    def migrate(self) -> None:
        migrate(self.dsn)

    def stop(self) -> None:
        """A fast shutdown (SIGINT), as `stride stack down` does: clients are disconnected."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(30)
