"""TOTP codes (RFC 6238) and recovery codes."""

from __future__ import annotations

import pyotp
import pytest

from gateway import mfa

pytestmark = pytest.mark.unit


def test_rfc6238_sha1_vector() -> None:
    # RFC 6238, appendix B: the SHA-1 seed "12345678901234567890" at T = 59 s → 94287082
    # (8 digits); its last 6 digits are what a 6-digit authenticator shows.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert pyotp.TOTP(secret, digits=8).at(59) == "94287082"
    assert mfa.matching_step(secret, "287082", at_s=59) == 1


def test_a_code_matches_its_step_and_one_either_side_only() -> None:
    secret = mfa.new_secret()
    totp = pyotp.TOTP(secret)
    now = 1_790_000_015.0
    step = totp.timecode(mfa._utc(now))
    assert mfa.matching_step(secret, totp.at(now), at_s=now) == step
    assert mfa.matching_step(secret, totp.at(now - 30), at_s=now) == step - 1
    assert mfa.matching_step(secret, totp.at(now + 30), at_s=now) == step + 1
    assert mfa.matching_step(secret, totp.at(now - 90), at_s=now) is None
    assert mfa.matching_step(secret, "12345", at_s=now) is None
    assert mfa.matching_step(secret, "abcdef", at_s=now) is None


def test_recovery_codes_are_distinct_and_hash_the_same_however_typed() -> None:
    codes = mfa.new_recovery_codes()
    assert len(set(codes)) == 10 and all(mfa.looks_like_recovery_code(c) for c in codes)
    code = codes[0]
    assert mfa.recovery_hash(code) == mfa.recovery_hash(code.upper().replace("-", " "))
    assert not mfa.looks_like_recovery_code("123456")
