"""REST: `GET /v1/leaderboards/{sport}?region=&window=day|week|all` — who moved the most.

Any signed-in user may read a board. It shows each athlete by an opaque handle (stable on
one board, unrelated across boards, never the user id), with the distance and workout
count; by first name and last initial only if the athlete's privacy settings allow it
("Athlete" otherwise — the default); and flags the caller's own entry with `me`.

Redis answers first (ranks, distances); when it has no key for the board (a period past
its Redis lifetime, Redis not rebuilt yet, or Redis away) the `leaderboard` table does,
and `source` says which one answered. Names and workout counts always come from
PostgreSQL. Equal distances keep Redis's order (the table
fallback sorts them the same way), and each entry gets its own rank.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import re
import uuid
from typing import Annotated, Any, Literal, get_args

import msgspec
import redis.exceptions
from litestar import Request, get
from litestar.params import Parameter

from gateway.access import principal_of
from gateway.errors import ApiError
from storage import leaderboards as repo
from streams import leaderboards as boards
from streams.events import Sport

log = logging.getLogger("stride.gateway")

SPORTS = frozenset(get_args(Sport))
REGION = re.compile(r"[A-Za-z]{2}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
OLDEST = dt.date(1970, 1, 1)


class EntryOut(msgspec.Struct, frozen=True, kw_only=True):
    rank: int
    handle: str
    """Names the entry on this board only (the same athlete has another on other boards)."""
    name: str
    distance_m: float
    workouts: int
    me: bool
    """Your own entry."""


class MeOut(msgspec.Struct, frozen=True, kw_only=True):
    rank: int
    distance_m: float
    workouts: int


class LeaderboardOut(msgspec.Struct, frozen=True, kw_only=True):
    """One board page. `period_start` is the UTC day or Monday; null for `all`."""

    sport: str
    region: str
    window: str
    period_start: dt.datetime | None
    source: Literal["redis", "database"]
    entries: list[EntryOut]
    me: MeOut | None


def board_of(sport: str, region: str, window: str, date: str | None) -> repo.Board:
    """The board a query names, or a 400 saying what is wrong with it."""
    if sport not in SPORTS:
        raise ApiError(400, "invalid_sport", f"sport must be one of {', '.join(sorted(SPORTS))}")
    if window not in repo.WINDOWS:
        raise ApiError(400, "invalid_window", "window must be day, week or all")
    if region.lower() == repo.GLOBAL:
        region = repo.GLOBAL
    elif REGION.fullmatch(region):
        region = region.upper()
    else:
        raise ApiError(400, "invalid_region",
                       "region must be 'global' or an ISO 3166-1 alpha-2 country code such as DE")
    at = dt.datetime.combine(_day(date), dt.time(), tzinfo=dt.UTC)
    return repo.Board(sport=sport, region=region, window=window,
                      period_start=repo.period_start(at, window))


def _day(date: str | None) -> dt.date:
    if date is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        day = dt.date.fromisoformat(date) if DATE.fullmatch(date) else None
    except ValueError:
        day = None
    if day is None or day < OLDEST:
        raise ApiError(400, "invalid_date", f"date must be a day (YYYY-MM-DD) from {OLDEST} on")
    return day


async def _from_redis(request: Request[Any, Any, Any], board: repo.Board, limit: int, offset: int,
                      me: uuid.UUID) -> boards.Page | None:
    try:
        return await boards.read_page(request.app.state.redis, request.app.state.redis_prefix,
                                      board, limit, offset, me)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        log.warning("leaderboard from Redis failed, answering from the database: %s", exc)
        return None


@get("/v1/leaderboards/{sport:str}", summary="A leaderboard: distance per athlete, best first")
async def get_leaderboard(
    request: Request[Any, Any, Any],
    sport: Annotated[str, Parameter(description="run, ride, walk, swim, row, hike, ski or other")],
    region: Annotated[str, Parameter(description="`global` or an ISO 3166-1 alpha-2 country code "
                                                 "(the athlete's country when the workout "
                                                 "counted)")] = repo.GLOBAL,
    window: Annotated[str, Parameter(description="day (UTC), week (ISO, from Monday 00:00 UTC) "
                                                 "or all")] = "week",
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    offset: Annotated[int, Parameter(ge=0, le=10_000)] = 0,
    date: Annotated[str | None, Parameter(description="YYYY-MM-DD: which day or week (UTC); "
                                                      "default today")] = None,
) -> LeaderboardOut:
    board = board_of(sport, region, window, date)
    me_id = principal_of(request).user_id
    page = await _from_redis(request, board, limit, offset, me_id)
    async with request.app.state.pool.connection() as conn:
        if page is None:
            rows = await repo.read_page(conn, board, limit, offset)
            ranked = [(r.user_id, r.distance_m) for r in rows]
            mine = await repo.rank_of(conn, board, me_id)
            me = None if mine is None else (mine[0], mine[1].distance_m)
        else:
            ranked = [(m.user_id, m.distance_m) for m in page.members]
            me = page.me
        people = await repo.athletes(conn, board, [u for u, _ in ranked] + [me_id])
    unknown = repo.Athlete(name="Athlete", workouts=0)  # erased since the board was written
    return LeaderboardOut(
        sport=board.sport, region=board.region, window=board.window,
        period_start=board.period_start, source="database" if page is None else "redis",
        entries=[EntryOut(rank=offset + i + 1, handle=_handle(request, board, user),
                          name=people.get(user, unknown).name, distance_m=distance,
                          workouts=people.get(user, unknown).workouts, me=user == me_id)
                 for i, (user, distance) in enumerate(ranked)],
        me=None if me is None else MeOut(rank=me[0], distance_m=me[1],
                                         workouts=people.get(me_id, unknown).workouts),
    )


def _handle(request: Request[Any, Any, Any], board: repo.Board, user: uuid.UUID) -> str:
    """HMAC-SHA256 of (board, athlete) under the server's secret: stable, unlinkable."""
    message = f"{board.sport}:{board.region}:{board.window}:{board.period_start}:{user}".encode()
    digest = hmac.new(request.app.state.secret_key, message, hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


ROUTES = [get_leaderboard]
