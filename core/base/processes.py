"""Detached processes: liveness that a reused pid cannot fool, group signals, durable files.

Runs, jobs and model servers are all a leader in its own session and process group,
recorded with its start time; these helpers are what they share.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import psutil


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
                env=child_environment(self.spec["env"]),
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
