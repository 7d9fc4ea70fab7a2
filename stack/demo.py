"""`stride demo`: bring the stack up, make sure both models serve on Ray Serve (training,
registering and deploying them if not), then a coach, a group and simulated athletes
streaming through it; the web app's live group view (`/app/coach`) shows them while the
terminal shows their summaries, and at the end the recommendations each athlete got and
which model made them.

The web app's sign-ins are printed at the start and again at the end: an athlete of the
crowd, the coach (who coaches a new group every athlete joins and lets its coaches watch
live) on the public origin, and an admin and an ML engineer on the internal origin (the
operations listener), each with TOTP enrolled — the internal sign-in always asks for a
code: their secrets and recovery codes are printed with their logins. With two
athletes or more, the first finishes early and the last one's SpO2 drops below 88 % a
quarter of the way in, so the page shows a finished workout and a risk alert.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import sys
import time
import uuid
from typing import Any

import httpx
import msgspec
import pyotp
from rich.console import Console
from rich.live import Live
from rich.table import Table

from gateway.client import DeviceClient
from stack import local_accounts
from stack.lifecycle import up
from stack.models_cli import ensure_served
from stack.settings import Settings
from stack.simulator import Athlete, simulate
from streams.retry import wait_until_async

NAMES = ["Ada", "Bruno", "Chiara", "Dmitri", "Eun-ji", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
LOW_SPO2_PCT = 86.5
"""Below 90 % (low) and 88 % (severe EIH) once sustained for 30 s: the risk level goes high."""
EARLY_FINISH = 0.6
"""The first athlete stops after this share of the samples."""
# Piped output (CI logs) gets a fixed width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() else 130)


class Coach(msgspec.Struct, frozen=True, kw_only=True):
    email: str
    password: str
    token: str
    group_name: str


class Login(msgspec.Struct, frozen=True, kw_only=True):
    """An athlete's sign-in (e-mail and the password generated for this run)."""

    email: str
    password: str


class Staff(msgspec.Struct, frozen=True, kw_only=True):
    """An admin or an ML engineer: they sign in on the internal origin, always with a second
    factor, so TOTP is enrolled for them."""

    role: str
    email: str
    password: str
    totp_secret: str
    otpauth_uri: str
    recovery_codes: list[str]


def run_demo(settings: Settings, *, athletes: int, duration_s: float, sport: str,
             speedup: int = 5) -> int:
    if up(settings) != 0:
        return 1
    settings = Settings.from_env()
    if ensure_served(settings) != 0:
        return 1
    return asyncio.run(_demo(settings, athletes, duration_s, sport, speedup))


def _crowd(count: int, sport: str, n: int, t0_ms: int) -> list[Athlete]:
    crowd = [simulate(NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i}"), sport,  # type: ignore[arg-type]
                      n, t0_ms, seed=i) for i in range(count)]
    if count >= 2:
        first, last = crowd[0], crowd[-1]
        crowd[0] = msgspec.structs.replace(first, samples=first.samples[:max(2, int(n * EARLY_FINISH))])
        crowd[-1] = msgspec.structs.replace(last, samples=[
            (*s[:5], LOW_SPO2_PCT + (i % 3) * 0.3) if i >= n // 4 else s
            for i, s in enumerate(last.samples)])
    return crowd


async def _demo(settings: Settings, count: int, duration_s: float, sport: str, speedup: int) -> int:
    seconds = int(duration_s)
    t0 = int(time.time() * 1000) - seconds * speedup * 1000
    crowd = _crowd(count, sport, seconds * speedup, t0)
    async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=30) as http:
        with console.status(f"creating a coach, a group and {count} athletes …"):
            try:
                coach, tokens, athlete = await _accounts(settings, http, crowd, sport)
                staff = [await _staff(settings, http, "admin", "Admin"),
                         await _staff(settings, http, "ml_engineer", "Ml")]
            except (httpx.HTTPError, RuntimeError, OSError) as exc:
                console.print(f"[red]cannot set up the demo accounts at {settings.gateway_url}:[/] {exc}")
                return 1
        _sign_ins(settings, coach, athlete, staff, count)
        http.headers["Authorization"] = f"Bearer {coach.token}"
        streams = [asyncio.create_task(_stream(settings, token, a, speedup))
                   for token, a in zip(tokens, crowd, strict=True)]
        with Live(_table(crowd, {}, "streaming"), console=console, refresh_per_second=2) as live:
            while not all(s.done() for s in streams):
                live.update(_table(crowd, await _summaries(http, crowd), "streaming"))
                await asyncio.wait(streams, timeout=1.0)
            errors = [s.exception() for s in streams if s.exception()]
            summaries: dict[Any, dict[str, Any]] = {}

            async def all_stored() -> bool:
                # The last events travel Kafka → worker → PostgreSQL after the last ack.
                summaries.update(await _summaries(http, crowd))
                live.update(_table(crowd, summaries, "finishing"))
                return len(summaries) == len(crowd) and all(
                    s["status"] == "finished" for s in summaries.values())

            done = await wait_until_async(all_stored, timeout_s=30)
            live.update(_table(crowd, summaries, "finished" if done else "not all stored yet"))
        got: dict[str, dict[str, Any]] = {}

        async def all_recommended() -> bool:
            # Each finished workout → the recommender → Ray Serve → the recommendations store.
            for token, athlete in zip(tokens, crowd, strict=True):
                if athlete.name not in got:
                    answer = await _recommendations(http, token)
                    if answer is not None and answer.get("after_workout") == str(athlete.workout_id):
                        got[athlete.name] = answer
            return len(got) == len(crowd)

        with console.status("waiting for each athlete's recommendations …"):
            await wait_until_async(all_recommended, timeout_s=60)
        console.print(_recommendation_table(crowd, got))
    for err in errors:
        console.print(f"[red]an athlete's stream failed:[/] {err}")
    _where_to_look(settings, crowd, coach)
    _sign_ins(settings, coach, athlete, staff, count)
    return 1 if errors else 0


async def _register(settings: Settings, http: httpx.AsyncClient, email: str, password: str,
                    **profile: Any) -> tuple[str, str]:
    """A new account, logged in: (user id, token)."""
    user_id = await local_accounts.create(settings, email, password, **profile)
    return str(user_id), await local_accounts.log_in(http, email, password)


async def _staff(settings: Settings, http: httpx.AsyncClient, role: str, first_name: str) -> Staff:
    """An account with `role` and TOTP enrolled, as its owner would enrol it (the API), the
    secret kept to print: add it to an authenticator app to sign in."""
    email = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:6]}@stride.test"
    password = secrets.token_urlsafe(12)
    await local_accounts.create(settings, email, password, roles=(role,), first_name=first_name)
    token = await local_accounts.log_in(http, email, password)
    headers = {"Authorization": f"Bearer {token}"}
    begun = await http.post("/v1/users/me/mfa/totp", headers=headers)
    if begun.status_code != 200:
        raise RuntimeError(f"TOTP for the demo {role}: {begun.status_code} {begun.text}")
    secret = begun.json()["secret"]
    confirmed = await http.post("/v1/users/me/mfa/totp/confirm", headers=headers,
                                json={"code": pyotp.TOTP(secret).now()})
    if confirmed.status_code != 200:
        raise RuntimeError(f"TOTP for the demo {role}: {confirmed.status_code} {confirmed.text}")
    return Staff(role=role, email=email, password=password, totp_secret=secret,
                 otpauth_uri=begun.json()["otpauth_uri"],
                 recovery_codes=confirmed.json()["recovery_codes"])


def _sign_ins(settings: Settings, coach: Coach, athlete: Login, staff: list[Staff], count: int) -> None:
    """Where to sign in to the web app, as whom (passwords generated for this run)."""
    public, internal = settings.gateway_url, settings.internal_gateway_url
    lines = [
        f"  athlete      {public}/   {athlete.email}   password {athlete.password}",
        f"  coach        {public}/   {coach.email}   password {coach.password}",
        f"               (coaches {coach.group_name}: {count} athletes streaming now)",
    ]
    for person in staff:
        lines += [
            f"  {person.role:<12} {internal}/   {person.email}   password {person.password}",
            f"               TOTP secret {person.totp_secret}  ({person.otpauth_uri})",
            f"               recovery codes {', '.join(person.recovery_codes[:2])} … "
            "(each works once instead of a code on the public origin)",
        ]
    console.print("\n[bold]Sign in to the web app[/] (generated for this run: shown here only; "
                  "admins and ML engineers sign in on the internal origin with their app's code)\n"
                  + "\n".join(lines) + "\n", soft_wrap=True)


async def _accounts(settings: Settings, http: httpx.AsyncClient, crowd: list[Athlete],
                    sport: str) -> tuple[Coach, list[str], Login]:
    """The coach, the group, and every athlete in it with a live consent: (coach, tokens,
    the first athlete's sign-in)."""
    run_id = uuid.uuid4().hex[:6]
    email, password = f"coach-{run_id}@stride.test", secrets.token_urlsafe(12)
    # The coach role opens the web app's coach area (a group's creator coaches it either way).
    _, coach_token = await _register(settings, http, email, password, roles=("coach",),
                                     first_name="Coach")
    coach_headers = {"Authorization": f"Bearer {coach_token}"}
    group_name = f"Demo squad {run_id}"
    made = await http.post("/v1/groups", headers=coach_headers, json={"name": group_name, "sport": sport})
    if made.status_code != 201:
        raise RuntimeError(f"create group: {made.status_code} {made.text}")
    group_id = made.json()["id"]

    async def athlete(i: int, a: Athlete) -> str:
        profile = {"first_name": a.name, "sex": "female" if i % 2 else "male", "weight_kg": 60 + i % 25,
                   "birth_date": dt.date(1970 + i % 35, 6, 15), "hr_rest": 50 + i % 15}
        user_id, token = await _register(settings, http, logins[i].email, logins[i].password,
                                         **profile)
        added = await http.post(f"/v1/groups/{group_id}/members", headers=coach_headers,
                                json={"user_id": user_id, "role": "athlete"})
        consent = await http.post("/v1/consents", headers={"Authorization": f"Bearer {token}"},
                                  json={"group_id": group_id})
        if added.status_code != 200 or consent.status_code != 201:
            raise RuntimeError(f"group membership of {a.name}: {added.text} {consent.text}")
        return token

    logins = [Login(email=f"demo-{run_id}-{i}@stride.test", password=secrets.token_urlsafe(12))
              for i in range(len(crowd))]
    tokens = await asyncio.gather(*(athlete(i, a) for i, a in enumerate(crowd)))
    return (Coach(email=email, password=password, token=coach_token, group_name=group_name),
            list(tokens), logins[0])


async def _stream(settings: Settings, token: str, athlete: Athlete, speedup: int) -> None:
    """Send `speedup` samples per second of wall time, as a phone batching its readings."""
    async with DeviceClient(settings.gateway_ws_url, token) as device:
        first_t = athlete.samples[0][0]
        await device.start(athlete.workout_id, athlete.sport, first_t)
        for seq in range(0, len(athlete.samples), speedup):
            tick = time.monotonic()
            await device.send_samples(athlete.workout_id, seq, athlete.samples[seq:seq + speedup])
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        await device.finish(athlete.workout_id, athlete.samples[-1][0])


async def _recommendations(http: httpx.AsyncClient, token: str) -> dict[str, Any] | None:
    try:
        resp = await http.get("/v1/recommendations/me", headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError:
        return None
    return resp.json() if resp.status_code == 200 and resp.json()["id"] is not None else None


def _recommendation_table(crowd: list[Athlete], got: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Recommendations after each workout (GET /v1/recommendations/me)")
    for col in ("athlete", "ranked by", "risk by", "suggested next", "promo codes"):
        table.add_column(col, no_wrap=col != "suggested next")
    for a in crowd:
        r = got.get(a.name)
        if r is None:
            table.add_row(a.name, "-", "-", "none yet (see `stride stack logs worker`)", "")
            continue
        workouts = ", ".join(f"{w['template_id']} ({w['score']:.2f})" for w in r["workouts"][:3])
        table.add_row(a.name, r["model_version"], r.get("risk_model_version") or "-", workouts,
                      ", ".join(p["code"] for p in r["promos"]) or "-")
    return table


async def _summaries(http: httpx.AsyncClient, crowd: list[Athlete]) -> dict[Any, dict[str, Any]]:
    out = {}
    for athlete in crowd:
        try:
            resp = await http.get(f"/v1/workouts/{athlete.workout_id}")
        except httpx.HTTPError:
            continue  # the gateway is restarting, say: the table shows the rest
        if resp.status_code == 200:
            out[athlete.workout_id] = resp.json()
    return out


def _fmt(value: Any, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _table(crowd: list[Athlete], summaries: dict[Any, dict[str, Any]], phase: str) -> Table:
    table = Table(title=f"Live workouts ({phase}), as the API reads them from PostgreSQL")
    for col in ("athlete", "status", "dist", "moving", "pace/km", "HR avg", "HR max", "SpO2 min",
                "kcal", "TRIMP", "risk", "n"):
        table.add_column(col, justify="right" if col != "athlete" else "left", no_wrap=True)
    for a in crowd:
        s = summaries.get(a.workout_id, {})
        speed = s.get("avg_speed_mps") or 0
        pace = f"{int(1000 / speed // 60)}:{int(1000 / speed % 60):02d}" if speed > 0.3 else "-"
        table.add_row(a.name, s.get("status", "starting"), _fmt(s.get("distance_m"), "{:.0f} m"),
                      _fmt(s.get("moving_time_s"), "{:.0f} s"), pace,
                      _fmt(s.get("avg_hr"), "{:.0f}"), _fmt(s.get("max_hr"), "{:.0f}"),
                      _fmt(s.get("min_spo2"), "{:.1f}%"), _fmt(s.get("calories_kcal"), "{:.0f}"),
                      _fmt(s.get("trimp"), "{:.1f}"), (s.get("risk") or {}).get("level", "-"),
                      _fmt(s.get("samples_count"), "{}"))
    return table


def _where_to_look(settings: Settings, crowd: list[Athlete], coach: Coach) -> None:
    url = settings.gateway_url
    login = (f"curl -s -X POST {url}/v1/auth/login -H 'content-type: application/json' "
             f"""-d '{{"email":"{coach.email}","password":"{coach.password}"}}'""")
    console.print(f"""
[bold]Where to look[/]
  web app           {url}/app/coach   (the coach's live group view: sign in as {coach.email})
  a token           {login}
  one workout       curl -H 'Authorization: Bearer <token>' {url}/v1/workouts/{crowd[0].workout_id}
  its samples       {url}/v1/workouts/{crowd[0].workout_id}/samples
  recommendations   {url}/v1/recommendations/me   (as an athlete; models: stride models status)
  OpenAPI page      {url}/schema
  device WebSocket  {settings.gateway_ws_url}/v1/ingest  (stride.v1.json or stride.v1.msgpack)
  stack             stride stack status · stride stack logs · stride stack down
The stack keeps running until `.venv/bin/stride stack down`.""", soft_wrap=True)
