"""Payloads of the live path in Redis, shared by the workout actors and the gateway.

Its keys and channels (storage/keyspace.py): `…:live:state:{id}`, the newest live update of
a workout, JSON, kept a while after its last change so a coach opening the view sees where
everyone is; `…:live:athlete:{id}`, a channel with every update and alert of the athlete,
which gateways subscribe to for the feeds they serve (actors/live_publish.py writes both).
The state is sealed with the athlete's data key (privacy/sealed_values.py); `read_states`
opens it. The channel's messages are plain JSON (live_publish.py says why).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec

from privacy import sealed_values
from privacy.keys import DataKeys
from storage import keyspace
from streams import events

log = logging.getLogger("stride.live")

STATE_TTL_S = 2 * 3600
"""A live workout's state outlives a long pause."""
FINISHED_TTL_S = 600
"""A finished workout's final state stays visible for a while, then the database has it."""


def live_update(event: Any) -> dict[str, Any]:
    """What a coach's live feed receives for one workout event."""
    update = {"type": "update", "event": type(event).__name__, "workout_id": str(event.workout_id),
              "athlete_id": str(event.user_id), "summary": msgspec.to_builtins(event.summary)}
    if isinstance(event, events.WorkoutMetricsUpdated):
        update |= {"t_ms": event.t_ms, "speed_mps": event.speed_mps, "hr_bpm": event.hr_bpm,
                   "hr_zone": event.hr_zone, "spo2_pct": event.spo2_pct,
                   "pace_s_per_km": event.pace_s_per_km, "lat": event.lat, "lon": event.lon}
    return update


def live_alert(alert: events.RiskAlert) -> dict[str, Any]:
    """A risk alert as a coach's live feed receives it."""
    return {"type": "alert", "workout_id": str(alert.workout_id),
            "athlete_id": str(alert.user_id), "at_ms": alert.at_ms, "level": alert.level,
            "reasons": alert.reasons, "acwr": alert.acwr}


async def read_states(redis: Any, prefix: str, workout_ids: list[uuid.UUID],
                      keys: DataKeys | None) -> list[dict[str, Any] | None]:
    """The newest live update of each workout, opened; None where there is none, or where
    it can no longer be read (its athlete erased: the key shredded) or does not open."""
    if not workout_ids:
        return []
    names = [keyspace.live_state(prefix, w) for w in workout_ids]
    out: list[dict[str, Any] | None] = []
    for name, value in zip(names, await redis.mget(names), strict=True):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(msgspec.json.decode(await sealed_values.open_value(keys, name, value)))
        except sealed_values.Shredded:
            out.append(None)
        except (sealed_values.Unreadable, msgspec.DecodeError) as exc:
            log.error("a live state does not open (%s); left out", exc)
            out.append(None)
    return out
