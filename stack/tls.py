"""The local stack's certificates: a CA of its own, a server certificate per service and a
client certificate per service identity, made with `cryptography` under `<home>/tls`.

Every hop inside the stack is mutual TLS when `STRIDE_TLS=on`: each server presents its
certificate and demands one signed by the same CA from every client. The files are made once
and made again when the CA or a certificate has less than RENEW_BEFORE left, or when a
certificate no longer chains to the CA on disk (the CA was replaced). Keys are 0600.

With `STRIDE_TLS_CA_FILE`, `STRIDE_TLS_CERT_FILE` and `STRIDE_TLS_KEY_FILE` set, an
operator's CA is used instead: then that one certificate serves every server and client role
(it needs both extended key usages, the servers' addresses and CN `stride`, the database user
PostgreSQL's `clientcert=verify-full` compares it with), and nothing is generated.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = dt.timedelta(days=3650)
CERT_LIFETIME = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)

SERVERS = ("postgres", "redis", "kafka", "gateway", "internal")
"""Each listens with a certificate of its own."""
CLIENTS = ("gateway", "internal", "worker", "cli")
"""Service identities: who connects to PostgreSQL, Redis and Kafka (`cli`: the `stride`
commands, benches and tests). Ray's workers (the workout actors) use Ray's certificate, the
one Ray itself presents, since Ray hands one certificate to every process it starts."""
BOTH = ("ray", "kafka")
"""Ray uses one certificate as server and client (RAY_TLS_SERVER_CERT); so does the Kafka
broker, which is its own controller's client."""

DB_USER = "stride"
"""The CN of every client certificate: PostgreSQL's `clientcert=verify-full` compares it with
the database user, and cannot map it for password logins. The service is in the OU."""

HOSTS = ("127.0.0.1", "localhost")


class TlsFiles:
    """Where a process finds the CA, and a certificate and key for one role."""

    def __init__(self, ca: Path, cert: Path, key: Path) -> None:
        self.ca, self.cert, self.key = ca, cert, key


def local_files(base: Path, role: str) -> TlsFiles:
    """The local CA's files in `base` (`<home>/tls`, STRIDE_TLS_DIR) for `role` (a server, a
    client identity, or `ray`)."""
    return TlsFiles(base / "ca.crt", base / f"{role}.crt", base / f"{role}.key")


def _write_private(path: Path, data: bytes) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8: the one unencrypted PEM form Kafka's PEM keystore reads.
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fresh(path: Path, issuer: x509.Certificate | None) -> bool:
    """True if the certificate at `path` is valid for RENEW_BEFORE more and (when `issuer` is
    given) was signed by it."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
        return False
    if issuer is None:
        return True
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, Exception):
        return False
    return True


def _ensure_ca(base: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = base / "ca.crt", base / "ca.key"
    if _fresh(cert_path, None) and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stride local stack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Stride local CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _issue(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, role: str,
           server: bool, client: bool, base: Path) -> None:
    key = _new_key()
    now = _now()
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stride local stack"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
            x509.NameAttribute(NameOID.COMMON_NAME, DB_USER if client else role),
        ]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    files = local_files(base, role)
    _write_private(files.key, _key_pem(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_local_ca(base: Path) -> list[str]:
    """Make what is missing, expiring or issued by another CA in `base`; returns the roles
    (re)issued."""
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)  # the PostgreSQL server (another OS user under root) reads its copy
    ca_cert, ca_key = _ensure_ca(base)
    issued = []
    wanted = ([(r, True, False) for r in SERVERS] + [(r, False, True) for r in CLIENTS]
              + [(r, True, True) for r in BOTH])
    seen: dict[str, tuple[bool, bool]] = {}
    for role, server, client in wanted:  # gateway and internal are both: merge the usages
        s, c = seen.get(role, (False, False))
        seen[role] = (s or server, c or client)
    for role, (server, client) in seen.items():
        files = local_files(base, role)
        if _fresh(files.cert, ca_cert) and files.key.exists():
            continue
        _issue(ca_cert, ca_key, role, server, client, base)
        issued.append(role)
    return issued


def ensure_trust_bundle(base: Path, ca: Path) -> Path:
    """The public CAs (certifi's) plus ours, in one file: the stack's processes point
    SSL_CERT_FILE at it, so their HTTPS and WSS clients (httpx, websockets, urllib) trust
    our gateways and still every public site."""
    import certifi

    bundle = base / "trust.pem"
    content = Path(certifi.where()).read_bytes() + b"\n" + ca.read_bytes()
    if not bundle.exists() or bundle.read_bytes() != content:
        bundle.parent.mkdir(parents=True, exist_ok=True)
        tmp = bundle.with_suffix(".tmp")
        tmp.write_bytes(content)
        tmp.replace(bundle)
    return bundle


def spki_sha256(cert_path: Path) -> str:
    """Base64 SHA-256 of a certificate's public key (Chromium's
    --ignore-certificate-errors-spki-list takes these)."""
    import base64

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return base64.b64encode(digest.finalize()).decode()


def foreign_client(target: Path) -> TlsFiles:
    """A CA and a client certificate that have nothing to do with the stack's CA (for the
    refusal tests: a well-formed certificate from the wrong issuer)."""
    target.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ensure_ca(target)
    files = TlsFiles(target / "ca.crt", target / "intruder.crt", target / "intruder.key")
    if not (_fresh(files.cert, ca_cert) and files.key.exists()):
        _issue_into(ca_cert, ca_key, files)
    return files


def _issue_into(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                files: TlsFiles) -> None:
    key = _new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DB_USER)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                              ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(files.key, _key_pem(key))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
