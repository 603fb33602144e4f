"""GPU processes, the sparkline history, process-to-run mapping and the sampler thread."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from core.base.gpu import (
    GIB,
    GpuHistory,
    GpuProcess,
    GpuReport,
    GpuSample,
    GpuSampler,
    map_processes_to_runs,
    sample_gpus,
)


@dataclass
class FakeGpu:
    used: int
    total: int = 80 * GIB
    utilisation: int = 50
    compute: list[Any] = field(default_factory=list)
    graphics: list[Any] = field(default_factory=list)


class FakeNvml:
    """The part of ``pynvml`` that ``core.base.gpu`` calls, with running processes."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, gpus: list[FakeGpu], init_error: Exception | None = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.calls: list[str] = []
        self.reads = 0
        self.lock = threading.Lock()

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlSystemGetDriverVersion(self) -> bytes:
        return b"570.86.15"

    def nvmlDeviceGetCount(self) -> int:
        with self.lock:
            self.reads += 1
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: FakeGpu) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu) -> Any:
        return SimpleNamespace(used=handle.used, total=handle.total, free=handle.total - handle.used)

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGpu) -> Any:
        return SimpleNamespace(gpu=handle.utilisation, memory=0)

    def nvmlDeviceGetTemperature(self, handle: FakeGpu, sensor: int) -> int:
        return 60

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        return 300_000

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeGpu) -> list[Any]:
        return handle.compute

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: FakeGpu) -> list[Any]:
        return handle.graphics


def proc(pid: int, used: int | None) -> Any:
    """An entry as pynvml returns it: ``usedGpuMemory`` is ``None`` when NVML cannot tell."""
    return SimpleNamespace(pid=pid, usedGpuMemory=used)


# --- processes -------------------------------------------------------------------------------


def test_processes_read_and_merged_by_pid() -> None:
    nvml = FakeNvml(
        [
            FakeGpu(
                used=30 * GIB,
                compute=[proc(4242, 20 * GIB), proc(4243, None)],
                graphics=[proc(4243, 512 * 1024**2), proc(4242, None)],
            ),
            FakeGpu(used=0),
        ]
    )
    report = sample_gpus(nvml=nvml)
    first, second = report.gpus
    assert first.processes == (GpuProcess(4242, 20 * GIB), GpuProcess(4243, 512 * 1024**2))
    assert second.processes == ()
    assert report.pids == (4242, 4243)
    assert nvml.calls == ["init", "shutdown"]


def test_process_memory_none_is_kept() -> None:
    report = sample_gpus(nvml=FakeNvml([FakeGpu(used=GIB, compute=[proc(7, None)])]))
    assert report.gpus[0].processes == (GpuProcess(7, None),)


def test_process_calls_missing_or_failing_give_no_processes() -> None:
    failing = FakeNvml([FakeGpu(used=GIB, compute=[proc(1, 1)])])

    def refused(handle: FakeGpu) -> list[Any]:
        raise RuntimeError("Insufficient Permissions")

    failing.nvmlDeviceGetComputeRunningProcesses = refused  # type: ignore[method-assign]
    failing.nvmlDeviceGetGraphicsRunningProcesses = refused  # type: ignore[method-assign]
    report = sample_gpus(nvml=failing)
    assert report.available and report.gpus[0].processes == ()

    class OldBindings:
        """No process calls at all, as in old nvidia-ml-py releases."""

        def __init__(self, inner: FakeNvml) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            if "RunningProcesses" in name:
                raise AttributeError(name)
            return getattr(self.inner, name)

    report = sample_gpus(nvml=OldBindings(FakeNvml([FakeGpu(used=GIB, compute=[proc(1, 1)])])))
    assert report.available and report.gpus[0].processes == ()


def test_bad_process_entry_does_not_lose_the_sample() -> None:
    report = sample_gpus(nvml=FakeNvml([FakeGpu(used=GIB, compute=[object()], graphics=[proc(9, 5)])]))
    assert report.available
    assert report.gpus[0].processes == (GpuProcess(9, 5),)


# --- history ----------------------------------------------------------------------------------


def report_of(*used_gib: float, utilisation: int | None = 10) -> GpuReport:
    return GpuReport(
        tuple(
            GpuSample(index=i, name="gpu", memory_used=int(u * GIB), memory_total=80 * GIB, utilisation=utilisation)
            for i, u in enumerate(used_gib)
        )
    )


def test_history_ring_wraps_at_its_length() -> None:
    history = GpuHistory(length=3)
    for step in range(5):
        history.add(report_of(float(step), 2.0 * step), at=100.0 + step)
    assert [point.at for point in history.series(0)] == [102.0, 103.0, 104.0]
    assert history.memory_series(0) == pytest.approx([2.0, 3.0, 4.0])
    assert history.memory_series(1) == pytest.approx([4.0, 6.0, 8.0])
    assert history.indices == (0, 1)
    assert history.series(5) == []


def test_history_default_length_and_unknown_utilisation() -> None:
    history = GpuHistory()
    assert history.length == 120
    for step in range(130):
        history.add(report_of(1.0, utilisation=None if step % 2 else 40), at=float(step))
    points = history.series(0)
    assert len(points) == 120 and points[0].at == 10.0 and points[-1].at == 129.0
    assert set(history.utilisation_series(0)) == {0.0, 40.0}
    history.add(GpuReport((), problem="NVML error: GPU is lost"), at=200.0)  # adds nothing
    assert len(history.series(0)) == 120
    with pytest.raises(ValueError):
        GpuHistory(0)


# --- processes to runs, with real processes ---------------------------------------------------

# The run's root: starts a child, which starts two grandchildren: one stays in the run's
# process group, one leaves it with its own session (setsid). Each prints its pid.
ROOT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print("child", child.pid, flush=True)
time.sleep(30)
"""
CHILD = """
import subprocess, sys, time
sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
inside = subprocess.Popen(sleep)
outside = subprocess.Popen(sleep, start_new_session=True)
print("inside", inside.pid, flush=True)
print("outside", outside.pid, flush=True)
time.sleep(30)
"""


@pytest.fixture()
def process_tree() -> Iterator[dict[str, int]]:
    root = subprocess.Popen(
        [sys.executable, "-c", ROOT, CHILD], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    pids = {"root": root.pid}
    try:
        assert root.stdout is not None
        for _ in range(3):
            name, pid = root.stdout.readline().split()
            pids[name] = int(pid)
        yield pids
    finally:
        for group in (pids.get("outside"), root.pid):
            if group is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
        root.wait(timeout=10)
        if root.stdout is not None:
            root.stdout.close()


def test_map_processes_to_runs_real_tree(process_tree: dict[str, int]) -> None:
    root, child, inside, outside = (process_tree[k] for k in ("root", "child", "inside", "outside"))
    assert os.getpgid(inside) == root  # the fast path
    assert os.getpgid(outside) == outside  # left the group: found by the parent walk
    runs = {"run-a": root, "run-other": os.getpid()}
    mapping = map_processes_to_runs([inside, outside, child, root], runs)
    assert mapping == {inside: "run-a", outside: "run-a", child: "run-a", root: "run-a"}


def test_map_processes_ignores_strangers_and_vanished(process_tree: dict[str, int]) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    mapping = map_processes_to_runs(
        [os.getpid(), finished.pid, process_tree["inside"]], {"run-a": process_tree["root"]}
    )
    assert mapping == {process_tree["inside"]: "run-a"}
    assert map_processes_to_runs([process_tree["inside"]], {}) == {}
    assert map_processes_to_runs([], {"run-a": process_tree["root"]}) == {}


# --- the sampler thread -----------------------------------------------------------------------


def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_sampler_calls_on_sample_repeatedly_and_stops_cleanly() -> None:
    nvml = FakeNvml([FakeGpu(used=10 * GIB, compute=[proc(4242, 9 * GIB)])])
    seen: list[tuple[GpuReport, str]] = []
    sampler = GpuSampler(
        interval=0.05,
        nvml=nvml,
        on_sample=lambda report: seen.append((report, threading.current_thread().name)),
        min_interval=0.0,
    )
    assert sampler.interval == 0.05
    sampler.start()
    sampler.start()  # idempotent
    thread = sampler._thread
    assert thread is not None and thread.daemon
    assert wait_for(lambda: len(seen) >= 2)
    sampler.stop()
    assert not thread.is_alive() and not sampler.running
    count = len(seen)
    time.sleep(0.15)
    assert len(seen) == count  # nothing after stop
    assert nvml.calls == ["init", "shutdown"]  # NVML initialised once per sampler
    assert all(name == "mhbench-gpu-sampler" for _, name in seen)
    assert sampler.latest is seen[-1][0]
    assert sampler.latest.gpus[0].processes == (GpuProcess(4242, 9 * GIB),)
    assert len(sampler.history.memory_series(0)) == sampler.samples == count
    assert sampler.history.memory_series(0)[-1] == pytest.approx(10.0)


def test_sampler_interval_is_at_least_one_second_by_default() -> None:
    assert GpuSampler(interval=0.01).interval == 1.0
    assert GpuSampler().interval == 1.0
    assert GpuSampler(interval=2.5).interval == 2.5


def test_sampler_paces_itself() -> None:
    nvml = FakeNvml([FakeGpu(used=GIB)])
    with GpuSampler(interval=0.1, nvml=nvml, min_interval=0.0) as sampler:
        time.sleep(0.45)
    assert 3 <= sampler.samples <= 6


def test_sampler_without_driver_reports_once_and_idles() -> None:
    nvml = FakeNvml([], init_error=RuntimeError("Driver Not Loaded"))
    reports: list[GpuReport] = []
    sampler = GpuSampler(interval=0.01, nvml=nvml, on_sample=reports.append, min_interval=0.0)
    sampler.start()
    assert wait_for(lambda: len(reports) == 1)
    time.sleep(0.2)
    assert len(reports) == 1 and nvml.calls == ["init"]
    assert reports[0].summary() == "no NVIDIA GPU (NVML unavailable: Driver Not Loaded)"
    started = time.monotonic()
    sampler.stop()
    assert time.monotonic() - started < 1.0 and not sampler.running
    assert sampler.history.indices == ()


def test_sampler_with_zero_gpus_reports_once_then_shuts_down_at_stop() -> None:
    nvml = FakeNvml([])
    reports: list[GpuReport] = []
    sampler = GpuSampler(interval=0.01, nvml=nvml, on_sample=reports.append, min_interval=0.0)
    sampler.start()
    assert wait_for(lambda: len(reports) == 1)
    time.sleep(0.1)
    assert nvml.reads == 1 and reports[0].summary() == "no NVIDIA GPU"
    sampler.stop()
    assert nvml.calls == ["init", "shutdown"]


def test_sampler_survives_a_broken_callback() -> None:
    calls: list[int] = []

    def broken(_: GpuReport) -> None:
        calls.append(1)
        raise RuntimeError("widget gone")

    sampler = GpuSampler(interval=0.02, nvml=FakeNvml([FakeGpu(used=GIB)]), on_sample=broken, min_interval=0.0)
    sampler.start()
    assert wait_for(lambda: len(calls) >= 3)
    sampler.stop()
    assert isinstance(sampler.callback_error, RuntimeError)


def test_sampler_restarts_after_stop() -> None:
    nvml = FakeNvml([FakeGpu(used=GIB)])
    sampler = GpuSampler(interval=0.02, nvml=nvml, min_interval=0.0)
    sampler.stop()  # before start: harmless
    sampler.start()
    assert wait_for(lambda: sampler.samples >= 1)
    sampler.stop()
    first = sampler.samples
    sampler.start()
    assert wait_for(lambda: sampler.samples > first)
    sampler.stop()
    assert nvml.calls == ["init", "shutdown", "init", "shutdown"]


def test_sampler_with_real_pynvml_does_not_raise() -> None:
    reports: list[GpuReport] = []
    sampler = GpuSampler(on_sample=reports.append)
    sampler.start()
    assert wait_for(lambda: len(reports) >= 1)
    sampler.stop()
    assert not sampler.running
    report = reports[0]
    if not report.available:  # no GPU on this machine
        assert report.summary().startswith("no NVIDIA GPU")
