"""Keyset paging for the lists the API hands out a page at a time, newest first.

A list query orders by `(created_at, id) DESC` (or the list's own pair) and keeps the rows
before the previous page's last one: `AND (%(at)s::timestamptz IS NULL OR (t, id) < (%(at)s,
%(id)s))` with the parameters of `after`.
"""

from __future__ import annotations

import datetime as dt
import uuid

Keyset = tuple[dt.datetime, uuid.UUID]
"""(time, id) of the last row of the previous page."""


def after(before: Keyset | None) -> dict[str, object]:
    """The `at` and `id` query parameters for `before` (both None on the first page)."""
    return {"at": before[0] if before else None, "id": before[1] if before else None}
