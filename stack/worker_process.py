"""A stream worker of its own: own topics, consumer group, database and Redis prefix.

`StreamWorker` runs `stride worker run` as a separate process (the real Faust worker, with
every agent) beside the stack's, for tests (which SIGKILL and restart it, exactly as in
production) and for `stride bench sinks`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from stack.processes import private_log
from stack.settings import Settings
from streams import topics
from streams.retry import wait_until
from streams.tls import kafka_options

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StreamWorker:
    def __init__(self, stack: Settings, unique: str, pg_dsn: str, home: Path,
                 partitions: int = 3) -> None:
        """`unique` names the topics (`{unique}.…`), group and Redis prefix; `home` holds
        the worker's data and its log."""
        self.stack = stack
        self.topic_prefix = f"{unique}."
        self.redis_prefix = f"test-{unique}"
        self.group = f"stride-streams-{unique}"
        self.pg_dsn = pg_dsn
        self.home = home
        self.partitions = partitions
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = private_log(stack.home_path, f"worker-{unique}")

    async def create_topics(self) -> None:
        await topics.ensure_topics(self.stack.kafka, partitions=self.partitions, replication=1,
                                   min_insync=1, prefix=self.topic_prefix)

    async def delete_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.stack.kafka, **kafka_options())
        await admin.start()
        try:
            await admin.delete_topics([self.topic_prefix + spec.name for spec in topics.TOPICS])
        finally:
            await admin.close()

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "STRIDE_PG_DSN": self.pg_dsn,
            "STRIDE_KAFKA": self.stack.kafka,
            "STRIDE_REDIS_URL": self.stack.redis_url,
            "STRIDE_REDIS_PREFIX": self.redis_prefix,
            "STRIDE_TOPIC_PREFIX": self.topic_prefix,
            "STRIDE_WORKER_GROUP": self.group,
            "STRIDE_WORKER_WEB_PORT": str(self.port),
            "STRIDE_HOME": str(self.home),
            "STRIDE_KEYS_DIR": str(self.stack.keys_path),  # opens what the stack's processes seal
            "STRIDE_TLS_DIR": str(self.stack.tls_path),  # and reaches them with its certificates
            "STRIDE_TLS_IDENTITY": "worker",
        }

    def start(self, timeout_s: float = 90) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "stack.cli", "worker", "run"],
                                     env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        proc = self.proc

        def up_or_gone() -> bool:
            return proc.poll() is not None or httpx.get(
                f"http://127.0.0.1:{self.port}/healthz/", timeout=2).status_code == 200

        healthy = wait_until(up_or_gone, timeout_s, interval_s=0.2)
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{self.log()}")
        if not healthy:
            raise AssertionError(f"worker not healthy within {timeout_s} s:\n{self.log()}")

    def health(self) -> dict[str, object]:
        return dict(httpx.get(f"http://127.0.0.1:{self.port}/healthz/", timeout=5).json())

    def kill(self) -> None:
        """SIGKILL: no shutdown, no offset commit; what was not committed is read again."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""
