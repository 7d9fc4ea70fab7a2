"""The internal GraphQL schema, composed from the modules of this package.

Each module here holds one area (users, groups, consents, audit, models, inference …) and
exports a `Query` and/or a `Mutation` Strawberry type; `build_schema` merges every module's
into the root types, so an area is added by adding a module, without editing the others.
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
from strawberry.permission import PermissionExtension
from strawberry.tools import merge_types

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


def build_schema(extensions: Sequence[Any] = ()) -> strawberry.Schema:
    queries, mutations = area_types()
    query = merge_types("Query", tuple(queries))
    mutation = merge_types("Mutation", tuple(mutations))
    missing = unguarded_fields(query, mutation)
    if missing:
        raise TypeError(f"fields without a permission class: {', '.join(missing)}")
    return strawberry.Schema(query=query, mutation=mutation, extensions=list(extensions))
