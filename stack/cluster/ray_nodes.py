"""The Ray part: `ray up cluster.yaml`, the nodes the head knows, and a node's restart.

`ray up` SSHes to the head (the core namespace's sshd), runs cluster.yaml's setup and
head start commands; the autoscaler it starts on the head then SSHes to each worker host
and runs the worker start commands. A host that lost its raylet is started again with the
same worker start command over SSH (what the launcher's own recovery does, without waiting
for its 30 s heartbeat timeout).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from stack.cluster import services, sshd
from stack.cluster.topology import CLUSTER_HOME, CORE, Host, ray_address
from stack.components import StackError
from stack.settings import REPO_ROOT

CLUSTER_YAML = REPO_ROOT / "cluster.yaml"
LAUNCHER_TMP = CLUSTER_HOME / "ray" / "launcher"


def cluster_yaml(workers: list[Host]) -> Path:
    """cluster.yaml itself when it names these hosts, else a copy naming these."""
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    ips = [h.address for h in workers]
    if config["provider"]["worker_ips"] == ips and config["provider"]["head_ip"] == CORE.address:
        return CLUSTER_YAML
    config["provider"].update(head_ip=CORE.address, worker_ips=ips)
    config["min_workers"] = config["max_workers"] = len(ips)
    path = CLUSTER_HOME / f"cluster-{len(ips)}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _launcher_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    LAUNCHER_TMP.mkdir(parents=True, exist_ok=True)
    env["RAY_TMPDIR"] = str(LAUNCHER_TMP)  # its cluster state file stays in .cluster
    return env


def ray_up(workers: list[Host], log: Path) -> None:
    ray = Path(sys.executable).with_name("ray")
    config = cluster_yaml(workers)
    with log.open("ab") as out:
        result = subprocess.run(
            [str(ray), "up", "-y", "--no-config-cache", str(config)],
            cwd=REPO_ROOT, env=_launcher_env(), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, timeout=600)
    if result.returncode != 0:
        raise StackError(f"`ray up {config.name}` failed (exit {result.returncode})",
                         f"see {log}")


def forget_launcher_state() -> None:
    """After `down`: the launcher's record of which nodes it started is stale."""
    for path in LAUNCHER_TMP.rglob("cluster-*"):
        path.unlink(missing_ok=True)
    for name in ("ray_bootstrap_config.yaml", "ray_bootstrap_key.pem"):
        (Path.home() / name).unlink(missing_ok=True)


def ssh(host: Host, command: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(sshd.CLIENT_KEY), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", f"root@{host.address}", command],
        capture_output=True, text=True, timeout=timeout_s)


def start_worker_node(host: Host) -> None:
    """cluster.yaml's worker start commands, over SSH, as the launcher runs them."""
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    for command in config["worker_start_ray_commands"]:
        result = ssh(host, f"export RAY_HEAD_IP={CORE.address}; {command}")
        if result.returncode != 0:
            raise StackError(f"starting Ray on {host.name} failed:\n{result.stderr[-2000:]}")


_NODES_SCRIPT = """
import json, sys
from ray._raylet import GcsClient
client = GcsClient(address=sys.argv[1])
alive = []
for info in client.get_all_node_info(timeout=5).values():
    if info.state == 0:
        alive.append(info.node_manager_address)
print(json.dumps(alive))
"""


def alive_node_ips() -> list[str]:
    """Addresses of the nodes the head's GCS counts alive ([] when it does not answer)."""
    env = {**os.environ, **services.ray_env()}
    try:
        result = subprocess.run([sys.executable, "-c", _NODES_SCRIPT, ray_address()],
                                capture_output=True, text=True, timeout=30, env=env)
    except subprocess.TimeoutExpired:
        return []
    if result.returncode != 0:
        return []
    return list(json.loads(result.stdout.strip().splitlines()[-1]))
