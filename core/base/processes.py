"""Detached processes: one launcher, liveness that a reused pid cannot fool, group signals, durable files.

Runs, jobs and model servers are all a leader in its own session and process group,
recorded with its start time in a registry row; these helpers are what they share.
:func:`start_detached` starts such a leader and records it, and a start that fails
marks its row failed with the reason, so no row waits ``starting`` for a pid that never comes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO

from core.base.db import registry
from core.base.errors import MhbenchError
from core.base.workspace import Workspace

if TYPE_CHECKING:
    import psutil

STAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
LAUNCH_GRACE = 60.0
"""A row still without a pid after this long lost its launcher (killed between insert and spawn)."""


def utc_now() -> str:
    return datetime.now(UTC).strftime(STAMP_FORMAT)


def age_seconds(stamp: str) -> float:
    """Seconds since a :func:`utc_now` stamp; 0 for a stamp that does not parse (treated as new)."""
    try:
        then = datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - then).total_seconds()


def launch_abandoned(pid: int | None, created_at: str) -> bool:
    """A row that never got its pid, long enough that its launcher must have died before the spawn."""
    return pid is None and age_seconds(created_at) > LAUNCH_GRACE


def process_start_time(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def child_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """The environment a child gets: ours, the venv's bin first on PATH, then the overrides."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.update(overrides)
    return env


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write, fsync, then rename: a reader sees the old file or the whole new one, even after a crash."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def process_alive(pid: int | None, start_time: float | None) -> bool:
    """True when ``pid`` is still the very process that was started at ``start_time``."""
    if pid is None:
        return False
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return start_time is None or abs(process.create_time() - start_time) < 0.05
    except psutil.Error:
        return False


def group_alive(pgid: int | None) -> bool:
    """Whether any process is left in the process group."""
    if pgid is None:
        return False
    import psutil

    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return False


def process_tree(pid: int | None, start_time: float | None) -> list[psutil.Process]:
    """Every descendant of the process we started, wherever their sessions: torchrun puts each
    worker in a session of its own, which a group signal never reaches."""
    if not process_alive(pid, start_time):
        return []
    import psutil

    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def kill_processes(processes: Sequence[psutil.Process]) -> list[int]:
    """SIGKILL each of ``processes`` still running (psutil checks its start time, so no reused pid); their pids."""
    import psutil

    killed = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                process.kill()
                killed.append(process.pid)
        except psutil.Error:
            continue
    return killed


def session_leaders_below(root: psutil.Process) -> list[psutil.Process]:
    """The grandchildren of ``root`` that lead sessions of their own: torchrun's workers."""
    import psutil

    leaders = []
    for child in root.children():
        try:
            for grandchild in child.children():
                try:
                    if os.getsid(grandchild.pid) == grandchild.pid:
                        leaders.append(grandchild)
                except OSError:
                    continue
        except psutil.Error:
            continue
    return leaders


def signal_group(pid: int | None, start_time: float | None, pgid: int | None, signum: int) -> bool:
    """Signal the group, but only while its leader is the process we started or members remain."""
    if pgid is None:
        return False
    if not process_alive(pid, start_time) and not group_alive(pgid):
        return False
    try:
        os.killpg(pgid, signum)
        return True
    except ProcessLookupError:
        return False


class ChildSupervisor:
    """The detached leader of a run or job: starts one tool, forwards a stop to it, records its end.

    Subclasses say which processes a stop reaches (:meth:`stop_targets`) and how the end is
    recorded. The spec file in ``directory`` holds ``workspace``, ``argv`` and ``env``.
    """

    spec_file = "spec.json"
    stop_signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.spec: dict[str, Any] = json.loads((directory / self.spec_file).read_text(encoding="utf-8"))
        self.stop_signal: str | None = None
        self.child: subprocess.Popen[bytes] | None = None

    def stop_targets(self, root: psutil.Process) -> list[psutil.Process]:
        """The whole tree by default: tools that do not forward signals still stop."""
        return [*root.children(recursive=True), root]

    def tool_environment(self) -> dict[str, str]:
        """What the tool runs with on top of the spec's ``env``: nothing by default."""
        return {}

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signal.Signals(signum).name
        self.forward_stop()

    def forward_stop(self) -> None:
        import psutil

        if self.child is None or self.child.poll() is not None:
            return
        try:
            for process in self.stop_targets(psutil.Process(self.child.pid)):
                process.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass

    def install_signal_handlers(self) -> None:
        for signum in self.stop_signals:
            signal.signal(signum, self.on_signal)
        # Losing the SSH session that started us must not end the work.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def spawn(self, log: BinaryIO) -> subprocess.Popen[bytes] | None:
        """Start the tool with its output in ``log``; on failure say why in the log and return None."""
        try:
            self.child = subprocess.Popen(
                self.spec["argv"],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_environment({**self.spec["env"], **self.tool_environment()}),
            )
        except OSError as error:
            log.write(f"mhbench: cannot start {self.spec['argv'][0]}: {error}\n".encode())
            return None
        return self.child


def await_group_exit(
    pid: int | None,
    start_time: float | None,
    pgid: int | None,
    timeout: float,
    on_kill: Callable[[], None] | None = None,
) -> bool:
    """After a SIGTERM: wait up to ``timeout`` for the group to go, then SIGKILL what is left.

    Returns once nothing is left in the group; True when it had to kill. ``on_kill`` is
    told just before the SIGKILL, to say so.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.1)
    if not group_alive(pgid):
        return False
    if on_kill is not None:
        on_kill()
    signal_group(pid, start_time, pgid, signal.SIGKILL)
    while group_alive(pgid):
        time.sleep(0.05)
    return True


# --- starting a detached leader ------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessRow:
    """The registry row that records one detached leader: which table, which row, and its columns.

    Every such table (``runs``, ``jobs``, ``servers``) has ``id``, ``status``, ``pid``,
    ``pgid``, ``start_time`` and ``ended_at``; the rest differs and is named here.
    """

    table: str
    id: str
    running_status: str | None = "running"
    """The status once the leader is started; ``None`` keeps ``starting`` (a server is started once it answers)."""
    reason_column: str | None = "diagnosis"
    """Where a failed start's reason goes, as a diagnosis; ``None``: the table has none (the log has it)."""
    started_column: str | None = None
    """A column stamped with the time the leader started, if the table keeps one."""


def start_detached(
    workspace: Workspace,
    row: ProcessRow,
    argv: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    env: Mapping[str, str],
    fix: str,
    insert: Mapping[str, Any] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` as the leader of its own session and record it in ``row``; returns at once.

    ``insert``: the new row's other columns, inserted as ``starting`` before the spawn; without
    it the row is already there (a server claims its row first). The leader's output goes to
    ``log_path``; its environment is ours with ``env`` on top. The row gets the pid, the process
    group and the start time; the leader is reaped when it ends, so a long-lived TUI keeps no
    zombie, while a short-lived CLI exits first and the leader passes to init, running on.

    A start that fails (no such executable, no permission) marks the row failed with the
    reason, in the row when it has a place for one and always in the log, and raises an
    error that names the log and ``fix``.
    """
    if insert is not None:
        columns = ["id", "status", *insert]
        with registry(workspace) as connection:
            connection.execute(
                f"INSERT INTO {row.table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                (row.id, "starting", *insert.values()),
            )
    try:
        with log_path.open("ab") as log:
            try:
                process = subprocess.Popen(
                    list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, env=child_environment(env), close_fds=True,
                )
            except OSError as error:
                log.write(f"mhbench: cannot start {argv[0]}: {error}\n".encode())
                raise
    except OSError as error:
        reason = f"cannot start {argv[0]}: {error.strerror or error}"
        _mark_failed(workspace, row, reason, fix)
        raise MhbenchError(f"{reason}.", path=log_path, fix=fix) from None
    except BaseException:
        _mark_failed(workspace, row, "the launch was interrupted before the process started", fix)
        raise
    assignments = ["pid = ?", "pgid = ?", "start_time = ?"]
    values: list[Any] = [process.pid, process.pid, process_start_time(process.pid)]
    if row.running_status is not None:
        # The leader may have written its own status already (it can be that quick).
        assignments.append("status = CASE WHEN status = 'starting' THEN ? ELSE status END")
        values.append(row.running_status)
    if row.started_column is not None:
        assignments.append(f"{row.started_column} = COALESCE({row.started_column}, ?)")
        values.append(utc_now())
    with registry(workspace) as connection:
        connection.execute(f"UPDATE {row.table} SET {', '.join(assignments)} WHERE id = ?", (*values, row.id))
    threading.Thread(target=process.wait, name=f"reap-{row.id}", daemon=True).start()
    return process


def _mark_failed(workspace: Workspace, row: ProcessRow, reason: str, fix: str) -> None:
    assignments, values = ["status = 'failed'", "ended_at = COALESCE(ended_at, ?)"], [utc_now()]
    if row.reason_column is not None:
        assignments.append(f"{row.reason_column} = ?")
        values.append(json.dumps({"kind": "launch_failed", "summary": f"{reason}.", "fix": fix}, ensure_ascii=False))
    with registry(workspace) as connection:
        connection.execute(f"UPDATE {row.table} SET {', '.join(assignments)} WHERE id = ?", (*values, row.id))
