"""`stride`: run and inspect the Stride platform.

  stride stack up|down|restart|status|logs   the local stack (Kafka, PostgreSQL, Redis, Ray, worker,
                                     gateway, internal gateway)
  stride db migrate                  apply the SQL migrations
  stride users grant|revoke EMAIL ROLE   manage roles (e.g. make the first admin)
  stride users export EMAIL --reason WHY [--out FILE]   a person's export, by support staff
  stride leaderboards rebuild        recompute the Redis leaderboards from PostgreSQL
  stride retention run               delete what is older than its retention setting, now
  stride keys init|unseal|seal|rotate|status   the key-encryption key and its Shamir shares
  stride backup [--out DIR] | restore SET   backup sets (key material apart); a restore
                                     replays the erasure journal
  stride models train|register|list|show|deploy|rollback|status   models on Ray Serve
  stride bench actors|gateway|sinks|live|serve|export   measure the platform on this machine
  stride demo                        bring the stack up and stream simulated athletes through it
  stride gateway run | internal run | worker run   run one process in the foreground (the stack
                                     uses these)
  stride cluster up|down|status      several hosts in network namespaces (stack/cluster/)
"""

from __future__ import annotations

import argparse
import os
import sys
import typing
from collections.abc import Callable
from pathlib import Path

from stack.settings import RAY_LOOPBACK_ENV, Settings, tls_env
from storage.accounts import Role

Handler = Callable[[argparse.Namespace], int]


COMPONENTS = ["redis", "postgres", "kafka", "ray", "worker", "gateway", "internal"]


def _stack_up(args: argparse.Namespace) -> int:
    from stack.lifecycle import up

    return up(Settings.from_env(), only=args.only)


def _stack_down(args: argparse.Namespace) -> int:
    from stack.lifecycle import down

    return down(Settings.from_env(), only=args.only)


def _stack_restart(args: argparse.Namespace) -> int:
    from stack.lifecycle import down, up

    down(Settings.from_env(), only=args.only)
    return up(Settings.from_env(), only=args.only)


def _stack_status(args: argparse.Namespace) -> int:
    from stack.lifecycle import status

    return status(Settings.from_env(), as_json=args.json, wait_s=args.wait)


def _stack_logs(args: argparse.Namespace) -> int:
    from stack.lifecycle import logs

    return logs(Settings.from_env(), args.component, args.lines, args.follow)


def _db_migrate(args: argparse.Namespace) -> int:
    from stack.lifecycle import migrate_db

    return migrate_db(Settings.from_env())


def _gateway_run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from gateway.app import create_app
    from gateway.log_redaction import RedactSecrets, uvicorn_log_config
    from stack.wiring import gateway_config

    settings = Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
    uvicorn.run(
        create_app(gateway_config(settings)),
        log_config=uvicorn_log_config(),
        host=settings.gateway_host,
        port=settings.gateway_port,
        ws_max_size=64 * 1024,
        ws_ping_interval=20,
        access_log=False,
        log_level="info",
        # uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 and rewrite the
        # client address; the gateway decides that itself (gateway/client_address.py).
        proxy_headers=False,
        **_https(settings, "gateway", client_certs=False),
    )
    return 0


def _https(settings: Settings, role: str, client_certs: bool) -> dict[str, typing.Any]:
    """uvicorn's TLS arguments when the stack runs TLS (nothing otherwise)."""
    if not settings.tls:
        return {}
    import ssl

    files = settings.tls_files(role)
    options: dict[str, typing.Any] = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
    if client_certs:
        options.update(ssl_ca_certs=str(files.ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


def _internal_run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from gateway.internal.app import create_app
    from gateway.log_redaction import RedactSecrets, uvicorn_log_config
    from stack.wiring import internal_config

    settings = Settings.from_env()
    if settings.internal_port == settings.gateway_port and \
            settings.internal_host == settings.gateway_host:
        print("stride: the internal gateway needs a listener of its own: set STRIDE_INTERNAL_PORT",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())
    uvicorn.run(
        create_app(internal_config(settings)),
        log_config=uvicorn_log_config(),
        host=settings.internal_host,
        port=settings.internal_port,
        access_log=False,
        log_level="info",
        proxy_headers=False,  # the app decides whom to believe (gateway/client_address.py)
        # Operators and tools present a certificate from our CA before any request is read.
        **_https(settings, "internal", client_certs=True),
    )
    return 0


def _worker_run(args: argparse.Namespace) -> int:
    import mode.loop
    from faust import Worker

    from stack.wiring import streams_config
    from streams.app import create_app

    mode.loop.use("uvloop")  # libuv's event loop: a fifth of the worker's CPU went to asyncio's
    app = create_app(streams_config(Settings.from_env()))
    Worker(app, loglevel="INFO").execute_from_commandline()
    return 0


def _users_role(args: argparse.Namespace) -> int:
    import asyncio

    import psycopg

    from storage import accounts

    async def change() -> bool:
        async with await psycopg.AsyncConnection.connect(Settings.from_env().pg_dsn,
                                                         autocommit=True) as conn:
            user_id = await accounts.user_id_by_email(conn, args.email)
            if user_id is None:
                return False
            if args.action == "grant":
                return await accounts.grant_role(conn, user_id, args.role, None)
            await accounts.revoke_role(conn, user_id, args.role)
            return True

    if not asyncio.run(change()):
        print(f"stride: no user with e-mail {args.email}; register first (POST /v1/auth/register)",
              file=sys.stderr)
        return 1
    print(f"{args.action}ed {args.role} {'to' if args.action == 'grant' else 'from'} {args.email}")
    required = {r.strip() for r in Settings.from_env().mfa_required_roles.split(",")}
    if args.action == "grant" and args.role in required:
        print(f"the {args.role} role acts only through sessions opened with a second factor: "
              "enrol TOTP (POST /v1/users/me/mfa/totp, then …/confirm) and log in with its code")
    return 0


def _bench_pipeline(args: argparse.Namespace) -> int:
    from stack.bench_pipeline import Options, run

    if args.quick:
        options = Options.quick(args.placement)
    else:
        options = Options(workouts=args.workouts, rate=args.rate, duration=args.duration,
                          placement=args.placement, coaches=args.coaches, ceiling_s=args.ceiling_s,
                          find_max=args.find_max, profile=args.profile)
    return run(Settings.from_env(), options)


def _bench_actors(args: argparse.Namespace) -> int:
    from stack.bench_actors import run

    return run(Settings.from_env(), args.placement, args.workouts, args.seconds,
               args.batch_every, args.metrics_every, args.start_rate)


def _bench_gateway(args: argparse.Namespace) -> int:
    from stack.bench_gateway import run

    return run(Settings.from_env(), args.connections, args.seconds, args.frames_per_s)


def _bench_sinks(args: argparse.Namespace) -> int:
    from stack.bench_sinks import run

    return run(Settings.from_env(), args.rate, args.seconds, args.batch, args.metrics_every,
               args.sealed)


def _bench_live(args: argparse.Namespace) -> int:
    from stack.bench_live import run

    return run(Settings.from_env(), args.coaches, args.athletes_per_coach, args.seconds,
               args.batch_every)


def _bench_serve(args: argparse.Namespace) -> int:
    from stack.bench_serve import run

    return run(Settings.from_env(), args.rate, args.seconds)


def _bench_gps(args: argparse.Namespace) -> int:
    from stack.bench_gps import run

    return run(args.seeds)


def _bench_export(args: argparse.Namespace) -> int:
    from stack.bench_export import run

    return run(Settings.from_env(), args.workouts, args.hours)


def _models(args: argparse.Namespace) -> int:
    from stack import models_cli

    settings = Settings.from_env()
    if args.action == "train":
        return models_cli.train(settings, args.type, args.version, seed=args.seed,
                                register=not args.no_register, by=args.by)
    if args.action == "register":
        return models_cli.register(settings, args.type, args.version, args.source, by=args.by)
    if args.action == "list":
        return models_cli.list_models(settings, args.type)
    if args.action == "show":
        return models_cli.show(settings, args.type, args.version)
    if args.action == "deploy":
        return models_cli.deploy(settings, args.type, args.version, by=args.by,
                                 batching=not args.no_batching)
    if args.action == "rollback":
        return models_cli.rollback(settings, args.type, by=args.by)
    return models_cli.status(settings)


def _leaderboards_rebuild(args: argparse.Namespace) -> int:
    from stack.leaderboards_cli import rebuild

    print(rebuild(Settings.from_env()))
    return 0


def _retention_run(args: argparse.Namespace) -> int:
    from stack.retention_cli import run

    return run(Settings.from_env())


def _backup(args: argparse.Namespace) -> int:
    from stack.backup import BackupError, console, run_backup

    settings = Settings.from_env()
    try:
        run_backup(settings, args.out or settings.home_path / "backups", args.keys_out)
    except BackupError as exc:
        console.print(f"[red]✗ backup[/]: {exc}")
        return 1
    return 0


def _restore(args: argparse.Namespace) -> int:
    from stack.restore import run_restore

    return run_restore(Settings.from_env(), args.backup, force=args.force,
                       journal_from=args.journal_from)


def _keys(args: argparse.Namespace) -> int:
    from stack import keys_cli

    settings = Settings.from_env()
    if args.action == "init":
        return keys_cli.init(settings, args.shares, args.threshold, args.dev, args.out)
    if args.action == "rotate":
        return keys_cli.rotate(settings, args.shares, args.threshold, args.out, args.finish)
    action: Callable[[Settings], int] = getattr(keys_cli, args.action)
    return action(settings)


def _simulate(args: argparse.Namespace) -> int:
    from stack.simulate import run_simulate

    return run_simulate(Settings.from_env(), athletes=args.athletes, sport=args.sport,
                        duration_s=args.duration, rate_hz=args.rate, dropouts=not args.no_dropouts,
                        route_file=args.route)


def _import(args: argparse.Namespace) -> int:
    from stack.track_import import run_import

    return run_import(Settings.from_env(), args.file, args.sport, args.token, args.workout)


def _users_export(args: argparse.Namespace) -> int:
    from stack.export_cli import run_users_export

    return run_users_export(Settings.from_env(), args.email, args.out, args.by, args.reason)


def _demo(args: argparse.Namespace) -> int:
    from stack.demo import run_demo

    return run_demo(Settings.from_env(), athletes=args.athletes, duration_s=args.duration,
                    sport=args.sport)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stride", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")

    stack = groups.add_parser(
        "stack", help="start, stop and inspect the local stack",
        description="The local stack runs under .stack/ (data, logs, pid files), every port on "
        "127.0.0.1. A component whose STRIDE_* variable names an existing server "
        "(STRIDE_KAFKA, STRIDE_PG_DSN, STRIDE_REDIS_URL, STRIDE_RAY_ADDRESS) is only checked.",
    )
    stack_cmds = stack.add_subparsers(dest="command", required=True, metavar="ACTION")
    up = stack_cmds.add_parser(
        "up", help="start every component (idempotent) and wait until each is healthy",
        description="Start Redis, PostgreSQL (and apply migrations), Kafka (and create topics), "
        "Ray, the Faust worker, the gateway and the internal gateway, in that order. Components "
        "already running are left alone. Fails with what to fix if a component does not become healthy.",
    )
    up.add_argument("--only", nargs="+", metavar="NAME", choices=COMPONENTS,
                    help="start only these components (e.g. --only postgres redis)")
    up.set_defaults(func=_stack_up)
    down = stack_cmds.add_parser("down", help="stop what `up` started (by pid file); data is kept")
    down.add_argument("--only", nargs="+", metavar="NAME", choices=COMPONENTS,
                      help="stop only these components (e.g. --only gateway worker)")
    down.set_defaults(func=_stack_down)
    restart = stack_cmds.add_parser(
        "restart", help="stop and start again (e.g. the worker and gateway after a code change)")
    restart.add_argument("--only", nargs="+", metavar="NAME", choices=COMPONENTS,
                         help="restart only these components (default: all)")
    restart.set_defaults(func=_stack_restart)
    st = stack_cmds.add_parser(
        "status", help="each component's address and health; exit 1 if any is down, "
        "3 if none runs"
    )
    st.add_argument("--json", action="store_true", help="print JSON (for scripts and tests)")
    st.add_argument("--wait", type=float, default=0.0, metavar="S",
                    help="when part of the stack runs (starting or restarting), wait up to S "
                    "seconds for all of it to be healthy")
    st.set_defaults(func=_stack_status)
    lg = stack_cmds.add_parser("logs", help="show a component's log (all components by default)")
    lg.add_argument("component", nargs="?",
                    help="redis, postgres, kafka, ray, worker, gateway or internal")
    lg.add_argument("-n", "--lines", type=int, default=40, help="lines from the end (default 40)")
    lg.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    lg.set_defaults(func=_stack_logs)

    db = groups.add_parser("db", help="database schema")
    db_cmds = db.add_subparsers(dest="command", required=True, metavar="ACTION")
    mig = db_cmds.add_parser(
        "migrate", help="apply pending migrations from storage/migrations (each once, in order)"
    )
    mig.set_defaults(func=_db_migrate)

    users = groups.add_parser("users", help="accounts: grant and revoke roles")
    users_cmds = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action in ("grant", "revoke"):
        cmd = users_cmds.add_parser(
            action, help=f"{action} a role (e.g. the first admin: stride users grant you@x.org admin)")
        cmd.add_argument("email", help="the account's e-mail")
        cmd.add_argument("role", choices=typing.get_args(Role))
        cmd.set_defaults(func=_users_role)
    exp = users_cmds.add_parser(
        "export", help="write a person's export ZIP (the one POST /v1/me/export makes), for "
        "support staff",
        description="Reads the person's data straight from PostgreSQL (one consistent snapshot) "
        "and writes the export ZIP: profile, sessions, consents and their journal, groups, "
        "notifications, recommendations, every workout as JSON, CSV and GPX (README.txt in it "
        "explains every file). The read is written to the person's access log with --by and "
        "--reason.")
    exp.add_argument("email", help="whose data (the account's e-mail)")
    exp.add_argument("--out", type=Path, metavar="FILE",
                     help="the ZIP to write (default ./stride-export-<id>.zip)")
    exp.add_argument("--reason", required=True,
                     help="why staff export it (e.g. the ticket): shown to the person")
    exp.add_argument("--by", metavar="EMAIL", help="the staff member's own account, if any")
    exp.set_defaults(func=_users_export)

    bench = groups.add_parser(
        "bench", help="measure the platform on this machine",
        description="Without WHAT: the whole pipeline on the running stack (start it with "
        "`stride stack up`). --workouts devices stream at --rate samples/s (a batch a second) "
        "for --duration s through a gateway of the bench's own with --placement, coaches "
        "watching in groups of 50 (or --coaches): samples/s end to end (acked, then found once in "
        "PostgreSQL), device → ack, device → coach and start → ack latency (p50/p95/p99), "
        "consumer lag, live updates dropped as stale, CPU and memory per component and the "
        "whole stack's CPU per sample; then the ceiling of a bare WebSocket echo "
        "server beside the pipeline's own under the same closed-loop load, and with "
        "--find-max the most concurrent 1 Hz workouts held (ack p99 ≤ 250 ms, coach p99 ≤ 1 s, "
        "consumer lag not growing). Writes JSON, "
        "Markdown and a PNG plot under bench/results/; exits 1 if a sample was lost or "
        "doubled. WHAT runs one part on its own.")
    bench.add_argument("--workouts", type=int, default=200, help="live workouts (default 200)")
    bench.add_argument("--rate", type=float, default=1.0,
                       help="samples a second per workout (default 1)")
    bench.add_argument("--duration", type=int, default=60, metavar="S",
                       help="seconds of steady load (default 60; the target run is 600)")
    bench.add_argument("--placement", choices=["dedicated", "sharded"], default="sharded",
                       help="workout actors: one per workout, or hosts holding many (default sharded)")
    bench.add_argument("--coaches", type=int, default=0, metavar="N",
                       help="coaches watching live, each a group of its own (default one per 50 "
                       "workouts; issue 16's coach target is stated at 400 workouts and 100 coaches)")
    bench.add_argument("--ceiling-s", type=int, default=10, metavar="S",
                       help="seconds of each ceiling run (default 10)")
    bench.add_argument("--find-max", action="store_true",
                       help="also find the most workouts held at 1 Hz (adds minutes)")
    bench.add_argument("--profile", action="store_true",
                       help="sample the gateway, stream worker and workout hosts with py-spy")
    bench.add_argument("--quick", action="store_true",
                       help="a smoke run of about a minute: 40 workouts for 15 s, no thresholds")
    bench.set_defaults(func=_bench_pipeline)
    bench_cmds = bench.add_subparsers(dest="what", required=False, metavar="WHAT")
    actors_bench = bench_cmds.add_parser(
        "actors", help="workout actors: fold cost, memory per workout, start and ack latency",
        description="Times the pure metric fold, measures memory per live workout, then drives "
        "workouts on the running stack's Ray actors (start it with `stride stack up`): each "
        "samples at 1 Hz and sends its batch every --batch-every seconds; workouts start at "
        "--start-rate a second while the started ones stream, then the steady state is "
        "measured. The run uses its own Ray namespace, Kafka topics and Redis keys, removed "
        "afterwards. Writes JSON and Markdown under bench/results/.")
    actors_bench.add_argument("--placement", choices=["dedicated", "sharded"], default="sharded")
    actors_bench.add_argument("--workouts", type=int, default=200, help="live workouts (default 200)")
    actors_bench.add_argument("--seconds", type=int, default=20,
                              help="seconds of steady state after the ramp (default 20)")
    actors_bench.add_argument("--batch-every", type=int, default=5, metavar="S",
                              help="a device sends its samples every S seconds (default 5)")
    actors_bench.add_argument("--metrics-every", type=float, default=5.0, metavar="S",
                              help="live metrics per workout every S seconds (default 5)")
    actors_bench.add_argument("--start-rate", type=int, default=200, metavar="N",
                              help="workouts started per second during the ramp (default 200)")
    actors_bench.set_defaults(func=_bench_actors)
    gateway_bench = bench_cmds.add_parser(
        "gateway", help="device connections through one gateway process: frames/s, ack latency",
        description="Opens --connections device WebSockets to the running stack's gateway (bench "
        "accounts `bench-<run>-<k>@stride.test` are created in PostgreSQL, 8 devices each, and "
        "stay), starts a workout on each and sends one-sample frames at --frames-per-s per "
        "connection, spread evenly. Reports acked frames per second, frame → ack p50/p99, "
        "errors and the gateway's CPU and memory, under bench/results/.")
    gateway_bench.add_argument("--connections", type=int, default=500,
                               help="device connections (default 500)")
    gateway_bench.add_argument("--seconds", type=int, default=20,
                               help="seconds measured after a 3 s warm-up (default 20)")
    gateway_bench.add_argument("--frames-per-s", type=float, default=1.0, metavar="F",
                               help="frames a second per connection (default 1)")
    gateway_bench.set_defaults(func=_bench_gateway)
    sinks_bench = bench_cmds.add_parser(
        "sinks", help="stream worker throughput, consumer lag, leaderboard latency, reads",
        description="Runs a second stream worker (every agent) beside the stack's, on its own "
        "topics, consumer group, database and Redis prefix, and streams synthetic workouts "
        "into it: --rate samples a second in batches of --batch, live metrics every "
        "--metrics-every s per workout, for --seconds. Samples the consumer lag every 5 s, "
        "times workout completion → leaderboard score in Redis, then drains the backlog, checks "
        "that the samples table holds exactly what was produced and times reading a 2-hour "
        "workout in 1-minute buckets. Writes JSON, Markdown and an SVG lag plot under "
        "bench/results/; exits 1 if a sample is missing. Needs a running stack.")
    sinks_bench.add_argument("--rate", type=int, default=10_000,
                             help="samples a second (default 10000)")
    sinks_bench.add_argument("--seconds", type=int, default=60,
                             help="seconds of load (default 60; the target is 600)")
    sinks_bench.add_argument("--batch", type=int, default=5,
                             help="samples per event, as actors emit them (default 5)")
    sinks_bench.add_argument("--metrics-every", type=float, default=10.0, metavar="S",
                             help="live metrics per workout every S seconds (default 10)")
    sinks_bench.add_argument("--sealed", action="store_true",
                             help="seal the events with the athletes' data keys, as the stack "
                                  "does (default: plain events, to compare against)")
    sinks_bench.set_defaults(func=_bench_sinks)

    live_bench = bench_cmds.add_parser(
        "live", help="device send → coach receive latency through the whole stack",
        description="Creates --coaches coaches, each with a group of --athletes-per-coach "
        "consenting athletes (accounts `bench-live-<run>-…@stride.test`, made directly in "
        "PostgreSQL). Every athlete streams a workout at 1 Hz, sending a batch every "
        "--batch-every s; every coach watches its group on WS /v1/live. Reports how long a "
        "batch takes from its device to a coach's screen (p50/p99), under bench/results/. "
        "Start the stack with STRIDE_PLACEMENT=sharded for more than a few dozen athletes.")
    live_bench.add_argument("--coaches", type=int, default=20, help="coaches (default 20)")
    live_bench.add_argument("--athletes-per-coach", type=int, default=25,
                            help="athletes in each coach's group (default 25)")
    live_bench.add_argument("--seconds", type=int, default=30,
                            help="seconds measured after a 5 s warm-up (default 30)")
    live_bench.add_argument("--batch-every", type=float, default=1.0, metavar="S",
                            help="each device sends a batch every S seconds (default 1)")
    live_bench.set_defaults(func=_bench_live)
    serve_bench = bench_cmds.add_parser(
        "serve", help="the risk model on Ray Serve: latency, throughput, batching, a deploy",
        description="Trains two small risk versions, deploys the first as a Serve application "
        "of its own on the stack's Ray, sends --rate requests a second (open loop) for "
        "--seconds with batching on and then off, then deploys the second version under load "
        "and counts failed requests. Writes JSON and Markdown under bench/results/; exits 1 "
        "if a request failed during the deploy. Needs a running stack.")
    serve_bench.add_argument("--rate", type=int, default=500, help="requests a second (default 500)")
    serve_bench.add_argument("--seconds", type=int, default=15,
                             help="seconds of load per run (default 15)")
    serve_bench.set_defaults(func=_bench_serve)
    gps_bench = bench_cmds.add_parser(
        "gps", help="the distance method's error on seeded noisy tracks (no stack needed)",
        description="Folds the GPS cases of issue 15 — a still device, slow walks, runs, a "
        "400 m track, stop and go, a ride saved as a hike, sparse fixes, Doppler — with "
        "--seeds noise draws each through the distance metric, and reports the mean and worst "
        "error of distance and moving time under bench/results/.")
    gps_bench.add_argument("--seeds", type=int, default=50, help="noise draws a case (default 50)")
    gps_bench.set_defaults(func=_bench_gps)
    export_bench = bench_cmds.add_parser(
        "export", help="a person's export: time and peak memory for many long workouts",
        description="Makes a bench account in PostgreSQL with --workouts finished workouts of "
        "--hours at 1 Hz (every sample field, a pause each), writes its export ZIP with the code "
        "the gateway's export jobs run, reports the time, samples a second, the ZIP's size and "
        "the peak memory under bench/results/, and deletes the account. Needs the stack's "
        "PostgreSQL.")
    export_bench.add_argument("--workouts", type=int, default=50, help="workouts (default 50)")
    export_bench.add_argument("--hours", type=float, default=1.0,
                              help="length of each at 1 Hz (default 1)")
    export_bench.set_defaults(func=_bench_export)

    models = groups.add_parser(
        "models", help="the model registry and Ray Serve: train, register, deploy, roll back",
        description="ML models (models/) are trained here from a seed, registered with a "
        "checksum in `ai_models`, and served on the stack's Ray Serve as the applications "
        "`risk` and `recommend`. A deploy is a rolling update that drops no request; rollback "
        "returns to the version deployed before. BY names who acts (an account's e-mail).")
    models_cmds = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    kinds = ["risk", "recommend"]
    m_train = models_cmds.add_parser("train", help="train from a seed on synthetic data, "
                                     "store under .stack/models/ and register")
    m_train.add_argument("type", choices=kinds)
    m_train.add_argument("version", help="a name for this version, e.g. 2026-11-25a")
    m_train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    m_train.add_argument("--no-register", action="store_true", help="only train and store")
    m_reg = models_cmds.add_parser("register", help="register an artifact folder or fsspec URL")
    m_reg.add_argument("type", choices=kinds)
    m_reg.add_argument("version")
    m_reg.add_argument("source", help="a folder with model.pt and meta.json, or an fsspec URL")
    m_list = models_cmds.add_parser("list", help="registered versions, newest first")
    m_list.add_argument("type", nargs="?", choices=kinds)
    m_show = models_cmds.add_parser("show", help="one version (default: the deployed one), "
                                    "its metrics and the deploy history")
    m_show.add_argument("type", choices=kinds)
    m_show.add_argument("version", nargs="?")
    m_deploy = models_cmds.add_parser("deploy", help="serve this version (rolling, no request "
                                      "dropped)")
    m_deploy.add_argument("type", choices=kinds)
    m_deploy.add_argument("version")
    m_deploy.add_argument("--no-batching", action="store_true",
                          help="answer each request alone (for comparison)")
    m_rollback = models_cmds.add_parser("rollback", help="serve the version deployed before")
    m_rollback.add_argument("type", choices=kinds)
    models_cmds.add_parser("status", help="what the registry says is deployed, next to what "
                           "Serve answers with")
    for sub in (m_train, m_reg, m_deploy, m_rollback):
        sub.add_argument("--by", metavar="BY", help="who acts (an account's e-mail)")
    models.set_defaults(func=_models)

    boards = groups.add_parser("leaderboards", help="the Redis leaderboards")
    boards_cmds = boards.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = boards_cmds.add_parser(
        "rebuild", help="recompute the Redis leaderboards from PostgreSQL",
        description="Rewrites every day, week and all-time board still kept in Redis from the "
        "`leaderboard` table (each key swapped in atomically; stale keys removed). Safe while "
        "the stream worker runs. Use it after Redis lost its data.")
    rebuild.set_defaults(func=_leaderboards_rebuild)

    kept = groups.add_parser("retention", help="how long records are kept")
    kept_cmds = kept.add_subparsers(dest="action", required=True, metavar="ACTION")
    kept_run = kept_cmds.add_parser(
        "run", help="delete what is older than its retention setting, now",
        description="Samples, live metrics, the inference log and notification logs are kept "
        "for STRIDE_RETENTION_<KIND>_DAYS days (README: What is kept how long). The stream "
        "worker enforces them daily on either dialect; this runs it once, now.")
    kept_run.set_defaults(func=_retention_run)

    keys = groups.add_parser(
        "keys", help="the key-encryption key: Shamir shares, unseal, rotate",
        description="Envelope encryption (privacy/keys.py): a key-encryption key (KEK) in "
        "the keys folder (STRIDE_KEYS_DIR, default <STRIDE_HOME>/keys), split into Shamir "
        "shares so that no single operator holds it, wraps each person's data key.")
    keys_cmds = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    k_init = keys_cmds.add_parser("init", help="make the KEK and hand out its shares once")
    k_rotate = keys_cmds.add_parser(
        "rotate", help="a new KEK (and new shares); every data key re-wrapped, data unchanged")
    for sub, default in ((k_init, (5, 3)), (k_rotate, (None, None))):
        sub.add_argument("--shares", type=int, default=default[0], metavar="N",
                         help="shares to make (init: 5; rotate: as before)")
        sub.add_argument("--threshold", type=int, default=default[1], metavar="K",
                         help="shares needed to unseal (init: 3; rotate: as before)")
        sub.add_argument("--out", type=Path, metavar="DIR",
                         help="write one share file per holder here instead of printing them")
        sub.set_defaults(func=_keys)
    k_init.add_argument("--dev", action="store_true",
                        help="development: keep the shares in the keys folder so processes "
                             "unseal on their own (what `stride stack up` makes when none exist)")
    k_rotate.add_argument("--finish", action="store_true",
                          help="finish a rotation that was cut short")
    keys_cmds.add_parser("unseal", help="the threshold of shares, one a line on standard "
                         "input (or asked for at a terminal)").set_defaults(func=_keys)
    keys_cmds.add_parser("seal", help="remove the unsealed KEK from this machine"
                         ).set_defaults(func=_keys)
    keys_cmds.add_parser("status", help="the keyring, whether it is unsealed, data keys by KEK"
                         ).set_defaults(func=_keys)

    bak = groups.add_parser(
        "backup", help="a backup set of PostgreSQL and Redis, with the key material apart",
        description="Writes OUT/stride-backup-<UTC time>/: a pg_dump (custom format) of the "
        "stack's database, the Redis keys worth keeping (workout snapshots, leaderboards, "
        "recommendations) and manifest.json (versions, migration level, counts, checksums); "
        "and, apart from it, OUT/stride-backup-<time>.keys/ (or --keys-out): the keyring the "
        "dump's wrapped data keys need — store it elsewhere than the sets. Folders are 0700. "
        "Safe while the stack runs.")
    bak.add_argument("--out", type=Path, metavar="DIR",
                     help="where the set goes (default <STRIDE_HOME>/backups)")
    bak.add_argument("--keys-out", type=Path, metavar="DIR",
                     help="a new folder for the key material (default beside the set, "
                          "named <set>.keys)")
    bak.set_defaults(func=_backup)
    res = groups.add_parser(
        "restore", help="a backup set back into the stack, then the erasure journal replayed",
        description="Checks the set's checksums, then replaces the stack's database with the "
        "dump (in one transaction), migrates it to this code's level, replaces the kept Redis "
        "keys, and erases again every restored account that the erasure journal (kept from "
        "the database before the restore, and the set's own) names, so nobody erased comes "
        "back. Stop the gateways and the worker first (`stride stack down --only gateway "
        "internal worker`): it refuses while other clients are connected, and refuses to "
        "replace a database holding accounts unless --force. It starts and stops nothing.")
    res.add_argument("backup", type=Path, metavar="SET", help="a backup set folder")
    res.add_argument("--force", action="store_true",
                     help="replace a database that holds accounts or workouts")
    res.add_argument("--journal-from", type=Path, action="append", metavar="NEWER_SET",
                     help="also replay the erasure journal a newer set carries (when the "
                          "database that held the newest journal is lost); repeatable")
    res.set_defaults(func=_restore)

    sim = groups.add_parser(
        "simulate", help="athletes streaming through the offline-first device SDK",
        description="Registers one account per athlete, then streams each athlete's plausible "
        "track (loops around a base point, sport-specific speed, heart rate following effort "
        "with lag and drift, SpO2, GPS noise and spikes) in real time through the offline-first "
        "SDK (gateway/offline.py). Connections drop now and then; devices keep recording and "
        "resend the gap. Ends with a table of samples recorded, sent, acked, resent and stored, "
        "and exits 1 if any sample was lost. Needs a running stack (`stride stack up`).")
    sim.add_argument("--athletes", type=int, default=10, help="simulated athletes (default 10)")
    sim.add_argument("--sport", default="run", choices=["run", "ride", "walk", "hike"],
                     help="sport of the workouts (default run)")
    sim.add_argument("--duration", type=float, default=60.0,
                     help="seconds of streaming (default 60)")
    sim.add_argument("--rate", type=float, default=1.0, help="samples per second (default 1)")
    sim.add_argument("--no-dropouts", action="store_true", help="keep every connection up")
    sim.add_argument("--route", type=Path, metavar="FILE.gpx",
                     help="follow this GPX track (each athlete from a random point of it) "
                          "instead of loops around a base point")
    sim.set_defaults(func=_simulate)

    imp = groups.add_parser(
        "import", help="replay a recorded workout (GPX, FIT, or a Stride export's CSV or ZIP) "
        "through the device protocol",
        description="Streams the track points of a GPX file (time, position, elevation, and heart "
        "rate from Garmin's TrackPointExtension) or the records of a FIT file as one workout, "
        "with their original times, then prints the platform's summary next to gpxpy's figures "
        "over the same points. A Stride export's workout CSV (with its JSON beside it) or the "
        "export ZIP is replayed with every sample field, its pauses and its finish, and its "
        "exported figures are printed next to the new ones.")
    imp.add_argument("file", type=Path, help="a .gpx, .fit, export .csv or export .zip file")
    imp.add_argument("--workout", metavar="ID",
                     help="of an export ZIP, only this workout (default: every one in it)")
    imp.add_argument("--sport", default=None,
                     choices=["run", "ride", "walk", "swim", "row", "hike", "ski", "other"],
                     help="sport of the workout (default: the export's, else run)")
    imp.add_argument("--token", default=os.environ.get("STRIDE_TOKEN"),
                     help="the athlete's bearer token (POST /v1/auth/login, or the `token` of "
                     "`stride demo`'s logins); default $STRIDE_TOKEN. Write it --token=T: a token may "
                     "begin with '-', which argparse would read as an option")
    imp.set_defaults(func=_import)

    demo = groups.add_parser(
        "demo", help="bring the stack up and stream simulated athletes through it",
        description="Starts the local stack if needed, creates a coach and a group of "
        "consenting athletes, streams the athletes over the device WebSocket (one finishes "
        "early, one's SpO2 drops), shows each workout's live summary as the platform computes "
        "it, and prints where to look: the web app's live group view at /app/coach with the "
        "coach's login. The stack keeps running afterwards: `stride stack down` stops it.",
    )
    demo.add_argument("--athletes", type=int, default=4, help="simulated athletes (default 4)")
    demo.add_argument("--duration", type=float, default=45.0,
                      help="seconds of streaming (default 45)")
    demo.add_argument("--sport", default="run", choices=["run", "ride", "walk", "hike"],
                      help="sport of the simulated workouts (default run)")
    demo.set_defaults(func=_demo)

    from stack.cluster.cli import register as register_cluster

    register_cluster(groups)

    for name, func, text in (
        ("gateway", _gateway_run, "the HTTP/WebSocket gateway (uvicorn)"),
        ("internal", _internal_run, "the internal gateway: admin and ML areas (uvicorn)"),
        ("worker", _worker_run, "the Faust stream worker"),
    ):
        grp = groups.add_parser(name, help=f"run {text} in the foreground")
        cmds = grp.add_subparsers(dest="command", required=True, metavar="ACTION")
        cmds.add_parser("run", help=f"run {text} until interrupted").set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    for key, value in RAY_LOOPBACK_ENV.items():
        os.environ.setdefault(key, value)
    # This process's TLS identity (Kafka's client certificate, Ray's TLS variables) for itself
    # and every process it starts.
    os.environ.update(tls_env(Settings.from_env()))
    args = build_parser().parse_args(argv)
    handler: Handler = args.func
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
