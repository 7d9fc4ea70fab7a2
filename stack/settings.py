"""Stride's settings: one typed object, read from the environment in one place.

Every other package receives the values it needs as arguments; only `stack` calls
`Settings.from_env()`. Each server can be pointed at an existing instance with
STRIDE_KAFKA, STRIDE_PG_DSN, STRIDE_REDIS_URL or STRIDE_RAY_ADDRESS; the local stack
then leaves that component alone.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlencode

import msgspec

from gateway.ingest_limits import IngestLimits
from gateway.oidc import OidcProvider
from gateway.quotas import Quotas
from gateway.throttle import LoginLimits
from stack.tls import TlsFiles, local_files
from storage.retention import Retention

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
INTERNAL_PORT = 28081

# Ray binds to the machine's network address unless this is set in every Ray process.
RAY_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

TLS_FILE_VARS = ("STRIDE_TLS_CA_FILE", "STRIDE_TLS_CERT_FILE", "STRIDE_TLS_KEY_FILE")

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
    internal_host: str = "127.0.0.1"
    """Where the internal gateway (admin and ML areas, gateway/internal) listens: an address
    operators reach and the public does not. Never the public gateway's."""
    internal_port: Port = INTERNAL_PORT
    internal_url: str = ""
    """How operators' browsers reach the internal gateway (default: its own address)."""
    internal_adhoc_queries: bool = False
    """Development only: the internal gateway also runs GraphQL text it was sent, not only
    the persisted queries (gateway/internal/persisted.py). Off in production."""
    internal_introspection: bool = False
    """Development only: GraphQL introspection and the OpenAPI schema on the internal
    gateway. Off in production."""
    internal_max_depth: Annotated[int, msgspec.Meta(ge=1, le=50)] = 8
    """The deepest GraphQL operation the internal gateway runs (a root field is depth 0)."""
    internal_max_tokens: Annotated[int, msgspec.Meta(ge=100, le=100_000)] = 2000
    """The most tokens a GraphQL document may have (a cost bound that holds before parsing)."""
    internal_max_aliases: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 20
    """The most aliases an operation may use (each alias can run a field once more)."""
    worker_web_port: Port = WORKER_WEB_PORT
    dev_token: str = ""
    """Off unless set: a fixed bearer token the gateway then also accepts, for
    `dev_user_id` (local experiments only). Real clients log in (POST /v1/auth/login)."""
    dev_user_id: uuid.UUID = uuid.UUID("00000000-0000-4000-8000-000000000001")
    session_lifetime_s: AtLeastOne = 12 * 3600
    """Absolute lifetime of a login session (ASVS 3.3.2 at L2, NIST 800-63B AAL2: 12 h)."""
    session_idle_s: AtLeastOne = 30 * 60
    """A session unused for this long ends (an open live feed or device socket is use)."""
    reauth_window_s: AtLeastOne = 10 * 60
    """How long a password given again (or at login) lets sensitive changes through."""
    mfa_required_roles: str = "admin"
    """Comma-separated roles that act only through sessions opened with a second factor."""
    access_recheck_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    """How often open sockets are authorized again, notes or not."""
    trusted_proxies: str = ""
    """Comma-separated addresses or networks of reverse proxies whose client-address header
    is believed (with `client_address_header`); nobody else's is."""
    client_address_header: str = ""
    """The header those proxies put the client's address in, e.g. `X-Forwarded-For`."""
    password_hash_threads: AtLeastOne = 1
    password_hash_queue: AtLeastOne = 32
    """Password checks that may wait for a hashing thread; more get 503 `busy`."""
    secret_key: str = ""
    """Server secret for derived identifiers (leaderboard handles); the local stack
    generates one into `.stack/secret_key`."""
    quotas: Quotas = Quotas()
    """Per-account quotas, STRIDE_QUOTA_<FIELD> (gateway/quotas.py)."""
    login: LoginLimits = LoginLimits()
    """Login throttling, STRIDE_LOGIN_<FIELD> (gateway/throttle.py)."""
    ingest: IngestLimits = IngestLimits()
    """Per device connection, STRIDE_INGEST_<FIELD> (gateway/ingest_limits.py)."""
    retention: Retention = Retention()
    """Days each kind of record is kept, STRIDE_RETENTION_<FIELD> (storage/retention.py)."""
    topic_partitions: AtLeastOne = 6
    topic_replication: AtLeastOne = 1
    topic_min_insync: AtLeastOne = 1
    placement: Placement = "dedicated"
    """`dedicated`: one Ray actor per workout; `sharded`: `placement_hosts` actors hold many."""
    placement_hosts: AtLeastOne = max(2, os.cpu_count() or 2)
    warm_hosts: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 4
    """`dedicated`: idle host actors each gateway keeps started ahead, so a `start` takes one
    instead of waiting about a second for a new process (0: none)."""
    health_probe_s: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 30.0
    """How long a gateway's `/healthz` trusts its last workout probe (gateway/probe.py)."""
    metrics_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0
    """Live metrics of a workout go out at most this often. Each one folds the samples
    since the last, so at thousands of workouts per host a few seconds costs far less CPU."""
    kafka_heap_mb: Annotated[int, msgspec.Meta(ge=128, le=65536)] = 512
    oidc_providers: list[OidcProvider] = []
    """Sign-in providers: STRIDE_OIDC_PROVIDERS='[{"name":…,"issuer":…,"client_id":…,
    "client_secret":…}]'."""
    public_url: str = ""
    """How browsers reach the gateway (default: its own address)."""
    tile_url: str = ""
    """A map tile URL template (`https://tiles.example.org/{z}/{x}/{y}.png`) the web app
    draws routes on; empty (the default): routes are drawn as vectors alone. The tile
    server's origin must also be allowed by the CSP, so setting it is an operator's choice."""
    allowed_origins: str = ""
    """Comma-separated browser origins, besides the gateway's own, that may open the device
    WebSocket (e.g. `https://app.example.org`)."""
    redis_prefix: str = "stride"
    """Prefix of every Redis key, so tests and several stacks can share one server."""
    topic_prefix: str = ""
    """Prefix of every Kafka topic the processes use (tests and benchmarks run on copies)."""
    worker_group: str = "stride-streams"
    """The stream worker's Faust app id, which is its Kafka consumer group."""
    export_dir: str = ""
    """Where the gateways write export ZIPs (default `<home>/exports`); every gateway must
    reach the same folder, since any of them may build or serve a download."""
    export_keep_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 7
    """How long a ready export can be downloaded; then it answers 410 and its file is deleted."""
    tls: bool = False
    """STRIDE_TLS=on|off: every hop inside the stack is mutual TLS (PostgreSQL, Redis, Kafka,
    Ray) and the gateways serve HTTPS/WSS (stack/tls.py makes a local CA under `<home>/tls`)."""
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    """An operator's CA instead of the local one: its CA certificate, and one certificate and
    key every server and client of this machine presents (stack/tls.py says what it needs)."""
    tls_dir: str = ""
    """Folder of the local CA's files (default `<home>/tls`); a process with a home of its
    own (a test's worker) points here to use the stack's."""
    tls_identity: str = "cli"
    """Which client certificate this process presents (`gateway`, `internal`, `worker`,
    `cli`); the stack sets it for the processes it starts."""
    keys_dir: str = ""
    """Folder of the key material (privacy/key_ceremony.py): the keyring, the unsealed KEK
    of this machine and, in development mode, the shares (default `<home>/keys`)."""

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    @property
    def keys_path(self) -> Path:
        return Path(self.keys_dir) if self.keys_dir else self.home_path / "keys"

    @property
    def gateway_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.gateway_host}:{self.gateway_port}"

    @property
    def internal_gateway_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.internal_host}:{self.internal_port}"

    @property
    def gateway_ws_url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.gateway_host}:{self.gateway_port}"

    def tls_files(self, role: str) -> TlsFiles:
        """CA, certificate and key for `role`: a server's name, a client identity or `ray`."""
        if self.tls_ca_file:
            return TlsFiles(Path(self.tls_ca_file), Path(self.tls_cert_file),
                            Path(self.tls_key_file))
        return local_files(self.tls_path, role)

    @property
    def tls_path(self) -> Path:
        return Path(self.tls_dir) if self.tls_dir else self.home_path / "tls"

    @property
    def tls_client(self) -> TlsFiles:
        return self.tls_files(self.tls_identity)

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
            "gateway_host",
            "gateway_port",
            "internal_host",
            "internal_port",
            "internal_adhoc_queries",
            "internal_introspection",
            "internal_max_depth",
            "internal_max_tokens",
            "internal_max_aliases",
            "dev_token",
            "dev_user_id",
            "topic_partitions",
            "topic_replication",
            "topic_min_insync",
            "placement",
            "placement_hosts",
            "warm_hosts",
            "health_probe_s",
            "metrics_interval_s",
            "allowed_origins",
            "tile_url",
            "kafka_heap_mb",
            "redis_prefix",
            "topic_prefix",
            "worker_group",
            "keys_dir",
            "worker_web_port",
            "session_lifetime_s",
            "session_idle_s",
            "reauth_window_s",
            "mfa_required_roles",
            "access_recheck_s",
            "trusted_proxies",
            "client_address_header",
            "password_hash_threads",
            "password_hash_queue",
            "secret_key",
            "export_dir",
            "export_keep_days",
            "tls_ca_file",
            "tls_cert_file",
            "tls_key_file",
            "tls_identity",
            "tls_dir",
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
        for key, struct, prefix in (("quotas", Quotas, "STRIDE_QUOTA_"),
                                    ("login", LoginLimits, "STRIDE_LOGIN_"),
                                    ("ingest", IngestLimits, "STRIDE_INGEST_"),
                                    ("retention", Retention, "STRIDE_RETENTION_")):
            group = {field: env[prefix + field.upper()] for field in struct.__struct_fields__
                     if field != "allowed_origins" and env.get(prefix + field.upper())}
            if group:
                raw[key] = group
        if "secret_key" not in raw and (home / "secret_key").exists():
            raw["secret_key"] = (home / "secret_key").read_text().strip()
        if env.get("STRIDE_PUBLIC_URL"):
            raw["public_url"] = env["STRIDE_PUBLIC_URL"].rstrip("/")
        if env.get("STRIDE_INTERNAL_URL"):
            raw["internal_url"] = env["STRIDE_INTERNAL_URL"].rstrip("/")
        tls = env.get("STRIDE_TLS", "off").strip().lower()
        if tls not in ("on", "off"):
            raise SystemExit(f"stride: STRIDE_TLS must be on or off, not {tls!r}")
        raw["tls"] = tls == "on"
        if raw["tls"] and any(env.get(n) for n in TLS_FILE_VARS) \
                and not all(env.get(n) for n in TLS_FILE_VARS):
            raise SystemExit("stride: a real CA needs all of " + ", ".join(TLS_FILE_VARS))
        client = None
        if raw["tls"]:
            if env.get("STRIDE_TLS_CA_FILE"):
                client = TlsFiles(Path(env["STRIDE_TLS_CA_FILE"]), Path(env["STRIDE_TLS_CERT_FILE"]),
                                  Path(env["STRIDE_TLS_KEY_FILE"]))
            else:
                client = local_files(Path(env.get("STRIDE_TLS_DIR") or home / "tls"),
                                     env.get("STRIDE_TLS_IDENTITY") or "cli")
        if "pg_dsn" not in raw:
            raw["pg_dsn"] = local_pg_dsn(home, tls=client)
        if "redis_url" not in raw and client is not None:
            raw["redis_url"] = tls_redis_url(f"127.0.0.1:{REDIS_PORT}/0", client)
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"stride: bad setting: {exc}") from None


def raised_limits() -> dict[str, str]:
    """The quotas and throttles the test stack and the benches run with (stack/test.env):
    they measure capacity, so an account's production quotas must not be what stops them."""
    lines = (REPO_ROOT / "stack" / "test.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def ensure_secret_key(home: Path) -> None:
    """The local stack's server secret (`STRIDE_SECRET_KEY` overrides it), made once."""
    path = home / "secret_key"
    if path.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")


def local_pg_password_file(home: Path) -> Path:
    return home / "postgres" / "password"


def local_pg_dsn(home: Path, port: int = PG_PORT, tls: TlsFiles | None = None) -> str:
    """DSN of the local stack's PostgreSQL; its password is generated at `initdb` time.
    With `tls`: the server must prove it is 127.0.0.1 under our CA, and we present our
    client certificate (the server's pg_hba demands it)."""
    password_file = local_pg_password_file(home)
    password = password_file.read_text().strip() if password_file.exists() else ""
    auth = f"stride:{password}@" if password else "stride@"
    if tls is None:
        return f"postgresql://{auth}127.0.0.1:{port}/stride?sslmode=disable"
    query = urlencode({"sslmode": "verify-full", "sslrootcert": str(tls.ca),
                       "sslcert": str(tls.cert), "sslkey": str(tls.key)})
    return f"postgresql://{auth}127.0.0.1:{port}/stride?{query}"


def tls_redis_url(address: str, tls: TlsFiles) -> str:
    """A `rediss://` URL that checks the server against the CA and presents our certificate
    (redis-py passes the query's ssl_* arguments to its SSL connections)."""
    query = urlencode({"ssl_cert_reqs": "required", "ssl_ca_certs": str(tls.ca),
                       "ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)})
    return f"rediss://{address}?{query}"


def tls_env(settings: Settings) -> dict[str, str]:
    """What every process of a TLS stack needs in its environment: its Kafka client identity
    (streams/tls.py) and Ray's TLS variables, which Ray reads in every Ray process — head,
    workers, drivers (gateway, worker, tests) alike — and which must agree across them.
    Empty when TLS is off."""
    if not settings.tls:
        return {}
    client, ray = settings.tls_client, settings.tls_files("ray")
    return {
        "STRIDE_TLS_CLIENT_CA": str(client.ca),
        "STRIDE_TLS_CLIENT_CERT": str(client.cert),
        "STRIDE_TLS_CLIENT_KEY": str(client.key),
        "RAY_USE_TLS": "1",
        "RAY_TLS_SERVER_CERT": str(ray.cert),
        "RAY_TLS_SERVER_KEY": str(ray.key),
        "RAY_TLS_CA_CERT": str(ray.ca),
        # The public CAs and ours (stack/tls.py): HTTPS and WSS clients trust our gateways.
        "SSL_CERT_FILE": str(settings.tls_path / "trust.pem"),
    }
