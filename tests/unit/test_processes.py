"""The local stack's process table, with harmless local processes (sleep, sh) in a tmp home."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from stack.processes import PidRecord, ProcessTable
from streams.retry import wait_until

pytestmark = pytest.mark.unit

SH = "/bin/sh"


def live_members(pgid: int) -> list[int]:
    """Pids of running (non-zombie) processes in group `pgid`, read straight from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if state != "Z" and int(pgrp) == pgid:
            found.append(int(entry))
    return found


def start_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # already reaped (subprocess polls its children too)


class TrackedTable(ProcessTable):
    """A process table that remembers what it started, so the test can clean up after itself."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.started: list[int] = []

    def spawn(self, name, argv, **kwargs) -> int:  # type: ignore[no-untyped-def, override]
        pid = super().spawn(name, argv, **kwargs)
        self.started.append(pid)
        return pid


@pytest.fixture
def table(tmp_path: Path) -> Iterator[TrackedTable]:
    """A process table in a tmp home; whatever it started is killed (by group id) afterwards."""
    procs = TrackedTable(tmp_path / "home")
    yield procs
    for pid in procs.started:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_until(lambda pid=pid: not live_members(pid), 5.0, 0.05)
        reap(pid)


def test_spawn_runs_in_its_own_session_and_records_pid_and_start(table: ProcessTable) -> None:
    pid = table.spawn("sleeper", ["sleep", "30"])
    assert os.getsid(pid) == pid and os.getpgid(pid) == pid
    assert table.running_pid("sleeper") == pid
    record = msgspec.json.decode(table.pid_file("sleeper").read_bytes(), type=PidRecord)
    assert record == PidRecord(pid, start_ticks(pid), ["sleep", "30"])
    assert "starting sleeper" in table.log_file("sleeper").read_text()


def test_stop_ends_the_whole_group(table: ProcessTable) -> None:
    pid = table.spawn("pair", [SH, "-c", "sleep 30 & sleep 30"])
    assert wait_until(lambda: len(live_members(pid)) == 3, 5.0, 0.05)  # sh and two sleeps
    assert table.stop("pair", timeout_s=10.0) is True
    assert live_members(pid) == []
    assert not table.pid_file("pair").exists()
    assert table.running_pid("pair") is None
    assert table.stop("pair") is False


def test_stop_kills_a_group_that_ignores_sigterm(table: ProcessTable) -> None:
    pid = table.spawn("stubborn", [SH, "-c", "trap '' TERM; sleep 30 & sleep 30"])
    assert wait_until(lambda: len(live_members(pid)) == 3, 5.0, 0.05)
    assert table.stop("stubborn", timeout_s=0.5) is True
    assert live_members(pid) == []


def test_a_stale_pid_file_is_not_ours(table: ProcessTable) -> None:
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        table.run_dir.mkdir(parents=True)
        # Same pid, different start time: the pid was recycled by someone else's process.
        stale = PidRecord(stranger.pid, start_ticks(stranger.pid) + 1, ["sleep", "30"])
        table.pid_file("kafka").write_bytes(msgspec.json.encode(stale))
        assert table.running_pid("kafka") is None
        assert table.stop("kafka", timeout_s=1.0) is False
        assert stranger.poll() is None  # the stranger was not signalled
        assert not table.pid_file("kafka").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_pid_file_of_an_exited_process_is_not_running(table: ProcessTable) -> None:
    pid = table.spawn("brief", ["true"])
    assert wait_until(lambda: not live_members(pid), 5.0, 0.05)
    reap(pid)
    assert table.running_pid("brief") is None
    assert table.stop("brief") is False


@pytest.mark.parametrize("content", [b"", b"not json", b'{"pid": 1}', None])
def test_a_missing_or_unreadable_pid_file_is_not_running(table: ProcessTable, content: bytes | None) -> None:
    if content is not None:
        table.run_dir.mkdir(parents=True)
        table.pid_file("redis").write_bytes(content)
    assert table.running_pid("redis") is None


def test_stop_ends_children_that_outlived_their_leader(table: ProcessTable) -> None:
    pid = table.spawn("orphans", [SH, "-c", "sleep 30 & exit 0"])
    assert wait_until(lambda: live_members(pid) and pid not in live_members(pid), 5.0, 0.05)
    reap(pid)  # as init would in the real stack
    table.stop("orphans", timeout_s=2.0)
    assert live_members(pid) == []


def test_spawn_passes_env_and_cwd_and_logs_output(table: ProcessTable, tmp_path: Path) -> None:
    pid = table.spawn("echo", [SH, "-c", 'echo "token=$STRIDE_X"; pwd'],
                      env={"STRIDE_X": "42", "PATH": os.environ["PATH"]}, cwd=tmp_path)
    assert wait_until(lambda: not live_members(pid), 5.0, 0.05)
    assert table.tail("echo", lines=2).splitlines() == ["token=42", str(tmp_path)]
    assert table.tail("never-started") == ""


def test_wait_until() -> None:
    calls: list[int] = []

    def ready_on_third_call() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionRefusedError  # a failing health check is "not yet"
        return len(calls) >= 3

    assert wait_until(ready_on_third_call, 5.0, 0.01) is True
    assert len(calls) == 3
    assert wait_until(lambda: False, 0.05, 0.01) is False
