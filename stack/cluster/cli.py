"""`stride cluster up|down|status`: the argparse side (registered by stack/cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _up(args: argparse.Namespace) -> int:
    from stack.cluster.lifecycle import up

    return up(args.hosts, args.env_file)


def _down(args: argparse.Namespace) -> int:
    from stack.cluster.lifecycle import down

    return down()


def _status(args: argparse.Namespace) -> int:
    from stack.cluster.lifecycle import status

    return status(as_json=args.json)


def register(groups: Any) -> None:
    cluster = groups.add_parser(
        "cluster", help="a multi-host cluster on this machine, hosts in network namespaces",
        description="N hosts, each a Linux network namespace with its own address on a bridge "
        "(10.88.0.0/24), each running an sshd, a Ray worker node (started by `ray up "
        "cluster.yaml`), a Kafka broker and KRaft controller, a gateway and a stream worker; "
        "a core namespace runs the Ray head, PostgreSQL, Redis and HAProxy in front of the "
        "gateways. Needs root. Data under .cluster/.")
    cmds = cluster.add_subparsers(dest="command", required=True, metavar="ACTION")
    up = cmds.add_parser("up", help="create the namespaces and start everything (idempotent: "
                         "starts what is missing, e.g. a host that was killed)")
    up.add_argument("--hosts", type=int, default=3, choices=[3],
                    help="worker hosts (3: Kafka's replication factor 3 needs them)")
    up.add_argument("--env-file", type=Path, metavar="FILE",
                    help="STRIDE_* settings for every gateway and worker (e.g. stack/test.env); "
                    "kept for later `up`s")
    up.set_defaults(func=_up)
    cmds.add_parser("down", help="stop every process in the namespaces, remove them; data "
                    "is kept").set_defaults(func=_down)
    st = cmds.add_parser("status", help="each host's components and health; exit 1 if any is down")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_status)
