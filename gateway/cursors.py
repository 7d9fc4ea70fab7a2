"""Opaque page cursors: a keyset position (a msgspec Struct) as URL-safe base64 MessagePack."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import TypeVar

import msgspec

from gateway.errors import ApiError

C = TypeVar("C", bound=msgspec.Struct)


def encode(cursor: msgspec.Struct) -> str:
    return base64.urlsafe_b64encode(msgspec.msgpack.encode(cursor)).decode().rstrip("=")


def decode(text: str, type: type[C], param: str) -> C:
    """The cursor a previous page handed out; 400 `bad_cursor` for anything else."""
    try:
        cursor = msgspec.msgpack.decode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)),
                                        type=type)
    except (binascii.Error, ValueError, msgspec.MsgspecError):
        cursor = None
    if cursor is None or any(isinstance(v, dt.datetime) and v.tzinfo is None
                             for v in msgspec.structs.astuple(cursor)):
        raise ApiError(400, "bad_cursor", f"`{param}` is not a cursor this API returned; "
                       "start again without it")
    return cursor


class Keyset(msgspec.Struct, frozen=True, array_like=True):
    """The position after an item of a list ordered by (created_at, id), newest first."""

    at: dt.datetime
    id: uuid.UUID


def keyset_of(text: str | None, param: str = "cursor") -> tuple[dt.datetime, uuid.UUID] | None:
    if text is None:
        return None
    cursor = decode(text, Keyset, param)
    return cursor.at, cursor.id


def next_page_headers(more: bool, last_at: dt.datetime | None, last_id: uuid.UUID | None
                      ) -> dict[str, str]:
    """`X-Next-Cursor` for a list that has more items after the page."""
    if not more or last_at is None or last_id is None:
        return {}
    return {"X-Next-Cursor": encode(Keyset(at=last_at, id=last_id))}
