"""Where the workout actors are, as the head's GCS remembers (also after they exited). Run
inside the core namespace by test_cluster.py (a Ray driver must sit on a node):
ray_actor_nodes.py RAY_ADDRESS → JSON {node ip: workout actors} on stdout. Every actor
named `workout…` counts (a dedicated workout, a spare or sharded host), whatever the
placement calls them."""

from __future__ import annotations

import json
import sys

import ray


def main(address: str) -> None:
    ray.init(address=address, namespace="stride", log_to_driver=False, logging_level="ERROR")
    try:
        per_node: dict[str, int] = {}
        for actor in ray._private.state.actors().values():
            if str(actor.get("Name", "")).startswith("workout"):
                ip = actor["Address"]["IPAddress"]
                per_node[ip] = per_node.get(ip, 0) + 1
        print(json.dumps(per_node))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
