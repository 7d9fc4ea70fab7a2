"""Processes of the local stack: start in their own session, remember by pid file, stop by pid.

Each component runs as the leader of a new process group, so `stop` can signal the whole
group (Ray's head, for instance, forks a GCS, a raylet and workers) and nothing else.
A pid file holds the pid and the process start time, so a recycled pid is never mistaken
for ours.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from streams.retry import wait_until


class PidRecord(msgspec.Struct, frozen=True):
    pid: int
    start_ticks: int
    argv: list[str]


def _start_ticks(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it follow the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def private_log(home: Path, name: str) -> Path:
    """Where a process the stack does not manage writes its log — a test's own gateway or
    worker, the bench's gateway: `<home>/logs/private/<name>.log`, beside the stack's own
    logs, so the scan for secrets after a test run reads them too."""
    folder = home / "logs" / "private"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.log"


class ProcessTable:
    """Pid files under `<home>/run`, logs under `<home>/logs`."""

    def __init__(self, home: Path) -> None:
        self.run_dir = home / "run"
        self.log_dir = home / "logs"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def record(self, name: str) -> PidRecord | None:
        path = self.pid_file(name)
        if not path.exists():
            return None
        try:
            return msgspec.json.decode(path.read_bytes(), type=PidRecord)
        except msgspec.DecodeError:
            return None

    def running_pid(self, name: str) -> int | None:
        """The pid of our process `name` if it is alive, else None."""
        rec = self.record(name)
        if rec is None or _start_ticks(rec.pid) != rec.start_ticks:
            return None
        return rec.pid

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file(name).open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        ticks = _start_ticks(proc.pid) or 0
        self.pid_file(name).write_bytes(
            msgspec.json.encode(PidRecord(proc.pid, ticks, list(argv)))
        )
        return proc.pid

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> bool:
        """Signal every process of our session `name`, wait for them to go, then SIGKILL
        what is left.

        The session, not the process group: Ray puts each worker in a group of its own, but
        it stays in the session `spawn` created. Children that outlived their leader (a
        crashed `ray start` leaves its raylet, say) are stopped too. Returns True if
        something of ours was running.
        """
        rec = self.record(name)
        path = self.pid_file(name)
        if rec is None or not _session_members(rec.pid, rec.start_ticks):
            path.unlink(missing_ok=True)
            return False
        _signal_all(_session_members(rec.pid, rec.start_ticks), sig)
        if not wait_until(lambda: not _session_members(rec.pid, rec.start_ticks), timeout_s):
            _signal_all(_session_members(rec.pid, rec.start_ticks), signal.SIGKILL)
            wait_until(lambda: not _session_members(rec.pid, rec.start_ticks), 10.0)
        path.unlink(missing_ok=True)
        return True

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log_file(name)
        if not path.exists():
            return ""
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _live_processes() -> dict[int, tuple[int, int, int]]:
    """Every live (not zombie) process: pid → (parent, session, start ticks)."""
    out = {}
    for pid in _pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            out[pid] = (int(fields[1]), int(fields[3]), int(fields[19]))
    return out


def _session_members(sid: int, since_ticks: int) -> list[int]:
    """Live (not zombie) processes of session `sid` started no earlier than its leader.

    The start-time bound keeps a recycled session id from ever pointing at strangers.
    """
    return [pid for pid, (_, session, start) in _live_processes().items()
            if session == sid and start >= since_ticks]


def component_members(sid: int, since_ticks: int) -> list[int]:
    """The session's processes and all their descendants: a component's whole cost, its
    daemons that start sessions of their own included (PostgreSQL's backends do)."""
    stats = _live_processes()
    members = {pid for pid, (_, session, start) in stats.items() if session == sid and start >= since_ticks}
    grew = True
    while grew:
        children = {pid for pid, (parent, _, _) in stats.items() if parent in members} - members
        members |= children
        grew = bool(children)
    return sorted(members)


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


