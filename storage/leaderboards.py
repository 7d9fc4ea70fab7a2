"""Leaderboards in PostgreSQL: counting completed workouts, reading boards, the periods.

A board is one sport × region × window × period. Score = total distance in metres of the
athlete's completed workouts that started in the period (UTC); `workouts` counts them.
Regions: `global`, and the athlete's country (ISO 3166-1 alpha-2) when it is known.
Windows: `day` (UTC day), `week` (ISO week, Monday 00:00 UTC), `all` (all time; stored with
period_start = '-infinity', which Python cannot hold, so it is `None` here).

Counting is idempotent (see 0006_leaderboards.sql): `count_completed` inserts one
`leaderboard_entries` row per workout and increments the boards only for rows it really
inserted. It returns the athletes' absolute rows either way, which is what the Redis side
writes (ZADD GT), so a retry after a Redis failure repairs Redis without counting twice.

Ranking order everywhere: score descending, then user id descending as bytes, which is the
order Redis's ZREVRANGE gives members of equal score (their text compared byte-wise).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Literal, get_args

import msgspec
from psycopg import AsyncConnection

from privacy import age

Window = Literal["day", "week", "all"]
WINDOWS: tuple[Window, ...] = get_args(Window)
GLOBAL = "global"
KEEP: dict[str, dt.timedelta] = {"day": dt.timedelta(days=8), "week": dt.timedelta(weeks=5)}
"""How long after its start a day or week board stays in Redis (the table keeps it)."""


class Board(msgspec.Struct, frozen=True, kw_only=True):
    sport: str
    region: str
    window: str
    period_start: dt.datetime | None
    """UTC midnight (day), UTC Monday midnight (week); None for `all`."""


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """One athlete's absolute row on one board."""

    board: Board
    user_id: uuid.UUID
    distance_m: float
    workouts: int


Key = tuple[Board, uuid.UUID]
"""One athlete on one board."""
EntryRow = tuple[uuid.UUID, uuid.UUID, str, str | None, dt.datetime, float]
"""workout_id, user_id, sport, country, started_at, distance_m of leaderboard_entries."""


class CompletedWorkout(msgspec.Struct, frozen=True, kw_only=True):
    workout_id: uuid.UUID
    user_id: uuid.UUID
    sport: str
    started_at_ms: int
    distance_m: float


class Athlete(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    """First name and last initial: all a board shows of a person, and only if they allow
    it (privacy_settings.leaderboard_name); "Athlete" otherwise."""
    workouts: int


# --- periods: the one place windows are turned into dates -----------------------------

def period_start(at: dt.datetime, window: str) -> dt.datetime | None:
    """Start of the `window` period holding `at` (UTC); None for `all`."""
    if window == "all":
        return None
    day = at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if window == "day":
        return day
    if window == "week":
        return day - dt.timedelta(days=day.weekday())
    raise ValueError(f"unknown window {window!r}")


def period_label(window: str, start: dt.datetime | None) -> str:
    """`YYYY-MM-DD` (day), ISO `YYYY-Www` (week) or `all`: the period part of a Redis key."""
    if start is None:
        return "all"
    start = start.astimezone(dt.UTC)  # the database hands times back in its session's zone
    if window == "day":
        return start.date().isoformat()
    year, week, _ = start.isocalendar()
    return f"{year:04d}-W{week:02d}"


def expires_at(board: Board) -> dt.datetime | None:
    """When the board's Redis key lapses; None: never (`all`)."""
    if board.period_start is None:
        return None
    return board.period_start + KEEP[board.window]


def boards_of(sport: str, country: str | None, started_at: dt.datetime) -> list[Board]:
    regions = [GLOBAL] + ([country] if country else [])
    return [Board(sport=sport, region=region, window=window,
                  period_start=period_start(started_at, window))
            for region in regions for window in WINDOWS]


# --- counting ---------------------------------------------------------------------------

async def count_completed(conn: AsyncConnection,
                          workouts: Sequence[CompletedWorkout]) -> list[Standing]:
    """Count each workout once, in one transaction; returns the absolute rows of every
    (board, athlete) the workouts touch, whether they were counted now or before.

    Raises the database's error (foreign key: no such user; check: bad sport, distance or
    start time) without counting anything of the batch."""
    if not workouts:
        return []
    async with conn.transaction():
        cur = await conn.execute(
            """
            INSERT INTO leaderboard_entries (workout_id, user_id, sport, country, started_at, distance_m)
            SELECT w.workout_id, w.user_id, w.sport, u.country,
                   to_timestamp(w.started_at_ms / 1000.0), w.distance_m
            FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::bigint[], %s::float8[])
                 AS w(workout_id, user_id, sport, started_at_ms, distance_m)
            LEFT JOIN users u ON u.id = w.user_id
            -- a workout its athlete deleted (0014) is not counted again by a late event
            WHERE NOT EXISTS (SELECT 1 FROM workout_ids d
                              WHERE d.id = w.workout_id AND d.deleted_at IS NOT NULL)
            ON CONFLICT (workout_id) DO NOTHING
            RETURNING workout_id
            """,
            ([w.workout_id for w in workouts], [w.user_id for w in workouts],
             [w.sport for w in workouts], [w.started_at_ms for w in workouts],
             [w.distance_m for w in workouts]),
        )
        inserted = {row[0] for row in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT workout_id, user_id, sport, country, started_at, distance_m"
            " FROM leaderboard_entries WHERE workout_id = ANY(%s)",
            ([w.workout_id for w in workouts],),
        )
        increments, touched = _tally(await cur.fetchall(), inserted)
        await _increment(conn, increments)
        return await _standings(conn, touched)


class Retracted(msgspec.Struct, frozen=True, kw_only=True):
    """What taking a workout off (or moving it between) the boards left: the absolute rows
    of every athlete and board it touched, and the (board, athlete) pairs now without any
    workout (their row deleted)."""

    standings: list[Standing] = []
    emptied: list[Key] = []


async def recount(conn: AsyncConnection, workout_id: uuid.UUID, sport: str | None = None,
                  distance_m: float | None = None) -> Retracted:
    """Take a counted workout off its boards; with `sport` and `distance_m`, count it again
    under them (a corrected sport, a summary computed again), in the country and period it
    was first counted in. Nothing happens to a workout not counted (yet). Call inside a
    transaction: the entry, the decrements and the increments go together."""
    cur = await conn.execute(
        "DELETE FROM leaderboard_entries WHERE workout_id = %s"
        " RETURNING workout_id, user_id, sport, country, started_at, distance_m", (workout_id,))
    entry = await cur.fetchone()
    if entry is None:
        return Retracted()
    _, user_id, old_sport, country, started_at, old_m = entry
    old = {(board, user_id): (-old_m, -1) for board in boards_of(old_sport, country, started_at)}
    new: dict[Key, tuple[float, int]] = {}
    if sport is not None and distance_m is not None:
        await conn.execute(
            "INSERT INTO leaderboard_entries (workout_id, user_id, sport, country, started_at,"
            " distance_m) VALUES (%s, %s, %s, %s, %s, %s)",
            (workout_id, user_id, sport, country, started_at, distance_m))
        new = {(board, user_id): (distance_m, 1) for board in boards_of(sport, country, started_at)}
    changes = {k: (old.get(k, (0.0, 0))[0] + new.get(k, (0.0, 0))[0],
                   old.get(k, (0.0, 0))[1] + new.get(k, (0.0, 0))[1]) for k in {*old, *new}}
    await _increment(conn, {k: v for k, v in changes.items() if v[1] > 0})
    await _decrement(conn, {k: v for k, v in changes.items() if v[1] <= 0})
    touched = set(changes)
    standings = await _standings(conn, touched)
    kept = {(s.board, s.user_id) for s in standings}
    return Retracted(standings=standings, emptied=sorted(touched - kept, key=_order))


async def _decrement(conn: AsyncConnection, changes: dict[Key, tuple[float, int]]) -> None:
    """Add (negative or zero) changes to existing rows; a row left without workouts goes."""
    if not changes:
        return
    keys = sorted(changes, key=_order)  # the lock order of `_increment`
    await conn.execute(
        """
        UPDATE leaderboard AS lb
        SET score = greatest(lb.score + k.score, 0), workouts_count = lb.workouts_count + k.n,
            updated_at = now()
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::uuid[],
                    %s::float8[], %s::int[]) AS k(sport, region, period, period_start, user_id,
                                                  score, n)
        WHERE lb.sport = k.sport AND lb.region = k.region AND lb.period = k.period
          AND lb.period_start = COALESCE(k.period_start, '-infinity') AND lb.user_id = k.user_id
        """,
        (*_board_arrays(keys), [changes[k][0] for k in keys], [changes[k][1] for k in keys]),
    )
    await conn.execute(
        """
        DELETE FROM leaderboard AS lb
        USING unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::uuid[])
              AS k(sport, region, period, period_start, user_id)
        WHERE lb.sport = k.sport AND lb.region = k.region AND lb.period = k.period
          AND lb.period_start = COALESCE(k.period_start, '-infinity') AND lb.user_id = k.user_id
          AND lb.workouts_count <= 0
        """,
        _board_arrays(keys),
    )


def _tally(entries: Iterable[EntryRow], inserted: set[uuid.UUID],
           ) -> tuple[dict[Key, tuple[float, int]], set[Key]]:
    """(distance_m, workouts) to add per (board, athlete) for the newly counted entries,
    and every (board, athlete) the entries touch."""
    increments: dict[Key, tuple[float, int]] = {}
    touched: set[Key] = set()
    for workout_id, user_id, sport, country, started_at, distance_m in entries:
        for board in boards_of(sport, country, started_at):
            touched.add((board, user_id))
            if workout_id in inserted:
                dist, n = increments.get((board, user_id), (0.0, 0))
                increments[(board, user_id)] = (dist + distance_m, n + 1)
    return increments, touched


def _board_arrays(keys: Iterable[Key]) -> tuple[list[object], ...]:
    keys = list(keys)
    return ([b.sport for b, _ in keys], [b.region for b, _ in keys], [b.window for b, _ in keys],
            [b.period_start for b, _ in keys], [u for _, u in keys])


def _order(key: Key) -> tuple[str, str, str, dt.datetime, bytes]:
    board, user = key
    return (board.sport, board.region, board.window,
            board.period_start or dt.datetime.min.replace(tzinfo=dt.UTC), user.bytes)


async def _increment(conn: AsyncConnection,
                     increments: dict[Key, tuple[float, int]]) -> None:
    if not increments:
        return
    keys = sorted(increments, key=_order)  # one lock order for every writer: fewer deadlocks
    await conn.execute(
        """
        INSERT INTO leaderboard AS lb (sport, region, period, period_start, user_id, score,
                                       workouts_count)
        SELECT k.sport, k.region, k.period, COALESCE(k.period_start, '-infinity'), k.user_id,
               k.score, k.n
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::uuid[],
                    %s::float8[], %s::int[]) WITH ORDINALITY
             AS k(sport, region, period, period_start, user_id, score, n, i)
        ORDER BY k.i
        ON CONFLICT (sport, region, period, period_start, user_id) DO UPDATE SET
            score = lb.score + EXCLUDED.score,
            workouts_count = lb.workouts_count + EXCLUDED.workouts_count,
            updated_at = now()
        """,
        (*_board_arrays(keys), [increments[k][0] for k in keys], [increments[k][1] for k in keys]),
    )


_STANDING_COLUMNS = """lb.sport, lb.region, lb.period,
    CASE WHEN lb.period = 'all' THEN NULL ELSE lb.period_start END, lb.user_id, lb.score,
    lb.workouts_count"""


def _standing(row: tuple[object, ...]) -> Standing:
    sport, region, window, start, user_id, score, n = row
    if isinstance(start, dt.datetime):
        start = start.astimezone(dt.UTC)
    return Standing(board=Board(sport=sport, region=region, window=window, period_start=start),  # type: ignore[arg-type]
                    user_id=user_id, distance_m=score, workouts=n)  # type: ignore[arg-type]


async def _standings(conn: AsyncConnection, keys: set[Key]) -> list[Standing]:
    if not keys:
        return []
    cur = await conn.execute(
        f"""
        SELECT {_STANDING_COLUMNS}
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::uuid[])
             AS k(sport, region, period, period_start, user_id)
        JOIN leaderboard lb ON lb.sport = k.sport AND lb.region = k.region
            AND lb.period = k.period AND lb.user_id = k.user_id
            AND lb.period_start = COALESCE(k.period_start, '-infinity')
        """,
        _board_arrays(keys),
    )
    return [_standing(row) for row in await cur.fetchall()]


# --- reading ----------------------------------------------------------------------------

_BOARD_FILTER = """lb.sport = %(sport)s AND lb.region = %(region)s AND lb.period = %(window)s
    AND lb.period_start = COALESCE(%(start)s::timestamptz, '-infinity')"""
_RANK_ORDER = 'lb.score DESC, lb.user_id::text COLLATE "C" DESC'


def _board_params(board: Board) -> dict[str, object]:
    return {"sport": board.sport, "region": board.region, "window": board.window,
            "start": board.period_start}


async def read_page(conn: AsyncConnection, board: Board, limit: int, offset: int) -> list[Standing]:
    """A page of the board from the table, best first (the fallback when Redis has none)."""
    cur = await conn.execute(
        f"SELECT {_STANDING_COLUMNS} FROM leaderboard lb WHERE {_BOARD_FILTER}"
        f" ORDER BY {_RANK_ORDER} LIMIT %(limit)s OFFSET %(offset)s",
        _board_params(board) | {"limit": limit, "offset": offset},
    )
    return [_standing(row) for row in await cur.fetchall()]


async def rank_of(conn: AsyncConnection, board: Board,
                  user_id: uuid.UUID) -> tuple[int, Standing] | None:
    """The athlete's 1-based rank and row on the board from the table; None if absent."""
    cur = await conn.execute(
        f"""
        SELECT 1 + (SELECT count(*) FROM leaderboard lb WHERE {_BOARD_FILTER}
                    AND (lb.score > me.score OR (lb.score = me.score
                         AND lb.user_id::text COLLATE "C" > me.user_id::text COLLATE "C"))),
               {_STANDING_COLUMNS.replace("lb.", "me.")}
        FROM leaderboard me
        WHERE {_BOARD_FILTER.replace("lb.", "me.")} AND me.user_id = %(user)s
        """,
        _board_params(board) | {"user": user_id},
    )
    row = await cur.fetchone()
    return None if row is None else (row[0], _standing(row[1:]))


async def athletes(conn: AsyncConnection, board: Board,
                   user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Athlete]:
    """Display name (no e-mail, no health data; "Athlete" unless the athlete lets boards
    show it, and — under 16 — a guardian has consented: privacy/age.py) and workout count
    on the board per athlete."""
    cur = await conn.execute(
        f"""
        SELECT u.id, u.first_name, u.last_name, COALESCE(lb.workouts_count, 0),
               COALESCE(ps.leaderboard_name, false), u.birth_date,
               EXISTS (SELECT 1 FROM guardian_consents g WHERE g.athlete_id = u.id
                       AND g.confirmed_at IS NOT NULL AND g.withdrawn_at IS NULL)
        FROM users u
        LEFT JOIN leaderboard lb ON lb.user_id = u.id AND {_BOARD_FILTER}
        LEFT JOIN privacy_settings ps ON ps.user_id = u.id
        WHERE u.id = ANY(%(ids)s)
        """,
        _board_params(board) | {"ids": list(user_ids)},
    )
    today = dt.datetime.now(dt.UTC).date()
    return {row[0]: Athlete(name=display_name(row[1], row[2]) if row[4] and age.may_socialise(
                age.Standing(birth_date=row[5], health_consent=True, guardian_consent=row[6]),
                today) else "Athlete", workouts=row[3])
            for row in await cur.fetchall()}


def display_name(first: str | None, last: str | None) -> str:
    first = (first or "").strip()
    initial = f"{(last or '').strip()[:1].upper()}." if (last or "").strip() else ""
    return " ".join(part for part in (first, initial) if part) or "Athlete"


async def board_rows(conn: AsyncConnection, live_after: dt.datetime) -> AsyncIterator[Standing]:
    """Every row of every board still kept in Redis (period + KEEP after `live_after`),
    grouped by board, from one snapshot; run inside a transaction (server-side cursor)."""
    async with conn.cursor(name="leaderboard_rebuild") as cur:
        await cur.execute(
            f"""
            SELECT {_STANDING_COLUMNS} FROM leaderboard lb
            WHERE lb.period = 'all'
               OR (lb.period = 'day' AND lb.period_start + %(day)s > %(after)s)
               OR (lb.period = 'week' AND lb.period_start + %(week)s > %(after)s)
            ORDER BY lb.sport, lb.region, lb.period, lb.period_start
            """,
            {"day": KEEP["day"], "week": KEEP["week"], "after": live_after},
        )
        async for row in cur:
            yield _standing(row)


async def rows_changed_since(conn: AsyncConnection, since: dt.datetime) -> list[Standing]:
    cur = await conn.execute(
        f"SELECT {_STANDING_COLUMNS} FROM leaderboard lb WHERE lb.updated_at >= %s", (since,))
    return [_standing(row) for row in await cur.fetchall()]


# --- the same ranking straight from the workouts (a check on the counting) -------------

async def ranking_from_workouts(conn: AsyncConnection, sport: str, region: str, window: str,
                                at: dt.datetime) -> list[tuple[uuid.UUID, float, int]]:
    """(athlete, distance_m, workouts) of the finished workouts, best first, computed in SQL
    alone — periods by date_trunc in UTC, the athlete's current country — so that it is an
    independent check of `count_completed` and the Redis boards."""
    cur = await conn.execute(
        """
        SELECT w.user_id, sum(w.distance_m), count(*)
        FROM workouts w JOIN users u ON u.id = w.user_id
        WHERE w.status = 'finished' AND w.sport = %(sport)s
          AND (%(region)s = 'global' OR u.country = %(region)s)
          AND (%(all)s
               OR date_trunc(%(unit)s, w.start_time, 'UTC') = date_trunc(%(unit)s, %(at)s, 'UTC'))
        GROUP BY w.user_id
        ORDER BY sum(w.distance_m) DESC, w.user_id::text COLLATE "C" DESC
        """,
        # date_trunc('all', …) would be an error even in a branch not taken (constant folding)
        {"sport": sport, "region": region, "all": window == "all",
         "unit": "day" if window == "all" else window, "at": at},
    )
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]
