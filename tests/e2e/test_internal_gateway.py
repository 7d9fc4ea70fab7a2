"""The internal gateway (gateway/internal): its own sign-in, its own tokens, and the guards of
its GraphQL API — persisted queries only, no introspection, depth, token and alias limits.

The stack's own internal gateway runs as in production (neither development setting on);
the limits are tried on a second internal gateway of this module's with ad-hoc queries
allowed (and introspection still off), so each refusal is the limit's own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pyotp
import pytest
from graphql import parse, validate
from helper_processes import STRIDE, Processes, free_port, http_url, tls_client_options
from user_accounts import Account, enrol_totp, remember

from gateway.auth import new_token
from gateway.internal import persisted
from gateway.internal.schema import build_schema
from stack.settings import Settings

pytestmark = pytest.mark.e2e
OPERATIONS = persisted.load()


def next_code(account: Account) -> str:
    """A TOTP code for the step after the one enrolment used (within the accepted drift)."""
    assert account.totp_secret is not None
    return pyotp.TOTP(account.totp_secret).at(time.time() + 30)


def sign_in(http: httpx.Client, account: Account, otp: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"email": account.email, "password": account.password}
    if otp is not None:
        body["otp"] = otp
    return http.post("/internal/v1/auth/login", json=body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def persisted_query(http: httpx.Client, name: str, token: str,
                    **variables: Any) -> httpx.Response:
    wanted = {"version": 1, "sha256Hash": persisted.query_id(OPERATIONS[name])}
    return http.post("/graphql", headers=bearer(token),
                     json={"extensions": {"persistedQuery": wanted}, "variables": variables})


def error_codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


def internal_session(stack: Settings, user_id: uuid.UUID) -> str:
    """An internal session straight in the database, as if signed in with TOTP just now."""
    token, digest = new_token()
    with psycopg.connect(stack.pg_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO sessions (user_id, token_hash, expires_at, mfa_verified, audience)"
                     " VALUES (%s, %s, now() + interval '1 hour', true, 'internal')",
                     (user_id, digest))
    return token


@pytest.fixture(scope="module")
def internal(stack: Settings) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.internal_gateway_url, timeout=30, **tls_client_options()) as http:
        yield http


@pytest.fixture(scope="module")
def public(stack: Settings) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def adhoc_internal(processes: Processes) -> Iterator[httpx.Client]:
    """A second internal gateway that runs ad-hoc queries (introspection stays off), with a
    depth limit of 1 (a root field is depth 0) so the schema's shallow types can exceed it."""
    port = free_port()
    base = http_url(f"127.0.0.1:{port}")
    processes.start([*STRIDE, "internal", "run"], f"{base}/healthz",
                    {"STRIDE_INTERNAL_PORT": str(port), "STRIDE_INTERNAL_ADHOC_QUERIES": "1",
                     "STRIDE_INTERNAL_MAX_DEPTH": "1"}, name="internal")
    with httpx.Client(base_url=base, timeout=30, **tls_client_options()) as http:
        yield http


def test_signing_in_needs_totp_and_an_admin_or_ml_role(internal: httpx.Client, public: httpx.Client,
                                                       account) -> None:  # type: ignore[no-untyped-def]
    admin = account(roles=("admin",))
    assert sign_in(internal, admin).json()["code"] == "mfa_required"
    assert sign_in(internal, admin, admin.recovery_codes[0]).json()["code"] == "totp_required"
    wrong = internal.post("/internal/v1/auth/login", json={
        "email": admin.email, "password": "not the password at all", "otp": next_code(admin)})
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
    signed_in = sign_in(internal, admin, next_code(admin))
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["mfa"] is True and signed_in.headers["cache-control"] == "no-store"
    token = signed_in.json()["token"]
    remember(token)
    me = persisted_query(internal, "Me", token).json()["data"]["me"]
    assert me["userId"] == str(admin.id) and "admin" in me["roles"]

    # An ML engineer signs in too, once TOTP is on …
    ml = account(roles=("ml_engineer",))
    refused = sign_in(internal, ml)
    assert refused.status_code == 403 and refused.json()["code"] == "mfa_enrollment_required"
    ml.totp_secret, _ = enrol_totp(public, ml.token)
    signed_in = sign_in(internal, ml, next_code(ml))
    assert signed_in.status_code == 200, signed_in.text
    remember(signed_in.json()["token"])

    # … but nobody else, TOTP or not, whatever the right password and code.
    for roles in ((), ("coach",), ("partner",)):
        other = account(roles=roles)
        other.totp_secret, _ = enrol_totp(public, other.token)
        refused = sign_in(internal, other, next_code(other))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden", roles


def test_each_gateway_accepts_only_its_own_tokens(stack: Settings, internal: httpx.Client,
                                                  public: httpx.Client, account) -> None:  # type: ignore[no-untyped-def]
    admin = account(roles=("admin",))  # its public session was opened with TOTP
    signed_in = sign_in(internal, admin, next_code(admin))
    token = signed_in.json()["token"]
    remember(token)

    # A public token, an admin's with MFA included, opens nothing on the internal gateway …
    for call in (lambda h: internal.post("/graphql", headers=h, json={"query": "{ me { userId } }"}),
                 lambda h: internal.post("/internal/v1/auth/logout", headers=h)):
        refused = call(admin.headers)
        assert refused.status_code == 401 and refused.json()["code"] == "wrong_audience"
    device = public.post("/v1/devices", headers=admin.headers, json={"name": "watch"}).json()["token"]
    remember(device)
    refused = persisted_query(internal, "Me", device)
    assert refused.status_code == 401 and refused.json()["code"] == "wrong_audience"

    # … and the internal one nothing on the public gateway.
    for path in ("/v1/users/me", "/v1/sessions", "/v1/admin/models"):
        refused = public.get(path, headers=bearer(token))
        assert refused.status_code == 401 and refused.json()["code"] == "wrong_audience", path
    assert public.get("/v1/users/me", headers=admin.headers).status_code == 200

    # Logging out ends the internal session; the public one goes on.
    assert persisted_query(internal, "Me", token).status_code == 200
    assert internal.post("/internal/v1/auth/logout", headers=bearer(token)).status_code == 204
    ended = persisted_query(internal, "Me", token)
    assert ended.status_code == 401 and ended.json()["code"] == "unauthorized"
    assert public.get("/v1/users/me", headers=admin.headers).status_code == 200


def test_a_locked_account_gets_in_nowhere_until_unlocked(stack: Settings, internal: httpx.Client,
                                                         public: httpx.Client, account) -> None:  # type: ignore[no-untyped-def]
    admin = account(roles=("admin",))
    token = internal_session(stack, admin.id)
    staff = account(roles=("admin",))
    device = public.post("/v1/devices", headers=staff.headers, json={"name": "watch"}).json()["token"]
    remember(device)
    locked = persisted_query(internal, "LockUser", token, userId=str(staff.id), reason="lost laptop")
    assert locked.json()["data"]["lockUser"]["lockedAt"] is not None, locked.text

    assert public.get("/v1/users/me", headers=staff.headers).status_code == 401
    login = public.post("/v1/auth/login", json={"email": staff.email, "password": staff.password})
    assert login.status_code == 403 and login.json()["code"] == "account_locked"
    refused = sign_in(internal, staff, next_code(staff))
    assert refused.status_code == 403 and refused.json()["code"] == "account_locked"
    assert public.get("/v1/users/me", headers=bearer(device)).status_code == 401
    # A session minted behind the gateway's back is not honoured either.
    late = internal_session(stack, staff.id)
    refused = persisted_query(internal, "Me", late)
    assert refused.status_code == 401 and refused.json()["code"] == "account_locked"
    itself = persisted_query(internal, "LockUser", token, userId=str(admin.id))
    assert error_codes(itself) == ["cannot_lock_self"]

    unlocked = persisted_query(internal, "UnlockUser", token, userId=str(staff.id))
    assert unlocked.json()["data"]["unlockUser"]["lockedAt"] is None
    assert sign_in(internal, staff, next_code(staff)).status_code == 200
    assert persisted_query(internal, "Me", late).status_code == 200
    log = persisted_query(internal, "AuditLog", token, actorId=str(admin.id)).json()["data"]
    seen = [(e["action"], e["target"], e["outcome"]) for e in log["auditLog"]["items"]]
    assert seen == [("unlockUser", f"user:{staff.id}", "ok"),
                    ("lockUser", f"user:{admin.id}", "cannot_lock_self"),
                    ("lockUser", f"user:{staff.id}", "ok")]
    assert log["auditLog"]["items"][2]["detail"] == {"reason": "lost laptop"}


def test_production_runs_persisted_queries_only(stack: Settings, internal: httpx.Client,
                                                account) -> None:  # type: ignore[no-untyped-def]
    token = internal_session(stack, account(roles=("admin",)).id)
    me = OPERATIONS["Me"]
    for body, code in (
        ({"query": me}, "persisted_query_required"),
        ({"query": "{ __schema { types { name } } }"}, "persisted_query_required"),
        ({"extensions": {"persistedQuery": {"sha256Hash": "0" * 64}}}, "persisted_query_not_found"),
        ({"query": "{ users { items { email } } }",
          "extensions": {"persistedQuery": {"sha256Hash": persisted.query_id(me)}}},
         "persisted_query_mismatch"),
    ):
        refused = internal.post("/graphql", headers=bearer(token), json=body)
        assert refused.status_code == 200 and refused.json()["data"] is None
        assert error_codes(refused) == [code], body
    ran = internal.post("/graphql", headers=bearer(token), json={
        "query": me, "extensions": {"persistedQuery": {"sha256Hash": persisted.query_id(me)}}})
    assert ran.json()["data"]["me"]["roles"] == ["admin", "athlete"]
    # Queries ride in POST bodies only; what is no GraphQL request gets a JSON error.
    assert internal.get("/graphql", headers=bearer(token)).json()["code"] == "not_found"
    odd = internal.post("/graphql", headers={**bearer(token), "content-type": "text/plain"},
                        content=b"{ me { userId } }")
    assert odd.status_code == 400 and odd.json()["code"] == "bad_request"
    assert internal.get("/schema/openapi.json").status_code == 404


def test_users_are_found_by_email_or_name_a_page_at_a_time(stack: Settings, internal: httpx.Client,
                                                          account) -> None:  # type: ignore[no-untyped-def]
    token = internal_session(stack, account(roles=("admin",)).id)
    name = f"Quill{uuid.uuid4().hex[:8]}"
    first, second = account(first_name=name), account(first_name=name)

    def search(**variables: Any) -> dict[str, Any]:
        answer = persisted_query(internal, "SearchUsers", token, **variables).json()
        assert "errors" not in answer, answer
        return answer["data"]["users"]  # type: ignore[no-any-return]

    newest = search(search=name.lower(), limit=1)  # names match whatever their case
    assert [u["id"] for u in newest["items"]] == [str(second.id)] and newest["nextCursor"]
    older = search(search=name, limit=1, cursor=newest["nextCursor"])
    assert [u["id"] for u in older["items"]] == [str(first.id)] and older["nextCursor"] is None
    assert [u["id"] for u in search(search=first.email.upper())["items"]] == [str(first.id)]
    literal = search(search="%")["items"]  # a wildcard is matched as itself, not as anything
    assert all("%" in u["email"] + (u["firstName"] or "") + (u["lastName"] or "") for u in literal)
    for variables, code in (({"cursor": "not-a-cursor"}, "bad_cursor"), ({"limit": 0}, "invalid")):
        assert error_codes(persisted_query(internal, "SearchUsers", token, **variables)) == [code]


def test_introspection_is_off_even_where_ad_hoc_queries_run(stack: Settings,
                                                            adhoc_internal: httpx.Client,
                                                            account) -> None:  # type: ignore[no-untyped-def]
    token = internal_session(stack, account(roles=("admin",)).id)
    ran = adhoc_internal.post("/graphql", headers=bearer(token), json={"query": "{ me { userId } }"})
    assert ran.json()["data"]["me"]["userId"], ran.text
    for query in ("{ __schema { types { name } } }", '{ __type(name: "User") { fields { name } } }'):
        refused = adhoc_internal.post("/graphql", headers=bearer(token), json={"query": query})
        assert refused.json()["data"] is None
        assert set(error_codes(refused)) == {"introspection_disabled"}, refused.text


def test_depth_token_and_alias_limits_refuse_before_anything_runs(
        stack: Settings, adhoc_internal: httpx.Client, account) -> None:  # type: ignore[no-untyped-def]
    admin = account(roles=("admin",))
    token = internal_session(stack, admin.id)

    def ask(query: str) -> httpx.Response:
        return adhoc_internal.post("/graphql", headers=bearer(token), json={"query": query})

    assert ask("{ me { userId } }").json()["data"]["me"]["userId"] == str(admin.id)
    too_deep = ask("{ users { items { id } } }")  # depth 2, the limit here is 1
    assert too_deep.json()["data"] is None and error_codes(too_deep) == ["depth_limit"]
    many_aliases = ask("{ " + " ".join(f"a{i}: me {{ userId }}" for i in range(21)) + " }")
    assert many_aliases.json()["data"] is None and error_codes(many_aliases) == ["alias_limit"]
    within = ask("{ " + " ".join(f"a{i}: me {{ userId }}" for i in range(20)) + " }")
    assert len(within.json()["data"]) == 20
    many_tokens = ask("{ me { " + "userId " * 2100 + "} }")
    assert many_tokens.json()["data"] is None and error_codes(many_tokens) == ["token_limit"]
    # A lock attempted in a refused document did not happen.
    target = account()
    refused = ask(f"mutation {{ a: lockUser(userId: \"{target.id}\") {{ id }} "
                  + " ".join(f"b{i}: unlockUser(userId: \"{target.id}\") {{ id }}" for i in range(21))
                  + " }")
    assert error_codes(refused) == ["alias_limit"]
    with psycopg.connect(stack.pg_dsn) as conn:
        row = conn.execute("SELECT locked_at FROM users WHERE id = %s", (target.id,)).fetchone()
    assert row == (None,)


def test_every_persisted_query_is_valid_within_the_production_limits(
        stack: Settings, internal: httpx.Client, account) -> None:  # type: ignore[no-untyped-def]
    schema = build_schema()
    for name, text in OPERATIONS.items():
        assert validate(schema._schema, parse(text)) == [], name
    assert len(set(map(persisted.query_id, OPERATIONS.values()))) == len(OPERATIONS)
    # Sent without their variables, each passes the limits and stops at the missing values
    # (or runs, when it needs none): nothing the SPA runs is cut off in production.
    token = internal_session(stack, account(roles=("admin",)).id)
    limits = {"depth_limit", "token_limit", "alias_limit", "introspection_disabled"}
    for name in OPERATIONS:
        answer = persisted_query(internal, name, token)
        assert answer.status_code == 200 and not limits & set(error_codes(answer)), (name, answer.text)


def test_each_origin_names_itself_in_its_csp(stack: Settings, internal: httpx.Client,
                                             public: httpx.Client) -> None:
    internal_csp = internal.get("/healthz").headers["content-security-policy"]
    public_csp = public.get("/healthz").headers["content-security-policy"]
    ws = "wss" if stack.tls else "ws"
    assert f"{ws}://127.0.0.1:{stack.internal_port}" in internal_csp
    assert f":{stack.gateway_port}" not in internal_csp
    assert f"{ws}://127.0.0.1:{stack.gateway_port}" in public_csp
    assert f":{stack.internal_port}" not in public_csp
