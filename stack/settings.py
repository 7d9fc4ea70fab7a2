"""Stride's settings: one typed object, read from the environment in one place.

Every other package receives the values it needs as arguments; only `stack` calls
`Settings.from_env()`. Each server can be pointed at an existing instance with
STRIDE_KAFKA, STRIDE_PG_DSN, STRIDE_REDIS_URL or STRIDE_RAY_ADDRESS; the local stack
then leaves that component alone.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from gateway.oidc import OidcProvider

REPO_ROOT = Path(__file__).resolve().parent.parent

# Ports of the local stack. All sit outside Ray's default worker port range
# (10002-19999) and below the kernel's ephemeral range (32768+).
KAFKA_PORT = 29092
KAFKA_CONTROLLER_PORT = 29093
PG_PORT = 25432
REDIS_PORT = 26379
RAY_GCS_PORT = 26380
RAY_CLIENT_PORT = 26381
WORKER_WEB_PORT = 26066
GATEWAY_PORT = 28080

# Ray binds to the machine's network address unless this is set in every Ray process.
RAY_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

Placement = Literal["dedicated", "sharded"]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    home: str
    """Folder of the local stack's data, logs and pid files (`.stack/` in the repo)."""
    kafka: str = f"127.0.0.1:{KAFKA_PORT}"
    kafka_external: bool = False
    pg_dsn: str = ""
    pg_external: bool = False
    redis_url: str = f"redis://127.0.0.1:{REDIS_PORT}/0"
    redis_external: bool = False
    ray_address: str = f"127.0.0.1:{RAY_GCS_PORT}"
    ray_external: bool = False
    ray_namespace: str = "stride"
    gateway_host: str = "127.0.0.1"
    gateway_port: Port = GATEWAY_PORT
    worker_web_port: Port = WORKER_WEB_PORT
    dev_token: str = "stride-dev-token"
    """Bearer token the gateway also accepts, for `dev_user_id` (demo, development); set
    STRIDE_DEV_TOKEN=off to disable it. Real clients log in (POST /v1/auth/login)."""
    dev_user_id: uuid.UUID = uuid.UUID("00000000-0000-4000-8000-000000000001")
    session_lifetime_s: AtLeastOne = 30 * 24 * 3600
    """Absolute lifetime of a login session."""
    session_idle_s: AtLeastOne = 7 * 24 * 3600
    """A session unused for this long ends."""
    topic_partitions: AtLeastOne = 6
    topic_replication: AtLeastOne = 1
    topic_min_insync: AtLeastOne = 1
    placement: Placement = "dedicated"
    """`dedicated`: one Ray actor per workout; `sharded`: `placement_hosts` actors hold many."""
    placement_hosts: AtLeastOne = max(2, os.cpu_count() or 2)
    metrics_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0
    """Live metrics of a workout go out at most this often. Each one folds the samples
    since the last, so at thousands of workouts per host a few seconds costs far less CPU."""
    kafka_heap_mb: Annotated[int, msgspec.Meta(ge=128, le=65536)] = 512
    oidc_providers: list[OidcProvider] = []
    """Sign-in providers: STRIDE_OIDC_PROVIDERS='[{"name":…,"issuer":…,"client_id":…,
    "client_secret":…}]'."""
    public_url: str = ""
    """How browsers reach the gateway (default: its own address)."""
    allowed_origins: str = ""
    """Comma-separated browser origins, besides the gateway's own, that may open the device
    WebSocket (e.g. `https://app.example.org`)."""
    redis_prefix: str = "stride"
    """Prefix of every Redis key, so tests and several stacks can share one server."""
    topic_prefix: str = ""
    """Prefix of every Kafka topic the processes use (tests and benchmarks run on copies)."""
    worker_group: str = "stride-streams"
    """The stream worker's Faust app id, which is its Kafka consumer group."""

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @property
    def gateway_ws_url(self) -> str:
        return f"ws://{self.gateway_host}:{self.gateway_port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from STRIDE_* variables; unset ones take the local stack's values."""
        env = os.environ if env is None else env
        home = Path(env.get("STRIDE_HOME", str(REPO_ROOT / ".stack"))).resolve()
        raw: dict[str, object] = {"home": str(home)}
        for key, name in (
            ("kafka", "STRIDE_KAFKA"),
            ("pg_dsn", "STRIDE_PG_DSN"),
            ("redis_url", "STRIDE_REDIS_URL"),
            ("ray_address", "STRIDE_RAY_ADDRESS"),
        ):
            if env.get(name):
                raw[key] = env[name]
                raw[key.split("_")[0] + "_external"] = True
        for key in (
            "gateway_port",
            "dev_token",
            "dev_user_id",
            "topic_partitions",
            "topic_replication",
            "topic_min_insync",
            "placement",
            "placement_hosts",
            "metrics_interval_s",
            "allowed_origins",
            "kafka_heap_mb",
            "redis_prefix",
            "topic_prefix",
            "worker_group",
            "worker_web_port",
            "session_lifetime_s",
            "session_idle_s",
        ):
            value = env.get("STRIDE_" + key.upper())
            if value:
                raw[key] = value
        for key in ("oidc_providers",):
            value = env.get("STRIDE_" + key.upper())
            if value:
                try:
                    raw[key] = msgspec.json.decode(value)
                except msgspec.DecodeError as exc:
                    raise SystemExit(f"stride: STRIDE_{key.upper()} is not JSON: {exc}") from None
        if env.get("STRIDE_PUBLIC_URL"):
            raw["public_url"] = env["STRIDE_PUBLIC_URL"].rstrip("/")
        if "pg_dsn" not in raw:
            raw["pg_dsn"] = local_pg_dsn(home)
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"stride: bad setting: {exc}") from None


def local_pg_password_file(home: Path) -> Path:
    return home / "postgres" / "password"


def local_pg_dsn(home: Path, port: int = PG_PORT) -> str:
    """DSN of the local stack's PostgreSQL; its password is generated at `initdb` time."""
    password_file = local_pg_password_file(home)
    password = password_file.read_text().strip() if password_file.exists() else ""
    auth = f"stride:{password}@" if password else "stride@"
    return f"postgresql://{auth}127.0.0.1:{port}/stride?sslmode=disable"
