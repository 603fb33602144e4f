"""The GPU smoke test: every GPU path of mhbench once, on tiny models made here, one line per step.

Run by ``scripts/gpu-smoke.sh``. Each step uses the functions the app itself uses: the demo
builder for the tiny models, ``plan_run``/``launch`` for ``swift sft`` (LoRA, then 4-bit
QLoRA with bitsandbytes), ``sample_gpus``/``map_processes_to_runs`` (the NVML pane's data),
the merge and GGUF jobs, ``connect_models`` for llama.cpp with every layer on the GPU, and
``stream_chat`` for the answer. A step prints ``PASS``, ``FAIL`` or ``SKIP`` (with the
reason), and its time; a step whose input failed or was skipped is skipped, naming it.

Without a GPU every GPU step is skipped at once and the exit code is 0. ``--cpu`` runs the
steps that do not need a GPU on the CPU instead (LoRA, merge, GGUF, serve, stream), which
proves the plumbing on a box without one. The exit code is 1 when any step failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.base.errors import MhbenchError  # noqa: E402  (the project root goes on the path first)
from core.base.workspace import Workspace  # noqa: E402

TRAIN_STEPS = ("train.save_steps=1000", "train.eval_steps=1000", "train.logging_steps=5")


class Skip(Exception):
    """A step that cannot run here, and why."""


@dataclass
class Smoke:
    """The steps run so far, and what they left for the next ones."""

    gpu: bool
    cpu_only: bool
    setup: bool
    workspace: Workspace | None = None
    results: dict[str, str] = field(default_factory=dict)
    found: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def step(self, name: str, action: Callable[[], str], *, needs: tuple[str, ...] = (), gpu: bool = True) -> None:
        start = time.monotonic()
        status, detail = "PASS", ""
        missing = [need for need in needs if self.results.get(need) != "PASS"]
        try:
            if gpu and not self.gpu:
                raise Skip(f"no NVIDIA GPU ({self.found.get('gpu', 'NVML sees none')})")
            if missing:
                raise Skip(f"needs {', '.join(missing)}")
            detail = action()
        except Skip as why:
            status, detail = "SKIP", str(why)
        except MhbenchError as error:
            status, detail = "FAIL", str(error)
        except Exception as error:  # a smoke test reports every failure as a line, never a traceback
            status, detail = "FAIL", f"{type(error).__name__}: {error}"
        self.results[name] = status
        line = f"{status:<4}  {name:<14} {time.monotonic() - start:7.1f} s  {detail}"
        self.lines.append(line)
        print(line, flush=True)


# --- the steps -----------------------------------------------------------------------------------


def find_gpu(smoke: Smoke) -> str:
    from core.base.gpu import sample_gpus

    report = sample_gpus()
    if not report.gpus:
        smoke.found["gpu"] = report.problem or "NVML sees none"
        raise Skip(f"no NVIDIA GPU: {smoke.found['gpu']}")
    smoke.gpu = True
    return report.summary()


def run_setup(smoke: Smoke) -> str:
    if not smoke.setup:
        raise Skip("--no-setup")
    for command in (["bash", str(ROOT / "scripts/setup.sh")],
                    [sys.executable, "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"),
                     "-e", f"{ROOT}[gpu]"]):
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0 and "[gpu]" in command[-1]:
            # flash-attn or deepspeed may not build here; QLoRA only needs bitsandbytes.
            done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-c",
                                   str(ROOT / "constraints.txt"), "bitsandbytes>=0.45,<1"],
                                  capture_output=True, text=True, timeout=1200)
        if done.returncode != 0:
            raise MhbenchError(f"`{' '.join(command[:3])}` failed: {(done.stderr or done.stdout)[-400:]}")
    return "CUDA torch and the gpu extra (or bitsandbytes) installed"


def check_cuda_torch() -> str:
    probe = "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise MhbenchError(f"torch does not import: {done.stderr.strip()[-300:]}")
    version, cuda, available = done.stdout.split()
    if available != "True":
        raise MhbenchError(f"torch {version} sees no CUDA device (built for CUDA {cuda}).",
                           fix="run scripts/setup.sh on the GPU box: it installs the CUDA build.")
    return f"torch {version}, CUDA {cuda}"


def make_models(smoke: Smoke, root: Path) -> str:
    from core.demo import create_demo
    from core.models.targets import sync_catalog

    root.mkdir(parents=True, exist_ok=True)
    smoke.workspace = create_demo(root / "ws").workspace
    sync_catalog(smoke.workspace)
    return f"tiny Qwen2 and Llama in {smoke.workspace.root}"


def train(smoke: Smoke, profile_name: str, *, qlora: bool, watch_gpu: bool) -> str:
    from core.train.launch import LaunchRequest, launch, plan_run
    from core.profiles import apply_overrides, find_profile, load_profiles
    from core.train.runs import get_run

    if qlora and importlib.util.find_spec("bitsandbytes") is None:
        raise Skip("bitsandbytes is not installed (`pip install bitsandbytes`)")
    workspace = smoke.workspace
    assert workspace is not None
    steps = 60 if watch_gpu else 10
    overrides = [*TRAIN_STEPS, f"train.max_steps={steps}"]
    if smoke.gpu:
        overrides.append('train.dtype="bf16"')
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), profile_name), overrides)
    request = LaunchRequest(profile=profile, name="qlora" if qlora else "lora", tuner="qlora" if qlora else None,
                            cuda_visible_devices="0" if smoke.gpu else None)
    record = launch(workspace, plan_run(workspace, request))
    watcher = GpuWatcher(record.id, record.pgid or 0) if watch_gpu else None
    if watcher is not None:
        watcher.start()
    deadline = time.monotonic() + 600
    while get_run(workspace, record.id).active and time.monotonic() < deadline:
        time.sleep(0.5)
    if watcher is not None:
        watcher.stop()
        smoke.found["nvml"] = watcher.verdict()
    finished = get_run(workspace, record.id)
    if finished.status != "finished":
        summary = (finished.diagnosis or {}).get("summary", finished.status)
        raise MhbenchError(f"run {finished.id} {finished.status}: {summary}", path=finished.stdout_path)
    smoke.found[f"run:{'qlora' if qlora else 'lora'}"] = finished.id
    loss = f", loss {finished.last_loss:.3f}" if finished.last_loss is not None else ""
    return f"{profile_name} {finished.progress_text} steps{loss}"


class GpuWatcher:
    """Samples NVML as the Train mode's GPU pane does, until it sees the run's process holding memory."""

    def __init__(self, run_id: str, pgid: int) -> None:
        self.run_id, self.pgid = run_id, pgid
        self.best: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="smoke-nvml", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _sample(self) -> None:
        from core.base.gpu import map_processes_to_runs, sample_gpus

        while not self._stop.is_set():
            for gpu in sample_gpus().gpus:
                owners = map_processes_to_runs([p.pid for p in gpu.processes], {self.run_id: self.pgid})
                for process in gpu.processes:
                    held = process.used_memory or 0
                    if owners.get(process.pid) == self.run_id and held and (self.best is None or held > self.best[1]):
                        self.best = (process.pid, held)
            self._stop.wait(0.2)

    def verdict(self) -> str:
        if self.best is None:
            return ""
        return f"pid {self.best[0]} of run {self.run_id} holds {self.best[1] / 2**20:.0f} MiB"


def check_nvml(smoke: Smoke) -> str:
    verdict = smoke.found.get("nvml", "")
    if not verdict:
        raise MhbenchError("NVML never showed the run's process holding GPU memory.",
                           fix="check that nvidia-ml-py reads this driver and that the pids share a namespace.")
    return verdict


def merge_lora(smoke: Smoke) -> str:
    from core.models.jobs import merge, wait_job

    workspace = smoke.workspace
    assert workspace is not None
    job = wait_job(workspace, merge(workspace, smoke.found["run:lora"]).id, 600)
    if job.status != "finished" or not job.result_model_id:
        raise MhbenchError(f"merge {job.status}: {(job.diagnosis or {}).get('summary', '')}", path=job.stdout_path)
    smoke.found["merged"] = job.result_model_id
    return job.result_model_id


def convert(smoke: Smoke) -> str:
    from core.models import get_model
    from core.models.jobs import convert_to_gguf, wait_job

    workspace = smoke.workspace
    assert workspace is not None
    job = wait_job(workspace, convert_to_gguf(workspace, smoke.found["merged"]).id, 600)
    if job.status != "finished" or not job.result_model_id:
        raise MhbenchError(f"conversion {job.status}: {(job.diagnosis or {}).get('summary', '')}",
                           path=job.stdout_path)
    smoke.found["gguf"] = job.result_model_id
    entry = get_model(workspace, job.result_model_id)
    return f"{entry.id} ({(entry.size_bytes or 0) / 1e6:.1f} MB)"


def serve(smoke: Smoke) -> str:
    from core.models.targets import ServeOptions, connect_models

    workspace = smoke.workspace
    assert workspace is not None
    if smoke.gpu:
        probe = "import llama_cpp; print(llama_cpp.llama_supports_gpu_offload())"
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        if done.stdout.strip() != "True":
            raise MhbenchError("llama-cpp-python is built without GPU offload.",
                               fix='rebuild it: CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall '
                                   '--no-cache-dir "llama-cpp-python[server]==0.3.36" (scripts/setup.sh does).')
    layers = -1 if smoke.gpu else 0
    (target,) = connect_models(workspace, [smoke.found["gguf"]], options=ServeOptions(n_gpu_layers=layers, n_ctx=512))
    smoke.found["target"] = f"{target.base_url} {target.model} {target.server_id}"
    detail = f"{target.base_url} n_gpu_layers {layers}"
    if smoke.gpu:
        detail += "; " + server_on_gpu(smoke, target.server_id or "")
    return detail


def server_on_gpu(smoke: Smoke, server_id: str) -> str:
    from core.models.serving import get_server
    from core.base.gpu import map_processes_to_runs, sample_gpus

    workspace = smoke.workspace
    assert workspace is not None
    server = get_server(workspace, server_id)
    for gpu in sample_gpus().gpus:
        owners = map_processes_to_runs([p.pid for p in gpu.processes], {server.id: server.pid or 0})
        held = [p for p in gpu.processes if owners.get(p.pid) == server.id]
        if held:
            return f"NVML: server pid {held[0].pid} on GPU{gpu.index}"
    raise MhbenchError("the llama.cpp server holds no GPU memory: its layers are on the CPU.",
                       fix="rebuild llama-cpp-python with CUDA (scripts/setup.sh on the GPU box).")


def stream_answer(smoke: Smoke) -> str:
    from core.models.client import ChatRequest, GenerationParams, TextDelta, stream_chat

    base_url, model, _ = smoke.found["target"].split()

    async def ask() -> tuple[str, float | None, int | None]:
        pieces: list[str] = []
        stats = None
        request = ChatRequest([{"role": "user", "content": "最近总是睡不着，怎么办？"}],
                              GenerationParams(max_tokens=24), model)
        async for event in stream_chat(base_url, request):
            if isinstance(event, TextDelta):
                pieces.append(event.text)
            else:
                stats = event
        assert stats is not None
        return "".join(pieces), stats.tokens_per_s, stats.tokens

    text, speed, tokens = asyncio.run(ask())
    if not text:
        raise MhbenchError("the server streamed an empty answer.")
    rate = f", {speed:.0f} tok/s" if speed else ""
    return f"{tokens or '?'} tokens{rate}"


def cancel_frees_slot(smoke: Smoke, timeout_s: float = 120.0) -> str:
    """A 512-token stream cancelled after its first tokens, then a short request: its first token comes as
    promptly as on the idle server, and no slot is left generating the abandoned answer."""
    import httpx

    from core.models.client import ChatRequest, GenerationParams
    from core.models.serving import get_server, is_llama_server
    from core.models.slot_probe import first_token_after_cancel_s, first_token_s

    workspace = smoke.workspace
    assert workspace is not None
    base_url, model, server_id = smoke.found["target"].split()
    server = get_server(workspace, server_id)
    if not is_llama_server(server.argv):
        raise MhbenchError("GGUF files are served by llama_cpp.server, which generates a cancelled answer to its end.",
                           fix="build llama-server: bash scripts/build-llama-server.sh")

    def ask(tokens: int) -> ChatRequest:
        return ChatRequest([{"role": "user", "content": "最近总是睡不着，怎么办？"}],
                           GenerationParams(max_tokens=tokens), model, extra={"ignore_eos": True})

    async def measure() -> tuple[float, float]:
        await first_token_s(base_url, ask(4))  # warm
        idle = sorted([await first_token_s(base_url, ask(4)) for _ in range(3)])[1]
        return idle, await first_token_after_cancel_s(base_url, ask(512), ask(4))

    idle, after = asyncio.run(asyncio.wait_for(measure(), timeout_s))
    bound = max(3 * idle, 0.3)
    slots = httpx.get(server.root_url + "/slots", timeout=10, trust_env=False).json()
    busy = [slot.get("id") for slot in slots if slot.get("is_processing")]
    figures = f"first token {after * 1000:.0f} ms after a cancel, {idle * 1000:.0f} ms idle"
    if after > bound or busy:
        raise MhbenchError(f"a cancelled stream did not free its slot: {figures} (bound {bound * 1000:.0f} ms)"
                           + (f", slots {busy} still generating" if busy else ""),
                           fix="read the server's log; the client must close the connection on cancel.")
    return figures


def stop_servers(smoke: Smoke) -> None:
    from core.models.serving import list_servers, stop_server

    if smoke.workspace is None:
        return
    for server in list_servers(smoke.workspace, active_only=True):
        try:
            stop_server(smoke.workspace, server.id, timeout=20)
        except MhbenchError as error:
            print(f"note: could not stop server {server.id}: {error}", flush=True)


# --- the run -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mhbench's GPU smoke test: one line per step, PASS/FAIL/SKIP.")
    parser.add_argument("--no-setup", action="store_true", help="skip scripts/setup.sh and the gpu extra")
    parser.add_argument("--cpu", action="store_true", help="without a GPU, run the CPU-capable steps on the CPU")
    parser.add_argument("--keep", metavar="DIR", help="build the workspace in DIR and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    smoke = Smoke(gpu=False, cpu_only=args.cpu, setup=not args.no_setup)
    started = time.monotonic()
    root = Path(args.keep) if args.keep else Path(tempfile.gettempdir()) / f"mhbench-smoke-{os.getpid()}"
    on_cpu = False  # the CPU-capable steps run only with --cpu when there is no GPU
    try:
        smoke.step("gpu", lambda: find_gpu(smoke), gpu=False)
        on_cpu = not smoke.gpu and smoke.cpu_only
        smoke.step("setup", lambda: run_setup(smoke))
        smoke.step("cuda-torch", check_cuda_torch)
        smoke.step("tiny-models", lambda: make_models(smoke, root), gpu=not on_cpu)
        smoke.step("sft-lora", lambda: train(smoke, "demo-tiny-llama3", qlora=False, watch_gpu=smoke.gpu),
                   needs=("tiny-models",), gpu=not on_cpu)
        smoke.step("nvml-run", lambda: check_nvml(smoke), needs=("sft-lora",))
        smoke.step("sft-qlora", lambda: train(smoke, "demo-tiny-qwen2", qlora=True, watch_gpu=False),
                   needs=("tiny-models",))
        smoke.step("merge", lambda: merge_lora(smoke), needs=("sft-lora",), gpu=not on_cpu)
        smoke.step("gguf", lambda: convert(smoke), needs=("merge",), gpu=not on_cpu)
        smoke.step("serve-gpu" if not on_cpu else "serve-cpu", lambda: serve(smoke), needs=("gguf",),
                   gpu=not on_cpu)
        served = "serve-gpu" if not on_cpu else "serve-cpu"
        smoke.step("stream", lambda: stream_answer(smoke), needs=(served,), gpu=not on_cpu)
        smoke.step("cancel", lambda: cancel_frees_slot(smoke), needs=(served,), gpu=not on_cpu)
    finally:
        stop_servers(smoke)
    counts = {status: list(smoke.results.values()).count(status) for status in ("PASS", "FAIL", "SKIP")}
    kept = smoke.workspace is not None and (args.keep or counts["FAIL"])
    if smoke.workspace is not None and not kept:
        import shutil

        shutil.rmtree(root, ignore_errors=True)  # a failure's workspace stays, with its logs, for a look
    print(f"gpu smoke: {counts['PASS']} pass, {counts['FAIL']} fail, {counts['SKIP']} skip in "
          f"{time.monotonic() - started:.1f} s" + (f" (workspace kept: {root})" if kept else ""), flush=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
