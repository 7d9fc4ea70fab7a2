"""Persisted queries: the operations the admin SPA may run, kept in the repository.

`persisted_queries.graphql` beside this file holds named operations (no fragments). Each is
known by the SHA-256 (hex) of its own text, exactly as written between its first and last
character; the SPA sends that id instead of the text, as
`{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<id>"}}, "variables": …}`
(the Apollo convention). In production nothing else runs, so a stolen token cannot explore
the schema or run a costly query it made up; a development setting allows ad-hoc queries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphql import OperationDefinitionNode, parse

REGISTRY = Path(__file__).resolve().parent / "persisted_queries.graphql"


def query_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load(path: Path = REGISTRY) -> dict[str, str]:
    """{operation name: its text} of every operation in the file."""
    source = path.read_text()
    out: dict[str, str] = {}
    for definition in parse(source).definitions:
        if not isinstance(definition, OperationDefinitionNode) or definition.name is None:
            raise ValueError(f"{path}: only named operations belong in the registry")
        assert definition.loc is not None
        name = definition.name.value
        if name in out:
            raise ValueError(f"{path}: the operation {name} is there twice")
        out[name] = source[definition.loc.start:definition.loc.end]
    return out


def by_id(operations: Mapping[str, str]) -> dict[str, str]:
    """{id: text}, the form the gateway looks them up in."""
    return {query_id(text): text for text in operations.values()}


def requested_id(extensions: Mapping[str, Any] | None) -> str | None:
    """The id a request names in `extensions.persistedQuery.sha256Hash`, if any."""
    persisted = (extensions or {}).get("persistedQuery")
    if not isinstance(persisted, Mapping):
        return None
    wanted = persisted.get("sha256Hash")
    return wanted if isinstance(wanted, str) else None
