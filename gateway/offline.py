"""An offline-first device: every sample goes to a local SQLite buffer before it is sent, and
leaves it only when the server has acknowledged it (the phone's offline mode of the seed
architecture: record locally, then sync in two phases — send, and delete on ack).

    device = OfflineDevice(gateway_url, token, "watch.sqlite3")
    device.begin(workout_id, "run", started_at_ms)
    device.record(workout_id, (t_ms, lat, lon, alt_m, hr_bpm, spo2_pct))   # returns its seq
    device.finish(workout_id, at_ms)
    await device.sync()        # until everything recorded is acknowledged (reconnecting as needed)

`record` never touches the network, so it works offline; `sync` (or `run`, which keeps
syncing as samples arrive) connects, sends `start` for each unfinished workout — its ack
says what the server already holds — sends the samples after that ack in batches, deletes
what each ack covers, and reconnects with exponential backoff when the connection drops.
A new `OfflineDevice` on the same file after a crash carries on where the last one stopped.

Every stored sample is sealed (AES-256-GCM) under a device key: the app's own, from the OS
keystore (`device_key=`), or else a key file beside the buffer (gateway/offline_sealing.py
says what each protects against).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import ssl as ssl_module
import uuid
from collections.abc import Iterable
from pathlib import Path

import msgspec

from gateway import offline_sealing, protocol
from gateway.client import DeviceClient, DeviceError
from streams.events import Sample, Sport

log = logging.getLogger("stride.offline")

SCHEMA = """
CREATE TABLE IF NOT EXISTS workouts (
    workout_id TEXT PRIMARY KEY,
    sport TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    next_seq INTEGER NOT NULL DEFAULT 0,  -- the seq the next recorded sample gets
    finish_at INTEGER,                    -- set by finish(); sent once every sample is acked
    done INTEGER NOT NULL DEFAULT 0,      -- the server acknowledged the finish
    refused TEXT                          -- the server refused its data for good: code, message
);
CREATE TABLE IF NOT EXISTS samples (
    workout_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sample BLOB NOT NULL,                 -- msgpack [t_ms, lat, lon, alt_m, hr_bpm, spo2_pct, …],
                                          -- sealed (gateway/offline_sealing.py)
    PRIMARY KEY (workout_id, seq)
) WITHOUT ROWID;
"""


RETRYABLE = {"unavailable", "rate_limited", "seq_gap", "sample_rate_limited", "too_many_workouts"}
"""Error codes that a later try may not get. Any other sets that workout aside (`refused()`):
its samples stay in the buffer, and the other workouts go on."""


class SyncStats(msgspec.Struct, kw_only=True):
    """What a device has done since it was opened."""

    recorded: int = 0
    sent: int = 0
    """Samples sent (a resend after a reconnect counts again)."""
    acked: int = 0
    """Samples the server acknowledged (and that left the buffer)."""
    resent: int = 0
    """Samples sent more than once because an ack did not arrive."""
    reconnects: int = 0
    errors: int = 0


class OfflineDevice:
    """`device_key`: 32 bytes from the platform's keystore; without it, a key file beside
    `path` (`<path>.key`, 0600) is used, created on first use. A wrong key raises
    `offline_sealing.BufferKeyError` here, before anything is recorded or sent."""

    def __init__(self, url: str, token: str, path: str | Path, *,
                 subprotocol: str = protocol.MSGPACK, batch_size: int = 500,
                 max_backoff_s: float = 30.0, device_key: bytes | None = None,
                 ssl: ssl_module.SSLContext | None = None) -> None:
        self.url, self.token, self.subprotocol = url, token, subprotocol
        self.ssl = ssl  # DeviceClient's: a context trusting the gateway's CA, if not the system's
        self.batch_size = batch_size
        self.max_backoff_s = max_backoff_s
        self.stats = SyncStats()
        self._db = sqlite3.connect(path, isolation_level=None)  # autocommit: each record durable
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives an app crash; fsync at checkpoints
        self._db.executescript(SCHEMA)
        if device_key is None:
            device_key = offline_sealing.default_key(path)
        self._sealer = offline_sealing.SampleSealer(device_key)
        try:
            offline_sealing.prepare(self._db, self._sealer)  # seals an older version's plain rows
        except BaseException:
            self._db.close()
            raise
        self._encode, self._decode = msgspec.msgpack.encode, msgspec.msgpack.Decoder(list)
        self._sent_before: dict[str, int] = {}
        """Per workout, the highest seq sent on an earlier connection (to count resends)."""
        self._recorded = asyncio.Event()

    def close(self) -> None:
        self._db.close()

    # -- recording (local only) ------------------------------------------------------

    def begin(self, workout_id: uuid.UUID, sport: Sport, started_at_ms: int) -> None:
        self._db.execute("INSERT OR IGNORE INTO workouts (workout_id, sport, started_at) "
                         "VALUES (?, ?, ?)", (str(workout_id), sport, started_at_ms))

    def record(self, workout_id: uuid.UUID, sample: Sample) -> int:
        """Keep one sample; returns its seq."""
        return self.record_many(workout_id, [sample])

    def record_many(self, workout_id: uuid.UUID, samples: Iterable[Sample]) -> int:
        """Keep samples in one transaction; returns the seq of the last. A sample the server
        would refuse (a value out of range) raises ValueError here, and nothing is kept."""
        wid = str(workout_id)
        samples = list(samples)
        for sample in samples:
            try:
                msgspec.convert(list(sample), protocol.DeviceSample)
            except msgspec.ValidationError as exc:
                raise ValueError(f"sample {sample!r} would be refused: {exc}") from None
        with self._db:  # one transaction
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT next_seq, finish_at FROM workouts WHERE workout_id = ?",
                                   (wid,)).fetchone()
            if row is None:
                raise KeyError(f"workout {workout_id} was not begun on this device")
            if row[1] is not None:
                raise ValueError(f"workout {workout_id} is finished; begin a new one")
            seq = int(row[0])
            rows = [(wid, seq + i, self._sealer.seal(wid, seq + i, self._encode(list(s))))
                    for i, s in enumerate(samples)]
            self._db.executemany("INSERT INTO samples VALUES (?, ?, ?)", rows)
            self._db.execute("UPDATE workouts SET next_seq = ? WHERE workout_id = ?",
                             (seq + len(rows), wid))
        self.stats.recorded += len(rows)
        self._recorded.set()
        return seq + len(rows) - 1

    def finish(self, workout_id: uuid.UUID, at_ms: int) -> None:
        self._db.execute("UPDATE workouts SET finish_at = ? WHERE workout_id = ?",
                         (at_ms, str(workout_id)))
        self._recorded.set()

    def pending(self) -> int:
        """Samples recorded and not yet acknowledged."""
        return int(self._db.execute("SELECT count(*) FROM samples").fetchone()[0])

    def unfinished(self) -> int:
        """Workouts with samples or a finish still to deliver (not counting refused ones)."""
        return int(self._db.execute(
            "SELECT count(*) FROM workouts WHERE done = 0 AND refused IS NULL").fetchone()[0])

    def refused(self) -> dict[uuid.UUID, str]:
        """Workouts the server refused for good (e.g. finished by the server after a long
        silence), with its reason; their samples are kept here, not sent again."""
        return {uuid.UUID(w): r for w, r in self._db.execute(
            "SELECT workout_id, refused FROM workouts WHERE refused IS NOT NULL")}

    # -- syncing ---------------------------------------------------------------------

    async def sync(self, timeout_s: float | None = None) -> SyncStats:
        """Deliver everything recorded so far; returns once all of it is acknowledged."""
        await asyncio.wait_for(self._run(until_empty=True), timeout_s)
        return self.stats

    async def run(self) -> None:
        """Keep delivering as samples are recorded, reconnecting whenever needed (cancel to stop)."""
        await self._run(until_empty=False)

    async def _run(self, until_empty: bool) -> None:
        backoff = 0.25
        while True:
            if until_empty and self._nothing_to_send():
                return
            try:
                async with DeviceClient(self.url, self.token, subprotocol=self.subprotocol,
                                        answer_timeout_s=15.0, ssl=self.ssl) as client:
                    backoff = 0.25
                    await self._deliver(client, until_empty)
                    if until_empty:
                        return
            except DeviceError as exc:
                self._failed(exc)
            except (TimeoutError, OSError) as exc:
                self._failed(exc)
            except Exception as exc:  # websockets' closed / invalid-status errors
                if type(exc).__module__.split(".")[0] != "websockets":
                    raise
                self._failed(exc)
            self.stats.reconnects += 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))  # jitter: devices spread out
            backoff = min(self.max_backoff_s, backoff * 2)

    def _failed(self, exc: Exception) -> None:
        self.stats.errors += 1
        log.info("sync interrupted (%s: %s); reconnecting", type(exc).__name__, exc)

    def _nothing_to_send(self) -> bool:
        """No workout has samples, or a finish, left to deliver."""
        left = self._db.execute(
            "SELECT count(*) FROM workouts w WHERE done = 0 AND refused IS NULL AND "
            "(finish_at IS NOT NULL OR EXISTS (SELECT 1 FROM samples s "
            "WHERE s.workout_id = w.workout_id))").fetchone()[0]
        return int(left) == 0

    async def _deliver(self, client: DeviceClient, until_empty: bool) -> None:
        acked: dict[uuid.UUID, int] = {}  # per workout started on this connection, its ack
        while True:
            self._recorded.clear()
            for wid, sport, started_at, finish_at in self._db.execute(
                    "SELECT workout_id, sport, started_at, finish_at FROM workouts "
                    "WHERE done = 0 AND refused IS NULL").fetchall():
                workout = uuid.UUID(wid)
                try:
                    await self._deliver_workout(client, workout, sport, started_at, finish_at, acked)
                except DeviceError as exc:
                    if exc.error.code in RETRYABLE:
                        raise
                    self._set_aside(workout, exc)
            if until_empty and self._nothing_to_send():
                return
            if not until_empty:
                await self._recorded.wait()

    def _set_aside(self, wid: uuid.UUID, exc: DeviceError) -> None:
        self.stats.errors += 1
        log.warning("workout %s refused by the server (%s); its samples stay in the buffer",
                    wid, exc)
        self._db.execute("UPDATE workouts SET refused = ? WHERE workout_id = ?",
                         (f"{exc.error.code}: {exc.error.message}", str(wid)))

    async def _deliver_workout(self, client: DeviceClient, wid: uuid.UUID, sport: Sport,
                               started_at: int, finish_at: int | None,
                               acks: dict[uuid.UUID, int]) -> None:
        if wid not in acks:  # once per connection: its ack says what the server holds
            acks[wid] = (await client.start(wid, sport, started_at)).seq
            self._forget_through(wid, acks[wid])
        acked = acks[wid]
        while batch := self._db.execute(
                "SELECT seq, sample FROM samples WHERE workout_id = ? AND seq > ? ORDER BY seq "
                "LIMIT ?", (str(wid), acked, self.batch_size)).fetchall():
            first = batch[0][0]
            if first != acked + 1:  # only after a bug or a foreign write: say so, don't skip
                raise RuntimeError(f"local buffer of {wid} misses seq {acked + 1}..{first - 1}")
            samples: list[Sample] = [tuple(self._decode.decode(self._sealer.open(str(wid), seq, blob)))
                                     for seq, blob in batch]
            last_sent_before = self._sent_before.get(str(wid), -1)
            self.stats.resent += max(0, min(last_sent_before, batch[-1][0]) - first + 1)
            self._sent_before[str(wid)] = max(last_sent_before, batch[-1][0])
            self.stats.sent += len(batch)
            ack = await client.send_samples(wid, first, samples)  # waits out a rate limit
            acked = acks[wid] = ack.seq  # below `first` if the server lost something: resend
            self._forget_through(wid, acked)
        if finish_at is not None:
            await client.finish(wid, finish_at)
            self._db.execute("UPDATE workouts SET done = 1 WHERE workout_id = ?", (str(wid),))

    def _forget_through(self, wid: uuid.UUID, acked: int) -> None:
        """Phase two: what the server acknowledged leaves the buffer."""
        gone = self._db.execute("DELETE FROM samples WHERE workout_id = ? AND seq <= ?",
                                (str(wid), acked))
        self.stats.acked += gone.rowcount
