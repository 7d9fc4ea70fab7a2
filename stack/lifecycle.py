"""`stride stack up|down|status|logs` and `stride db migrate`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import msgspec
from rich.console import Console
from rich.table import Table

from stack.components import Component, StackError, all_components
from stack.keys_cli import ensure_dev as ensure_dev_keys
from stack.processes import ProcessTable
from stack.settings import Settings, ensure_secret_key
from streams.retry import wait_until

console = Console(stderr=True, soft_wrap=True)


def _components(settings: Settings) -> list[Component]:
    return all_components(settings, ProcessTable(settings.home_path))


def up(settings: Settings, only: list[str] | None = None) -> int:
    started = time.monotonic()
    if not settings.secret_key:
        ensure_secret_key(settings.home_path)
    if ensure_dev_keys(settings):  # a stack of one machine, for development and tests
        console.print(f"[yellow]![/] DEVELOPMENT keys made in {settings.keys_path}: the shares "
                      "are kept there, so processes unseal on their own (stride keys init for "
                      "production)")
    if settings.tls:
        from stack.tls import ensure_local_ca, ensure_trust_bundle

        if not settings.tls_ca_file:
            renewed = ensure_local_ca(settings.tls_path)
            if renewed:
                console.print(f"[green]✓[/] tls       certificates made: {', '.join(renewed)}"
                              f"  ({settings.tls_path})")
        ensure_trust_bundle(settings.tls_path, settings.tls_client.ca)
    for component in _components(settings):
        if only and component.name not in only:
            continue
        t0 = time.monotonic()
        with console.status(f"[bold]{component.name}[/]: starting …"):
            try:
                outcome = component.start()
                if component.name == "postgres":
                    # initdb may have just created the password: read the settings again.
                    settings = Settings.from_env()
                    _migrate(settings)
            except StackError as exc:
                console.print(f"[red]✗ {component.name}[/]: {exc}")
                if exc.hint:
                    console.print(f"  fix: {exc.hint}")
                return 1
            except Exception as exc:  # anything else still names the component that failed
                console.print_exception(max_frames=8)
                console.print(f"[red]✗ {component.name}[/]: {type(exc).__name__}: {exc}")
                return 1
        console.print(f"[green]✓[/] {component.name:<9} {outcome:<17} {component.url}"
                      f"  ({time.monotonic() - t0:.1f} s)")
    if not only or "ray" in only:
        _serve_deployed_models(settings)
    console.print(f"stack up in {time.monotonic() - started:.1f} s;"
                  " `stride stack status` shows it, `stride stack down` stops it")
    return 0


def _serve_deployed_models(settings: Settings) -> None:
    """A Ray that (re)started serves nothing: start the models the registry marks deployed."""
    from stack.models_cli import restore

    with console.status("[bold]models[/]: serving what the registry marks deployed …"):
        try:
            started, failed = asyncio.run(restore(settings))
        except Exception as exc:  # the stack is up; the models can be deployed by hand
            started, failed = [], [f"{type(exc).__name__}: {exc}"]
    if started:
        console.print(f"[green]✓[/] models    serving again: {', '.join(started)}")
    for why in failed:
        console.print(f"[yellow]! models[/]: not restored ({why}); `stride models status` shows"
                      " them, `stride models deploy` serves one")


def _migrate(settings: Settings) -> list[str]:
    from storage.migrate import migrate
    from storage.users import ensure_dev_user

    applied = migrate(settings.pg_dsn)
    if settings.dev_token and settings.dev_token != "off":  # the user the dev token stands for
        ensure_dev_user(settings.pg_dsn, settings.dev_user_id)
    return applied


def migrate_db(settings: Settings) -> int:
    from storage.migrate import MigrationError

    try:
        applied = _migrate(settings)
    except MigrationError as exc:
        console.print(f"[red]migration failed[/]: {exc}")
        return 1
    except Exception as exc:  # most likely PostgreSQL is not reachable
        console.print(f"[red]cannot migrate[/]: {exc}\n  fix: `stride stack up --only postgres`"
                      " or set STRIDE_PG_DSN")
        return 1
    if applied:
        console.print("applied: " + ", ".join(applied))
    else:
        console.print("schema is up to date")
    return 0


def down(settings: Settings, only: list[str] | None = None) -> int:
    for component in reversed(_components(settings)):
        if component.external or (only and component.name not in only):
            continue
        with console.status(f"stopping {component.name} …"):
            stopped = component.stop()
        console.print(f"{'■ stopped' if stopped else '· not running'} {component.name}")
    return 0


NOTHING_RUNS = 3
"""`stride stack status` exit code when no component of the stack runs at all (1: some do,
not all healthy), so scripts can tell a stopped stack from one that is restarting."""


def status(settings: Settings, as_json: bool = False, wait_s: float = 0.0) -> int:
    report = {c.name: c.status() for c in _components(settings)}
    runs = any(s.healthy or s.pid for s in report.values())
    if wait_s > 0 and runs and not all(s.healthy for s in report.values()):
        # Part of it runs: someone is starting or restarting it. Wait for them rather than
        # take it over (a test run that started it would also stop it at its end).
        def healthy() -> bool:
            nonlocal report
            report = {c.name: c.status() for c in _components(settings)}
            return all(s.healthy for s in report.values())
        wait_until(healthy, wait_s, 2.0)
    all_healthy = all(s.healthy for s in report.values())
    code = 0 if all_healthy else 1 if runs else NOTHING_RUNS
    if as_json:
        sys.stdout.write(json.dumps(msgspec.to_builtins(report), indent=2) + "\n")
        return code
    table = Table(title="Stride local stack")
    for col in ("component", "health", "address", "pid", "run by", "consumer lag"):
        table.add_column(col)
    for name, s in report.items():
        health = "[green]healthy[/]" if s.healthy else "[red]down[/]"
        lag = "" if s.lag is None else f"{sum(s.lag.values()):,} records"
        if s.dead_letters:
            lag += f", {s.dead_letters:,} dead-lettered"
        table.add_row(name, health, s.url, str(s.pid or "-"), "stride" if s.managed else "external",
                      lag)
    Console().print(table)
    return code


def logs(settings: Settings, component: str | None, lines: int, follow: bool) -> int:
    procs = ProcessTable(settings.home_path)
    names = [component] if component else [c.name for c in _components(settings)]
    if follow:
        files = [str(procs.log_file(n)) for n in names if procs.log_file(n).exists()]
        if not files:
            console.print("no logs yet; start the stack with `stride stack up`")
            return 1
        return subprocess.call(["tail", "-n", str(lines), "-F", *files])
    for name in names:
        text = procs.tail(name, lines)
        print(f"==> {procs.log_file(name)} <==")
        print(text or "(empty)")
    return 0
