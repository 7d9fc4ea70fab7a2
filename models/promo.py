"""Regional promo codes: a small catalogue as data, matched by region and interest, with expiry.

A promo matches when its region is the athlete's (ISO 3166-1 alpha-2, case-insensitive) or
GLOBAL, it shares at least one interest with the athlete, and `today` lies in
[starts_on, expires_on] (both inclusive: a code is valid through its expiry day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import msgspec

GLOBAL = "*"


class Promo(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    region: str
    """ISO 3166-1 alpha-2 country code, or GLOBAL."""
    interests: frozenset[str]
    """Sports or themes the offer suits ("run", "ride", "swim", "nutrition", ...)."""
    description: str
    discount_pct: int
    starts_on: dt.date
    expires_on: dt.date
    """Last day the code is valid."""


def _p(code: str, region: str, interests: str, description: str, pct: int, start: str, end: str) -> Promo:
    return Promo(code=code, region=region, interests=frozenset(interests.split()),
                 description=description, discount_pct=pct, starts_on=dt.date.fromisoformat(start),
                 expires_on=dt.date.fromisoformat(end))


CATALOGUE: tuple[Promo, ...] = (
    _p("RUNDE15", "DE", "run trail", "15 % off running shoes", 15, "2026-01-01", "2026-06-30"),
    _p("RADLER20", "DE", "ride", "20 % off a bike service", 20, "2026-03-01", "2026-09-30"),
    _p("PARISRUN", "FR", "run", "10 % off the Paris 10K entry", 10, "2026-01-15", "2026-04-05"),
    _p("VELO10", "FR", "ride", "10 % off cycling kit", 10, "2025-06-01", "2025-12-31"),
    _p("SWIMUK", "GB", "swim triathlon", "Two free pool sessions", 100, "2026-02-01", "2026-05-31"),
    _p("PARKRUNUK", "GB", "run walk", "15 % off a running club membership", 15, "2026-01-01", "2026-12-31"),
    _p("TRAILUS25", "US", "run trail hike", "25 % off trail shoes", 25, "2026-04-01", "2026-10-31"),
    _p("SPINUS", "US", "ride indoor", "A month of spin classes free", 100, "2025-11-01", "2026-02-28"),
    _p("FUELUP", GLOBAL, "nutrition run ride", "10 % off energy gels", 10, "2026-01-01", "2026-12-31"),
    _p("WINTER25", GLOBAL, "run ride swim", "25 % off winter gear", 25, "2025-11-01", "2026-01-31"),
)


def promos_for(region: str, interests: Iterable[str], today: dt.date,
               catalogue: Iterable[Promo] = CATALOGUE) -> list[Promo]:
    """Valid promos for the region (and global ones) sharing an interest; regional before global,
    then more shared interests, then the soonest to expire first."""
    wanted = {i.lower() for i in interests}
    region = region.upper()
    hits = [p for p in catalogue
            if p.region in (region, GLOBAL) and p.interests & wanted and p.starts_on <= today <= p.expires_on]
    return sorted(hits, key=lambda p: (p.region == GLOBAL, -len(p.interests & wanted), p.expires_on, p.code))
