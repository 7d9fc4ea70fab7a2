"""`stride retention run`: enforce the retention settings once, now (storage/retention.py).

The stream worker does the same daily; this is for an operator who lowered a setting, or a
deployment that runs no worker."""

from __future__ import annotations

import asyncio

import psycopg
from rich.console import Console
from rich.table import Table

from stack.settings import Settings
from storage import retention


def run(settings: Settings) -> int:
    async def enforce() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as conn:
            return await retention.enforce(conn, settings.retention)

    deleted = asyncio.run(enforce())
    table = Table(title="Retention")
    table.add_column("table")
    table.add_column("kept (days)", justify="right")
    table.add_column("deleted now", justify="right")
    for target in retention.TARGETS:
        days = getattr(settings.retention, target.setting)
        table.add_row(target.table, str(days) if days else "for ever",
                      str(deleted.get(target.table, 0)))
    Console().print(table)
    return 0
