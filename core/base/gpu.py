"""GPUs through NVML (nvidia-ml-py). With no GPU or no driver: an empty list and a reason.

Callers sample from a thread, never from the event loop: NVML calls can block.
``GpuSampler`` is that thread; ``GpuHistory`` keeps what it read for the sparklines;
``map_processes_to_runs`` says which GPU process belongs to which detached run.
Tests pass a fake module in place of ``pynvml``; that is the only fake.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

GIB = 1024**3

DEVICE_ORDER_ENV = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
"""For every run and server: CUDA numbers GPUs fastest first by default, NVML and ``nvidia-smi``
by PCI bus; with this, ``CUDA_VISIBLE_DEVICES=1`` is the GPU that the GPU pane calls GPU1."""

_GPU_ID = re.compile(r"\d+|(?:GPU|MIG)-[0-9A-Za-z-]+(?:/\d+/\d+)?")


def parse_gpu_list(text: str) -> tuple[str, ...]:
    """``0,1``, ``GPU-8c3a…`` or ``MIG-…`` entries, as ``CUDA_VISIBLE_DEVICES`` takes them.

    Raises ``ValueError`` naming the entry that is neither an index nor a GPU/MIG UUID.
    """
    entries = tuple(part.strip() for part in text.split(","))
    for entry in entries:
        if not _GPU_ID.fullmatch(entry):
            raise ValueError(f"'{entry}' is neither a GPU index (0, 1, …) nor a GPU-/MIG- UUID")
    return entries


@dataclass(frozen=True)
class GpuProcess:
    """A process holding memory on one GPU."""

    pid: int
    """As NVML reports it: the host's pid namespace. In a container it may name no process here."""
    used_memory: int | None
    """Bytes; ``None`` where NVML cannot tell (e.g. under MIG or without permission)."""


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one moment."""

    index: int
    name: str
    memory_used: int
    memory_total: int
    utilisation: int | None = None
    temperature: int | None = None
    power_watts: float | None = None
    processes: tuple[GpuProcess, ...] = ()
    uuid: str | None = None
    """``GPU-…``: what ``CUDA_VISIBLE_DEVICES`` also accepts, stable across reboots and reorderings."""
    mig: bool = False
    """MIG mode is on: NVML then reports no per-process memory, and the process list says nothing."""

    @property
    def memory_free(self) -> int:
        return self.memory_total - self.memory_used

    @property
    def free_gb(self) -> float:
        return self.memory_free / 1e9


@dataclass(frozen=True)
class GpuReport:
    """Every GPU, or why there are none to show."""

    gpus: tuple[GpuSample, ...]
    driver: str | None = None
    problem: str | None = None

    @property
    def available(self) -> bool:
        return bool(self.gpus)

    @property
    def pids(self) -> tuple[int, ...]:
        """Every GPU process, once each, in GPU order."""
        return tuple(dict.fromkeys(process.pid for gpu in self.gpus for process in gpu.processes))

    def summary(self) -> str:
        if not self.gpus:
            return f"no NVIDIA GPU ({self.problem})" if self.problem else "no NVIDIA GPU"
        return ", ".join(
            f"GPU{g.index} {g.name}: {g.free_gb:.1f}/{g.memory_total / 1e9:.1f} GB free"
            + (" (MIG: no per-process memory from NVML)" if g.mig else "")
            for g in self.gpus
        )


def _load_nvml() -> Any:
    import pynvml

    return pynvml


def _optional(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except Exception:
        return None


_PROCESS_CALLS = ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses")


def _processes(nvml: Any, handle: Any) -> tuple[GpuProcess, ...]:
    """Compute and graphics processes on one GPU, merged by pid.

    Either call may be missing (old bindings), unsupported (some vGPUs) or refused; each
    then contributes nothing, because a process list is a nicety, not a reason to lose the sample.
    """
    found: dict[int, int | None] = {}
    for name in _PROCESS_CALLS:
        call = getattr(nvml, name, None)
        entries = _optional(call, handle) if call is not None else None
        try:
            for entry in entries or ():
                pid = int(entry.pid)
                raw = getattr(entry, "usedGpuMemory", None)
                memory = int(raw) if raw is not None else None
                known = found.get(pid)
                if pid not in found or (memory is not None and (known is None or memory > known)):
                    found[pid] = memory
        except Exception:
            continue
    return tuple(GpuProcess(pid, memory) for pid, memory in found.items())


def _read_report(nvml: Any) -> GpuReport:
    """Read every GPU from an initialised NVML; an error becomes the report's problem."""
    try:
        driver = _optional(nvml.nvmlSystemGetDriverVersion)
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            rates = _optional(nvml.nvmlDeviceGetUtilizationRates, handle)
            power = _optional(nvml.nvmlDeviceGetPowerUsage, handle)
            uuid = _optional(getattr(nvml, "nvmlDeviceGetUUID", None), handle)
            mig_mode = _optional(getattr(nvml, "nvmlDeviceGetMigMode", None), handle)
            gpus.append(
                GpuSample(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    memory_used=int(memory.used),
                    memory_total=int(memory.total),
                    utilisation=int(rates.gpu) if rates is not None else None,
                    temperature=_optional(
                        nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
                    ),
                    power_watts=power / 1000 if power is not None else None,
                    processes=_processes(nvml, handle),
                    uuid=uuid.decode() if isinstance(uuid, bytes) else uuid,
                    # (current, pending); 1 is NVML_DEVICE_MIG_ENABLE
                    mig=bool(mig_mode) and int(mig_mode[0]) == 1,
                )
            )
        return GpuReport(tuple(gpus), driver=driver.decode() if isinstance(driver, bytes) else driver)
    except Exception as error:
        return GpuReport((), problem=f"NVML error: {error}")


def _init(nvml: ModuleType | Any | None) -> tuple[Any, GpuReport | None]:
    """Load and initialise NVML: the module, or ``None`` and a report saying why not."""
    try:
        nvml = nvml or _load_nvml()
        nvml.nvmlInit()
    except ImportError:
        return None, GpuReport((), problem="nvidia-ml-py is not installed")
    except Exception as error:
        return None, GpuReport((), problem=f"NVML unavailable: {error}")
    return nvml, None


def sample_gpus(nvml: ModuleType | Any | None = None) -> GpuReport:
    """Read every GPU's memory, utilisation, temperature, power and processes, once."""
    module, failure = _init(nvml)
    if failure is not None:
        return failure
    try:
        return _read_report(module)
    finally:
        _optional(module.nvmlShutdown)


@dataclass(frozen=True)
class HistoryPoint:
    """One GPU at one moment, as much as a sparkline needs."""

    at: float
    memory_used: int
    utilisation: int | None


class GpuHistory:
    """The last ``length`` samples of each GPU, oldest first, for the sparklines.

    Written by the sampler thread and read by the UI thread, so every access takes a lock
    and readers get copies.
    """

    def __init__(self, length: int = 120) -> None:
        if length < 1:
            raise ValueError("history length must be at least 1")
        self.length = length
        self._rings: dict[int, deque[HistoryPoint]] = {}
        self._lock = threading.Lock()

    def add(self, report: GpuReport, at: float) -> None:
        """Append one point per GPU in ``report``; a report with no GPUs adds nothing."""
        with self._lock:
            for gpu in report.gpus:
                ring = self._rings.setdefault(gpu.index, deque(maxlen=self.length))
                ring.append(HistoryPoint(at, gpu.memory_used, gpu.utilisation))

    @property
    def indices(self) -> tuple[int, ...]:
        with self._lock:
            return tuple(sorted(self._rings))

    def series(self, index: int) -> list[HistoryPoint]:
        """Every kept point of GPU ``index``, oldest first; empty for an unknown GPU."""
        with self._lock:
            return list(self._rings.get(index, ()))

    def memory_series(self, index: int) -> list[float]:
        """Memory used by GPU ``index`` in GiB, oldest first."""
        return [point.memory_used / GIB for point in self.series(index)]

    def utilisation_series(self, index: int) -> list[float]:
        """Utilisation of GPU ``index`` in percent, oldest first; an unknown reading counts as 0."""
        return [float(point.utilisation or 0) for point in self.series(index)]


def map_processes_to_runs(pids: Iterable[int], runs: Mapping[str, int]) -> dict[int, str]:
    """Which run each GPU process belongs to: ``{pid: run_id}`` for the pids that belong to one.

    ``runs`` maps run id to the run's root pid. Runs are started with
    ``start_new_session=True``, so the root pid is also the run's process group id (pgid),
    and the values are used as both. A GPU process belongs to a run when its pgid is the
    run's (the fast path: one ``os.getpgid``; ``swift sft`` re-executes itself and
    ``torch.distributed.run`` forks workers, all inside the group), or else when the run's
    root pid is the process itself or one of its ancestors (a child that left the group
    with its own ``setsid``). Processes that vanished or that we may not inspect, and pids
    from another pid namespace (NVML inside a container), are left out.
    """
    root_to_run = {root: run_id for run_id, root in runs.items()}
    if not root_to_run:
        return {}
    owners: dict[int, str] = {}
    unresolved: list[int] = []
    for pid in pids:
        try:
            group = os.getpgid(pid)
        except (ProcessLookupError, PermissionError, OSError):
            continue
        if group in root_to_run:
            owners[pid] = root_to_run[group]
        else:
            unresolved.append(pid)
    if not unresolved:
        return owners

    import psutil

    for pid in unresolved:
        try:
            process = psutil.Process(pid)
            lineage = [process, *process.parents()]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        for ancestor in lineage:
            if ancestor.pid in root_to_run:
                owners[pid] = root_to_run[ancestor.pid]
                break
    return owners


class GpuSampler:
    """Samples every GPU from a daemon thread, at most once per ``interval`` seconds.

    NVML is initialised once per ``start`` and shut down when the thread ends. Each report
    goes to ``latest`` and ``history`` and then to ``on_sample``, called *from the sampler
    thread* (a Textual widget posts a message from it). With no driver or no GPU it reports
    once ("no NVIDIA GPU ...") and then sleeps until ``stop``: the GPU pane of a CPU box
    costs nothing. ``interval`` is clamped to ``min_interval`` (1 s) so that a careless caller
    cannot make NVML a busy loop; tests lower ``min_interval`` explicitly.
    """

    def __init__(
        self,
        interval: float = 1.0,
        nvml: object | None = None,
        on_sample: Callable[[GpuReport], None] | None = None,
        *,
        min_interval: float = 1.0,
        history_length: int = 120,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval = max(interval, min_interval)
        self.history = GpuHistory(history_length)
        self.latest: GpuReport | None = None
        self.samples = 0
        self.callback_error: BaseException | None = None
        """The last exception raised by ``on_sample``; the thread carries on after it."""
        self._nvml = nvml
        self._on_sample = on_sample
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start sampling; a second call while running does nothing."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mhbench-gpu-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and join the thread (NVML shuts down in it). Safe to call twice or before ``start``."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> GpuSampler:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _publish(self, report: GpuReport) -> None:
        self.latest = report
        self.history.add(report, self._clock())
        self.samples += 1
        if self._on_sample is not None:
            try:
                self._on_sample(report)
            except Exception as error:  # a broken callback must not end sampling
                self.callback_error = error

    def _run(self) -> None:
        module, failure = _init(self._nvml)
        if failure is not None:
            self._publish(failure)
            self._stop.wait()
            return
        try:
            first = True
            while not self._stop.is_set():
                started = time.monotonic()
                report = _read_report(module)
                self._publish(report)
                if first and not report.available:
                    self._stop.wait()  # no GPU now means no GPU until the driver is reloaded
                    break
                first = False
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            _optional(module.nvmlShutdown)
