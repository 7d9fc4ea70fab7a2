"""Who may resolve a GraphQL field: the one place the internal API checks roles.

Every root field of the schema names one permission class below (the schema refuses to
build otherwise, gateway/internal/schema/__init__.py). A caller without the role gets the
field's error with the code `forbidden` and no data. The HTTP layer has already let through
only internal sessions of admins and ML engineers (gateway/internal/graphql_api.py); this is the
finer check between those two roles.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from graphql import GraphQLError
from litestar import Request
from strawberry.litestar.controller import BaseContext
from strawberry.permission import BasePermission
from strawberry.types import Info

from gateway.accounts_api import client_address
from gateway.auth import Principal


class InternalContext(BaseContext, kw_only=True):
    """What every resolver gets as `info.context`."""

    principal: Principal | None = None
    state: Any = None
    """The app's state: pool, redis, access watch, serve target."""
    address: str = "unknown"
    """The client's address, as the audit records it."""


async def internal_context(request: Request[Any, Any, Any]) -> InternalContext:
    """The Litestar dependency behind `info.context` (the guard has set the principal)."""
    return InternalContext(principal=getattr(request.state, "principal", None),
                           state=request.app.state, address=client_address(request))


def context_of(info: Info[Any, Any]) -> InternalContext:
    context: InternalContext = info.context
    return context


def principal_of(info: Info[Any, Any]) -> Principal:
    principal = context_of(info).principal
    assert principal is not None  # every field has a RolePermission
    return principal


def refuse(code: str, message: str) -> NoReturn:
    """End the field with an error a client can act on: `extensions.code` says which."""
    raise GraphQLError(message, extensions={"code": code})


class RolePermission(BasePermission):
    """The field needs one of `roles`."""

    roles: ClassVar[frozenset[str]] = frozenset()
    error_extensions: ClassVar[dict[str, Any]] = {"code": "forbidden"}  # type: ignore[misc]

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        principal = context_of(info).principal
        return principal is not None and bool(self.roles & set(principal.roles))


class Admin(RolePermission):
    """Accounts, sessions, groups, consents and the audit log."""

    roles = frozenset({"admin"})
    message = "this needs the role admin"


class MlEngineer(RolePermission):
    """Models and the inference log: ML engineers, and admins (as on the REST routes)."""

    roles = frozenset({"ml_engineer", "admin"})
    message = "this needs the role ml_engineer or admin"


class Staff(RolePermission):
    """Everyone who may sign in to the internal gateway."""

    roles = frozenset(MlEngineer.roles | Admin.roles)
    message = "this needs the role admin or ml_engineer"


STAFF = Staff.roles

