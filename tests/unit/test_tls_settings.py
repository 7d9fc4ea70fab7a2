"""STRIDE_TLS: one setting switches every URL, DSN and process environment of the stack, and
the local CA's files are made as the README says (0600 keys, reissued for another CA)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from stack.settings import Settings, tls_env
from stack.tls import ensure_local_ca, local_files

pytestmark = pytest.mark.unit


def test_on_switches_every_address_to_tls_with_this_process_certificate(tmp_path: Path) -> None:
    s = Settings.from_env({"STRIDE_HOME": str(tmp_path), "STRIDE_TLS": "on",
                           "STRIDE_TLS_IDENTITY": "worker"})
    certs = tmp_path / "tls"
    assert s.gateway_url.startswith("https://") and s.gateway_ws_url.startswith("wss://")
    assert s.internal_gateway_url.startswith("https://")
    assert "sslmode=verify-full" in s.pg_dsn and f"sslcert={certs}/worker.crt".replace("/", "%2F") \
        in s.pg_dsn
    assert s.redis_url.startswith("rediss://127.0.0.1:26379/0?ssl_cert_reqs=required")
    env = tls_env(s)
    assert env["RAY_USE_TLS"] == "1" and env["STRIDE_TLS_CLIENT_CERT"] == str(certs / "worker.crt")
    off = Settings.from_env({"STRIDE_HOME": str(tmp_path)})
    assert tls_env(off) == {} and off.redis_url.startswith("redis://")
    assert off.pg_dsn.endswith("sslmode=disable")


@pytest.mark.parametrize("extra", [{"STRIDE_TLS": "yes"},
                                   {"STRIDE_TLS": "on", "STRIDE_TLS_CA_FILE": "/ca.crt"}])
def test_a_bad_tls_setting_is_refused(tmp_path: Path, extra: dict[str, str]) -> None:
    with pytest.raises(SystemExit):
        Settings.from_env({"STRIDE_HOME": str(tmp_path), **extra})


def test_the_local_ca_is_made_once_with_private_keys_and_renewed_for_a_new_ca(tmp_path: Path) -> None:
    made = ensure_local_ca(tmp_path)
    assert {"postgres", "redis", "kafka", "gateway", "internal", "cli", "ray"} <= set(made)
    for key in tmp_path.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    gateway = x509.load_pem_x509_certificate(local_files(tmp_path, "gateway").cert.read_bytes())
    sans = gateway.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert ensure_local_ca(tmp_path) == []  # nothing expiring, nothing made again
    (tmp_path / "ca.crt").unlink()  # a new CA: every certificate must chain to it
    assert set(ensure_local_ca(tmp_path)) == set(made)
