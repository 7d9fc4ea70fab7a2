"""A device process for the resume tests: records `n` samples of a workout into its SQLite
buffer (unless that buffer already holds the workout: a restart), then syncs and finishes."""

from __future__ import annotations

import asyncio
import sys
import uuid

from gateway.offline import OfflineDevice


async def main(url: str, token: str, path: str, workout: str, n: int, t0: int) -> None:
    wid = uuid.UUID(workout)
    device = OfflineDevice(url, token, path, batch_size=20)
    if device.unfinished() == 0:
        device.begin(wid, "run", t0)
        device.record_many(wid, [(t0 + 1000 * i, 45.0 + 2.5e-5 * i, 7.0, 200.0, 140.0 + i % 20, 97.0)
                                 for i in range(n)])
        device.finish(wid, t0 + 1000 * n)
    print("recorded", flush=True)
    await device.sync(timeout_s=120)
    print("synced", device.stats.acked, flush=True)


if __name__ == "__main__":
    url, token, path, workout, n, t0 = sys.argv[1:7]
    asyncio.run(main(url, token, path, workout, int(n), int(t0)))
