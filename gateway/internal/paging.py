"""Pages of the internal API's lists: `{items, nextCursor}` with the REST API's opaque keyset
cursors (gateway/cursors.py), and GraphQL objects made from storage Structs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import msgspec
import strawberry

from gateway import cursors
from gateway.errors import ApiError
from gateway.internal.permissions import refuse
from storage.paging import Keyset

T = TypeVar("T")
MAX_LIMIT = 200


@strawberry.type(description="One page of a list, newest first.")
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = strawberry.field(
        description="Pass as `cursor` for the next page; null on the last one.")


def keyset(cursor: str | None, limit: int) -> Keyset | None:
    """The position a `cursor` names (None: the first page); refuses a bad cursor or limit."""
    if not 1 <= limit <= MAX_LIMIT:
        refuse("invalid", f"`limit` must be between 1 and {MAX_LIMIT}")
    try:
        return cursors.keyset_of(cursor)
    except ApiError as exc:
        refuse(exc.code, str(exc.detail))


def page(rows: Sequence[msgspec.Struct], limit: int, item: Callable[[Any], T],
         at: str = "at", ident: str = "id") -> Page[T]:
    """A page of `limit` items from `limit + 1` rows (the extra one says there is more);
    the rows are ordered by (`at`, `ident`), newest first."""
    shown = rows[:limit]
    last = shown[-1] if len(rows) > limit else None
    cursor = None
    if last is not None:
        when: dt.datetime = getattr(last, at)
        key: uuid.UUID = getattr(last, ident)
        cursor = cursors.encode(cursors.Keyset(at=when, id=key))
    return Page(items=[item(r) for r in shown], next_cursor=cursor)


def convert(cls: type[T], value: msgspec.Struct) -> T:
    """A GraphQL object from a storage Struct with the same field names (extra ones dropped)."""
    names = set(cls.__annotations__)
    return cls(**{k: v for k, v in msgspec.structs.asdict(value).items() if k in names})
