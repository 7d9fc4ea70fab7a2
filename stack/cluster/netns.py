"""The cluster's network: a bridge, and per host a namespace joined to it by a veth pair.

Only what is created here is touched: the bridge `strbr0`, namespaces `stride-*`, links
`stv-*`. The namespaces get no default route, so nothing they send leaves the subnet.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable

from stack.cluster.topology import BRIDGE, OPERATOR_ADDRESS, PREFIX_LEN, Host


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _exists(kind: str, name: str) -> bool:
    if kind == "netns":
        return name in ip("netns", "list").stdout.split()
    return ip("link", "show", name, check=False).returncode == 0


def ensure_bridge() -> None:
    if not _exists("link", BRIDGE):
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", f"{OPERATOR_ADDRESS}/{PREFIX_LEN}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")


def ensure_host(host: Host) -> None:
    """The namespace, its veth pair (`eth0` inside, `stv-…` on the bridge), its address."""
    if not _exists("netns", host.netns):
        ip("netns", "add", host.netns)
    ip("-n", host.netns, "link", "set", "lo", "up")
    if not _exists("link", host.veth):
        peer = f"{host.veth}p"
        ip("link", "add", host.veth, "type", "veth", "peer", "name", peer)
        ip("link", "set", peer, "netns", host.netns)
        ip("-n", host.netns, "link", "set", peer, "name", "eth0")
        ip("-n", host.netns, "addr", "add", f"{host.address}/{PREFIX_LEN}", "dev", "eth0")
        ip("link", "set", host.veth, "master", BRIDGE)
    ip("-n", host.netns, "link", "set", "eth0", "up")
    ip("link", "set", host.veth, "up")


def link_up(host: Host) -> bool:
    out = ip("-o", "link", "show", host.veth, check=False).stdout
    return ",UP" in out or "<UP" in out


def cut_link(host: Host) -> None:
    """Partition the host: its processes keep running, nothing reaches them or leaves."""
    ip("link", "set", host.veth, "down")


def restore_link(host: Host) -> None:
    ip("link", "set", host.veth, "up")


def pids(host: Host) -> list[int]:
    if not _exists("netns", host.netns):
        return []
    out = ip("netns", "pids", host.netns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def signal_all(pids_: Iterable[int], sig: int) -> None:
    for pid in pids_:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_host(host: Host) -> int:
    """SIGKILL every process in the host's namespace (raylet, broker, gateway, worker, sshd
    …), as a machine that loses power; returns how many there were."""
    victims = pids(host)
    signal_all(victims, signal.SIGKILL)
    _wait_gone(host, 10.0)
    return len(victims)


def stop_host(host: Host, grace_s: float = 15.0) -> int:
    """SIGTERM everything in the namespace, SIGKILL what is left after `grace_s`."""
    victims = pids(host)
    signal_all(victims, signal.SIGTERM)
    if not _wait_gone(host, grace_s):
        signal_all(pids(host), signal.SIGKILL)
        _wait_gone(host, 10.0)
    return len(victims)


def _wait_gone(host: Host, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [p for p in pids(host) if not _zombie(p)]
        if not alive:
            return True
        time.sleep(0.2)
    return False


def _zombie(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def remove_host(host: Host) -> None:
    if _exists("link", host.veth):
        ip("link", "del", host.veth, check=False)
    if _exists("netns", host.netns):
        ip("netns", "del", host.netns, check=False)


def remove_bridge() -> None:
    if _exists("link", BRIDGE):
        ip("link", "del", BRIDGE, check=False)


def existing_hosts() -> list[str]:
    """The namespaces of the cluster's hosts (stride-core, stride-h1 …): only those this module
    makes, never another namespace that happens to start with "stride-"."""
    return [n for n in ip("netns", "list").stdout.split() if re.fullmatch(r"stride-(core|h\d+)", n)]
