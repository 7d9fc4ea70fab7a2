"""Registered, logged-in users of the running gateway, as the tests make them."""

from __future__ import annotations

import uuid
from pathlib import Path

SECRETS_SEEN: list[str] = []
"""Every password and session token the tests created: none may appear in any log."""


def secrets_file() -> Path:
    """Where they are kept for the scan that runs after everything (tests/logscan/)."""
    from stack.settings import Settings

    folder = Settings.from_env().home_path / "test-artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "secrets-seen.txt"


def remember(*secrets: str) -> None:
    SECRETS_SEEN.extend(secrets)
    with secrets_file().open("a") as out:
        out.writelines(f"{s}\n" for s in secrets)


class Account:
    """A registered, logged-in user of the running gateway."""

    def __init__(self, user_id: uuid.UUID, email: str, password: str, token: str,
                 totp_secret: str | None = None, recovery_codes: list[str] | None = None) -> None:
        self.id = user_id
        self.email = email
        self.password = password
        self.token = token
        self.totp_secret = totp_secret
        self.recovery_codes = recovery_codes or []

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MFA_ROLES = ("admin",)
"""Roles that act only through sessions opened with a second factor (the default setting)."""


def enrol_totp(http, token: str) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """Turn TOTP on for the account of `token` (a fresh login, so no re-authentication is
    due); that session then counts as opened with a second factor. (secret, recovery codes)"""
    import pyotp

    headers = {"Authorization": f"Bearer {token}"}
    begun = http.post("/v1/users/me/mfa/totp", headers=headers)
    assert begun.status_code == 200, begun.text
    secret = begun.json()["secret"]
    confirmed = http.post("/v1/users/me/mfa/totp/confirm", headers=headers,
                          json={"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


def make_account(base_url: str, pg_dsn: str, roles: tuple[str, ...] = (), **profile: object) -> Account:
    import httpx
    import psycopg

    from storage.consents import POLICY_VERSION

    email = f"user-{uuid.uuid4().hex[:12]}@example.org"
    password = "correct horse battery " + uuid.uuid4().hex[:6]
    # Consent to the processing of health data, as the sign-up page asks for it; a test of
    # an account without it passes `health_consent=None`.
    consent = profile.pop("health_consent", {"policy_version": POLICY_VERSION})
    body = {"email": email, "password": password, **profile,
            **({"health_consent": consent} if consent is not None else {})}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        created = http.post("/v1/auth/register", json=body)
        assert created.status_code == 201, created.text
        user_id = uuid.UUID(created.json()["id"])
        if roles:
            with psycopg.connect(pg_dsn, autocommit=True) as conn:
                for role in roles:
                    conn.execute("INSERT INTO roles (user_id, role) VALUES (%s, %s)", (user_id, role))
        login = http.post("/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        secret, codes = enrol_totp(http, token) if set(roles) & set(MFA_ROLES) else (None, [])
    remember(password, token)
    return Account(user_id, email, password, token, secret, codes)


