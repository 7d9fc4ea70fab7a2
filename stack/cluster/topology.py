"""Names, addresses, ports and folders of the namespace cluster (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stack.settings import REPO_ROOT

SUBNET = "10.88.0"
PREFIX_LEN = 24
BRIDGE = "strbr0"
OPERATOR_ADDRESS = f"{SUBNET}.254"
"""The bridge's own address: the operator's seat (this shell, the tests) on the network.
No route leaves the subnet and nothing forwards it, so cluster traffic stays inside."""
CLUSTER_HOME = REPO_ROOT / ".cluster"

# Ports inside each namespace: every host has its own port space, so the usual ones.
RAY_GCS_PORT = 6379
REDIS_PORT = 6380
PG_PORT = 5432
LB_PORT = 8080
LB_STATS_PORT = 8404
SSH_PORT = 22
KAFKA_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
GATEWAY_PORT = 8000
WORKER_WEB_PORT = 6066


@dataclass(frozen=True)
class Host:
    name: str
    """`core`, `h1`, `h2` …"""
    index: int
    """0 for core, 1… for the hosts (also the Kafka node id)."""

    @property
    def netns(self) -> str:
        return f"stride-{self.name}"

    @property
    def address(self) -> str:
        return f"{SUBNET}.{10 + self.index}"

    @property
    def veth(self) -> str:
        """The host's link as seen from the bridge (cut it to partition the host)."""
        return f"stv-{self.name}"

    @property
    def home(self) -> Path:
        return CLUSTER_HOME / self.name

    @property
    def is_core(self) -> bool:
        return self.index == 0


CORE = Host("core", 0)


def hosts(n: int) -> list[Host]:
    return [Host(f"h{i}", i) for i in range(1, n + 1)]


def kafka_bootstrap(workers: list[Host]) -> str:
    return ",".join(f"{h.address}:{KAFKA_PORT}" for h in workers)


def kafka_voters(workers: list[Host]) -> str:
    """A KRaft controller on every host: with 3, one lost host leaves a quorum of 2."""
    return ",".join(f"{h.index}@{h.address}:{KAFKA_CONTROLLER_PORT}" for h in workers)


def ray_address() -> str:
    return f"{CORE.address}:{RAY_GCS_PORT}"


def lb_url() -> str:
    return f"http://{CORE.address}:{LB_PORT}"
