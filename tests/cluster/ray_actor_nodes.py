"""Which node each workout actor ran on, as the head's GCS remembers (also after they
exited). Run inside the core namespace by test_cluster.py (a Ray driver must sit on a node):
ray_actor_nodes.py RAY_ADDRESS WORKOUT_ID… → JSON {workout_id: [node ip, …]} on stdout."""

from __future__ import annotations

import json
import sys

import ray


def main(address: str, workout_ids: list[str]) -> None:
    ray.init(address=address, namespace="stride", log_to_driver=False, logging_level="ERROR")
    try:
        found: dict[str, list[str]] = {w: [] for w in workout_ids}
        for actor in ray._private.state.actors().values():
            name = actor.get("Name", "")
            wid = name.removeprefix("workout:")
            if wid in found:
                found[wid].append(actor["Address"]["IPAddress"])
        print(json.dumps(found))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
