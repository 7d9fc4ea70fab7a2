"""Distance and moving time from GPS fixes: stillness with hysteresis, decimated anchors with a
noise-bias correction, out-and-back spike rejection, and Doppler speed when the device sends it.

Consumer GPS wanders by several metres while the device lies still, and every metre of that
wander summed fix to fix is distance nobody ran. The method (after the displacement test with
hysteresis that auto-pause features use, e.g. Schuessler & Axhausen 2009, "Processing raw data
from GPS-based travel surveys", Transp. Res. Rec. 2105: a stop is movement below a radius over
a time window) works on 5-second blocks of sample time, not on single fixes:

1. Spikes: a fix that leaves the track and comes back — far from the fix before it and the fix
   after it, while those two are close, at a speed no athlete reaches on the way out and
   back — is dropped. Sustained speed is never a reason: a ride saved as a walk keeps its
   distance (and the summary says the speeds do not fit the sport, `sport_mismatch`).
2. Blocks: the fixes of each 5 s of sample time become one point, a weighted mean (fixes more
   than 3.5σ from the block's median, after its own median velocity carries each to the
   block's middle, left out). Its noise is σ/√n per axis, with σ the fixes' own `accuracy_m`
   (a 68 % radius: σ = accuracy / 1.51) or, without it, estimated robustly from the scatter
   of every block's fixes around their least-squares line (1.4826 × the median absolute
   residual of the last ~2.5 minutes; 5 m until there is data).
3. Still or moving, with hysteresis: standing still, the track keeps a rest point (the mean of
   the last minute's blocks but the newest two). It starts moving when two blocks in a row
   lie START_M (10 m, or 3 noise σ if more) or more from it, the second on from the first;
   the start time is where a hinge (standing, then a steady speed) fitted by least squares
   to the last blocks bends. It stops when a block lies within STAY_M (6 m, or 0.3 m/s over a
   longer gap) of a block at least 20 s before it; the arrival time is the bend of the same
   kind of hinge over the last 70 s (segmented regression).
4. Distance while moving: chords between anchors at least ANCHOR_M (15 m) apart, each
   shortened by the first-order bias that position noise adds to a distance,
   (σa² + σb²) / (2d) for endpoint noise σa, σb per axis (the lateral part of the noise
   lengthens a chord by that much on average; the sqrt(d² − 2σ²) form would remove the
   longitudinal part too and undercount), and lengthened on a bend by the arc over its
   chord, θ²/24 for the turn θ at its ends (less the turn noise alone makes).
5. Doppler: in a block whose fixes carry `speed_mps`, that speed decides still (< 0.3 m/s for
   20 s) or moving (≥ 0.6 m/s), and the distance is the speed integrated over time
   (trapezoids). GPS receivers measure speed from the carrier's Doppler shift, far less noisy
   than differences of positions (Witte & Wilson 2004, J Biomech 37:1891: typically within
   0.2 m/s).

Known error (`stride bench gps` measures it over seeded noise, tests/unit/test_distance_noise.py
bounds it; the README has the figures): a line or a curve at 1 m/s or faster is measured within
about 0.5 % on average, 3 % at worst; a stop shorter than about 20 s is not seen; a still device
whose noise wanders slowly (correlated, as real GPS is) by more than 10 m is taken to be moving.

Causal and batching-invariant: every decision uses only fixes up to a fixed lookahead (the
next fix for a spike, the next block for a start, blocks closed by a later fix), so the result
is the same whatever the batches. Decisions lag: a sample is *released* — given its final
cumulative distance — once the distance up to it is decided (typically 5–25 s later), and the
metrics that need distance (splits, calories, cardiac drift) fold released samples only. At a
pause or the finish everything pending is decided and released (`flush`).

Geometry: haversine on the IUGG mean radius R1 = 6 371 008.8 m (REFERENCE.md "Distance";
Moritz 1980), at most ~0.5 % from the WGS84 geodesic for long lines and 0.1–0.3 % at workout
scale; tests/unit/test_distance.py measures it against `geographiclib`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Literal

import msgspec
import numpy as np

from actors.batch import Batch, FloatArray, batch_from_samples
from streams.events import Sample

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
BLOCK_MS = 5_000
START_M = 10.0
STAY_M = 6.0
ANCHOR_M = 15.0
STOP_WINDOW_MS = 20_000
ARRIVAL_BLOCKS = 14
GPS_LOST_MS = 30_000
"""Samples without a fix this long after the last one are released as they stand (moving
on, if moving: the chord across the gap counts when GPS comes back)."""
STOP_SPEED_MPS = 0.3
"""Below this the athlete is standing (also Doppler's still threshold)."""
DOPPLER_START_MPS = 0.6
REST_BLOCKS = 12
NOISE_PRIOR_M = 5.0
NOISE_RESIDUALS = 300
"""Residuals kept for the noise estimate: about two and a half minutes of 1 Hz fixes, both axes."""
NOISE_BOUNDS_M = (1.0, 30.0)
ACCURACY_TO_SIGMA = 1.51
"""A 68 % horizontal radius is 1.51 σ of a circular normal error (√(−2 ln 0.32))."""
SPIKE_MIN_SPEED_MPS = 8.0
SPIKE_LOOKAHEAD = 3
"""A jump of up to this many fixes in a row is seen as one that comes back."""
SUSTAINED_MS = 120_000
"""A sport mismatch needs this long above the sport's top speed."""


class SportLimits(msgspec.Struct, frozen=True):
    max_speed_mps: float
    """Faster than this, sustained for SUSTAINED_MS, is not this sport (`sport_mismatch`)."""
    stop_speed_mps: float
    """Kept for the MET speed classes (calories); stillness uses STOP_SPEED_MPS."""


SPORT_LIMITS: dict[str, SportLimits] = {
    "run": SportLimits(13.0, 0.28),
    "walk": SportLimits(3.0, 0.28),
    "hike": SportLimits(3.0, 0.28),
    "ride": SportLimits(35.0, 0.8),
    "swim": SportLimits(4.0, 0.1),
    "row": SportLimits(8.0, 0.28),
    "ski": SportLimits(45.0, 0.5),
    "other": SportLimits(45.0, 0.28),
}
FASTER_SPORT = (("walk", 3.0), ("run", 7.0), ("ride", 35.0))
"""The sport a sustained speed suggests: the first whose top speed it stays under."""

Mode = Literal["still", "moving"]


class Fix(msgspec.Struct, frozen=True, array_like=True):
    t_ms: int
    lat: float
    lon: float
    speed_mps: float | None
    sigma_m: float | None
    """Per-axis noise from the device's accuracy, if it sent one."""


class Point(msgspec.Struct, frozen=True, array_like=True):
    """A block's robust mean (or a rest point): where, when, its noise variance per axis,
    and its Doppler speed (None without one)."""

    t_ms: float
    lat: float
    lon: float
    var_m2: float
    speed_mps: float | None = None
    first_ms: float = 0.0
    last_ms: float = 0.0
    spread_s2: float = 0.0
    """Mean squared time of the block's fixes from its time, s² (on a bend the mean of the
    fixes lies inside it by an amount this sets)."""


class DistanceState(msgspec.Struct, kw_only=True):
    distance_m: float = 0.0
    """Decided distance (up to the last knot)."""
    moving_ms: int = 0
    last_lat: float | None = None
    last_lon: float | None = None
    last_t_ms: int | None = None
    """The newest fix (the live position)."""
    speed_mps: float | None = None
    """The latest decided speed (0 standing)."""
    rejected_total: int = 0
    # stage 1: the last accepted fix, and the one awaiting its successor
    good: Fix | None = None
    candidates: list[Fix] = []
    """Fixes awaiting the spike test, which looks SPIKE_LOOKAHEAD fixes ahead."""
    # stage 2
    block: list[Fix] = []
    noise: list[float] = []
    """|residuals| of recent blocks' fixes around each block's straight line (per axis,
    scaled for the fit's two parameters)."""
    sigma_m: float = NOISE_PRIOR_M
    """The position noise per axis estimated from `noise` (see `noise_sigma`)."""
    # stage 3
    mode: Mode = "still"
    rest: list[Point] = []
    maybe_start: Point | None = None
    anchor: Point | None = None
    before_anchor: Point | None = None
    """The anchor before `anchor`: the bend at `anchor` is measured against it."""
    moving_since_ms: float | None = None
    provisional_m: float | None = None
    provisional_turn2: float | None = None
    """The squared turn (θ², less its noise) at the start of the provisional chord."""
    """The chord to `anchor`, not decided yet: a stop found later may show the athlete
    stood before it (noise carried the block that far), and then it is dropped."""
    moved: list[Point] = []
    """The blocks of the last minute of movement: the stop test looks back in them."""
    # release
    knot_ms: float | None = None
    """Sample time up to which the distance is decided."""
    knots: list[tuple[float, float]] = []
    """(t_ms, cumulative m) of the knots the held samples lie between (the first at or
    before the oldest held sample)."""
    held: list[Sample] = []
    """Samples not released yet: the distance up to them is not decided."""
    # sport check
    pace: list[tuple[float, float]] = []
    """(t_ms, cumulative m) of the knots of the last SUSTAINED_MS of movement."""
    fastest_sustained_mps: float = 0.0


class Released(msgspec.Struct, frozen=True):
    """Samples whose distance is decided: their columns and each one's cumulative metres."""

    batch: Batch
    cumulative_m: FloatArray


def initial() -> DistanceState:
    return DistanceState()


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points in degrees (plain floats: it runs
    a few times per block, where numpy's per-call cost would dominate)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(
        math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(max(a, 0.0), 1.0)))


def _chord(a: Point, b: Point) -> float:
    """Distance between two noisy points, less the mean lengthening their noise adds."""
    d = haversine_m(a.lat, a.lon, b.lat, b.lon)
    if d <= 0.0:
        return 0.0
    return max(d - (a.var_m2 + b.var_m2) / (2.0 * d), 0.0)


def noise_sigma(residuals: list[float]) -> float:
    """The position noise per axis: 1.4826 × the median |residual| (a scale estimate outliers
    do not move), blended with the prior until there are enough residuals."""
    n = len(residuals)
    estimate = 1.4826 * statistics.median(residuals) if n else NOISE_PRIOR_M
    weight = min(n / 20.0, 1.0)
    sigma = weight * estimate + (1.0 - weight) * NOISE_PRIOR_M
    return min(max(sigma, NOISE_BOUNDS_M[0]), NOISE_BOUNDS_M[1])


def result(state: DistanceState) -> float:
    return state.distance_m


def sport_mismatch(state: DistanceState, sport: str) -> str | None:
    """The sport the sustained speeds suggest, when they are beyond `sport`'s top speed."""
    limits = SPORT_LIMITS.get(sport, SPORT_LIMITS["other"])
    if state.fastest_sustained_mps <= limits.max_speed_mps:
        return None
    return next((name for name, top in FASTER_SPORT if state.fastest_sustained_mps <= top), "other")


# --- the fold ------------------------------------------------------------------------------


def update(state: DistanceState, batch: Batch, samples: Sequence[Sample], limits: SportLimits,
           counting: bool = True) -> tuple[DistanceState, Released]:
    """Fold samples (`batch` holds their columns) in; returns the samples now released.

    While paused (`counting=False`) nothing is counted: fixes only move the position, and
    every sample is released at once (the caller flushes before pausing)."""
    s = msgspec.structs.replace(state)
    s.held = [*s.held, *samples]
    for i in range(batch.size):
        lat, lon = float(batch.lat[i]), float(batch.lon[i])
        t = int(batch.t_ms[i])
        if math.isnan(lat) or math.isnan(lon) or (s.last_t_ms is not None and t <= s.last_t_ms):
            # No fix (or one not newer than the last: the clock went back). Without a fix
            # for GPS_LOST_MS the way so far is decided as it stands: nothing waits for GPS.
            if counting and (s.last_t_ms is None or t - s.last_t_ms > GPS_LOST_MS):
                _knot(s, t, 0.0, moving=s.mode == "moving")
            continue
        speed, acc = float(batch.speed_mps[i]), float(batch.accuracy_m[i])
        fix = Fix(t, lat, lon, None if math.isnan(speed) else speed,
                  None if math.isnan(acc) else max(acc, 1.0) / ACCURACY_TO_SIGMA)
        s.last_lat, s.last_lon, s.last_t_ms = lat, lon, t
        if counting:
            _spike_stage(s, fix, limits)
        else:
            s.good = fix
    return s, _release(s, everything=not counting)


def flush(state: DistanceState, limits: SportLimits) -> tuple[DistanceState, Released]:
    """Decide everything pending (at a pause or the finish) and release every sample; the
    next fix starts afresh, standing."""
    s = msgspec.structs.replace(state)
    while s.candidates:
        _decide_candidate(s, limits)
    if s.block:
        _close_block(s, limits)
    if s.maybe_start is not None:
        _begin_moving(s, s.maybe_start, None, limits)
    if s.mode == "moving" and s.moved:
        last = s.moved[-1]
        tail_s = max((s.last_t_ms or last.last_ms) - last.t_ms, 0.0) / 1000.0
        _stop(s, s.last_t_ms or last.last_ms, [last], extra_m=(s.speed_mps or 0.0) * tail_s)
    released = _release(s, everything=True, final=True)
    s.mode, s.rest, s.maybe_start, s.anchor, s.moved, s.good, s.pace = \
        "still", [], None, None, [], None, []
    return s, released


# --- stage 1: spikes -----------------------------------------------------------------------


def _spike_stage(s: DistanceState, fix: Fix, limits: SportLimits) -> None:
    s.candidates = [*s.candidates, fix]
    while len(s.candidates) > SPIKE_LOOKAHEAD:
        _decide_candidate(s, limits)


def _decide_candidate(s: DistanceState, limits: SportLimits) -> None:
    """The oldest candidate is a spike if it jumped away from the last good fix, and one of
    the next SPIKE_LOOKAHEAD fixes is back near that good fix (both far nearer each other than
    to it), both ways faster than anyone moves."""
    c, later = s.candidates[0], s.candidates[1:]
    s.candidates = later
    p = s.good
    if p is None:
        _accept(s, c, limits)
        return
    a = haversine_m(p.lat, p.lon, c.lat, c.lon)
    fast = max(SPIKE_MIN_SPEED_MPS, limits.max_speed_mps)
    noise = math.hypot(p.sigma_m or s.sigma_m, c.sigma_m or s.sigma_m)  # of the gap p→c
    if a > 3.0 * noise and a / max((c.t_ms - p.t_ms) / 1000.0, 1e-3) > fast:
        for n in later:
            b = haversine_m(c.lat, c.lon, n.lat, n.lon)
            back = b / max((n.t_ms - c.t_ms) / 1000.0, 1e-3)
            # back: `n` is far nearer the good fix than `c` is to either of them
            if min(a, b) > 1.5 * haversine_m(p.lat, p.lon, n.lat, n.lon) and back > fast:
                s.rejected_total += 1  # out and back, too fast for anyone: a spike
                return
    _accept(s, c, limits)


def _accept(s: DistanceState, fix: Fix, limits: SportLimits) -> None:
    s.good = fix
    if s.block and fix.t_ms // BLOCK_MS != s.block[0].t_ms // BLOCK_MS:
        _close_block(s, limits)
    s.block = [*s.block, fix]


# --- stage 2: blocks -----------------------------------------------------------------------


def _close_block(s: DistanceState, limits: SportLimits) -> None:
    fixes, s.block = s.block, []
    point = _block_point(s, fixes)
    if point is not None:
        _judge(s, point, limits)


def _block_point(s: DistanceState, fixes: list[Fix]) -> Point | None:
    """The block's robust mean: outliers left out, the rest weighted by their noise. The kept
    fixes' residuals around their straight line feed the noise estimate. (Plain Python: a
    block holds a handful of fixes, where numpy's per-call cost dominates.)"""
    lat0, lon0 = fixes[0].lat, fixes[0].lon
    kx = M_PER_DEG * math.cos(math.radians(lat0))
    x = [(f.lon - lon0) * kx for f in fixes]
    y = [(f.lat - lat0) * M_PER_DEG for f in fixes]
    t = [float(f.t_ms) for f in fixes]
    sig = [f.sigma_m if f.sigma_m is not None else s.sigma_m for f in fixes]
    n = len(fixes)
    keep = list(range(n))
    if n >= 3 and t[-1] > t[0]:
        # Outliers are judged against the block's own motion, robustly: the median velocity
        # between its fixes carries each one to the block's middle; those beyond 3.5σ of
        # the median of that go.
        tm = statistics.median(t)
        gaps = [(t[i + 1] - t[i]) / 1000.0 for i in range(n - 1)]
        vx = statistics.median([(x[i + 1] - x[i]) / g for i, g in enumerate(gaps) if g > 0] or [0.0])
        vy = statistics.median([(y[i + 1] - y[i]) / g for i, g in enumerate(gaps) if g > 0] or [0.0])
        rx = [x[i] - vx * (t[i] - tm) / 1000.0 for i in range(n)]
        ry = [y[i] - vy * (t[i] - tm) / 1000.0 for i in range(n)]
        mx, my = statistics.median(rx), statistics.median(ry)
        keep = [i for i in range(n) if math.hypot(rx[i] - mx, ry[i] - my) <= 3.5 * sig[i]]
        if len(keep) < 2:
            keep = list(range(n))
    kt = [t[i] for i in keep]
    if n >= 3 and t[-1] > t[0]:
        # All the fixes' residuals around their least-squares line measure the noise (the
        # median of them, in noise_sigma, is not moved by an outlier; judging the noise only
        # by the fixes it let in would shrink it round after round).
        m = n
        t_mean = sum(t) / m
        tc = [(v - t_mean) / 1000.0 for v in t]
        stt = sum(v * v for v in tc)
        scale = math.sqrt(m / (m - 2))  # a fit's residuals are smaller than the noise
        residuals = []
        for column in (x, y):
            v = column
            v_mean = sum(v) / m
            slope = sum(a * (b - v_mean) for a, b in zip(tc, v, strict=True)) / stt
            residuals += [abs(b - v_mean - slope * a) * scale for a, b in zip(tc, v, strict=True)]
        s.noise = [*s.noise, *residuals][-NOISE_RESIDUALS:]
        s.sigma_m = noise_sigma(s.noise)
    w = [1.0 / sig[i] ** 2 for i in keep]
    total = sum(w)
    cx = sum(wi * x[i] for wi, i in zip(w, keep, strict=True)) / total
    cy = sum(wi * y[i] for wi, i in zip(w, keep, strict=True)) / total
    ct = sum(wi * t[i] for wi, i in zip(w, keep, strict=True)) / total
    spread = sum(wi * ((t[i] - ct) / 1000.0) ** 2 for wi, i in zip(w, keep, strict=True)) / total
    speeds = [f.speed_mps for f in (fixes[i] for i in keep) if f.speed_mps is not None]
    doppler = statistics.median(speeds) if speeds and len(speeds) * 2 >= len(keep) else None
    return Point(t_ms=ct, lat=lat0 + cy / M_PER_DEG, lon=lon0 + cx / kx, var_m2=1.0 / total,
                 speed_mps=doppler, first_ms=kt[0], last_ms=kt[-1], spread_s2=spread)


# --- stage 3: still or moving --------------------------------------------------------------


def _rest_point(points: list[Point]) -> Point:
    w = np.array([1.0 / p.var_m2 for p in points])
    lat = float(np.dot(w, [p.lat for p in points]) / w.sum())
    lon = float(np.dot(w, [p.lon for p in points]) / w.sum())
    return Point(t_ms=points[-1].t_ms, lat=lat, lon=lon, var_m2=float(1.0 / w.sum()),
                 first_ms=points[0].first_ms, last_ms=points[-1].last_ms)


def _judge(s: DistanceState, p: Point, limits: SportLimits) -> None:
    if s.mode == "still":
        _judge_still(s, p, limits)
    else:
        _judge_moving(s, p, limits)


def _away(p: Point, rest: Point) -> bool:
    """Is the block beyond the rest point's reach (with Doppler: moving fast enough)?"""
    if p.speed_mps is not None:
        return p.speed_mps >= DOPPLER_START_MPS
    return _chord(p, rest) >= max(START_M, 3.0 * math.sqrt(p.var_m2 + rest.var_m2))


def _settled(rest: list[Point]) -> list[Point]:
    """The rest blocks the rest point is made of: all but the newest two (a slow start may
    already be under way in those)."""
    return rest[:-2] if len(rest) > 2 else rest[:1]


def _judge_still(s: DistanceState, p: Point, limits: SportLimits) -> None:
    if not s.rest:
        s.rest = [p]
        return
    rest = _rest_point(_settled(s.rest))
    if _away(p, rest):
        if s.maybe_start is None:
            s.maybe_start = p  # one block away: the next one confirms, or it was a wander
        elif _onwards(rest, s.maybe_start, p):
            _begin_moving(s, s.maybe_start, p, limits)
        else:
            s.maybe_start = p  # away again, but elsewhere: noise so far; this one may start
        return
    s.maybe_start = None
    s.rest = [*s.rest, p][-REST_BLOCKS:]
    if len(s.rest) > 2:  # the newest two may yet turn out to be a start
        _knot(s, s.rest[-3].last_ms, 0.0)


def _onwards(rest: Point, first: Point, second: Point) -> bool:
    """Does `second` confirm a start at `first`: on from it, not back towards the rest point
    or off elsewhere (two stray blocks rarely line up)?"""
    if first.speed_mps is not None or second.speed_mps is not None:
        return True
    fx, fy = _local(first, rest)
    sx, sy = _local(second, rest)
    along = (fx * sx + fy * sy) / max(math.hypot(fx, fy), 1e-9)
    return along >= math.hypot(fx, fy) - 3.0 * math.sqrt(first.var_m2 + second.var_m2)


def _local(p: Point, origin: Point) -> tuple[float, float]:
    return ((p.lon - origin.lon) * M_PER_DEG * math.cos(math.radians(origin.lat)),
            (p.lat - origin.lat) * M_PER_DEG)


def _begin_moving(s: DistanceState, first: Point, second: Point | None, limits: SportLimits) -> None:
    """Moving since `first` (confirmed by `second`). The newest rest blocks that already lie
    on the way out (further along it, each one, than the one before) were the slow start;
    the start time is extrapolated from the earliest of them back to the rest point, at the
    speed between the two confirming blocks."""
    settled = _settled(s.rest) if s.rest else [first]
    rest = _rest_point(settled)
    unsettled = s.rest[len(settled):] if s.rest else []
    if first.speed_mps is not None:
        v = first.speed_mps
    elif second is not None:
        v = _chord(first, second) / max((second.t_ms - first.t_ms) / 1000.0, 1e-3)
    else:
        v = 0.0
    v = max(v, STOP_SPEED_MPS)
    fx, fy = _local(first, rest)
    norm = math.hypot(fx, fy)
    on_the_way: list[Point] = []
    if norm > 0 and first.speed_mps is None:
        along = [(_local(b, rest)[0] * fx + _local(b, rest)[1] * fy) / norm for b in unsettled]
        limit = norm
        for b, a in zip(reversed(unsettled), reversed(along), strict=True):
            if not 3.0 * math.sqrt(b.var_m2 + rest.var_m2) < a < limit:
                break  # not clearly on the way out
            on_the_way.insert(0, b)
            limit = a
    earliest = on_the_way[0] if on_the_way else first
    away_m = (first.speed_mps * (first.t_ms - first.first_ms) / 1000.0
              if first.speed_mps is not None else _chord(earliest, rest))
    start = earliest.t_ms - 1000.0 * away_m / v
    if first.speed_mps is None and second is not None:
        window = [*s.rest[-6:], first, second]
        start = _hinge(window, rest, second, leaving=True) or start
    head_m = 0.0
    if (len(s.rest) == 1 or s.knot_ms is None) and first.speed_mps is None and \
            abs(_chord(rest, earliest) / max((earliest.t_ms - rest.t_ms) / 1000.0, 1e-3) - v) <= 0.5 * v:
        # The track's very first block was already on the move (no standing before it): the
        # way from its first fix to its middle counts too.
        start, head_m = rest.first_ms, v * (rest.t_ms - rest.first_ms) / 1000.0
    else:
        start = max(start, settled[-1].last_ms if s.rest else first.first_ms)
    s.mode, s.maybe_start, s.anchor, s.moved, s.before_anchor = "moving", None, rest, [], None
    s.moving_since_ms = start
    _knot(s, start, 0.0)
    if head_m > 0.0:
        _knot(s, rest.t_ms, head_m, moving=True)
    for p in [*on_the_way, first, *([second] if second is not None else [])]:
        if s.mode == "moving":
            _judge_moving(s, p, limits)


def _judge_moving(s: DistanceState, p: Point, limits: SportLimits) -> None:
    assert s.anchor is not None
    s.moved = [*s.moved, p][-(REST_BLOCKS + 2):]
    if p.speed_mps is not None:  # Doppler: the speed, integrated since the anchor
        if p.speed_mps >= STOP_SPEED_MPS:
            since = max(s.anchor.t_ms, s.moving_since_ms or s.anchor.t_ms)
            v_from = s.anchor.speed_mps if s.anchor.speed_mps is not None and \
                s.anchor.t_ms >= since else p.speed_mps
            _advance(s, p, (v_from + p.speed_mps) / 2.0 * max(p.t_ms - since, 0.0) / 1000.0)
    else:
        metres = _chord(s.anchor, p)
        if metres >= ANCHOR_M:
            _advance(s, p, metres)
    back = [q for q in s.moved[:-1] if p.t_ms - q.t_ms >= STOP_WINDOW_MS]
    if not back:
        return
    ref = back[-1]
    if p.speed_mps is not None:
        slow: list[Point] = []  # the blocks since it slowed below walking: back from p
        for q in reversed(s.moved):
            if q.speed_mps is None or q.speed_mps >= STOP_SPEED_MPS:
                break
            slow.insert(0, q)
        if slow and p.t_ms - slow[0].t_ms >= STOP_WINDOW_MS:
            _stop(s, slow[0].first_ms, slow)
    elif _chord(ref, p) < max(STAY_M, STOP_SPEED_MPS * (p.t_ms - ref.t_ms) / 1000.0):
        # Standing since about `ref`: the last block clearly away from where it stands
        # reached it at the last speed.
        stayed: list[Point] = []  # the blocks since it stood: back from p while close to it
        for q in reversed(s.moved):
            if _chord(q, p) >= max(STAY_M, 3.0 * math.sqrt(q.var_m2 + p.var_m2)):
                break
            stayed.insert(0, q)
        rest = _rest_point(stayed or [p])
        _stop(s, _arrival(s, rest, stayed or [p]), stayed or [p])
    del limits


def _turn2(before: Point | None, a: Point, b: Point) -> float | None:
    """The squared turn θ² at `a` between the chords before→a and a→b, less what position
    noise alone turns it by on average (its variance; left unclipped below 0, so a straight
    line gets nothing on average); None without a chord before."""
    if before is None:
        return None
    ux, uy = _local(a, before)
    vx, vy = _local(b, a)
    d1, d2 = math.hypot(ux, uy), math.hypot(vx, vy)
    if d1 <= 0.0 or d2 <= 0.0:
        return None
    turn = math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)
    noise = before.var_m2 / d1 ** 2 + a.var_m2 * (1.0 / d1 + 1.0 / d2) ** 2 + b.var_m2 / d2 ** 2
    return min(turn * turn - noise, 1.0)


def _bend(theta2: float, a: Point, b: Point, chord_m: float) -> float:
    """How much longer than the chord a→b the way along a bend is: the arc over its chord,
    θ²/24 for a turn θ per chord, and the blocks' means lying inside the bend,
    κ²v²·spread/2 for each end (κ = θ/d the curvature)."""
    if chord_m <= 0.0:
        return 1.0
    dt_s = max((b.t_ms - a.t_ms) / 1000.0, 1e-3)
    kappa2_v2 = theta2 / chord_m ** 2 * (chord_m / dt_s) ** 2
    return 1.0 + theta2 / 24.0 + kappa2_v2 * (a.spread_s2 + b.spread_s2) / 4.0


def _decide_provisional(s: DistanceState, turn2_after: float | None) -> None:
    """Knot the provisional chord (ending at `anchor`), bent by the turns measured at both its
    ends (their mean: half the noise of either)."""
    assert s.anchor is not None and s.provisional_m is not None
    metres = s.provisional_m
    start = s.before_anchor
    turns = [t for t in (s.provisional_turn2, turn2_after) if t is not None]
    if turns and start is not None and s.anchor.speed_mps is None:
        metres *= _bend(sum(turns) / len(turns), start, s.anchor, metres)
    _knot(s, s.anchor.t_ms, metres, moving=True)
    s.provisional_m = None


def _arrival(s: DistanceState, rest: Point, stayed: list[Point]) -> float:
    """When the athlete reached `rest` (see `_hinge`), from the last blocks."""
    window = s.moved[-ARRIVAL_BLOCKS:]
    return _hinge(window, rest, window[0], leaving=False) or stayed[0].first_ms


def _hinge(window: list[Point], rest: Point, far: Point, leaving: bool) -> float | None:
    """When the track left (or reached) `rest`: a hinge fitted by least squares to the
    blocks' positions along the line from `rest` to `far` (segmented regression: standing at
    the rest point, moving at a steady speed after time T, or before it), T searched in half
    seconds. None when the blocks do not show it (too few, or too close together)."""
    ux, uy = _local(far, rest)
    norm = math.hypot(ux, uy)
    if len(window) < 3 or norm < STAY_M:
        return None
    t = np.array([q.t_ms for q in window]) / 1000.0
    a = np.array([(_local(q, rest)[0] * ux + _local(q, rest)[1] * uy) / norm for q in window])
    sw = np.sqrt(np.array([1.0 / q.var_m2 for q in window]))
    best: tuple[float, float] | None = None
    for at in np.arange(t[0], t[-1] + 0.25, 0.5):
        f = np.maximum(t - at, 0.0) if leaving else np.maximum(at - t, 0.0)
        design = np.stack([f, np.ones_like(f)], axis=1) * sw[:, None]
        coef, *_ = np.linalg.lstsq(design, a * sw, rcond=None)
        if coef[0] < STOP_SPEED_MPS:  # moving away from (or in on) the rest point, at a walk
            continue
        sse = float(((design @ coef - a * sw) ** 2).sum())
        if best is None or sse < best[0]:
            best = (sse, float(at))
    return 1000.0 * best[1] if best is not None else None


def _advance(s: DistanceState, p: Point, metres: float) -> None:
    """A new anchor `metres` further on; the one before it is decided now."""
    assert s.anchor is not None
    if p.t_ms > s.anchor.t_ms:
        s.speed_mps = metres / ((p.t_ms - s.anchor.t_ms) / 1000.0)
    turn2 = _turn2(s.before_anchor, s.anchor, p) if p.speed_mps is None else None
    if s.provisional_m is not None:
        _decide_provisional(s, turn2)
    s.before_anchor, s.anchor, s.provisional_m, s.provisional_turn2 = s.anchor, p, metres, turn2


def _stop(s: DistanceState, end_ms: float, stayed: list[Point], extra_m: float = 0.0) -> None:
    """Standing again (since `end_ms`) around `stayed`: the way to there counts (and
    `extra_m` beyond, at the finish: from the last block's middle to the last fix)."""
    assert s.anchor is not None
    rest = _rest_point(stayed)
    if s.provisional_m is not None:
        if s.anchor.t_ms > end_ms and s.before_anchor is not None:
            s.anchor = s.before_anchor  # it stood before that anchor: noise put it there
            s.provisional_m = None
        else:
            _decide_provisional(s, None)
    if s.anchor.speed_mps is not None and stayed[0].speed_mps is not None:
        # Doppler: the last moving block's speed held until the first standing fix
        last_m = s.anchor.speed_mps * max(end_ms - s.anchor.t_ms, 0.0) / 1000.0
    elif any(q.speed_mps is not None for q in (rest, s.anchor, *stayed)):
        last_m = 0.0
    else:
        last_m = _chord(s.anchor, rest)
    _knot(s, end_ms, extra_m + last_m, moving=True)
    s.mode, s.anchor, s.before_anchor, s.moved, s.speed_mps, s.pace = "still", None, None, [], 0.0, []
    s.rest = [rest]
    _knot(s, rest.last_ms, 0.0)


# --- release ---------------------------------------------------------------------------------


def _knot(s: DistanceState, t_ms: float, metres: float, moving: bool = False) -> None:
    """The distance is decided up to `t_ms`: `metres` more than at the last knot, covered
    evenly in the time since it (moving time too, if `moving`). Knots only move forward and
    never change, so a released sample's distance is final: metres decided for a time
    already passed go just after the last knot."""
    if s.knot_ms is not None and t_ms <= s.knot_ms:
        if metres <= 0.0:
            return
        t_ms = s.knot_ms + 1.0
    if moving and s.knot_ms is not None:
        s.moving_ms += int(round(t_ms - s.knot_ms))
    s.distance_m += metres
    s.knot_ms = t_ms
    s.knots = [*s.knots, (t_ms, s.distance_m)]
    if moving:
        s.pace = [*s.pace, (t_ms, s.distance_m)]
        _sustained(s)


def _sustained(s: DistanceState) -> None:
    """The fastest speed held over SUSTAINED_MS of movement (for `sport_mismatch`)."""
    t_last, m_last = s.pace[-1]
    older = [k for k in s.pace if t_last - k[0] >= SUSTAINED_MS]
    if older:
        t0, m0 = older[-1]
        s.fastest_sustained_mps = max(s.fastest_sustained_mps, (m_last - m0) / ((t_last - t0) / 1000.0))
        s.pace = [k for k in s.pace if k[0] >= t0]


def _release(s: DistanceState, everything: bool = False, final: bool = False) -> Released:
    """The held samples up to the last knot (or all), each with its cumulative distance,
    interpolated in time between the knots around it; `final` (a flush): the last one has
    the whole distance, decided at its end."""
    if not s.held:
        return Released(batch_from_samples([]), np.empty(0))
    times = np.array([row[0] for row in s.held], dtype=np.float64)
    # Only samples before the last knot: one at its very time may yet get more distance there.
    cut = len(s.held) if everything or s.knot_ms is None else \
        int(np.searchsorted(np.maximum.accumulate(times), s.knot_ms, side="left"))
    if s.knot_ms is None:
        cut = len(s.held) if everything else 0
    if cut == 0:
        return Released(batch_from_samples([]), np.empty(0))
    out, s.held = s.held[:cut], s.held[cut:]
    if s.knots:
        kt = np.array([k[0] for k in s.knots])
        km = np.array([k[1] for k in s.knots])
        cumulative = np.interp(times[:cut], kt, km)  # before the first knot: its distance
    else:
        cumulative = np.zeros(cut)
    if s.held:  # keep the knots the remaining samples lie between
        keep_from = max(int(np.searchsorted([k[0] for k in s.knots], times[cut], side="right")) - 1, 0)
        s.knots = s.knots[keep_from:]
    else:
        s.knots = s.knots[-1:]
    cumulative = np.maximum.accumulate(cumulative)
    if final:
        cumulative[-1] = s.distance_m
    return Released(batch_from_samples(out), cumulative)
