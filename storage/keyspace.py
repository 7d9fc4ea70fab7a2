"""Every Redis key and pub/sub channel Stride uses, in one place, as the SQL schema is.

All start with the deployment's prefix (`STRIDE_REDIS_PREFIX`, so tests and several stacks
share one Redis). Redis is a cache and a fan-out: everything here can be rebuilt from
PostgreSQL or Kafka, or is short-lived (counters, pending sign-ins).

| key or channel | kind | written by | what |
|---|---|---|---|
| `…:workout:{id}:snapshot` | string | workout actors | the actor's state after its last full save |
| `…:workout:{id}:journal` | list | workout actors | batches applied since (msgpack `[seq, samples]`) |
| `…:placement:{id}` | string | gateways | the Ray actor of a dedicated workout (a spare it took) |
| `…:placement:spares:{config}` | list | gateways | idle dedicated hosts of one config (warm pool) |
| `…:live:state:{id}` | string | workout actors | a workout's newest live update (JSON) |
| `…:live:version:{id}` | string | workout actors | the version of that update (newer-only writes) |
| `…:live:athlete:{id}` | channel | workout actors | every live update and risk alert of the athlete |
| `…:live:stats` | hash | workout actors | live updates published, dropped (conflated), stale |
| `…:lb:{sport}:{region}:{window}:{period}` | sorted set | leaderboards agent | distance per athlete |
| `…:lbtmp:{random}` | sorted set | `stride leaderboards rebuild` | a board being rebuilt |
| `…:reco:{user}` | string | recommendations agent | the newest recommendation set |
| `…:notify:user:{user}` | channel | notification agents | "your inbox changed" |
| `…:access-changed` | channel | gateways | a session, role or consent changed |
| `…:quota:…` | various | gateways | per-account quotas (gateway/quotas.py) |
| `…:login:…` | hashes | gateways | login throttling (gateway/throttle.py) |
| `…:oidc:flow:{state}`, `…:oidc:link:{id}` | strings | gateways | OpenID Connect flows under way |
"""

from __future__ import annotations

import uuid


def snapshot(prefix: str, workout_id: uuid.UUID) -> str:
    return f"{prefix}:workout:{workout_id}:snapshot"


def journal(prefix: str, workout_id: uuid.UUID) -> str:
    return f"{prefix}:workout:{workout_id}:journal"


def placement(prefix: str, workout_id: uuid.UUID) -> str:
    return f"{prefix}:placement:{workout_id}"


def spare_hosts(prefix: str, config: str) -> str:
    return f"{prefix}:placement:spares:{config}"


def live_state(prefix: str, workout_id: uuid.UUID) -> str:
    return f"{prefix}:live:state:{workout_id}"


def live_version(prefix: str, workout_id: uuid.UUID) -> str:
    return f"{prefix}:live:version:{workout_id}"


def live_athlete(prefix: str, athlete_id: uuid.UUID) -> str:
    return f"{prefix}:live:athlete:{athlete_id}"


def live_stats(prefix: str) -> str:
    return f"{prefix}:live:stats"


def leaderboard(prefix: str, sport: str, region: str, window: str, period: str) -> str:
    return f"{prefix}:lb:{sport}:{region}:{window}:{period}"


def leaderboard_pattern(prefix: str) -> str:
    """Every board key (for SCAN)."""
    return f"{prefix}:lb:*"


def leaderboard_rebuild(prefix: str, token: str) -> str:
    return f"{prefix}:lbtmp:{token}"


def recommendations(prefix: str, user_id: object) -> str:
    return f"{prefix}:reco:{user_id}"


def notify(prefix: str, user_id: object) -> str:
    return f"{prefix}:notify:user:{user_id}"


def access_changed(prefix: str) -> str:
    return f"{prefix}:access-changed"


def quota(prefix: str, *parts: object) -> str:
    return ":".join((prefix, "quota", *(str(p) for p in parts)))


def login(prefix: str, *parts: object) -> str:
    return ":".join((prefix, "login", *(str(p) for p in parts)))


def oidc(prefix: str, kind: str, name: str) -> str:
    return f"{prefix}:oidc:{kind}:{name}"
