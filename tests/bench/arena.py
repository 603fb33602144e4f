"""The arena's costs: event-loop lag while two answers stream, streaming speed, submits, export, statistics.

Prints figures, passes nothing. Measured in one run:

1. Event-loop lag (p50/p99, ms) of the real ``ArenaScreen`` in a headless Textual app
   (``App.run_test()``) while both of its sides stream at once from two real llama.cpp
   servers (the screen's own ``connect_servers`` / ``answer`` workers, ``core.arena.sessions.generate``,
   two ``ChatPane`` widgets). The two models are two GGUF catalog entries of
   ``tests/bench/stream.py``'s benchmark model (about 140 M parameters): the f16 file and its
   Q8_0 quantisation. Below the panes the same screen holds a ``GpuPane`` fed by a
   ``core.base.gpu.GpuSampler`` (over a fake NVML where the real one finds no GPU) and a ``Log``
   fed by ``core.base.tail.TextTail`` following a file that another thread appends to, wired as
   the Train screen wires them. A callback re-armed every 10 ms on the event loop records
   lag = actual - expected firing time over every streaming period (target: p99 <= 20 ms).
   A headless app skips Textual's last step (the frame turned into terminal escape codes);
   this one runs it and drops the text (``--plain-headless`` skips it too). The loop's
   frames, layouts, terminal output, garbage collections and per-stream httpx clients are
   timed (wall and CPU) to say where the lag comes from; the machine's CPU is accounted
   for per round (TUI process, servers, the rest), since this box is shared.
2. Decoding speed per side in that setting (tokens/s after the first token, as
   ``core.models.client`` computes it) over llama-cpp-python called directly (``stream.py``'s
   ``direct_llama`` / ``run_direct``) on the same two models, two generations at once in
   two processes, with the servers' thread count, context, prompt and sampling: like with
   like on a 2-core box. Rounds alternate (arena pair, direct pair); target ratio >= 0.97.
3. ``RatingStore.submit`` latency (p50/p99, ms) over 2,000 submits to a file-backed
   workspace (never tmpfs; the folder is printed). Target p99 <= 10 ms.
4. ``core.results.export`` of 100,000 ratings as the ratings CSV (two rows per rating), when
   ``core.results.export`` exists. Target <= 2 s.
5. ``core.stats.bootstrap_bradley_terry``, 1,000 rounds, 10 models, 10,000 battles, median
   of 3. Target <= 1 s.

``--what-if`` is an experiment, not the app as shipped: every stream's httpx client reuses one
SSL context, and ``gc.freeze()`` runs once the app is up. ``--slow-callback-ms`` logs slow
event-loop steps (asyncio debug mode, which skews the figures).

    .venv/bin/python tests/bench/arena.py [--tokens 128] [--runs 12] [--skip-model] [--workdir DIR] [--what-if]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# Light imports only at the top: the direct-generation children (spawned) import this module again.
from core.base.db import open_workspace  # noqa: E402
from core.base.workspace import Workspace  # noqa: E402
from core.models.client import ChatRequest, GenerationParams, StreamStats  # noqa: E402

SIDES = ("left", "right")
LAG_PERIOD_S = 0.010
SUBMITS = 2_000
EXPORT_RATINGS = 100_000
BT_MODELS, BT_BATTLES, BT_ROUNDS = 10, 10_000, 1_000


# --- small helpers ---------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def filesystem_of(path: Path) -> tuple[str, str]:
    """(mount point, type) of the filesystem holding ``path``, from /proc/mounts."""
    target = os.path.realpath(path)
    best = ("/", "?")
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount = parts[1].replace("\\040", " ")
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best[0]):
                    best = (mount, parts[2])
    except OSError:
        pass
    return best


def data_root(explicit: Path | None) -> Path:
    """Where the workspaces go: ``explicit``, else /tmp unless it is tmpfs, else the home folder."""
    if explicit is not None:
        return explicit
    if filesystem_of(Path(tempfile.gettempdir()))[1] not in {"tmpfs", "ramfs"}:
        return Path(tempfile.gettempdir()) / "mhbench-bench-arena"
    return Path.home() / ".cache" / "mhbench-bench-arena"


def busy_elsewhere(seconds: float = 1.0) -> list[str]:
    """Other processes using more than 10 % of a CPU right now: they skew every figure on a 2-core box."""
    import psutil

    others = [p for p in psutil.process_iter(["pid", "cmdline"]) if p.pid != os.getpid()]
    for process in others:
        with contextlib.suppress(psutil.Error):
            process.cpu_percent(None)
    time.sleep(seconds)
    busy = []
    for process in others:
        with contextlib.suppress(psutil.Error):
            share = process.cpu_percent(None)
            if share > 10:
                busy.append(f"pid {process.pid} {share:.0f} % {' '.join(process.info['cmdline'] or [])[:80]}")
    return busy


def chat_request(tokens: int) -> ChatRequest:
    """What the arena sends for the bench session's one item: stream.py's prompt and system prompt."""
    from tests.bench.stream import PROMPT, SYSTEM

    return ChatRequest([{"role": "user", "content": PROMPT}], GenerationParams(max_tokens=tokens), "bench",
                       system=SYSTEM)


@dataclass(frozen=True)
class DirectRequest:
    """``stream.run_direct``'s input: the arena's request, with no ``logit_bias`` (the arena sends none)."""

    inner: ChatRequest

    @property
    def params(self) -> GenerationParams:
        return self.inner.params

    def payload(self) -> dict[str, Any]:
        return {**self.inner.payload(), "logit_bias": None}


# --- llama-cpp-python called directly, two at once in two processes --------------------------------


def _direct_child(gguf: str, threads: int, n_ctx: int, conn: Any, barrier: Any) -> None:
    from tests.bench import stream

    stream.N_CTX = n_ctx  # the servers' context (core.models.targets: 4096 without a profile)
    llama = stream.direct_llama(Path(gguf), threads)
    # DirectRequest has what run_direct reads of a ChatRequest (params, payload()).
    stream.run_direct(llama, cast(ChatRequest, DirectRequest(chat_request(8))))  # warm-up, as the arena's round 0
    conn.send("ready")
    while True:
        tokens = conn.recv()
        if tokens is None:
            break
        request = cast(ChatRequest, DirectRequest(chat_request(tokens)))
        barrier.wait()
        conn.send(stream.run_direct(llama, request))


class DirectPair:
    """One process per model, each with the model loaded as the server loads it; ``run`` starts both at once."""

    def __init__(self, ggufs: Sequence[Path], threads: int, n_ctx: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(len(ggufs))
        self.conns, self.processes = [], []
        for gguf in ggufs:
            parent, child = context.Pipe()
            process = context.Process(target=_direct_child, args=(str(gguf), threads, n_ctx, child, self.barrier),
                                      daemon=True)
            process.start()
            self.conns.append(parent)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [process.pid or 0 for process in self.processes]

    def wait_ready(self, timeout: float = 300.0) -> None:
        for conn in self.conns:
            if not conn.poll(timeout):
                raise SystemExit("a direct llama-cpp-python process did not load its model")
            assert conn.recv() == "ready"

    def run(self, tokens: int) -> list[StreamStats]:
        for conn in self.conns:
            conn.send(tokens)
        return [conn.recv() for conn in self.conns]

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(None)
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)


# --- the arena's surroundings: a fake NVML, a log that grows ---------------------------------------


class FakeNvml:
    """The part of ``pynvml`` that ``core.base.gpu`` reads (as in tests/core/test_gpu.py), with moving numbers."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self.reads = 0

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return "570.86.15"

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self.reads += 1
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3" if handle == 0 else b"NVIDIA A10"

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        total = (80 if handle == 0 else 24) * 2**30
        used = int(total * (0.3 + 0.25 * (1 + ((self.reads * 7 + handle * 3) % 17) / 17)))
        return SimpleNamespace(used=min(used, total), total=total, free=total - min(used, total))

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=(self.reads * 13 + handle * 41) % 101, memory=0)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 55 + self.reads % 10

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 250_000 + (self.reads % 50) * 1000

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=(i + 1) * 2**30) for i, pid in enumerate(self.pids)
                if i % 2 == handle]


class LogWriter(threading.Thread):
    """Appends a training-log line every ``interval`` seconds (ms-swift's step lines), pausable."""

    def __init__(self, path: Path, interval: float) -> None:
        super().__init__(name="bench-log-writer", daemon=True)
        self.path, self.interval = path, interval
        self.stop_event, self.paused = threading.Event(), threading.Event()
        self.lines = 0

    def run(self) -> None:
        step = 0
        with self.path.open("a", encoding="utf-8", buffering=1) as handle:
            while not self.stop_event.wait(self.interval):
                if self.paused.is_set():
                    continue
                step += 1
                handle.write(
                    f'{{"loss": {2.0 + 6.0 / (1 + step * 1e-2):.6f}, "grad_norm": 0.{3000 + step % 997}, '
                    f'"learning_rate": {1e-4 * (1 - step / 1e5):.8f}, "global_step/max_steps": "{step}/100000", '
                    f'"elapsed_time": "{step // 60}m {step % 60}s", "memory(GiB)": 17.52}}\n')
                self.lines += 1

    def stop(self) -> None:
        self.stop_event.set()
        self.join(5)


class LagProbe:
    """A callback on the event loop every ``period`` s; while recording, it keeps actual - expected."""

    def __init__(self, period: float = LAG_PERIOD_S) -> None:
        self.period = period
        self.window: list[float] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.handle: asyncio.TimerHandle | None = None
        self.expected = 0.0

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._arm(self.loop.time() + self.period)

    def _arm(self, when: float) -> None:
        assert self.loop is not None
        self.expected = when
        self.handle = self.loop.call_at(when, self._tick)

    def _tick(self) -> None:
        assert self.loop is not None
        now = self.loop.time()
        if self.window is not None:
            self.window.append(now - self.expected)
        self._arm(now + self.period)  # from now: a stall shows once, as one large lag, not as a burst

    def begin(self) -> None:
        self.window = []

    def end(self) -> list[float]:
        window, self.window = self.window or [], None
        return window

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


class Costs:
    """Durations of named steps on the event loop, kept while the probe records (instrumentation only)."""

    def __init__(self, probe: LagProbe) -> None:
        self.probe = probe
        self.spans: dict[str, list[tuple[float, float]]] = {}
        """name -> (wall seconds, this thread's CPU seconds) per call."""

    def gc_callback(self, phase: str, info: dict[str, int]) -> None:
        """``gc.callbacks`` hook: a garbage collection's pause, by generation, as a span of its own."""
        if phase == "start":
            self.gc_began = time.perf_counter(), time.thread_time()
        elif self.probe.window is not None and getattr(self, "gc_began", None) is not None:
            self.spans.setdefault(f"gc gen {info['generation']}", []).append(
                (time.perf_counter() - self.gc_began[0], time.thread_time() - self.gc_began[1]))

    def timed(self, name: str, call: Callable[..., Any], *args: Any) -> Any:
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            return call(*args)
        finally:
            if self.probe.window is not None:
                self.spans.setdefault(name, []).append((time.perf_counter() - began, time.thread_time() - cpu))


# --- the real ArenaScreen with a GPU pane and a log tail ---------------------------------------------


def tui_classes() -> tuple[type, type]:
    """(BenchApp, BenchArena), built on first use so the spawned children never import Textual."""
    from textual import work
    from textual.containers import Horizontal
    from textual.message import Message
    from textual.widgets import Log

    from tui.app import MhbenchApp
    from tui.arena.screen import ArenaScreen
    from tui.messages import GpuUpdated
    from tui.train.gpu_pane import GpuPane

    class BenchApp(MhbenchApp):
        """The real app; ``render_frames`` makes it run the last step a headless app skips."""

        CSS_PATH = str(ROOT / "tui" / "app.tcss")  # relative paths resolve against the subclass's file
        render_frames = True
        costs: Costs | None = None

        @property
        def is_headless(self) -> bool:
            # False: App._display turns each frame into terminal escape codes, which HeadlessDriver.write drops.
            return not self.render_frames and super().is_headless

        def _display(self, screen: Any, renderable: Any) -> None:
            if self.costs is None:
                super()._display(screen, renderable)
            else:
                self.costs.timed("terminal output", super()._display, screen, renderable)

    class LogLines(Message):
        def __init__(self, lines: list[str]) -> None:
            super().__init__()
            self.lines = lines

    class BenchArena(ArenaScreen):
        """ArenaScreen opening one session directly, plus the Train screen's GPU pane and log tail."""

        DEFAULT_CSS = """
        #bench-bottom { height: 9; border-top: hkey $secondary; }
        #bench-gpu { width: 40%; padding: 0 1; border-right: vkey $secondary; }
        #bench-log { width: 1fr; }
        """

        def __init__(self, session_id: str, nvml: object | None, gpu_interval: float, log_path: Path) -> None:
            super().__init__()
            self.bench_session_id = session_id
            self.nvml, self.gpu_interval, self.log_path = nvml, gpu_interval, log_path
            self.sampler: Any = None
            self.tail: Any = None
            self.samples_shown = 0
            self.log_lines_shown = 0

        def compose(self) -> Any:
            yield from super().compose()
            with Horizontal(id="bench-bottom"):
                yield GpuPane("reading GPUs…", id="bench-gpu", markup=False)
                yield Log(id="bench-log", max_lines=2000, highlight=False)

        def on_mount(self) -> None:  # ArenaScreen.on_mount runs too (Textual calls each class's handler)
            from core.base.gpu import GpuSampler
            from core.base.tail import TextTail

            def on_sample(report: object) -> None:
                assert self.sampler is not None
                self.post_message(GpuUpdated(report, self.sampler.history, {}))  # type: ignore[arg-type]

            self.sampler = GpuSampler(interval=self.gpu_interval, nvml=self.nvml, on_sample=on_sample,
                                      min_interval=min(1.0, self.gpu_interval))
            self.sampler.start()
            self.tail = TextTail(self.log_path)
            self.set_interval(0.5, self.poll_log)  # the Train screen's tail period

        def on_unmount(self) -> None:
            if self.sampler is not None:
                self.sampler.stop()

        def startup(self) -> None:  # type: ignore[override]  # open the bench session instead of asking
            self.open(self.bench_session_id)

        @property
        def costs(self) -> Costs:
            return cast(Costs, self.app.costs)  # type: ignore[attr-defined]

        # Timed, not changed: a frame (layout when needed, then render and output) and its layout.
        def _on_timer_update(self) -> None:
            self.costs.timed("frame", super()._on_timer_update)

        def _refresh_layout(self, size: Any = None, scroll: bool = False) -> None:
            self.costs.timed("layout", super()._refresh_layout, size, scroll)

        @work(thread=True, exclusive=True, group="bench-tail")
        def poll_log(self) -> None:
            lines = self.tail.poll()
            if lines:
                self.post_message(LogLines(lines))

        def on_log_lines(self, message: LogLines) -> None:
            self.query_one("#bench-log", Log).write_lines(message.lines)
            self.log_lines_shown += len(message.lines)

        def on_gpu_updated(self, message: GpuUpdated) -> None:
            self.query_one("#bench-gpu", GpuPane).show(message.report, message.history, message.run_of_pid)
            self.samples_shown += 1

    return BenchApp, BenchArena


@dataclass
class ArenaRound:
    lag: list[float]
    wall_s: float
    cpu_s: float
    stats: dict[str, Any]
    """model id -> the stored Response of this round."""
    servers_cpu_s: float = 0.0
    others_cpu_s: float = 0.0
    """CPU seconds of every other process on the machine during the round."""
    direct: dict[str, StreamStats] = field(default_factory=dict)
    direct_wall_s: float = 0.0
    direct_cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds during the direct pair: the TUI process, the idle servers, the direct processes."""


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (every CPU, every process), from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return float("nan")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds so far of ``pids`` and their children."""
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            for member in (process, *process.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    times = member.cpu_times()
                    total += times.user + times.system
    return total


async def arena_rounds(workspace: Workspace, session_id: str, rounds: int, tokens: int, direct: DirectPair,
                       models: Sequence[str], nvml: object | None, gpu_interval: float, log_path: Path,
                       render_frames: bool, size: tuple[int, int], writer: LogWriter,
                       server_pids: Sequence[int], slow_callback_ms: float | None = None,
                       what_if: bool = False) -> tuple[list[ArenaRound], Any]:
    """Round 0 opens the session (the screen connects to the servers and streams); each later round
    regenerates both answers (key ``r``); after every arena round the direct pair runs once."""
    bench_app, bench_arena = tui_classes()
    app = bench_app(workspace, rater="bench")
    app.render_frames = render_frames
    probe = LagProbe()
    app.costs = costs = Costs(probe)
    import gc

    gc.callbacks.append(costs.gc_callback)
    import core.models.client as client_module

    make_client = client_module._client  # one httpx.AsyncClient per stream, made on the loop: timed
    build = make_client
    if what_if:
        import httpx

        context = httpx.create_ssl_context()  # loaded once, instead of once per stream

        def build(url: str, timeout: Any) -> Any:
            return httpx.AsyncClient(timeout=timeout, trust_env=not client_module._loopback(url), verify=context)

    client_module._client = lambda url, timeout: costs.timed("httpx client", build, url, timeout)
    results: list[ArenaRound] = []
    diagnosis = None
    if slow_callback_ms:
        import logging

        # The running app captures sys.stderr: write to a copy of file descriptor 2.
        diagnosis = open(os.dup(2), "w", buffering=1, encoding="utf-8")  # noqa: SIM115
        logging.getLogger("asyncio").addHandler(logging.StreamHandler(diagnosis))
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = slow_callback_ms / 1000
    try:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()  # measure from a settled app: its start-up work is done
            probe.start()
            screen = bench_arena(session_id, nvml, gpu_interval, log_path)
            for number in range(rounds + 1):
                writer.paused.clear()
                if diagnosis is not None:
                    print(f"-- round {number} streams", file=diagnosis)
                probe.begin()
                wall, cpu, servers_cpu = time.perf_counter(), time.process_time(), cpu_seconds(server_pids)
                machine = machine_cpu_seconds()
                if number == 0:
                    await app.push_screen(screen)
                else:
                    screen.action_regenerate()
                deadline = time.monotonic() + 60 + tokens * 2
                while not (screen.session is not None and all(screen.responses[s] is not None for s in SIDES)):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"round {number}: the answers did not finish; note: {screen.note!r}")
                    await asyncio.sleep(0.05)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                lag = probe.end()
                if diagnosis is not None:
                    print(f"-- round {number} done", file=diagnosis)
                by_model = {screen.responses[s].model_id: screen.responses[s] for s in SIDES}
                servers_cpu = cpu_seconds(server_pids) - servers_cpu
                others = machine_cpu_seconds() - machine - cpu - servers_cpu
                current = ArenaRound(lag, wall, cpu, by_model, servers_cpu, others)
                results.append(current)
                if number == 0 and what_if:
                    gc.freeze()  # what an app can do once started: the startup objects leave the collector's scans
                if number > 0:
                    writer.paused.set()  # the TUI sits idle while the direct pair runs
                    before = (time.perf_counter(), time.process_time(), cpu_seconds(server_pids),
                              cpu_seconds(direct.pids), machine_cpu_seconds())
                    pair = await asyncio.to_thread(direct.run, tokens)
                    current.direct = dict(zip(models, pair, strict=True))
                    current.direct_wall_s = time.perf_counter() - before[0]
                    current.direct_cpu = {"TUI process": time.process_time() - before[1],
                                          "idle servers": cpu_seconds(server_pids) - before[2],
                                          "direct processes": cpu_seconds(direct.pids) - before[3]}
                    current.direct_cpu["rest of the machine"] = (machine_cpu_seconds() - before[4]
                                                             - sum(current.direct_cpu.values()))
            probe.stop()
            extras = SimpleNamespace(gpu_samples=screen.samples_shown, log_lines=screen.log_lines_shown,
                                     left=screen.items[0].left_model, right=screen.items[0].right_model,
                                     spans=costs.spans)
    finally:
        client_module._client = make_client
        gc.callbacks.remove(costs.gc_callback)
        if diagnosis is not None:
            diagnosis.close()
    return results, extras


def measure_arena(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Figures 1 and 2."""
    from llama_cpp.server.settings import ModelSettings

    from core.arena.prompts import register_prompt_set
    from core.arena.ratings import remember_rater
    from core.arena.sessions import create_session
    from core.base.gpu import sample_gpus
    from core.models import register_gguf
    from core.models.serving import LlamaCppSpec, find_or_start, list_servers, stop_server
    from core.models.targets import server_spec
    from tests.bench.stream import PROMPT, SYSTEM, build_model

    args.model_dir.mkdir(parents=True, exist_ok=True)
    f16, _ = build_model(args.model_dir)
    q8 = args.model_dir / "bench-llama-140m-q8_0.gguf"
    if not q8.is_file():
        partial = q8.with_name(q8.name + ".partial")
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "core.models.jobs", "quantize", str(f16), str(partial), "q8_0"], cwd=ROOT,
                       check=True, capture_output=True, timeout=900)
        partial.rename(q8)
        print(f"quantised {q8.name} ({q8.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - began:.0f} s")

    folder = Path(tempfile.mkdtemp(prefix="arena-ws-", dir=root))
    workspace = open_workspace(Workspace(folder / "ws"))
    log_path = folder / "stdout.log"
    log_path.touch()
    writer = LogWriter(log_path, args.log_interval)
    direct: DirectPair | None = None
    try:
        entries = [register_gguf(workspace, f16, name="bench-f16"), register_gguf(workspace, q8, name="bench-q8_0")]
        prompt_file = folder / "prompt.jsonl"
        prompt_file.write_text(json.dumps({"id": "bench", "prompt": PROMPT}, ensure_ascii=False) + "\n",
                               encoding="utf-8")
        prompt_set = register_prompt_set(workspace, prompt_file)
        remember_rater(workspace, "bench")
        session = create_session(workspace, prompt_set.id, entries[0].id, entries[1].id, system_prompt=SYSTEM,
                                 params=GenerationParams(max_tokens=args.tokens), created_by="bench", side_seed=1)
        specs = [server_spec(workspace, [entry]) for entry in entries]
        assert all(isinstance(spec, LlamaCppSpec) for spec in specs)
        first = cast(LlamaCppSpec, specs[0])
        threads = first.n_threads or ModelSettings.model_fields["n_threads"].default
        n_ctx = first.n_ctx
        direct = DirectPair([f16, q8], threads, n_ctx)
        began = time.perf_counter()
        # The spec the screen's connect_models builds, so it finds these servers and reuses them.
        servers = [find_or_start(workspace, spec, model_ids=[entry.id], timeout=300)
                   for spec, entry in zip(specs, entries, strict=True)]
        direct.wait_ready()
        print(f"servers {', '.join(s.id for s in servers)} and the direct processes ready in "
              f"{time.perf_counter() - began:.0f} s")

        real = sample_gpus()
        nvml = None if real.available else FakeNvml([server.pid or 0 for server in servers])
        gpu_source = (f"the real NVML ({real.summary()})" if real.available else
                      f"a fake NVML (2 GPUs, moving numbers, as tests/core/test_gpu.py fakes it; the real one: "
                      f"{real.summary()})")
        print(f"{multiprocessing.cpu_count()} CPUs; each server: {threads} generation thread(s), n_ctx {n_ctx}, "
              f"no logit_bias; {args.tokens} tokens per answer; {args.runs} measured rounds after 1 warm-up round")
        print(f"GPU pane: GpuSampler every {args.gpu_interval:g} s over {gpu_source}; log tail: TextTail polled "
              f"every 0.5 s into a Log, a writer thread appending a line every {args.log_interval * 1000:.0f} ms")
        if args.what_if:
            print("WHAT-IF EXPERIMENT (not the app as shipped): every stream's httpx client reuses one SSL context, "
                  "and gc.freeze() runs after the first round")
        print("terminal frames: " + ("rendered to escape codes and dropped (Textual's full output path, no tty)"
                                     if not args.plain_headless else "not rendered (plain headless)"))
        writer.start()
        rounds, extras = asyncio.run(arena_rounds(
            workspace, session.id, args.runs, args.tokens, direct, [entries[0].id, entries[1].id], nvml,
            args.gpu_interval, log_path, not args.plain_headless, (args.width, args.height), writer,
            [server.pid or 0 for server in servers], args.slow_callback_ms, args.what_if))
    finally:
        writer.stop()
        if direct is not None:
            direct.close()
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
        shutil.rmtree(folder, ignore_errors=True)

    measured = rounds[1:]
    lag = [value for r in measured for value in r.lag]
    print(f"\n1. event-loop lag while both sides stream ({len(lag)} samples every {LAG_PERIOD_S * 1000:.0f} ms over "
          f"{sum(r.wall_s for r in measured):.1f} s of streaming in {len(measured)} rounds)")
    print(f"   p50 {pct(lag, 50) * 1000:.2f} ms   p90 {pct(lag, 90) * 1000:.2f} ms   p99 {pct(lag, 99) * 1000:.2f} ms"
          f"   max {max(lag) * 1000:.1f} ms   (target p99 <= 20 ms)")
    every = [value for r in rounds for value in r.lag]
    print(f"   with the first round too (mount, connect, first streams): p50 {pct(every, 50) * 1000:.2f} ms   p99 "
          f"{pct(every, 99) * 1000:.2f} ms   max {max(every) * 1000:.1f} ms")
    for number, r in enumerate(rounds):
        label = "warm-up (open, connect, stream)" if number == 0 else f"round {number} (regenerate)"
        print(f"   {label:<32} {r.wall_s:5.1f} s  p50 {pct(r.lag, 50) * 1000:5.2f}  p99 {pct(r.lag, 99) * 1000:6.2f}"
              f"  max {max(r.lag) * 1000:6.1f} ms   CPU: TUI process {r.cpu_s / r.wall_s * 100:3.0f} %, servers "
              f"{r.servers_cpu_s / r.wall_s * 100:3.0f} %, rest of the machine {r.others_cpu_s / r.wall_s * 100:3.0f} %")
    print(f"   the screen drew {extras.gpu_samples} GPU samples and {extras.log_lines} log lines meanwhile")
    print("   where the loop's time went while streaming, all rounds (ms per call; wall, and CPU of the loop's thread):")
    for name, spans in extras.spans.items():
        walls, cpus = [w for w, _ in spans], [c for _, c in spans]
        print(f"     {name:<16} {len(spans):5d} calls  wall p50 {pct(walls, 50) * 1000:6.2f}  p99 "
              f"{pct(walls, 99) * 1000:6.2f}  max {max(walls) * 1000:6.1f}   CPU p50 {pct(cpus, 50) * 1000:6.2f}  p99 "
              f"{pct(cpus, 99) * 1000:6.2f}   total wall {sum(walls):5.2f} s, CPU {sum(cpus):5.2f} s")

    print("\n2. decoding speed, tokens/s after the first token: the arena's two sides streaming at once vs "
          "llama-cpp-python direct, the same two models generating at once in two processes")
    names = {entries[0].id: "f16", entries[1].id: "Q8_0"}
    ratios: dict[str, float] = {}
    for model_id in (entries[0].id, entries[1].id):
        side = "A (left)" if extras.left == model_id else "B (right)"
        arena = [r.stats[model_id].tokens_per_s or 0.0 for r in measured]
        direct_rates = [r.direct[model_id].tokens_per_s or 0.0 for r in measured]
        arena_tokens = sorted({r.stats[model_id].tokens for r in measured})
        direct_tokens = sorted({r.direct[model_id].tokens for r in measured})
        ratio = statistics.median(arena) / statistics.median(direct_rates)
        paired = statistics.median(a / d for a, d in zip(arena, direct_rates, strict=True) if d)
        ratios[names[model_id]] = ratio
        print(f"   {names[model_id]:<5} side {side:<9} arena  median {statistics.median(arena):6.1f}  best "
              f"{max(arena):6.1f}  tokens {arena_tokens}  runs {', '.join(f'{v:.1f}' for v in arena)}")
        print(f"   {'':<5} {'':<14} direct median {statistics.median(direct_rates):6.1f}  best "
              f"{max(direct_rates):6.1f}  tokens {direct_tokens}  runs {', '.join(f'{v:.1f}' for v in direct_rates)}")
        print(f"   {'':<5} {'':<14} ratio arena / direct: of the medians {ratio:.3f}, of the bests "
              f"{max(arena) / max(direct_rates):.3f}, median of each round's ratio {paired:.3f}")
    for number, r in enumerate(measured, 1):
        shares = ", ".join(f"{name} {seconds / r.direct_wall_s * 100:.0f} %" for name, seconds in r.direct_cpu.items())
        print(f"   direct pair {number}: {r.direct_wall_s:4.1f} s, CPU: {shares}")
    print("   (like with like: each server and each direct model has the same 1 generation thread on this 2-core "
          "box, the same n_ctx, prompt, sampling and seed; both models generate at once in both settings; in the "
          "arena the TUI process competes for the same 2 cores, which is the cost being measured)")
    return {"lag_p50": pct(lag, 50), "lag_p99": pct(lag, 99), "ratios": ratios}


# --- ratings on disk: submits, export ------------------------------------------------------------------


def response_text(rng: random.Random, i: int) -> str:
    pieces = ["听起来你最近真的很辛苦，", "能和我说说这种感觉是从什么时候开始的吗？", "失眠和心慌常常和压力有关，",
              "我们可以一起试着找找让你放松的方法，比如睡前做几次缓慢的深呼吸。", "你愿意的话，",
              "也可以把担心的事写下来，\n第二天再看。", "如果这种状态持续两周以上，建议找专业的心理咨询师聊聊。",
              '有时候"完美"的要求会让人更紧张，', "=SUM(A1)这类内容也照样导出。"]
    return f"回答{i}：" + "".join(rng.choice(pieces) for _ in range(12))


def seed_workspace(
    root: Path, *, models: int = 10, prompts: int = 100
) -> tuple[Workspace, list[Any], dict[tuple[str, str], int]]:
    """A workspace with ``models`` catalog models, a ``prompts``-prompt set, one session per neighbouring
    pair of models (made by core.arena.sessions.create_session) and one stored response per (prompt, model)."""
    from core.arena.prompts import register_prompt_set
    from core.arena.sessions import context_key, create_session, session_items
    from core.base.processes import utc_now
    from core.models import register_endpoint
    from tests.bench.stream import SYSTEM

    workspace = open_workspace(Workspace(root))
    rng = random.Random(7)
    ids = [register_endpoint(workspace, f"bench-model-{i}", "http://127.0.0.1:9/v1", served_name=f"m{i}").id
           for i in range(models)]
    prompt_file = root / "prompts.jsonl"
    with prompt_file.open("w", encoding="utf-8") as handle:
        for i in range(prompts):
            handle.write(json.dumps({"id": f"p{i:03d}", "prompt": f"第{i}个来访者：最近压力很大，晚上睡不着，该怎么办？",
                                     "tags": ["压力", "睡眠"]}, ensure_ascii=False) + "\n")
    prompt_set = register_prompt_set(workspace, prompt_file)
    sessions = [create_session(workspace, prompt_set.id, ids[i], ids[(i + 1) % models], system_prompt=SYSTEM,
                               created_by="bench", side_seed=i) for i in range(models)]
    items = session_items(workspace, sessions[0].id)
    from core.base.db import connect

    connection = connect(workspace.db_path)
    try:
        connection.execute("BEGIN IMMEDIATE")
        rows = []
        for n, item in enumerate(items):
            messages = [{"role": "user", "content": item.prompt}]
            key = context_key(messages)
            for model_id in ids:
                rows.append((key, model_id, sessions[0].params_key, sessions[0].seed, 0,
                             json.dumps(messages, ensure_ascii=False), response_text(rng, n), "length", 0.12, 128,
                             31.5, "[]", "bench", utc_now()))
        connection.executemany(
            """INSERT INTO responses (context_key, model_id, params_key, seed, generation, messages, text,
                   finish_reason, ttft_s, tokens, tokens_per_s, flags, created_by, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
        connection.execute("COMMIT")
        keys = {context_key([{"role": "user", "content": item.prompt}]): item.prompt_id for item in items}
        response_ids = {(keys[key], model_id): rid for rid, key, model_id in
                        connection.execute("SELECT id, context_key, model_id FROM responses")}
    finally:
        connection.close()
    return workspace, sessions, response_ids


SCORES = [json.dumps({"empathy": e, "professionalism": p, "safe": 1}) for e in range(1, 6) for p in range(1, 6)]


def measure_submits(root: Path) -> dict[str, float]:
    """Figure 3: 2,000 RatingStore.submit calls, each a new rating, on a fresh file-backed workspace."""
    from core.arena.ratings import RatingInput, RatingStore
    from core.arena.sessions import session_items

    folder = Path(tempfile.mkdtemp(prefix="submit-ws-", dir=root))
    try:
        workspace, sessions, responses = seed_workspace(folder / "ws")
        session = sessions[0]
        items = session_items(workspace, session.id)
        raters = SUBMITS // len(items) + 1
        rng = random.Random(3)
        inputs: list[RatingInput] = []
        for rater in range(raters):
            for item in items:
                if len(inputs) == SUBMITS:
                    break
                inputs.append(RatingInput(
                    session_id=session.id, item_position=item.position, rater=f"r{rater:02d}", rubric="default",
                    left_model=item.left_model, right_model=item.right_model,
                    left_scores={"empathy": rng.randint(1, 5), "professionalism": rng.randint(1, 5), "safe": 1},
                    right_scores={"empathy": rng.randint(1, 5), "professionalism": rng.randint(1, 5), "safe": 1},
                    preference=rng.choice(["left", "right", "tie", "both_bad"]), comment="",
                    left_response_id=responses[item.prompt_id, item.left_model],
                    right_response_id=responses[item.prompt_id, item.right_model],
                    shown_at="2025-01-01T00:00:00.000000Z", seconds_spent=12.5))
        times = []
        with RatingStore(workspace) as store:
            for rating in inputs[:20]:  # warm-up, not counted: another rater's ratings
                store.submit(replace(rating, rater="warm-up"))
            for rating in inputs:
                began = time.perf_counter()
                store.submit(rating)
                times.append(time.perf_counter() - began)
        mount, kind = filesystem_of(folder)
        print(f"\n3. RatingStore.submit, {len(times):,} submits (each a new rating; 20 warm-up submits first) on "
              f"{folder} ({kind} at {mount}; WAL, synchronous=FULL)")
        print(f"   p50 {pct(times, 50) * 1000:.2f} ms   p90 {pct(times, 90) * 1000:.2f} ms   p99 "
              f"{pct(times, 99) * 1000:.2f} ms   max {max(times) * 1000:.1f} ms   (target p99 <= 10 ms)")
        return {"p50": pct(times, 50), "p99": pct(times, 99)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure_export(root: Path) -> float | None:
    """Figure 4: the ratings CSV of 100,000 current ratings (each 2 rows), median of 3."""
    try:
        from core.results.export import export
    except ImportError:
        print("\n4. export: not available")
        return None
    from core.arena.sessions import session_items
    from core.base.db import connect
    from core.base.processes import utc_now

    folder = Path(tempfile.mkdtemp(prefix="export-ws-", dir=root))
    try:
        began = time.perf_counter()
        workspace, sessions, responses = seed_workspace(folder / "ws")
        raters = EXPORT_RATINGS // (len(sessions) * 100)
        rng = random.Random(5)
        preferences = ["left", "right", "tie", "both_bad"]
        stamp = utc_now()
        rows = []
        for session in sessions:
            for item in session_items(workspace, session.id):
                left = responses[item.prompt_id, item.left_model]
                right = responses[item.prompt_id, item.right_model]
                for rater in range(raters):
                    rows.append((session.id, item.position, 1, f"r{rater:03d}", 1, 1, "default", item.left_model,
                                 item.right_model, left, right, rng.choice(SCORES), rng.choice(SCORES),
                                 rng.choice(preferences), "" if rng.random() < 0.9 else "回答太长，\"但\"有共情",
                                 stamp, stamp, round(rng.uniform(5, 90), 3)))
        connection = connect(workspace.db_path)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany("INSERT OR IGNORE INTO raters (name) VALUES (?)",
                                   [(f"r{r:03d}",) for r in range(raters)])
            connection.executemany(
                """INSERT INTO ratings (session_id, item_position, turn, rater, version, current, rubric, left_model,
                       right_model, left_response_id, right_response_id, left_scores, right_scores, preference,
                       comment, shown_at, submitted_at, seconds_spent)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
            connection.execute("COMMIT")
            count = connection.execute("SELECT COUNT(*) FROM ratings WHERE current = 1").fetchone()[0]
        finally:
            connection.close()
        built = time.perf_counter() - began
        times, written = [], 0
        for n in range(3):
            out = folder / f"ratings-{n}.csv"
            began = time.perf_counter()
            written = export(workspace, "ratings", out, format="csv")
            times.append(time.perf_counter() - began)
        size = (folder / "ratings-0.csv").stat().st_size
        print(f"\n4. core.results.export ratings CSV of {count:,} ratings ({len(sessions)} sessions x 100 items x {raters} "
              f"raters, {len(responses):,} responses; built with executemany in {built:.1f} s): {written:,} rows, "
              f"{size / 1e6:.0f} MB")
        print(f"   median {statistics.median(times):.2f} s of 3 ({', '.join(f'{t:.2f}' for t in times)})   "
              "(target <= 2 s)")
        return statistics.median(times)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure_bootstrap() -> float:
    """Figure 5, with stats_bench.py's battles."""
    from core.stats import bootstrap_bradley_terry
    from tests.bench.stats_bench import random_battles

    battles = random_battles(BT_MODELS, BT_BATTLES, seed=0)
    times = []
    for _ in range(3):
        began = time.perf_counter()
        bootstrap_bradley_terry(battles, rounds=BT_ROUNDS)
        times.append(time.perf_counter() - began)
    print(f"\n5. bootstrap_bradley_terry, {BT_ROUNDS:,} rounds, {BT_MODELS} models, {BT_BATTLES:,} battles: median "
          f"{statistics.median(times):.3f} s of 3 ({', '.join(f'{t:.3f}' for t in times)})   (target <= 1 s)")
    return statistics.median(times)


# --- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=128, help="tokens per answer (default 128)")
    parser.add_argument("--runs", type=int, default=12, help="measured arena rounds, each followed by a direct pair")
    parser.add_argument("--skip-model", action="store_true", help="skip figures 1 and 2 (no model, no servers)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the workspaces go (default: /tmp unless it is tmpfs, else ~/.cache)")
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/mhbench-bench-stream"),
                        help="stream.py's model folder: the GGUF is built there once and reused")
    parser.add_argument("--gpu-interval", type=float, default=1.0, help="GpuSampler interval, s (the Train screen's)")
    parser.add_argument("--log-interval", type=float, default=0.05, help="seconds between appended log lines")
    parser.add_argument("--plain-headless", action="store_true", help="skip turning frames into escape codes")
    parser.add_argument("--slow-callback-ms", type=float, default=None,
                        help="diagnosis: asyncio debug mode, logging every callback slower than this (skews lag)")
    parser.add_argument("--what-if", action="store_true",
                        help="experiment, not the app as shipped: one SSL context shared by every stream's httpx client, "
                        "and gc.freeze() after the first round")
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=40)
    args = parser.parse_args()

    root = data_root(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    mount, kind = filesystem_of(root)
    tmp_mount, tmp_kind = filesystem_of(Path(tempfile.gettempdir()))
    print(f"this machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{tempfile.gettempdir()} is {tmp_kind} ({tmp_mount}); workspaces under {root} ({kind} at {mount})")

    for line in busy_elsewhere():
        print(f"warning: another process is busy, figures will be skewed: {line}")

    arena: dict[str, Any] | None = None
    if not args.skip_model:
        arena = measure_arena(args, root)
    submits = measure_submits(root)
    export_s = measure_export(root)
    bootstrap_s = measure_bootstrap()

    table: list[tuple[str, str, str, bool | None]] = []
    if arena is not None:
        table.append(("1. loop lag p50 / p99, both sides streaming",
                      f"{arena['lag_p50'] * 1000:.2f} / {arena['lag_p99'] * 1000:.2f} ms", "p99 <= 20 ms",
                      arena["lag_p99"] <= 0.020))
        for name, ratio in arena["ratios"].items():
            table.append((f"2. tokens/s arena / direct, {name} side", f"{ratio:.3f}", ">= 0.97", ratio >= 0.97))
    else:
        table.append(("1-2. arena lag and speed", "skipped (--skip-model)", "", None))
    table.append(("3. submit p50 / p99", f"{submits['p50'] * 1000:.2f} / {submits['p99'] * 1000:.2f} ms",
                  "p99 <= 10 ms", submits["p99"] <= 0.010))
    if export_s is None:
        table.append(("4. export 100,000 ratings (CSV)", "export: not available", "<= 2 s", None))
    else:
        table.append(("4. export 100,000 ratings (CSV)", f"{export_s:.2f} s", "<= 2 s", export_s <= 2.0))
    table.append(("5. bootstrap BT, 1,000 rounds", f"{bootstrap_s:.3f} s", "<= 1 s", bootstrap_s <= 1.0))
    if args.what_if:
        print("\n(--what-if: figures 1-2 come from the experiment, not the app as shipped)")
    print(f"\n{'figure':<44} {'measured':<24} {'target':<14} met")
    for figure, measured, target, met in table:
        print(f"{figure:<44} {measured:<24} {target:<14} {'-' if met is None else 'yes' if met else 'NO'}")


if __name__ == "__main__":
    main()
