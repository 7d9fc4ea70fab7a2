"""This process's TLS client identity for Kafka (and anything else that takes an SSL context).

PostgreSQL and Redis carry their TLS options in the DSN and URL the settings build; Kafka
clients take only a bootstrap string, so the stack puts the CA and this process's client
certificate into the environment (STRIDE_TLS_CLIENT_*, like Ray's own RAY_TLS_* variables,
which every Ray process must see too) and every Kafka client here asks `kafka_options()`.
Unset (TLS off): plain connections, exactly as before.
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

ENV_CA = "STRIDE_TLS_CLIENT_CA"
ENV_CERT = "STRIDE_TLS_CLIENT_CERT"
ENV_KEY = "STRIDE_TLS_CLIENT_KEY"


def client_files() -> tuple[str, str, str] | None:
    """(CA, certificate, key) of this process's client identity, or None when TLS is off."""
    ca, cert, key = (os.environ.get(name, "") for name in (ENV_CA, ENV_CERT, ENV_KEY))
    if not (ca and cert and key):
        return None
    return ca, cert, key


@functools.lru_cache(maxsize=4)
def _context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def client_context() -> ssl.SSLContext | None:
    """A context that checks the server against the CA and presents our certificate."""
    files = client_files()
    return None if files is None else _context(*files)


def kafka_options() -> dict[str, Any]:
    """Keyword arguments for aiokafka's clients: SSL with our certificate, or nothing."""
    context = client_context()
    if context is None:
        return {}
    return {"security_protocol": "SSL", "ssl_context": context}
