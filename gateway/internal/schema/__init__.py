"""The internal GraphQL schema, composed from the modules of this package.

Each module here holds one area (users, groups, consents, audit, models, inference …) and
exports a `Query` and/or a `Mutation` Strawberry type; `build_schema` merges every module's
into the root types, so an area is added by adding a module, without editing the others. A
module's custom scalars, if it has any, are its `SCALARS` ({NewType: strawberry.scalar(name=…)}).
Every root field must name a permission class (gateway/internal/permissions.py): the schema
refuses to build otherwise, so no field can be reached on the HTTP layer's check alone.
Health data (heart rate, SpO2 and what derives from them) has no field here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.permission import PermissionExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from gateway.internal.permissions import RolePermission


def area_types() -> tuple[list[type], list[type]]:
    """(Query types, Mutation types) of every module in this package, by module name."""
    queries: list[type] = []
    mutations: list[type] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "Query"):
            queries.append(module.Query)
        if hasattr(module, "Mutation"):
            mutations.append(module.Mutation)
    return queries, mutations


def area_scalars() -> dict[object, Any]:
    """Every module's `SCALARS`, for the schema's scalar map."""
    found: dict[object, Any] = {}
    for info in pkgutil.iter_modules(__path__):
        found.update(getattr(importlib.import_module(f"{__name__}.{info.name}"), "SCALARS", {}))
    return found


def unguarded_fields(*roots: type) -> list[str]:
    """Root fields without a RolePermission (there must be none)."""
    missing = []
    for root in roots:
        for field in root.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            guards = [p for ext in field.extensions if isinstance(ext, PermissionExtension)
                      for p in ext.permissions]
            if not guards or not all(isinstance(p, RolePermission) for p in guards):
                missing.append(f"{root.__name__}.{field.python_name}")
    return missing


class InternalSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Nothing here: a refused or malformed operation is the client's to fix and is
        answered, not logged (its text could hold search terms, e-mail addresses); an
        unexpected error is logged where it is answered (graphql_api.error_body)."""


def build_schema(extensions: Sequence[Any] = (), *, suggestions: bool = False) -> strawberry.Schema:
    """The schema; without `suggestions`, errors do not suggest field names (with
    introspection off, they would tell the schema bit by bit)."""
    queries, mutations = area_types()
    query = merge_types("Query", tuple(queries))
    mutation = merge_types("Mutation", tuple(mutations))
    missing = unguarded_fields(query, mutation)
    if missing:
        raise TypeError(f"fields without a permission class: {', '.join(missing)}")
    return InternalSchema(query=query, mutation=mutation, extensions=list(extensions),
                          config=StrawberryConfig(disable_field_suggestions=not suggestions,
                                                  scalar_map=area_scalars()))
