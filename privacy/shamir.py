"""Shamir's secret sharing over GF(2^8), byte by byte (Shamir, "How to share a secret", 1979).

Why our own: pycryptodome's `Crypto.Protocol.SecretSharing.Shamir` shares 16-byte secrets
only (a 32-byte key would have to be split as two halves, each with its own share set) and
would be a second crypto library next to `cryptography`, which has no secret sharing. Over
GF(256) each byte of the secret is the constant term of its own random polynomial of degree
threshold-1, so one share set covers a secret of any length; a share is (x, the polynomial
values at x). Any `threshold` shares give the secret back by Lagrange interpolation at 0;
fewer give every secret with equal probability, so they reveal nothing of it.

The field is the AES field (polynomial x^8+x^4+x^3+x+1, generator 3); multiplication goes
through log/antilog tables.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

MAX_SHARES = 255
"""x runs over the nonzero field elements."""

_EXP = [0] * 510
_LOG = [0] * 256


def _tables() -> None:
    value = 1
    for power in range(255):
        _EXP[power] = _EXP[power + 255] = value
        _LOG[value] = power
        # multiply by the generator 3: value*2 (reduced mod the AES polynomial) xor value
        doubled = value << 1
        if doubled & 0x100:
            doubled ^= 0x11B
        value = doubled ^ value


_tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(256)")
    if a == 0:
        return 0
    return _EXP[_LOG[a] - _LOG[b] + 255]


def split(secret: bytes, shares: int, threshold: int) -> list[tuple[int, bytes]]:
    """`shares` pieces (x, y) of `secret`, any `threshold` of which rebuild it."""
    if not 2 <= threshold <= shares <= MAX_SHARES:
        raise ValueError(f"need 2 <= threshold <= shares <= {MAX_SHARES} "
                         f"(got threshold {threshold}, shares {shares})")
    if not secret:
        raise ValueError("nothing to share")
    # coefficients[i][j]: the j-th coefficient (j >= 1) of byte i's polynomial
    coefficients = [secrets.token_bytes(threshold - 1) for _ in secret]
    out = []
    for x in range(1, shares + 1):
        y = bytearray()
        for constant, coeffs in zip(secret, coefficients, strict=True):
            acc = 0
            for c in reversed(coeffs):  # Horner, highest degree first
                acc = _mul(acc, x) ^ c
            y.append(_mul(acc, x) ^ constant)
        out.append((x, bytes(y)))
    return out


def combine(parts: Sequence[tuple[int, bytes]]) -> bytes:
    """The secret the shares were made from, if they are at least the threshold of one set.

    Fewer shares, or shares of different sets, give a wrong secret without any error: the
    caller checks the result (a key check value)."""
    if len(parts) < 2:
        raise ValueError("at least two shares are needed")
    xs = [x for x, _ in parts]
    if len(set(xs)) != len(xs) or not all(1 <= x <= MAX_SHARES for x in xs):
        raise ValueError("shares must have distinct numbers between 1 and 255")
    lengths = {len(y) for _, y in parts}
    if len(lengths) != 1:
        raise ValueError("shares of different lengths cannot belong to one set")
    # Lagrange basis at 0: l_i(0) = prod_{j != i} x_j / (x_j - x_i); minus is xor here
    weights = []
    for i, xi in enumerate(xs):
        w = 1
        for j, xj in enumerate(xs):
            if i != j:
                w = _mul(w, _div(xj, xj ^ xi))
        weights.append(w)
    secret = bytearray(lengths.pop())
    for w, (_, y) in zip(weights, parts, strict=True):
        for k, byte in enumerate(y):
            secret[k] ^= _mul(w, byte)
    return bytes(secret)
