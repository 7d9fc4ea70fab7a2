"""The client's address for throttling: the peer, unless a configured proxy vouches for
another in the configured header; a forged header proves nothing."""

from __future__ import annotations

import pytest

from gateway.client_address import ClientAddress

pytestmark = pytest.mark.unit


def test_without_configured_proxies_headers_are_ignored() -> None:
    plain = ClientAddress()
    assert plain.of("192.0.2.10", {"x-forwarded-for": "203.0.113.5"}) == "192.0.2.10"
    header_only = ClientAddress((), "X-Forwarded-For")
    assert header_only.of("192.0.2.10", {"x-forwarded-for": "203.0.113.5"}) == "192.0.2.10"


def test_a_trusted_proxy_names_the_client_rightmost_untrusted_first() -> None:
    behind = ClientAddress(["10.0.0.0/8", "127.0.0.1"], "X-Forwarded-For")
    # The client wrote the leftmost entry itself; the proxies appended the rest.
    assert behind.of("10.1.2.3", {"x-forwarded-for": "6.6.6.6, 203.0.113.5, 10.9.9.9"}) == "203.0.113.5"
    assert behind.of("127.0.0.1", {"x-forwarded-for": "203.0.113.5"}) == "203.0.113.5"
    # Not from a trusted proxy: the header is somebody's claim, the peer is the truth.
    assert behind.of("198.51.100.7", {"x-forwarded-for": "203.0.113.5"}) == "198.51.100.7"
    # Nothing usable in the header: the proxy itself.
    assert behind.of("10.1.2.3", {}) == "10.1.2.3"
    assert behind.of("10.1.2.3", {"x-forwarded-for": "not-an-ip"}) == "10.1.2.3"


def test_a_single_address_header() -> None:
    behind = ClientAddress(["127.0.0.1"], "X-Real-IP")
    assert behind.of("127.0.0.1", {"x-real-ip": "2001:db8::1"}) == "2001:db8::1"
    assert behind.of("127.0.0.1", {"x-forwarded-for": "203.0.113.5"}) == "127.0.0.1"
