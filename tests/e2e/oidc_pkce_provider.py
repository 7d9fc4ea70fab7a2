"""A real OpenID Connect provider for the tests: oidc-provider-mock with PKCE made mandatory.

oidc-provider-mock 0.3.4 accepts a token request without (or with a wrong) code_verifier, so
it could not tell whether the gateway does PKCE right. This launcher swaps in an
authorization-code grant that requires an S256 challenge and checks the verifier (RFC 7636).
It reaches into the package's private modules, hence the exact version pin in pyproject.

    python tests/e2e/oidc_pkce_provider.py --host 127.0.0.1 --port PORT [--require-nonce]
"""
import dataclasses

import oidc_provider_mock._app as _app
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from oidc_provider_mock.__main__ import run
from oidc_provider_mock._storage import AuthorizationCode


@dataclasses.dataclass(kw_only=True, frozen=True)
class _PkceCode(AuthorizationCode):
    code_challenge: str | None = None
    code_challenge_method: str | None = None


class _StrictS256(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE required: code_challenge + code_challenge_method=S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class _PkceGrant(_app.AuthorizationCodeGrant):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _StrictS256()(self)

    def save_authorization_code(self, code, request):
        super().save_authorization_code(code, request)
        stored = _app.storage.get_authorization_code(code)
        data = request.payload.data
        _app.storage.store_authorization_code(_PkceCode(
            **{f.name: getattr(stored, f.name) for f in dataclasses.fields(stored)},
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method")))


_app.AuthorizationCodeGrant = _PkceGrant  # looked up by name when the app is built

if __name__ == "__main__":
    run()
