"""Mutual TLS inside the stack (STRIDE_TLS=on): every server refuses a client that shows no
certificate, or one our CA did not sign, and each refusal is set against the same call with
the stack's own certificate, which must succeed — so a server that is merely down cannot
pass for one that refuses.

The intruder's certificate is well formed, names the database user and 127.0.0.1, and
carries both key usages: only its issuer is wrong.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from user_accounts import Account

from stack.settings import Settings
from stack.tls import TlsFiles, foreign_client

pytestmark = pytest.mark.integration

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")


@pytest.fixture(scope="module")
def tls_stack(stack: Settings) -> Settings:
    if not stack.tls:
        pytest.skip("the stack runs without TLS (STRIDE_TLS=off)")
    return stack


@pytest.fixture(scope="module")
def intruder(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return foreign_client(tmp_path_factory.mktemp("foreign-ca"))


def _client_context(ca: Path, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


# ---- PostgreSQL -------------------------------------------------------------------------

def _pg(dsn: str, **tls: str) -> str:
    params = {k: v for k, v in conninfo_to_dict(dsn).items()
              if k not in ("sslmode", "sslcert", "sslkey", "sslrootcert")}
    return make_conninfo("", **params, connect_timeout="5", **tls)  # type: ignore[arg-type]


def _pg_answers(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_postgres_takes_only_clients_with_our_certificate(tls_stack: Settings,
                                                          intruder: TlsFiles) -> None:
    ours = tls_stack.tls_client
    assert _pg_answers(_pg(tls_stack.pg_dsn, sslmode="verify-full", sslrootcert=str(ours.ca),
                           sslcert=str(ours.cert), sslkey=str(ours.key)))
    # Plain TCP: no pg_hba line matches a connection without TLS.
    assert not _pg_answers(_pg(tls_stack.pg_dsn, sslmode="disable"))
    # TLS, the server checked, but no certificate of ours (a missing file sends none).
    assert not _pg_answers(_pg(tls_stack.pg_dsn, sslmode="verify-full", sslrootcert=str(ours.ca),
                               sslcert=str(intruder.ca.parent / "none.crt"),
                               sslkey=str(intruder.ca.parent / "none.key")))
    # A certificate from another CA, with the right password even.
    assert not _pg_answers(_pg(tls_stack.pg_dsn, sslmode="verify-full", sslrootcert=str(ours.ca),
                               sslcert=str(intruder.cert), sslkey=str(intruder.key)))


# ---- Redis ------------------------------------------------------------------------------

def _redis_answers(**kwargs: object) -> bool:
    client = redis.Redis(host="127.0.0.1", port=_redis_port(), socket_timeout=5,
                         socket_connect_timeout=5, **kwargs)  # type: ignore[arg-type]
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, ssl.SSLError, OSError):
        return False
    finally:
        client.close()


def _redis_port() -> int:
    return int(Settings.from_env().redis_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def test_redis_takes_only_clients_with_our_certificate(tls_stack: Settings,
                                                       intruder: TlsFiles) -> None:
    ours = tls_stack.tls_client
    assert _redis_answers(ssl=True, ssl_ca_certs=str(ours.ca), ssl_certfile=str(ours.cert),
                          ssl_keyfile=str(ours.key))
    assert not _redis_answers()  # plain: there is no plain port
    assert not _redis_answers(ssl=True, ssl_ca_certs=str(ours.ca))
    assert not _redis_answers(ssl=True, ssl_ca_certs=str(ours.ca), ssl_certfile=str(intruder.cert),
                              ssl_keyfile=str(intruder.key))


# ---- Kafka ------------------------------------------------------------------------------

async def _kafka_answers(bootstrap: str, **options: object) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                **options)  # type: ignore[arg-type]
    try:
        await admin.start()
        return isinstance(await admin.list_topics(), list)
    except (KafkaError, ssl.SSLError, OSError):
        return False
    finally:
        await admin.close()


async def test_kafka_takes_only_clients_with_our_certificate(tls_stack: Settings,
                                                             intruder: TlsFiles) -> None:
    ours = tls_stack.tls_client
    assert await _kafka_answers(tls_stack.kafka, security_protocol="SSL",
                                ssl_context=_client_context(ours.ca, ours.cert, ours.key))
    assert not await _kafka_answers(tls_stack.kafka)  # PLAINTEXT
    assert not await _kafka_answers(tls_stack.kafka, security_protocol="SSL",
                                    ssl_context=_client_context(ours.ca, None, None))
    assert not await _kafka_answers(tls_stack.kafka, security_protocol="SSL",
                                    ssl_context=_client_context(ours.ca, intruder.cert,
                                                                intruder.key))


# ---- the internal gateway ---------------------------------------------------------------

def _internal_answers(url: str, context: ssl.SSLContext | None) -> bool:
    try:
        return httpx.get(url, verify=context or False, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.parametrize("path", ["/healthz", "/graphql", "/"])
def test_the_internal_gateway_takes_only_clients_with_our_certificate(
        tls_stack: Settings, intruder: TlsFiles, path: str) -> None:
    ours = tls_stack.tls_client
    url = tls_stack.internal_gateway_url + path
    # With our certificate the request reaches the app, which answers it (wanting a login
    # for most): the TLS layer let it through.
    with httpx.Client(verify=_client_context(ours.ca, ours.cert, ours.key), timeout=5) as http:
        status = http.get(url).status_code
        assert status == 200 if path == "/healthz" else 200 <= status < 500
    assert not _internal_answers(url, _client_context(ours.ca, None, None))
    assert not _internal_answers(url, _client_context(ours.ca, intruder.cert, intruder.key))
    with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port
        httpx.get(url.replace("https://", "http://"), timeout=5)


# ---- Ray --------------------------------------------------------------------------------

def _grpc_answers(address: str, context: ssl.SSLContext | None) -> bool:
    """Whether Ray's GCS (gRPC) answers an HTTP/2 connection preface with a frame of its
    own: what every node and driver must get through before it can join."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        try:
            if context is None:
                conn: socket.socket = raw
            else:
                context.set_alpn_protocols(["h2"])
                conn = context.wrap_socket(raw, server_hostname=host)
            conn.sendall(H2_PREFACE)
            return len(conn.recv(9)) == 9  # a SETTINGS frame header
        except (ssl.SSLError, ConnectionError, TimeoutError):
            return False


def test_ray_takes_only_nodes_and_drivers_with_our_certificate(tls_stack: Settings,
                                                               intruder: TlsFiles) -> None:
    ray = tls_stack.tls_files("ray")
    address = tls_stack.ray_address
    assert _grpc_answers(address, _client_context(ray.ca, ray.cert, ray.key))
    assert not _grpc_answers(address, None)  # a driver without RAY_USE_TLS
    assert not _grpc_answers(address, _client_context(ray.ca, None, None))
    assert not _grpc_answers(address, _client_context(ray.ca, intruder.cert, intruder.key))


# ---- the public gateway, as the SDK reaches it ------------------------------------------

async def test_the_sdk_checks_the_gateway_against_the_ca_it_is_given(
        tls_stack: Settings, intruder: TlsFiles, session_athlete: Account) -> None:
    from gateway.client import DeviceClient

    ours = ssl.create_default_context(cafile=str(tls_stack.tls_client.ca))
    async with DeviceClient(tls_stack.gateway_ws_url, session_athlete.token, ssl=ours) as client:
        assert client.url.startswith("wss://")
    # The same gateway, but the app trusts only another CA: the handshake fails, nothing is sent.
    theirs = ssl.create_default_context(cafile=str(intruder.ca))
    with pytest.raises(ssl.SSLCertVerificationError):
        async with DeviceClient(tls_stack.gateway_ws_url, session_athlete.token, ssl=theirs):
            pass
