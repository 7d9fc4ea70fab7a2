"""The Ray actor around `Workout`s: load the snapshot, apply, publish, save, reply.

One class serves both placements: a `dedicated` host holds one workout, a `sharded` host
many (actors/placement.py decides). Durability rule (DESIGN): the reply that lets the
gateway ack a `seq` is returned only after the events are acknowledged by Kafka
(acks=all, idempotent producer) and the state holding that `seq` is saved in Redis.
If either fails, that workout rolls back to its last saved state, so a resend is applied
again, never skipped.

The saved state is a snapshot plus a journal: a batch of samples that changed nothing but
the samples appends its `[seq, samples]` (~100 bytes) to the workout's journal list instead
of writing the whole state again (~10 KiB), and every `JOURNAL_MAX` batches, or on any other
change (start, pause, finish, a risk alert), the whole state is written and the journal
emptied. A host loading a workout restores the snapshot and applies the journal's batches
again (unfolded: the metrics are the same however the samples are folded, and the snapshots
the next fold makes again are the same ones, stored once downstream); an entry older than
the snapshot is skipped by its `seq`, like any resend.

Both are sealed with the athlete's data key before they go to Redis (privacy/sealed_values.py;
in memory they stay plain, so a rollback needs no key). A saved workout whose key was
shredded (the athlete erased) or that does not open is treated as gone, never raised: the
host goes on with its other workouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable

import msgspec

from actors.live_publish import LivePublisher
from actors.profile import AthleteProfile
from actors.workout import Workout, WorkoutError
from privacy import sealed_values
from privacy.keys import DataKey
from storage import data_keys, keyspace
from streams import redis_pool, topics
from streams.events import (
    AnyEvent,
    LifecycleEvent,
    RiskAlert,
    Sample,
    SamplesAccepted,
    Sport,
    WorkoutMetricsUpdated,
)
from streams.producer import EventProducer

log = logging.getLogger("stride.actors")
SNAPSHOT_TTL_S = 30 * 24 * 3600
PROBE_TIMEOUT_S = 10.0
JOURNAL_MAX = 30
"""Sample batches journaled before the whole state is written again (at 1 Hz, every 30 s):
a restart replays at most this many."""
METRICS_CHUNK = 50
EARLY_OK = 0.8
"""A batch may carry live metrics from 80 % of the interval on (at most 1.25× the rate)."""
"""Workouts whose owed metrics the background task folds and sends in one go."""
YIELD_EVERY_S = 0.005
"""Folding many workouts in one call gives the event loop back this often, so other calls'
Kafka and Redis round trips go on meanwhile (a fold takes up to ~0.5 ms)."""


class ActorConfig(msgspec.Struct, frozen=True, kw_only=True):
    kafka: str
    redis_url: str
    redis_prefix: str
    topic_prefix: str = ""
    metrics_interval_s: float = 1.0
    """Sample time between live metrics snapshots (see actors/workout.py); a workout's
    samples are folded, and its snapshots sent, at most this often in wall time (plus on
    every lifecycle change)."""
    auto_finish_after_s: float = 1800.0
    """A workout that hears nothing for this long is finished by the actor itself."""
    exit_when_empty: bool = False
    """A dedicated host ends once its workout is auto-finished."""
    pg_dsn: str = ""
    keys_dir: str = ""
    """Where this node keeps the key material (privacy/key_ceremony.py): with `pg_dsn`, the
    host seals its events with the athletes' data keys (streams/sealing.py). Each node of
    a cluster needs the keyring there, unsealed (or development shares). Empty: events go
    out unsealed (benches and tests of the actor alone)."""


class AthleteContext(msgspec.Struct, frozen=True, kw_only=True):
    profile: AthleteProfile = AthleteProfile()
    load_history: list[tuple[dt.date, float]] = []
    """(day, training load) before the workout's day, for the acute:chronic ratio."""


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    acked_seq: int
    status: str
    error_code: str | None = None
    message: str = ""


def topic_of(event: AnyEvent) -> str:
    if isinstance(event, WorkoutMetricsUpdated):
        return topics.METRICS
    if isinstance(event, LifecycleEvent):
        return topics.LIFECYCLE
    if isinstance(event, RiskAlert):
        return topics.RISK_ALERTS
    return topics.SAMPLES


SamplesCall = tuple[str, str, int, list[Sample]]
"""(workout_id, user_id, seq, samples): one device batch, as `samples_many` takes them."""

Command = Callable[[Workout, bool], list[AnyEvent]]
"""What to do to a workout; the flag says whether to fold the metrics now."""


def _free(lock: asyncio.Lock) -> bool:
    """Unlocked and nobody queued for it: acquiring it now cannot wait. (A lock just
    released to a waiter that has not run yet reads as unlocked, hence the waiters.)"""
    return not lock.locked() and not getattr(lock, "_waiters", None)


_journal_encoder = msgspec.msgpack.Encoder()
_journal_decoder = msgspec.msgpack.Decoder(tuple[int, list[Sample]])


def load_saved(snapshot: bytes, journal: list[bytes]) -> Workout:
    """A workout as saved: its snapshot, then the batches journaled since."""
    workout = Workout.restore(snapshot)
    for entry in journal:
        if workout.state.status not in ("active", "paused"):
            break
        seq, samples = _journal_decoder.decode(entry)
        try:
            workout.apply_samples(seq, samples, fold=False)
        except WorkoutError as exc:  # cannot happen for a journal this host wrote
            log.error("journal of %s stops at seq %d: %s", workout.state.workout_id, seq, exc.message)
            break
    return workout


def _restore(slot: _Slot) -> None:
    """Back to the last durable state (or to nothing, for a start never made durable)."""
    slot.workout = load_saved(slot.saved, slot.journal) if slot.saved is not None else None


class _Pauser:
    """Gives the event loop back once `YIELD_EVERY_S` has passed since the last time."""

    def __init__(self) -> None:
        self._since = time.perf_counter()

    async def now_and_then(self) -> None:
        if time.perf_counter() - self._since >= YIELD_EVERY_S:
            await asyncio.sleep(0)  # hand the loop to the devices' calls for a moment
            self._since = time.perf_counter()


class _Slot:
    """One workout inside a host, with what only the host needs to know about it."""

    def __init__(self, wid: uuid.UUID) -> None:
        self.wid = wid
        self.lock = asyncio.Lock()
        self.workout: Workout | None = None
        self.loaded = False
        self.saved: bytes | None = None
        """The last snapshot made durable; with `journal`, what a failed call rolls back to."""
        self.journal: list[bytes] = []
        """Batches journaled in Redis since `saved`."""
        self.metrics_sent_at = 0.0
        self.metrics_owed = False
        """Samples were applied since the last metrics snapshot went out."""
        self.heard_at = time.monotonic()


class WorkoutHost:
    """Workouts of this actor. Wrapped with `ray.remote` by actors/placement.py."""

    def __init__(self, config: ActorConfig) -> None:
        self._config = config
        self._slots: dict[uuid.UUID, _Slot] = {}
        self.data_keys = (data_keys.on_demand(config.pg_dsn, config.keys_dir)
                          if config.keys_dir else None)
        """The athletes' data keys, over a pool of at most two connections opened when needed."""
        self._producer = EventProducer(config.kafka, topic_prefix=config.topic_prefix,
                                       keys=self.data_keys)
        self._redis = redis_pool.connect(config.redis_url)
        self._live = LivePublisher(self._redis, config.redis_prefix, self.data_keys)
        self.unreadable = 0
        """Saved workouts treated as gone: their athlete's key shredded, or they did not open."""
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self, workout_id: str, user_id: str, sport: Sport, started_at_ms: int,
                    athlete: AthleteContext | None = None) -> Reply:
        """Begin (or, after a reconnect, look up) a workout. `athlete` — profile and daily
        load history, read by the gateway — is used only when the workout is new."""
        wid = uuid.UUID(workout_id)
        slot = self._slot(wid)
        async with self._locked([slot]):
            if slot.workout is None:
                ctx = athlete or AthleteContext()
                slot.workout = Workout.create(wid, uuid.UUID(user_id), sport, started_at_ms,
                                              ctx.profile, ctx.load_history,
                                              round(self._config.metrics_interval_s * 1000))
            return (await self._execute([(slot, user_id, lambda w, _: w.start())]))[0]

    async def samples(self, workout_id: str, user_id: str, seq: int, samples: list[Sample]) -> Reply:
        return (await self.samples_many([(workout_id, user_id, seq, samples)]))[0]

    async def samples_many(self, calls: list[SamplesCall]) -> list[Reply]:
        """Batches of many workouts in one call (gateways coalesce them: see
        placement.HostCalls): each is applied in arrival order, and all are made durable
        together, with one Kafka produce and one Redis pipeline. One reply per batch."""
        work: list[tuple[_Slot, str, Command]] = []
        for workout_id, user_id, seq, batch in calls:
            def command(w: Workout, fold: bool, seq: int = seq, batch: list[Sample] = batch
                        ) -> list[AnyEvent]:
                return w.apply_samples(seq, batch, fold=fold).events
            work.append((self._slot(uuid.UUID(workout_id)), user_id, command))
        async with self._locked([slot for slot, _, _ in work]):
            return await self._execute(work)

    async def control(self, workout_id: str, user_id: str, action: str, at_ms: int) -> Reply:
        commands: dict[str, Command] = {
            "pause": lambda w, _: w.pause(at_ms),
            "resume": lambda w, _: w.resume(at_ms),
            "finish": lambda w, _: w.finish(at_ms),
        }
        slot = self._slot(uuid.UUID(workout_id))
        async with self._locked([slot]):
            return (await self._execute([(slot, user_id, commands[action])]))[0]

    async def probe(self) -> float:
        """What a workout needs of this host, on nothing real: a throwaway workout started,
        fed a sample and finished in memory (the metrics run), its completion produced to
        the probe topic (acks=all, as every event) and a Redis round trip. Returns the
        milliseconds it took; raises what failed."""
        began = time.perf_counter()
        workout = Workout.create(uuid.uuid4(), uuid.uuid4(), "run", 0)
        workout.start()
        workout.apply_samples(0, [(0, 45.0, 7.0, None, 140.0, 97.0)])
        completed = workout.finish(1000)[-1]
        await asyncio.wait_for(self._producer.publish([(topics.PROBE, completed)]), PROBE_TIMEOUT_S)
        await asyncio.wait_for(self._redis.ping(), PROBE_TIMEOUT_S)
        return (time.perf_counter() - began) * 1000

    async def warm_up(self) -> int:
        """Connect to Kafka (the idempotent producer's id included) and Redis before any
        workout needs them: a spare host takes its first `start` without that wait. Returns
        the process id."""
        await self._producer.start()
        await self._redis.ping()
        return os.getpid()

    async def pid(self) -> int:
        """The host's OS process (operators and fault tests kill it)."""
        return os.getpid()

    async def node_id(self) -> str:
        """The Ray node the host runs on (the node-loss fault test checks where it went)."""
        import ray

        return str(ray.get_runtime_context().get_node_id())

    async def held(self) -> int:
        """How many workouts this host holds in memory (tests check none is left behind)."""
        return len(self._slots)

    async def forget(self, workout_id: str) -> None:
        """Drop a finished workout from memory; its final snapshot stays in Redis."""
        self._slots.pop(uuid.UUID(workout_id), None)

    def _slot(self, wid: uuid.UUID) -> _Slot:
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._background())
        slot = self._slots.get(wid)
        if slot is None:
            slot = self._slots[wid] = _Slot(wid)
        slot.heard_at = time.monotonic()
        return slot

    @contextlib.asynccontextmanager
    async def _locked(self, slots: list[_Slot]) -> AsyncIterator[None]:
        """Hold the slots' locks (taken in one global order, so concurrent calls over
        overlapping workouts cannot deadlock), with their snapshots loaded."""
        ordered = sorted({id(s): s for s in slots}.values(), key=lambda s: s.wid)
        async with contextlib.AsyncExitStack() as stack:
            for slot in ordered:
                await stack.enter_async_context(slot.lock)
            unloaded = [slot for slot in ordered if not slot.loaded]
            if unloaded:
                prefix = self._config.redis_prefix
                async with self._redis.pipeline(transaction=False) as pipe:
                    for slot in unloaded:
                        pipe.get(keyspace.snapshot(prefix, slot.wid))
                        pipe.lrange(keyspace.journal(prefix, slot.wid), 0, -1)
                    found = await pipe.execute()
                for i, slot in enumerate(unloaded):
                    data, journal = found[2 * i], found[2 * i + 1]
                    opened = await self._open_saved(slot, data, journal) \
                        if isinstance(data, bytes) else None
                    if opened is not None:
                        slot.saved, slot.journal = opened
                        slot.workout = load_saved(*opened)
                    slot.loaded = True
            yield

    async def _open_saved(self, slot: _Slot, data: bytes, journal: list[bytes]
                          ) -> tuple[bytes, list[bytes]] | None:
        """The snapshot and journal as saved, opened; None for a workout whose athlete was
        erased (key shredded) or whose values do not open. Missing key material (a host
        started without the keyring) raises: that is no reason to forget a workout."""
        prefix = self._config.redis_prefix
        snapshot_key, journal_key = keyspace.snapshot(prefix, slot.wid), keyspace.journal(prefix, slot.wid)
        try:
            return (await sealed_values.open_value(self.data_keys, snapshot_key, data),
                    [await sealed_values.open_value(self.data_keys, journal_key, e) for e in journal])
        except sealed_values.Shredded:
            self.unreadable += 1
            log.info("a saved workout of an erased athlete is treated as gone (%d so far)",
                     self.unreadable)
        except sealed_values.Unreadable as exc:
            self.unreadable += 1
            log.error("a saved workout does not open (%s); treated as gone (%d so far)", exc,
                      self.unreadable)
        return None

    async def _sealing_keys(self, slots: list[_Slot]) -> dict[uuid.UUID, DataKey | None]:
        """The data key of each athlete among `slots`, None for one erased meanwhile."""
        keys: dict[uuid.UUID, DataKey | None] = {}
        if self.data_keys is None:
            return keys
        for slot in slots:
            assert slot.workout is not None
            user = slot.workout.state.user_id
            if user not in keys:
                try:
                    keys[user] = await self.data_keys.for_user(user)
                except sealed_values.Shredded:
                    keys[user] = None
        return keys

    async def _execute(self, work: list[tuple[_Slot, str, Command]]) -> list[Reply]:
        """Run the commands (their slots locked and loaded), make every change durable at
        once, then reply. If that fails, each changed workout rolls back to its last
        durable snapshot, so the device's resend is applied again, never skipped."""
        replies: list[Reply | None] = []
        produced: list[AnyEvent] = []
        changed: dict[uuid.UUID, tuple[_Slot, bool]] = {}  # slot, and whether its metrics go out
        journal: dict[uuid.UUID, list[SamplesAccepted] | None] = {}
        """Per changed workout, the batches to journal; None: save the whole state."""
        now = time.monotonic()
        pause = _Pauser()
        running: _Slot | None = None  # the workout a command is changing right now
        try:
            for slot, user_id, command in work:
                await pause.now_and_then()
                workout = slot.workout
                if workout is None:
                    replies.append(Reply(acked_seq=-1, status="created", error_code="not_started",
                                         message="send `start` for this workout first"))
                    continue
                if str(workout.state.user_id) != user_id:
                    replies.append(Reply(acked_seq=-1, status="unknown", error_code="foreign_workout",
                                         message="this workout belongs to another athlete"))
                    continue
                # Fold now (the snapshots its samples open go out with it) once the interval
                # has passed since the last fold; a batch a little early counts: a device
                # sending once a second must not wait for the ticker half the time.
                due = now - slot.metrics_sent_at >= self._config.metrics_interval_s * EARLY_OK
                running = slot  # until the command returns (any other exception rolls it back)
                try:
                    events = command(workout, due)
                except WorkoutError as exc:  # refused before changing anything
                    running = None
                    replies.append(Reply(acked_seq=workout.acked_seq, status=workout.state.status,
                                         error_code=exc.code, message=exc.message))
                    continue
                running = None
                replies.append(None)
                if not events:
                    continue
                lifecycle = any(isinstance(e, LifecycleEvent) for e in events)
                produced += events
                batches = journal.setdefault(slot.wid, [])
                if batches is not None and all(isinstance(e, (SamplesAccepted, WorkoutMetricsUpdated))
                                               for e in events):
                    batches += [e for e in events if isinstance(e, SamplesAccepted)]
                else:  # a lifecycle change or a risk alert: the whole state
                    journal[slot.wid] = None
                changed[slot.wid] = (slot, due or lifecycle)  # the workout's last change decides
        except BaseException as exc:  # a bug, or the call cancelled: nothing may stay half-done
            log.exception("a command failed; %d workouts roll back", len(changed) + 1)
            if running is not None:
                changed[running.wid] = (running, False)
            replies += [None] * (len(work) - len(replies))
            out = self._roll_back(work, replies, changed, exc)
            if not isinstance(exc, Exception):
                raise
            return out
        if changed:
            try:
                await self._make_durable([slot for slot, _ in changed.values()], produced, journal)
            except Exception as exc:
                return self._roll_back(work, replies, changed, exc)
            for slot, sent in changed.values():
                if sent:
                    slot.metrics_owed, slot.metrics_sent_at = False, now
                else:
                    slot.metrics_owed = True
        return [reply or self._ok(slot) for reply, (slot, _, _) in zip(replies, work, strict=True)]

    @staticmethod
    def _ok(slot: _Slot) -> Reply:
        assert slot.workout is not None
        return Reply(acked_seq=slot.workout.acked_seq, status=slot.workout.state.status)

    @classmethod
    def _roll_back(cls, work: list[tuple[_Slot, str, Command]], replies: list[Reply | None],
                   changed: dict[uuid.UUID, tuple[_Slot, bool]], exc: BaseException) -> list[Reply]:
        """Changed workouts go back to their last durable snapshot and their batches are
        answered `unavailable`; the others keep their answer, or get their true ack."""
        for slot, _ in changed.values():
            _restore(slot)
        out = []
        for reply, (slot, _, _) in zip(replies, work, strict=True):
            if slot.wid not in changed and reply is not None:
                out.append(reply)  # refused before it changed anything
                continue
            if slot.wid not in changed and slot.workout is not None:
                # a resend, a held batch, or a batch not run: its workout is as durable as
                # it was, so its ack is true (the device sends the rest again)
                out.append(cls._ok(slot))
                continue
            w = slot.workout
            out.append(Reply(acked_seq=w.acked_seq if w else -1, status=w.state.status if w else "created",
                             error_code="unavailable",
                             message=f"could not make the data durable ({type(exc).__name__}); "
                                     "keep the samples and resend"))
        return out

    async def _make_durable(self, slots: list[_Slot], produced: list[AnyEvent],
                            journal: dict[uuid.UUID, list[SamplesAccepted] | None] | None = None) -> None:
        """Events acknowledged by Kafka, then the workouts' states in Redis: the batches in
        `journal` appended to their journals where that is enough, else whole snapshots.
        The live events among them go to the coaches at once, not behind Kafka's answer."""
        self._live.offer(produced)
        await self._producer.publish([(topic_of(e), e) for e in produced])
        prefix = self._config.redis_prefix
        whole: list[tuple[_Slot, bytes]] = []
        appended: list[tuple[_Slot, list[bytes]]] = []
        for slot in slots:
            if slot.workout is None:
                continue
            batches = journal.get(slot.wid) if journal is not None else None
            if batches is not None and slot.saved is not None and \
                    len(slot.journal) + len(batches) <= JOURNAL_MAX:
                if batches:
                    appended.append((slot, [_journal_encoder.encode((b.seq, b.samples)) for b in batches]))
            else:
                whole.append((slot, slot.workout.snapshot()))
        if not whole and not appended:
            return
        keys = await self._sealing_keys([slot for slot, _ in [*whole, *appended]])

        def stored(slot: _Slot, redis_key: str, value: bytes) -> bytes | None:
            """As Redis keeps it: sealed; plain without data keys; None (not kept) for an
            athlete erased meanwhile, whose data is to be gone."""
            assert slot.workout is not None
            if self.data_keys is None:
                return value
            key = keys[slot.workout.state.user_id]
            return None if key is None else sealed_values.seal_value(key, redis_key, value)

        async with self._redis.pipeline(transaction=False) as pipe:
            for slot, data in whole:
                snapshot_key = keyspace.snapshot(prefix, slot.wid)
                if (value := stored(slot, snapshot_key, data)) is not None:
                    pipe.set(snapshot_key, value, ex=SNAPSHOT_TTL_S)
                    pipe.delete(keyspace.journal(prefix, slot.wid))
            for slot, entries in appended:
                journal_key = keyspace.journal(prefix, slot.wid)
                values = [stored(slot, journal_key, entry) for entry in entries]
                if kept := [v for v in values if v is not None]:
                    pipe.rpush(journal_key, *kept)
                    if not slot.journal:  # a new list: it lapses with the snapshot
                        pipe.expire(journal_key, SNAPSHOT_TTL_S)
            await pipe.execute()
        for slot, data in whole:
            slot.saved, slot.journal = data, []
        for slot, entries in appended:
            slot.journal += entries

    async def _background(self) -> None:
        """Owed metrics go out once their interval has passed (a steady rate per live
        workout, however the batches arrive); silent workouts are finished."""
        interval = self._config.metrics_interval_s
        last_silence_check = time.monotonic()
        while True:
            await asyncio.sleep(min(interval, 1.0))  # the metrics ticker's pace
            await self._send_owed_metrics()
            if time.monotonic() - last_silence_check >= min(5.0, self._config.auto_finish_after_s / 4):
                last_silence_check = time.monotonic()
                await self._finish_silent_workouts()

    async def _send_owed_metrics(self) -> None:
        """Owed metrics of every workout whose interval has passed, a produce per chunk
        (chunks keep the event loop free for the devices' calls in between)."""
        now = time.monotonic()
        due = [slot for slot in self._slots.values()
               if slot.metrics_owed and now - slot.metrics_sent_at >= self._config.metrics_interval_s]
        for first in range(0, len(due), METRICS_CHUNK):
            await self._send_metrics_of(due[first:first + METRICS_CHUNK])

    async def _send_metrics_of(self, due: list[_Slot]) -> None:
        """Fold and send. The ticker never waits for a lock (so it cannot deadlock with the
        devices' calls, which take theirs in order): a workout whose lock is held or wanted
        is left for the next round. The fold runs under the lock, which is kept through the
        produce wherever the fold took snapshots (every snapshot must reach Kafka: if the
        produce fails, the workout goes back to its saved state, whose unfolded samples make
        the same snapshots again) or raised a RiskAlert (then the state is saved too)."""
        produced: list[AnyEvent] = []
        held: list[_Slot] = []
        alerted: list[_Slot] = []
        sent: list[tuple[_Slot, int]] = []
        pause = _Pauser()
        try:
            for slot in due:
                await pause.now_and_then()
                workout = slot.workout
                if not _free(slot.lock) or workout is None or not slot.metrics_owed:
                    continue
                await slot.lock.acquire()  # free, so this returns at once
                folded: list[AnyEvent] = []
                try:
                    folded = workout.fold()
                    produced += folded
                    sent.append((slot, workout.state.version))
                finally:
                    if folded:
                        held.append(slot)
                        if any(isinstance(e, RiskAlert) for e in folded):
                            alerted.append(slot)
                    else:
                        slot.lock.release()
            await self._make_durable(alerted, produced)
        except Exception:
            log.exception("live metrics not sent")
            for slot in held:  # the next fold makes the same snapshots (and alert) again
                _restore(slot)
            return
        finally:
            for slot in held:
                slot.lock.release()
        sent_at = time.monotonic()
        for slot, version in sent:
            if slot.workout is not None and slot.workout.state.version == version:
                slot.metrics_owed, slot.metrics_sent_at = False, sent_at  # nothing newer came

    async def _finish_silent_workouts(self) -> None:
        """Auto-finish: a workout whose device went silent ends on its own."""
        now = time.monotonic()
        for wid, slot in list(self._slots.items()):
            if now - slot.heard_at < self._config.auto_finish_after_s or slot.lock.locked():
                continue
            async with slot.lock:
                workout = slot.workout
                if workout is not None and workout.state.status in ("active", "paused"):
                    at_ms = workout.state.last_t_ms or workout.state.started_at_ms
                    try:
                        await self._make_durable([slot], workout.finish(at_ms))
                    except Exception:
                        _restore(slot)
                        continue
            self._slots.pop(wid, None)
        if self._config.exit_when_empty and not self._slots:
            import ray

            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
