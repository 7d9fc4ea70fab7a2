"""TOTP (RFC 6238: 30-s steps, 6 digits, SHA-1, as authenticator apps expect) with pyotp,
and one-time recovery codes.

A code is accepted for the current step and one step either side (clock drift), and only
if its step is newer than the last one used (storage/mfa.py keeps it), so an observed
code cannot be replayed (ASVS 2.8.4).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp

ISSUER = "Stride"
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits (RFC 4226 recommends ≥ 128)


def provisioning_uri(secret: str, account_name: str) -> str:
    """The otpauth:// URI an authenticator app reads (usually as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=ISSUER)


def matching_step(secret: str, code: str, at_s: float | None = None) -> int | None:
    """The time step whose code `code` is (now, or one step either side), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(_utc(at_s))
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _utc(at_s: float | None):  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.datetime.fromtimestamp(time.time() if at_s is None else at_s, tz=dt.UTC)


def new_recovery_codes() -> list[str]:
    """Ten codes of 10 characters (≈ 49 bits each), shown once, as `xxxxx-xxxxx`."""
    out = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        out.append(f"{raw[:5]}-{raw[5:]}")
    return out


def recovery_hash(code: str) -> bytes:
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normal.encode()).digest()


def looks_like_recovery_code(code: str) -> bool:
    return len(code.strip().replace("-", "").replace(" ", "")) == 10
