"""The local stack's components: how each one starts, is checked and stops.

Each component either runs under `.stack/` (started and stopped by `stride stack`) or is an
existing server named in the settings, which the stack only checks.
"""

from __future__ import annotations

import abc
import asyncio
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import msgspec

from stack.processes import ProcessTable
from stack.settings import (
    PG_PORT,
    RAY_CLIENT_PORT,
    RAY_LOOPBACK_ENV,
    REPO_ROOT,
    Settings,
    local_pg_dsn,
    tls_env,
)
from streams.retry import wait_until


class StackError(Exception):
    """A component could not be started; `hint` says what to do about it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class Status(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    healthy: bool
    managed: bool
    """True when `stride stack` runs it; False when it is an existing server from settings."""
    pid: int | None = None
    lag: dict[str, int] | None = None
    """The worker's consumer lag per topic (records not yet committed), when Kafka answers."""
    dead_letters: int | None = None
    """Records on the worker's dead-letter topic, when Kafka answers."""


def tcp_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} not found", f"install it: apt-get install {package}")
    return path


class Component(abc.ABC):
    name = ""
    start_timeout_s = 60.0
    stop_signal = signal.SIGTERM

    def __init__(self, settings: Settings, procs: ProcessTable) -> None:
        self.settings = settings
        self.procs = procs

    @property
    def external(self) -> bool:
        return False

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Where clients reach it."""

    @abc.abstractmethod
    def healthy(self) -> bool:
        """A real round trip to the server (may raise: that counts as unhealthy)."""

    @abc.abstractmethod
    def launch(self) -> None:
        """Spawn the process (the component is known not to be running)."""

    @property
    def port(self) -> int | None:
        """The loopback port the managed process listens on (checked to be free first)."""
        return int(self.url.rsplit(":", 1)[1].split("/")[0].split("?")[0])

    def after_start(self) -> None:
        """One-time work once healthy (create topics, databases …); must be idempotent."""
        return None

    def status(self) -> Status:
        pid = None if self.external else self.procs.running_pid(self.name)
        return Status(url=self.url, healthy=self._check(), managed=not self.external, pid=pid)

    def _check(self) -> bool:
        try:
            return self.healthy()
        except Exception:
            return False

    def start(self) -> str:
        """Start (or just check) the component; returns what was done."""
        if self.external:
            if not self._check():
                raise StackError(
                    f"{self.name} at {self.url} (from settings) is not reachable",
                    "start that server, or unset its STRIDE_* variable to use the local stack",
                )
            self.after_start()
            return "external, healthy"
        if self.procs.running_pid(self.name) is not None and self._check():
            self.after_start()
            return "already running"
        self.procs.stop(self.name, self.stop_signal)  # a half-dead leftover of ours
        if self.port is not None and tcp_open("127.0.0.1", self.port):
            raise StackError(
                f"port {self.port} for {self.name} is taken by a process `stride stack` did not start",
                "stop that process, or use it as an external server via its STRIDE_* setting",
            )
        self.launch()
        if not wait_until(self._check, self.start_timeout_s):
            log = self.procs.tail(self.name, 25)
            self.procs.stop(self.name, self.stop_signal)
            raise StackError(
                f"{self.name} did not become healthy within {self.start_timeout_s:.0f} s;"
                f" last lines of {self.procs.log_file(self.name)}:\n{log}",
                f"see `stride stack logs {self.name}`",
            )
        self.after_start()
        return "started"

    def stop(self) -> bool:
        if self.external:
            return False
        return self.procs.stop(self.name, self.stop_signal)


class Redis(Component):
    name = "redis"
    start_timeout_s = 20.0

    @property
    def external(self) -> bool:
        return self.settings.redis_external

    @property
    def url(self) -> str:
        return self.settings.redis_url

    def healthy(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def launch(self) -> None:
        binary = require_binary("redis-server", "redis-server")
        data = self.settings.home_path / "redis"
        data.mkdir(parents=True, exist_ok=True)
        port = self.settings.redis_url.rsplit(":", 1)[1].split("/")[0]
        listen = ["--port", port]
        if self.settings.tls:
            # The TLS port only (the plain one off), and no client without our CA's certificate.
            files = self.settings.tls_files("redis")
            listen = ["--port", "0", "--tls-port", port, "--tls-cert-file", str(files.cert),
                      "--tls-key-file", str(files.key), "--tls-ca-cert-file", str(files.ca),
                      "--tls-auth-clients", "yes", "--tls-protocols", "TLSv1.2 TLSv1.3"]
        self.procs.spawn(
            self.name,
            [binary, "--bind", "127.0.0.1", *listen, "--dir", str(data),
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
             "--protected-mode", "yes", "--daemonize", "no"],
        )


class Ray(Component):
    name = "ray"
    start_timeout_s = 90.0

    @property
    def external(self) -> bool:
        return self.settings.ray_external

    @property
    def url(self) -> str:
        return self.settings.ray_address

    def healthy(self) -> bool:
        host, port = self.settings.ray_address.rsplit(":", 1)
        if not tcp_open(host, int(port)):
            return False
        ray_cli = Path(sys.executable).with_name("ray")
        result = subprocess.run(
            [str(ray_cli), "health-check", "--address", self.settings.ray_address],
            env={**os.environ, **RAY_LOOPBACK_ENV, **tls_env(self.settings)},
            capture_output=True,
            timeout=30,
        )
        return result.returncode == 0

    def launch(self) -> None:
        ray_cli = Path(sys.executable).with_name("ray")
        port = self.settings.ray_address.rsplit(":", 1)[1]
        self.procs.spawn(
            self.name,
            [str(ray_cli), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
             f"--port={port}", f"--ray-client-server-port={RAY_CLIENT_PORT}",
             "--include-dashboard=false", "--disable-usage-stats",
             "--num-cpus=4", "--object-store-memory=1000000000"],
            # Ray starts workers at nice 15; the workout hosts answer devices, so they
            # must not queue behind every other process on the node (it doubled ack p99).
            env={**os.environ, **RAY_LOOPBACK_ENV, "RAY_worker_niceness": "0",
                 **self._tls_env()},
        )

    def _tls_env(self) -> dict[str, str]:
        """Ray's TLS variables, and for the processes Ray starts (the workout actors) Ray's
        certificate as their Kafka client identity too."""
        env = tls_env(self.settings)
        if env:
            ray = self.settings.tls_files("ray")
            env.update({"STRIDE_TLS_CLIENT_CERT": str(ray.cert),
                        "STRIDE_TLS_CLIENT_KEY": str(ray.key)})
        return env

    def stop(self) -> bool:
        # Detached workout actors make `ray start --block` drain for 30 s on SIGTERM;
        # their state is in Redis snapshots, so a shorter grace is enough.
        if self.external:
            return False
        return self.procs.stop(self.name, signal.SIGTERM, timeout_s=8.0)


class Postgres(Component):
    name = "postgres"
    start_timeout_s = 60.0
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back clients, checkpoint, exit

    @property
    def external(self) -> bool:
        return self.settings.pg_external

    @property
    def url(self) -> str:
        return _hide_password(self.dsn)

    @property
    def port(self) -> int | None:
        return PG_PORT

    @property
    def dsn(self) -> str:
        # The local server's password is generated by initdb, so read it fresh.
        if self.external:
            return self.settings.pg_dsn
        return local_pg_dsn(self.settings.home_path,
                            tls=self.settings.tls_client if self.settings.tls else None)

    @property
    def data_dir(self) -> Path:
        return self.settings.home_path / "postgres" / "data"

    def healthy(self) -> bool:
        import psycopg
        from psycopg.conninfo import make_conninfo

        # The maintenance database: `stride` itself is created once the server is up.
        dsn = self.dsn if self.external else make_conninfo(self.dsn, dbname="postgres")
        dsn = make_conninfo(dsn, connect_timeout=2)
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT 1")
        return True

    def launch(self) -> None:
        from stack import postgres_local

        postgres_local.ensure_initdb(self.settings.home_path)
        postgres_local.clear_stale_lock(self.settings.home_path)
        tls = self.settings.tls_files("postgres") if self.settings.tls else None
        postgres_local.write_hba(self.settings.home_path, tls=tls is not None)
        argv = postgres_local.server_argv(self.settings.home_path, tls=tls)
        self.procs.spawn(self.name, argv)

    def after_start(self) -> None:
        from stack import postgres_local

        postgres_local.ensure_database(self.dsn)


class Kafka(Component):
    name = "kafka"
    start_timeout_s = 90.0

    @property
    def external(self) -> bool:
        return self.settings.kafka_external

    @property
    def url(self) -> str:
        return self.settings.kafka

    def healthy(self) -> bool:
        from streams.topics import list_topics

        host, port = self.settings.kafka.split(",")[0].rsplit(":", 1)
        if not tcp_open(host, int(port)):  # before aiokafka, which logs every refused connect
            return False
        asyncio.run(list_topics(self.settings.kafka, timeout_s=5))
        return True

    def launch(self) -> None:
        from stack import kafka_local

        java = require_binary("java", "openjdk-17-jre-headless")
        home = self.settings.home_path / "kafka"
        lib = kafka_local.ensure_jars(home)
        props = kafka_local.write_config(
            home, self.settings.kafka, tls=self.settings.tls_files("kafka") if self.settings.tls else None)
        kafka_local.ensure_formatted(java, lib, props, home)
        self.procs.spawn(
            self.name, kafka_local.broker_argv(java, lib, props, self.settings.kafka_heap_mb)
        )

    def after_start(self) -> None:
        from streams.topics import ensure_topics

        asyncio.run(
            ensure_topics(
                self.settings.kafka,
                partitions=self.settings.topic_partitions,
                replication=self.settings.topic_replication,
                min_insync=self.settings.topic_min_insync,
            )
        )


class PythonService(Component):
    """A Stride process run from this virtual env: `stride <name> run`."""

    def launch(self) -> None:
        self.procs.spawn(
            self.name,
            [sys.executable, "-m", "stack.cli", self.name, "run"],
            # Which client certificate it presents to PostgreSQL, Redis and Kafka.
            env={**os.environ, **RAY_LOOPBACK_ENV, "STRIDE_TLS_IDENTITY": self.name},
            cwd=REPO_ROOT,
        )

    def _http_ok(self, url: str) -> bool:
        context = None
        if url.startswith("https:"):
            files = self.settings.tls_client
            context = ssl.create_default_context(cafile=str(files.ca))
            context.load_cert_chain(str(files.cert), str(files.key))
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:
            return bool(resp.status == 200)


class Worker(PythonService):
    name = "worker"
    start_timeout_s = 90.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.worker_web_port}"

    def healthy(self) -> bool:
        return self._http_ok(self.url + "/healthz/")

    def status(self) -> Status:
        base = super().status()
        return msgspec.structs.replace(base, lag=self.lag(), dead_letters=self.dead_letters())

    def lag(self) -> dict[str, int] | None:
        """Records the worker has not yet committed, per topic it consumes; None when Kafka
        does not answer within 10 s."""
        from streams import topics
        from streams.lag import consumer_lag

        return self._ask_kafka(consumer_lag(
            self.settings.kafka, self.settings.worker_group,
            [self.settings.topic_prefix + t for t in topics.WORKER_CONSUMES]))

    def dead_letters(self) -> int | None:
        """Records on the dead-letter topic (within its 30-day retention)."""
        from streams import topics
        from streams.lag import records_held

        return self._ask_kafka(records_held(self.settings.kafka,
                                            self.settings.topic_prefix + topics.DEAD_LETTER))

    @staticmethod
    def _ask_kafka(question: Any) -> Any:
        try:
            return asyncio.run(asyncio.wait_for(question, 10))
        except Exception:
            question.close()  # never awaited when the loop could not start it
            return None


class Gateway(PythonService):
    name = "gateway"
    start_timeout_s = 60.0

    @property
    def url(self) -> str:
        return self.settings.gateway_url

    def healthy(self) -> bool:
        return self._http_ok(self.url + "/healthz")


class InternalGateway(PythonService):
    """The admin and ML areas' listener (gateway/internal), on its own port."""

    name = "internal"
    start_timeout_s = 60.0

    @property
    def url(self) -> str:
        return self.settings.internal_gateway_url

    def healthy(self) -> bool:
        return self._http_ok(self.url + "/healthz")


def all_components(settings: Settings, procs: ProcessTable) -> list[Component]:
    """In start order; stop goes the other way."""
    return [
        cls(settings, procs) for cls in (Redis, Postgres, Kafka, Ray, Worker, Gateway,
                                         InternalGateway)
    ]


def _hide_password(dsn: str) -> str:
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.split("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else dsn
