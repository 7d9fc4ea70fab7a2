"""Who is on the other end: the client's address, for throttling.

Directly connected, it is the TCP peer. Behind a reverse proxy every request comes from the
proxy, so the client's address is in a header the proxy sets — but any client can send
that header too. It is believed only from the proxies named in the settings
(`STRIDE_TRUSTED_PROXIES`, addresses or networks) and only in the header named there
(`STRIDE_CLIENT_ADDRESS_HEADER`, e.g. `X-Forwarded-For` or `X-Real-IP`). For
`X-Forwarded-For` the client is the rightmost address not itself a trusted proxy: the
entries left of it were written by the client and prove nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    def __init__(self, trusted_proxies: Iterable[str] = (), header: str = "") -> None:
        self._trusted: list[IpNetwork] = [ipaddress.ip_network(p.strip(), strict=False)
                                          for p in trusted_proxies if p.strip()]
        self._header = header.strip().lower()

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._trusted)

    def of(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The client's address for a connection from `peer` with these headers."""
        peer = peer or "unknown"
        if not self._header or not self._is_trusted(peer):
            return peer
        value = headers.get(self._header, "")
        hops = [h.strip() for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return _valid(hop) or peer
        return peer


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
