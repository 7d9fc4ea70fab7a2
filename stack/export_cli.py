"""`stride users export EMAIL`: support staff write a person's export (the same ZIP as
POST /v1/me/export) straight from PostgreSQL, with a progress bar — for a request that came
by letter or for an account that can no longer sign in.

Staff reading a person's data is logged like any other read of their health data
(`health_access_log`, storage/access_log.py): by whom (`--by`, a staff account, if they have
one), why (`--reason`, required), in the same transaction as the export's reads, so the log
row exists exactly when the file does.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.workouts_api import to_out
from stack.settings import Settings
from storage import access_log, accounts
from storage.export_zip import write_export

console = Console()


def run_users_export(settings: Settings, email: str, out: Path | None, by: str | None,
                     reason: str) -> int:
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        console.print("[red]say why[/] (--reason, 1-500 characters): it goes into the person's "
                      "access log")
        return 2
    return asyncio.run(_export(settings, email.strip().lower(), out, by, reason))


async def _export(settings: Settings, email: str, out: Path | None, by: str | None,
                  reason: str) -> int:
    async with await psycopg.AsyncConnection.connect(settings.pg_dsn) as conn:
        user_id = await accounts.user_id_by_email(conn, email)
        staff_id: uuid.UUID | None = None
        if by is not None:
            staff_id = await accounts.user_id_by_email(conn, by.strip().lower())
            if staff_id is None:
                console.print(f"[red]no account {by}[/] (--by names the staff member's account)")
                return 1
        if user_id is None:
            console.print(f"[red]no user with e-mail {email}[/]")
            return 1
        await conn.rollback()  # the export's snapshot starts with its own transaction
        target = out or Path.cwd() / f"stride-export-{user_id}.zip"
        part = target.with_name(target.name + ".part")
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur = await conn.execute("SELECT count(*) FROM workouts WHERE user_id = %s", (user_id,))
        row = await cur.fetchone()
        with Progress(TextColumn("exporting {task.description}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(email, total=row[0] if row else 0)

            async def progress(done: int, total: int) -> bool:
                bar.update(task, completed=done, total=total)
                return True

            try:
                written = await write_export(conn, user_id, part, workout_view=to_out,
                                             health_data=True, progress=progress)
                if staff_id != user_id:  # the log is of others' reads
                    await access_log.record(conn, staff_id, user_id, "export", "export",
                                            staff_reason=reason)
                await conn.commit()
            except BaseException:
                part.unlink(missing_ok=True)
                raise
        part.replace(target)
    console.print(f"[green]✓[/] {target} — {written.workouts} workouts, {written.samples:,} "
                  f"samples, {written.size_bytes / 1e6:.1f} MB, sha256 {written.sha256}")
    console.print("The read is in the person's access log (GET /v1/me/access-log).")
    return 0
