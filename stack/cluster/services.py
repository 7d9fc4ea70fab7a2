"""The cluster's servers: how each is started in its namespace and checked from outside.

Core (never faulted; what a real deployment buys as managed services): Redis, PostgreSQL,
HAProxy. Every host: sshd, a Kafka broker + KRaft controller, a gateway, a stream worker.
The Ray nodes are started by `ray up cluster.yaml` (stack/cluster/ray_nodes.py).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from stack.cluster import netns, sshd
from stack.cluster.topology import (
    CLUSTER_HOME,
    CORE,
    GATEWAY_PORT,
    KAFKA_CONTROLLER_PORT,
    KAFKA_PORT,
    LB_PORT,
    LB_STATS_PORT,
    PG_PORT,
    REDIS_PORT,
    SSH_PORT,
    WORKER_WEB_PORT,
    Host,
    kafka_bootstrap,
    kafka_voters,
    ray_address,
)
from stack.components import StackError, require_binary, tcp_open
from stack.processes import ProcessTable
from stack.settings import REPO_ROOT

KAFKA_HEAP_MB = 384
RAY_TOKEN = CLUSTER_HOME / "ray" / "auth_token"


def procs(host: Host) -> ProcessTable:
    return ProcessTable(host.home)


def spawn(host: Host, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    """Start `argv` inside the host's namespace, logged to `<host>/logs/<name>.log`."""
    return procs(host).spawn(name, ["ip", "netns", "exec", host.netns, *argv],
                             env=env, cwd=REPO_ROOT)


def running(host: Host, name: str) -> bool:
    return procs(host).running_pid(name) is not None


def _secret(name: str) -> str:
    path = CLUSTER_HOME / name
    if not path.exists():
        CLUSTER_HOME.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


_KEYS_MADE = threading.Lock()


def _keys_dir() -> str:
    """The cluster's key material, made once in development mode (its shares kept, so every
    host unseals by itself); every host reads it, as a real cluster's nodes would each hold
    the unsealed KEK (privacy/key_ceremony.py)."""
    from privacy import key_ceremony
    from privacy.keys import KEYRING_FILE

    folder = CLUSTER_HOME / "keys"
    with _KEYS_MADE:  # the hosts' gateways and workers start in parallel: one keyring for all
        if not (folder / KEYRING_FILE).exists():
            key_ceremony.make_keyring(folder, shares=5, threshold=3, dev=True)
    return str(folder)


def ray_env() -> dict[str, str]:
    """Ray with token authentication, the token in the cluster's folder (never ~/.ray, which
    every other Ray on the machine would then pick up)."""
    if not RAY_TOKEN.exists():
        RAY_TOKEN.parent.mkdir(parents=True, exist_ok=True)
        RAY_TOKEN.write_text(secrets.token_hex(32))
        RAY_TOKEN.chmod(0o600)
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(RAY_TOKEN),
            # Each node uses its own address on the bridge, not loopback (stack/settings.py).
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}


def redis_url() -> str:
    return f"redis://:{_secret('redis_password')}@{CORE.address}:{REDIS_PORT}/0"


def pg_dsn() -> str:
    from stack.settings import local_pg_dsn

    return local_pg_dsn(CORE.home, PG_PORT).replace("127.0.0.1", CORE.address)


def stride_env(host: Host, workers: list[Host], extra: dict[str, str]) -> dict[str, str]:
    """The environment of a host's gateway and worker: only the cluster's STRIDE_* settings
    (none inherited from the caller, whose may name the local stack)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIDE_", "RAY_"))}
    env.update(ray_env())
    env.update({
        "STRIDE_HOME": str(host.home),
        "STRIDE_KAFKA": kafka_bootstrap(workers),
        "STRIDE_PG_DSN": pg_dsn(),
        "STRIDE_REDIS_URL": redis_url(),
        "STRIDE_RAY_ADDRESS": ray_address(),
        "STRIDE_GATEWAY_HOST": host.address,
        "STRIDE_GATEWAY_PORT": str(GATEWAY_PORT),
        "STRIDE_WORKER_WEB_PORT": str(WORKER_WEB_PORT),
        "STRIDE_TOPIC_REPLICATION": "3",
        "STRIDE_TOPIC_MIN_INSYNC": "2",
        "STRIDE_SECRET_KEY": _secret("secret_key"),
        "STRIDE_KEYS_DIR": _keys_dir(),
        "STRIDE_PUBLIC_URL": f"http://{CORE.address}:{LB_PORT}",
        "STRIDE_TRUSTED_PROXIES": CORE.address,
        "STRIDE_CLIENT_ADDRESS_HEADER": "X-Forwarded-For",
        **extra,
    })
    return env


# --- core: Redis, PostgreSQL, HAProxy -------------------------------------------------

def start_redis() -> None:
    binary = require_binary("redis-server", "redis-server")
    data = CORE.home / "redis"
    data.mkdir(parents=True, exist_ok=True)
    spawn(CORE, "redis", [binary, "--bind", CORE.address, "--port", str(REDIS_PORT),
                          "--requirepass", _secret("redis_password"), "--dir", str(data),
                          "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                          "--daemonize", "no"])


def redis_healthy() -> bool:
    import redis

    client = redis.Redis.from_url(redis_url(), socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    finally:
        client.close()


def start_postgres() -> None:
    from stack import postgres_local

    postgres_local.ensure_initdb(CORE.home)
    hba = CORE.home / "postgres" / "data" / "pg_hba.conf"
    line = f"host all all {CORE.address.rsplit('.', 1)[0]}.0/24 scram-sha-256\n"
    if line not in hba.read_text():
        with hba.open("a") as out:
            out.write(line)
    postgres_local.clear_stale_lock(CORE.home)
    argv = postgres_local.server_argv(CORE.home, PG_PORT)
    argv = [a.replace("listen_addresses=127.0.0.1", f"listen_addresses={CORE.address}")
            for a in argv]
    spawn(CORE, "postgres", argv)


def postgres_healthy() -> bool:
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(make_conninfo(pg_dsn(), dbname="postgres", connect_timeout=2)) as conn:
        conn.execute("SELECT 1")
    return True


def haproxy_config(workers: list[Host]) -> Path:
    path = CORE.home / "haproxy.cfg"
    servers = "".join(f"  server {h.name} {h.address}:{GATEWAY_PORT} check\n" for h in workers)
    path.write_text(
        "# Written by `stride cluster up`: the load balancer in front of the gateways.\n"
        "global\n  maxconn 4000\n\n"
        "defaults\n  mode http\n  option forwardfor\n  timeout connect 2s\n"
        "  timeout client 60s\n  timeout server 60s\n"
        # A WebSocket, once upgraded, is a tunnel: idle up to the device's ping interval.
        "  timeout tunnel 1h\n  timeout client-fin 5s\n\n"
        f"frontend devices\n  bind {CORE.address}:{LB_PORT}\n  default_backend gateways\n\n"
        "backend gateways\n  balance roundrobin\n"
        "  option httpchk GET /healthz\n  http-check expect status 200\n"
        # Checked every second; down after 2 failures, up after 2 passes; a gateway marked
        # down has its open sockets closed, so its devices reconnect at once to the others.
        "  default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions\n"
        f"{servers}\n"
        f"frontend stats\n  bind {CORE.address}:{LB_STATS_PORT}\n  stats enable\n"
        "  stats uri /stats\n  stats refresh 5s\n"
    )
    return path


def start_haproxy(workers: list[Host]) -> None:
    binary = require_binary("haproxy", "haproxy")
    spawn(CORE, "haproxy", [binary, "-db", "-f", str(haproxy_config(workers))])


def haproxy_backends() -> dict[str, str]:
    """Each gateway's state as the load balancer sees it: UP, DOWN …"""
    url = f"http://{CORE.address}:{LB_STATS_PORT}/stats;csv"
    with urllib.request.urlopen(url, timeout=2) as resp:
        rows = resp.read().decode().splitlines()
    header = rows[0].lstrip("# ").split(",")
    states = {}
    for row in rows[1:]:
        fields = dict(zip(header, row.split(","), strict=False))
        if fields.get("pxname") == "gateways" and fields.get("svname") not in ("FRONTEND", "BACKEND"):
            states[fields["svname"]] = fields["status"]
    return states


# --- every host: sshd, Kafka, gateway, worker --------------------------------------------

def start_sshd(host: Host) -> None:
    spawn(host, "sshd", sshd.argv(host))


def sshd_healthy(host: Host) -> bool:
    return tcp_open(host.address, SSH_PORT)


def kafka_cluster_id() -> str:
    from stack.kafka_local import random_cluster_id

    path = CLUSTER_HOME / "kafka" / "cluster_id"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(random_cluster_id())
    return path.read_text().strip()


def kafka_config(host: Host, workers: list[Host]) -> Path:
    home = host.home / "kafka"
    (home / "data").mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    props.write_text(
        "# Written by `stride cluster up`; edit stack/cluster/services.py instead.\n"
        "process.roles=broker,controller\n"
        f"node.id={host.index}\n"
        f"controller.quorum.voters={kafka_voters(workers)}\n"
        f"listeners=PLAINTEXT://{host.address}:{KAFKA_PORT},"
        f"CONTROLLER://{host.address}:{KAFKA_CONTROLLER_PORT}\n"
        f"advertised.listeners=PLAINTEXT://{host.address}:{KAFKA_PORT}\n"
        "controller.listener.names=CONTROLLER\n"
        "inter.broker.listener.name=PLAINTEXT\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        f"log.dirs={home / 'data'}\n"
        "default.replication.factor=3\n"
        "min.insync.replicas=2\n"
        "offsets.topic.replication.factor=3\n"
        "offsets.topic.num.partitions=6\n"
        "transaction.state.log.replication.factor=3\n"
        "transaction.state.log.min.isr=2\n"
        "share.coordinator.state.topic.replication.factor=3\n"
        "share.coordinator.state.topic.min.isr=2\n"
        "unclean.leader.election.enable=false\n"
        # A broker that stops heartbeating is fenced after 6 s and leaves every ISR, so
        # acks=all produce goes on with the other two (min.insync.replicas=2).
        "broker.session.timeout.ms=6000\n"
        "broker.heartbeat.interval.ms=1000\n"
        "replica.lag.time.max.ms=10000\n"
        "group.initial.rebalance.delay.ms=0\n"
        "auto.create.topics.enable=false\n"
        # Leadership goes back to each partition's preferred replica soon after a broker
        # returns (or registered late at creation), so leaders stay spread over the hosts.
        "auto.leader.rebalance.enable=true\n"
        "leader.imbalance.check.interval.seconds=5\n"
        "leader.imbalance.per.broker.percentage=0\n"
        "log.retention.hours=168\n"
    )
    return props


def start_kafka(host: Host, workers: list[Host]) -> None:
    from stack import kafka_local

    java = require_binary("java", "openjdk-17-jre-headless")
    lib = kafka_local.ensure_jars(CLUSTER_HOME / "kafka")
    props = kafka_config(host, workers)
    if not (host.home / "kafka" / "data" / "meta.properties").exists():
        result = subprocess.run(
            [java, "-cp", f"{lib}/*", "kafka.tools.StorageTool", "format",
             "-t", kafka_cluster_id(), "-c", str(props)],
            capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise StackError(f"formatting {host.name}'s Kafka log directory failed:\n"
                             + (result.stdout + result.stderr)[-2000:])
    spawn(host, "kafka", kafka_local.broker_argv(java, lib, props, KAFKA_HEAP_MB))


def kafka_brokers(workers: list[Host]) -> set[int]:
    """Node ids of the brokers the cluster's metadata lists (fenced ones are left out)."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def ask() -> set[int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap(workers),
                                    request_timeout_ms=3000)
        await asyncio.wait_for(admin.start(), 5)
        try:
            info = await asyncio.wait_for(admin.describe_cluster(), 5)
            return {int(b["node_id"]) for b in info["brokers"]}
        finally:
            await admin.close()

    up = [h for h in workers if tcp_open(h.address, KAFKA_PORT, 0.5)]
    if not up:
        return set()
    return asyncio.run(ask())


def start_gateway(host: Host, workers: list[Host], extra: dict[str, str]) -> None:
    spawn(host, "gateway", [sys.executable, "-m", "stack.cli", "gateway", "run"],
          env=stride_env(host, workers, extra))


def gateway_healthy(host: Host) -> bool:
    url = f"http://{host.address}:{GATEWAY_PORT}/healthz"
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


def start_worker(host: Host, workers: list[Host], extra: dict[str, str]) -> None:
    spawn(host, "worker", [sys.executable, "-m", "stack.cli", "worker", "run"],
          env=stride_env(host, workers, extra))


def worker_healthy(host: Host) -> bool:
    """The worker's own health page, which listens on its namespace's loopback."""
    result = subprocess.run(
        ["ip", "netns", "exec", host.netns, "curl", "-sf", "-m", "2",
         f"http://127.0.0.1:{WORKER_WEB_PORT}/healthz/"],
        capture_output=True, timeout=10)
    return result.returncode == 0


def quietly(check: object, *args: object) -> bool:
    try:
        return bool(check(*args))  # type: ignore[operator]
    except Exception:
        return False


__all__ = ["netns"]
