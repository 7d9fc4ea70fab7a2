"""An sshd in each namespace, so the Ray cluster launcher reaches every host as a machine.

The cluster makes its own keys under `.cluster/ssh/` (a client key the launcher uses, one
host key), and each sshd listens only on its host's address. `SetEnv` gives every session
STRIDE_REPO (where the repository and its `.venv` are: the same path on every node) and
STRIDE_CLUSTER (the cluster's folder), which cluster.yaml's commands use, and RAY_TMPDIR
(the launcher's state files stay in the cluster's folder, not in the machine's /tmp/ray).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from stack.cluster.topology import CLUSTER_HOME, SSH_PORT, Host
from stack.settings import REPO_ROOT

SSH_DIR = CLUSTER_HOME / "ssh"
CLIENT_KEY = SSH_DIR / "id_ed25519"
HOST_KEY = SSH_DIR / "ssh_host_ed25519_key"
AUTHORIZED_KEYS = SSH_DIR / "authorized_keys"


def _keygen(path: Path, comment: str) -> None:
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                        "-f", str(path)], check=True, timeout=30)


def ensure_keys() -> None:
    from stack.components import require_binary

    require_binary("sshd" if shutil.which("sshd") else "/usr/sbin/sshd", "openssh-server")
    SSH_DIR.mkdir(parents=True, exist_ok=True)
    SSH_DIR.chmod(0o700)
    _keygen(CLIENT_KEY, "stride-cluster")
    _keygen(HOST_KEY, "stride-cluster-host")
    AUTHORIZED_KEYS.write_text(CLIENT_KEY.with_suffix(".pub").read_text())
    AUTHORIZED_KEYS.chmod(0o600)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir


def config_file(host: Host) -> Path:
    path = host.home / "sshd_config"
    host.home.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by `stride cluster up`.\n"
        f"ListenAddress {host.address}:{SSH_PORT}\n"
        f"HostKey {HOST_KEY}\n"
        f"AuthorizedKeysFile {AUTHORIZED_KEYS}\n"
        f"PidFile {host.home / 'sshd.pid'}\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "MaxStartups 100\n"
        "MaxSessions 100\n"
        "X11Forwarding no\n"
        "PrintMotd no\n"
        f"SetEnv STRIDE_REPO={REPO_ROOT} STRIDE_CLUSTER={CLUSTER_HOME}"
        f" RAY_TMPDIR={CLUSTER_HOME / 'ray' / 'launcher'}\n"
        "Subsystem sftp internal-sftp\n"
    )
    return path


def argv(host: Host) -> list[str]:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    return [sshd, "-D", "-e", "-f", str(config_file(host))]
