"""Stopping a torchrun run (issue 20), with real processes shaped as torchrun's: the workers lead
sessions of their own and have DataLoader children; the agent kills each worker's whole group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from core.base.processes import kill_processes, process_tree
from core.train.runner import STOP_FILE, Supervisor

# launcher -> agent (as torchrun) -> 2 workers (start_new_session) -> 1 "DataLoader" child each.
# A worker saves on SIGTERM (as graceful_exit does) unless its DataLoader died first; the agent
# passes a SIGTERM on with os.killpg, as torchrun does, which kills the DataLoader too.
WORKER = r"""
import os, signal, subprocess, sys, time
out = sys.argv[1]
loader = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
def stop(signum, frame):
    time.sleep(0.3)
    saved = loader.poll() is None
    open(os.path.join(out, f"worker-{os.getpid()}"), "w").write("saved" if saved else "loader-dead")
    loader.kill()
    sys.exit(0)
if sys.argv[2] == "graceful":
    signal.signal(signal.SIGTERM, stop)
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a worker stuck in a collective
print("ready", flush=True)
time.sleep(600)
"""
AGENT = r"""
import os, signal, subprocess, sys, time
workers = [subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]], start_new_session=True)
           for _ in range(2)]
def forward(signum, frame):
    for w in workers:
        os.killpg(w.pid, signal.SIGTERM)
signal.signal(signal.SIGTERM, forward)
while any(w.poll() is None for w in workers):
    time.sleep(0.1)
"""
LAUNCHER = r"""
import subprocess, sys
sys.exit(subprocess.call([sys.executable, "-c", sys.argv[1], *sys.argv[2:]]))
"""


@contextmanager
def fake_torchrun(tmp_path: Path, mode: str) -> Iterator[subprocess.Popen[bytes]]:
    """The tree, started and waited for; whatever is left of it is killed on the way out."""
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, AGENT, WORKER, str(tmp_path), mode],
                                start_new_session=True, stdout=subprocess.DEVNULL)
    found: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 30
        while len(found) < 5:  # the agent, 2 workers, a DataLoader each
            assert time.monotonic() < deadline, "the fake torchrun tree did not start"
            time.sleep(0.1)
            found = psutil.Process(launcher.pid).children(recursive=True)
        time.sleep(0.5)  # the workers' SIGTERM handlers are set once they print ready
        yield launcher
    finally:
        kill_processes([*found, psutil.Process(launcher.pid)] if launcher.poll() is None else found)
        launcher.wait(timeout=10)


@pytest.fixture()
def supervisor(tmp_path: Path) -> Supervisor:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"id": "r", "workspace": str(tmp_path / "ws"), "argv": [], "env": {}}))
    return Supervisor(run_dir)


def test_a_stop_reaches_torchruns_workers_and_not_their_dataloaders(tmp_path: Path, supervisor: Supervisor) -> None:
    with fake_torchrun(tmp_path, "graceful") as launcher:
        agent = psutil.Process(launcher.pid).children()[0]
        targets = supervisor.stop_targets(psutil.Process(launcher.pid))
        assert len(targets) == 2 and all(os.getsid(t.pid) == t.pid for t in targets)
        assert agent not in targets  # torchrun would kill each worker's group, DataLoader included
        for target in targets:
            target.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 0
        marks = sorted(path.read_text() for path in tmp_path.glob("worker-*"))
        assert marks == ["saved", "saved"]


def test_after_the_timeout_every_process_under_the_run_is_killed(tmp_path: Path) -> None:
    with fake_torchrun(tmp_path, "stuck") as launcher:
        found = process_tree(launcher.pid, psutil.Process(launcher.pid).create_time())
        workers = [p for p in found if os.getsid(p.pid) == p.pid]
        assert len(workers) == 2
        os.killpg(launcher.pid, signal.SIGKILL)  # the group kill: the workers' sessions are not in it
        launcher.wait(timeout=10)
        time.sleep(0.3)
        assert all(worker.is_running() for worker in workers)  # what orphans would keep GPU memory
        assert len(kill_processes(found)) >= 4  # the workers and their DataLoaders, found before the kill
        _, alive = psutil.wait_procs(found, timeout=10)
        assert alive == []


def test_a_run_stops_on_its_own_stop_file_not_on_tmp_stop(supervisor: Supervisor) -> None:
    env = supervisor.tool_environment()
    assert env["MHBENCH_STOP_FILE"] == str(supervisor.run_dir / STOP_FILE)
    assert int(env["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"]) >= 120
    probe = ("from swift.utils.shutdown_manager import ShutdownManager; m = ShutdownManager(); "
             "print(m._stop_file, m.should_shutdown())")
    pytest.importorskip("swift")
    got = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert got == [str(supervisor.run_dir / STOP_FILE), "False"]
    (supervisor.run_dir / STOP_FILE).touch()
    got = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert got[1] == "True"
