"""`/graphql` on the internal gateway: Strawberry's Litestar controller, with the limits a
privileged API needs.

- Persisted queries (gateway/internal/persisted.py): the SPA sends an operation's id; text
  it did not persist is refused with the code `persisted_query_required` unless a
  development setting allows ad-hoc queries.
- Introspection is off unless a development setting turns it on (`introspection_disabled`).
- Depth (`depth_limit`), token (`token_limit`) and alias (`alias_limit`) limits refuse an
  operation before it runs, whoever sent it.
- POST only, so no query rides in a URL (into logs and histories); no GraphiQL page.
Every error carries `extensions.code`; an unexpected one is logged and answered as
`internal` without its text. Refusals of the HTTP layer (no token, another audience's
token, no staff role) stay the REST API's JSON `{code, message}` with 401/403.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from litestar import Request, Response
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.http import GraphQLHTTPResponse
from strawberry.litestar import make_graphql_controller
from strawberry.types import ExecutionResult

from gateway.errors import UNAVAILABLE, ApiError
from gateway.internal import persisted
from gateway.internal.permissions import STAFF, internal_context

log = logging.getLogger("stride.internal")

# What the limits of Strawberry 0.341 (pinned) say, and the code each refusal gets.
_LIMIT_CODES = (
    ("exceeds maximum operation depth", "depth_limit"),
    ("Document contains more than", "token_limit"),
    ("aliases found. Allowed", "alias_limit"),
    ("introspection has been disabled", "introspection_disabled"),
)


class PersistedQueries(SchemaExtension):
    """Runs the registry's text for a request's persisted-query id; refuses other text
    unless `allow_adhoc`."""

    def __init__(self, operations: Mapping[str, str], allow_adhoc: bool) -> None:
        self.operations = operations
        self.allow_adhoc = allow_adhoc

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        wanted = persisted.requested_id(context.operation_extensions)
        if wanted is not None:
            text = self.operations.get(wanted)
            if text is None:
                raise GraphQLError(f"no persisted query {wanted[:64]}",
                                   extensions={"code": "persisted_query_not_found"})
            if context.query and context.query != text:
                raise GraphQLError("the query text differs from the persisted query it names",
                                   extensions={"code": "persisted_query_mismatch"})
            context.query = text
        elif not self.allow_adhoc:
            raise GraphQLError(
                "this gateway runs persisted queries only: send the operation's id as "
                "extensions.persistedQuery.sha256Hash (gateway/internal/persisted_queries.graphql)",
                extensions={"code": "persisted_query_required"})
        yield


class Limits:
    """The operation limits (settings STRIDE_INTERNAL_MAX_*)."""

    def __init__(self, max_depth: int, max_tokens: int, max_aliases: int) -> None:
        self.max_depth, self.max_tokens, self.max_aliases = max_depth, max_tokens, max_aliases


def extensions(limits: Limits, *, adhoc_queries: bool, introspection: bool) -> list[Any]:
    """Factories of the schema's extensions (one instance per request)."""
    factories: list[Any] = [
        functools.partial(PersistedQueries, persisted.by_id(persisted.load()), adhoc_queries),
        functools.partial(MaxTokensLimiter, max_token_count=limits.max_tokens),
        functools.partial(QueryDepthLimiter, max_depth=limits.max_depth),
        functools.partial(MaxAliasesLimiter, max_alias_count=limits.max_aliases),
    ]
    if not introspection:
        factories.append(DisableIntrospection)
    return factories


def error_body(error: GraphQLError) -> dict[str, Any]:
    """The error as the client sees it, always with `extensions.code`."""
    body: dict[str, Any] = dict(error.formatted)
    code = (error.extensions or {}).get("code")
    original = error.original_error
    if code is None and isinstance(original, ApiError):
        code, body["message"] = original.code, str(original.detail)
    elif code is None and isinstance(original, UNAVAILABLE):
        log.warning("a backing service is unavailable: %r", original)
        code, body["message"] = "unavailable", "a backing service is unavailable; try again shortly"
    elif code is None and original is not None and not isinstance(original, GraphQLError):
        log.error("unhandled error in %s", error.path, exc_info=original)
        code, body["message"] = "internal", "internal error; see the internal gateway's log"
    elif code is None:
        code = next((c for text, c in _LIMIT_CODES if text in error.message), "invalid_query")
    body["extensions"] = {**(error.extensions or {}), "code": code}
    return body


def graphql_controller(schema: Any) -> type[Any]:
    """The `/graphql` route: internal sessions of staff only (the app's guard checks it)."""
    base = make_graphql_controller(schema, path="/graphql", graphql_ide=None,
                                   allow_queries_via_get=False, context_getter=internal_context)

    class InternalGraphQL(base):  # type: ignore[misc, valid-type]
        opt = {"roles": sorted(STAFF)}
        include_in_schema = False

        async def execute_request(self, request: Request[Any, Any, Any], context: Any,
                                  root_value: Any) -> Response[Any]:
            try:
                return await self.run(request, context=context, root_value=root_value)  # type: ignore[no-any-return]
            except HTTPException as exc:  # a body that is no GraphQL request at all
                code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code,
                                                                         "bad_request")
                return Response({"code": code, "message": exc.reason}, status_code=exc.status_code)

        async def process_result(self, request: Request[Any, Any, Any],
                                 result: ExecutionResult) -> GraphQLHTTPResponse:
            out: GraphQLHTTPResponse = {"data": result.data}
            if result.errors:
                out["errors"] = [error_body(e) for e in result.errors]
            if result.extensions:
                out["extensions"] = result.extensions
            return out

    return InternalGraphQL
