"""`stride cluster up|down|status`, and the faults the cluster suite plays on a host."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
from rich.console import Console
from rich.markup import escape

from stack.cluster import netns, ray_nodes, services, sshd
from stack.cluster.services import quietly
from stack.cluster.topology import (
    CLUSTER_HOME,
    CORE,
    KAFKA_PORT,
    Host,
    hosts,
    kafka_bootstrap,
    lb_url,
)
from stack.components import StackError, tcp_open
from streams.retry import wait_until

console = Console(stderr=True, soft_wrap=True)
STATE = CLUSTER_HOME / "cluster.json"


class ClusterState(msgspec.Struct, frozen=True):
    hosts: int
    extra_env: dict[str, str] = {}
    """STRIDE_* settings given with --env-file, for every gateway and worker."""


def saved_state() -> ClusterState | None:
    if not STATE.exists():
        return None
    return msgspec.json.decode(STATE.read_bytes(), type=ClusterState)


def read_env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines
                if line.strip() and not line.lstrip().startswith("#"))


def _step(name: str, action: Callable[[], str]) -> None:
    t0 = time.monotonic()
    with console.status(f"[bold]{name}[/] …"):
        outcome = action()
    console.print(f"[green]✓[/] {name:<28} {outcome}  ({time.monotonic() - t0:.1f} s)")


def _ensure(host: Host, name: str, start: Callable[[], None], healthy: Callable[[], bool],
            timeout_s: float) -> str:
    """Start `name` on `host` unless it runs and answers; wait until it answers."""
    if services.running(host, name) and quietly(healthy):
        return "already running"
    services.procs(host).stop(name, signal.SIGKILL)  # a leftover of ours that does not answer
    start()
    if not wait_until(lambda: quietly(healthy), timeout_s, interval_s=0.5):
        tail = services.procs(host).tail(name, 25)
        raise StackError(f"{name} on {host.name} did not become healthy within {timeout_s:.0f} s:\n"
                         f"{tail}", f"see {services.procs(host).log_file(name)}")
    return "started"


def up(n: int, env_file: Path | None = None) -> int:
    started = time.monotonic()
    previous = saved_state()
    extra = read_env_file(env_file) if env_file else (previous.extra_env if previous else {})
    CLUSTER_HOME.mkdir(parents=True, exist_ok=True)
    STATE.write_bytes(msgspec.json.encode(ClusterState(hosts=n, extra_env=extra)))
    workers = hosts(n)
    try:
        _up(workers, extra)
    except StackError as exc:
        console.print(f"[red]✗[/] {escape(str(exc))}")
        if exc.hint:
            console.print(f"  fix: {escape(exc.hint)}")
        return 1
    console.print(f"cluster up in {time.monotonic() - started:.1f} s: devices connect to "
                  f"{lb_url().replace('http', 'ws')}/v1/ingest; `stride cluster status` shows it,"
                  " `stride cluster down` stops it")
    return 0


def _up(workers: list[Host], extra: dict[str, str]) -> None:
    def network() -> str:
        sshd.ensure_keys()
        netns.ensure_bridge()
        for host in [CORE, *workers]:
            netns.ensure_host(host)
        return f"bridge + {len(workers) + 1} namespaces"

    _step("network", network)
    for host in [CORE, *workers]:
        _step(f"sshd {host.name}", lambda h=host: _ensure(
            h, "sshd", lambda: services.start_sshd(h), lambda: services.sshd_healthy(h), 10))
    _step("redis (core)", lambda: _ensure(CORE, "redis", services.start_redis,
                                          services.redis_healthy, 20))
    _step("postgres (core)", _postgres)
    _step("kafka (3 brokers)", lambda: _kafka(workers))
    _step("ray (ray up cluster.yaml)", lambda: _ray(workers))
    with ThreadPoolExecutor(len(workers) * 2) as pool:
        outcomes = list(pool.map(lambda job: job(), [
            *(lambda h=h: ("gateway " + h.name, _ensure(
                h, "gateway", lambda: services.start_gateway(h, workers, extra),
                lambda: services.gateway_healthy(h), 120)) for h in workers),
            *(lambda h=h: ("worker " + h.name, _ensure(
                h, "worker", lambda: services.start_worker(h, workers, extra),
                lambda: services.worker_healthy(h), 120)) for h in workers)]))
    for name, outcome in outcomes:
        console.print(f"[green]✓[/] {name:<28} {outcome}")
    _step("haproxy (core)", lambda: _ensure(CORE, "haproxy", lambda: services.start_haproxy(workers),
                                            lambda: bool(services.haproxy_backends()), 20))
    _step("load balancer sees gateways", lambda: _all_backends_up(workers))


def _postgres() -> str:
    from stack.postgres_local import ensure_database
    from storage.migrate import migrate

    outcome = _ensure(CORE, "postgres", services.start_postgres, services.postgres_healthy, 60)
    ensure_database(services.pg_dsn())
    applied = migrate(services.pg_dsn())
    return outcome + (f", {len(applied)} migrations" if applied else "")


def _kafka(workers: list[Host]) -> str:
    from streams.topics import ensure_topics

    todo = [h for h in workers if not services.running(h, "kafka")]
    for host in todo:  # together: a controller quorum needs two of them
        services.start_kafka(host, workers)
    want = {h.index for h in workers}

    def all_serving() -> bool:
        # Both: a restarted broker is listed by the others (from the metadata log they kept)
        # seconds before it listens again, and asking it then fails (seen by the suite).
        return all(tcp_open(h.address, KAFKA_PORT, 0.5) for h in workers) and \
            want <= quietly_brokers(workers)

    if not wait_until(all_serving, 120, interval_s=1):
        raise StackError(f"Kafka brokers {sorted(want - quietly_brokers(workers))} did not register",
                         f"see {CLUSTER_HOME}/h*/logs/kafka.log")
    created = asyncio.run(ensure_topics(kafka_bootstrap(workers), partitions=6, replication=3,
                                        min_insync=2))
    created += asyncio.run(_faust_leader_topic(workers))
    return (f"started {', '.join(h.name for h in todo)}" if todo else "already running") + \
        (f"; {len(created)} topics (replication 3, min.insync 2)" if created else "")


async def _faust_leader_topic(workers: list[Host]) -> list[str]:
    """Faust elects a leader among the stream workers of a group through the topic
    `<app id>-__assignor-__leader`; the worker declares no topics (topic_allow_declare is
    off), so with several workers a rebalance fails without it."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from streams.topics import WORKER_GROUP

    name = f"{WORKER_GROUP}-__assignor-__leader"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap(workers), request_timeout_ms=15000)
    await admin.start()
    try:
        if name in await admin.list_topics():
            return []
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=3,
                                            topic_configs={"min.insync.replicas": "2"})])
        return [name]
    finally:
        await admin.close()


def quietly_brokers(workers: list[Host]) -> set[int]:
    try:
        return services.kafka_brokers(workers)
    except Exception:
        return set()


def _ray(workers: list[Host]) -> str:
    want = {CORE.address, *(h.address for h in workers)}
    alive = set(ray_nodes.alive_node_ips())
    if CORE.address not in alive:
        ray_nodes.forget_launcher_state()
        ray_nodes.ray_up(workers, CLUSTER_HOME / "ray-up.log")
        outcome = "ray up"
    else:
        for host in workers:  # a host that came back: the launcher's worker start command
            if host.address not in alive:
                ray_nodes.start_worker_node(host)
        outcome = "head up; started " + (", ".join(h.name for h in workers
                                                   if h.address not in alive) or "nothing")
    if not wait_until(lambda: want <= set(ray_nodes.alive_node_ips()), 240, interval_s=2):
        missing = want - set(ray_nodes.alive_node_ips())
        raise StackError(f"Ray nodes {sorted(missing)} did not join the head",
                         f"see {CLUSTER_HOME}/ray-up.log and {CLUSTER_HOME}/ray/launcher")
    return f"{outcome}; {len(want)} nodes alive"


def _all_backends_up(workers: list[Host]) -> str:
    def all_up() -> bool:
        states = services.haproxy_backends()
        return all(states.get(h.name, "").startswith("UP") for h in workers)

    if not wait_until(lambda: quietly(all_up), 30, interval_s=0.5):
        raise StackError(f"the load balancer does not see every gateway: {services.haproxy_backends()}")
    return f"{len(workers)} gateways UP"


def down() -> int:
    state = saved_state()
    names = netns.existing_hosts()
    workers = hosts(state.hosts) if state else []
    for host in sorted({*workers, *(Host(n.removeprefix("stride-"), _index(n)) for n in names)},
                       key=lambda h: -h.index):
        pg = services.procs(host).running_pid("postgres") if host.is_core else None
        if pg is not None:
            netns.signal_all([pg], signal.SIGINT)  # PostgreSQL's fast shutdown first
            services.procs(host).stop("postgres", signal.SIGINT, timeout_s=20)
        stopped = netns.stop_host(host)
        for pid_file in (host.home / "run").glob("*.pid") if (host.home / "run").exists() else []:
            pid_file.unlink(missing_ok=True)
        netns.remove_host(host)
        console.print(f"■ {host.name}: {stopped} processes stopped, namespace removed")
    netns.remove_bridge()
    ray_nodes.forget_launcher_state()
    console.print("cluster down; its data stays under .cluster/")
    return 0


def _index(netns_name: str) -> int:
    name = netns_name.removeprefix("stride-")
    return 0 if name == "core" else int(name.lstrip("h") or 0)


def health(workers: list[Host]) -> dict[str, dict[str, bool]]:
    """host → component → healthy: each a real round trip (or the head's view of the node)."""
    alive = set(ray_nodes.alive_node_ips())
    brokers = quietly_brokers(workers)
    backends: dict[str, str] = {}
    try:
        backends = services.haproxy_backends()
    except Exception:
        pass
    report = {CORE.name: {
        "ray-head": CORE.address in alive,
        "postgres": quietly(services.postgres_healthy),
        "redis": quietly(services.redis_healthy),
        "haproxy": bool(backends),
    }}
    for host in workers:
        report[host.name] = {
            "link": netns.link_up(host),
            "sshd": services.sshd_healthy(host),
            "ray-node": host.address in alive,
            "kafka": host.index in brokers,
            "gateway": quietly(services.gateway_healthy, host),
            "lb-backend": backends.get(host.name, "").startswith("UP"),
            "worker": quietly(services.worker_healthy, host),
        }
    return report


def status(as_json: bool = False) -> int:
    from rich.table import Table

    state = saved_state()
    if state is None or not netns.existing_hosts():
        console.print("no cluster: `stride cluster up --hosts 3` starts one")
        return 1
    workers = hosts(state.hosts)
    report = health(workers)
    healthy = all(all(c.values()) for c in report.values())
    if as_json:
        print(json.dumps(report, indent=2))
        return 0 if healthy else 1
    table = Table(title=f"Stride cluster: {state.hosts} hosts, load balancer {lb_url()}")
    table.add_column("host")
    table.add_column("address")
    table.add_column("components")
    for host in [CORE, *workers]:
        parts = [f"[green]{k}[/]" if ok else f"[red]{k} DOWN[/]" for k, ok in report[host.name].items()]
        table.add_row(host.name, host.address, "  ".join(parts))
    Console().print(table)
    return 0 if healthy else 1


def kill_host(host: Host) -> int:
    """Every process of the host SIGKILLed at once (the machine lost power)."""
    return netns.kill_host(host)
