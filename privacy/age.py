"""The lawful basis for health data and the age gate (GDPR art. 9(2)(a) and art. 8), as pure
rules: what an account's consents allow. The gateway asks these, never the columns.

- Health data (heart rate, SpO2 and what derives from them, privacy/health.py) is processed
  only with the athlete's explicit consent in force, and — under 16 — a guardian's too.
- Social features (group membership, names on leaderboards, a coach's view of them) show an
  athlete under 16 only with a guardian's consent: `may_socialise` is the one test every
  social surface asks.
- The age is the one the athlete gave (`birth_date`); an account without one is not treated
  as a child (nothing says it is), and is gated as soon as a birth date under 16 is given.
"""

from __future__ import annotations

import datetime as dt

import msgspec

DIGITAL_CONSENT_AGE = 16
"""Art. 8(1): below it, consent needs the holder of parental responsibility (member states may
lower it to 13; Stride keeps 16 everywhere)."""
GUARDIAN_MIN_AGE = 18


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """What the gate needs to know of one account."""

    birth_date: dt.date | None
    health_consent: bool
    """Explicit consent to process health data given and not withdrawn."""
    guardian_consent: bool
    """A guardian confirmed (and has not withdrawn)."""


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Whole years of age on `day`."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


def is_child(birth_date: dt.date | None, day: dt.date) -> bool:
    """Under the digital consent age on `day` (False when the age is not known)."""
    return birth_date is not None and age_on(birth_date, day) < DIGITAL_CONSENT_AGE


def may_be_guardian(birth_date: dt.date | None, day: dt.date) -> bool:
    """A guardian must be of age, by the birth date their own account gives."""
    return birth_date is not None and age_on(birth_date, day) >= GUARDIAN_MIN_AGE


def needs_guardian(standing: Standing, day: dt.date) -> bool:
    return is_child(standing.birth_date, day) and not standing.guardian_consent


def may_process_health(standing: Standing, day: dt.date) -> bool:
    """Whether heart rate and SpO2 of this athlete may be taken in and computed on."""
    return standing.health_consent and not needs_guardian(standing, day)


def may_socialise(standing: Standing, day: dt.date) -> bool:
    """Whether social features may show this athlete to others (groups, leaderboard names)."""
    return not needs_guardian(standing, day)
