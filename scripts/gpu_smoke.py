"""The GPU smoke test: every GPU path of mhbench once, on tiny models made here, one line per step.

Run by ``scripts/gpu-smoke.sh``. Each step uses the functions the app itself uses: the demo
builder for the tiny models, ``plan_run``/``launch`` for ``swift sft`` (LoRA, then 4-bit
QLoRA with bitsandbytes), ``sample_gpus``/``map_processes_to_runs`` (the NVML pane's data),
the merge and GGUF jobs, ``connect_models`` for llama.cpp with every layer on the GPU,
``stream_chat`` for the answer, and ``mhbench session generate``'s job in two waves. A step prints ``PASS``, ``FAIL`` or ``SKIP`` (with the
reason), and its time; a step whose input failed or was skipped is skipped, naming it.

Then the paths of the seed profiles and the Arena on a real box (issue 20): a flash-attn run with
packing, model-type naming for a Llama-3-family model that swift cannot look up by name (built
tiny here), ``swift deploy`` of an adapter with transformers and with vLLM (when installed), two
servers sized to share GPU 0, a two-process torchrun stopped and resumed (with NVML attributing
both workers to the run, and nothing left of the tree), and the QLoRA merge (no re-quantising).

Every step has a time budget (:data:`BUDGET`, listed by ``--dry-run``); a step past it is
interrupted, and after every step whatever it left running (runs, jobs, servers) is stopped, so
that nothing holds the GPU when the next one starts.

Without a GPU every GPU step is skipped at once and the exit code is 0. ``--cpu`` runs the
steps that do not need a GPU on the CPU instead (LoRA, merge, GGUF, serve, stream, model type,
transformers deploy), which proves the plumbing on a box without one. The exit code is 1 when
any step failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.base.errors import MhbenchError  # noqa: E402  (the project root goes on the path first)
from core.base.workspace import Workspace  # noqa: E402

TRAIN_STEPS = ("train.save_steps=1000", "train.eval_steps=1000", "train.logging_steps=5")

BUDGET: dict[str, tuple[int, str]] = {
    # step: (seconds at most, what it proves); the setup's own time is not in the total
    "gpu": (30, "NVML sees a GPU"),
    "setup": (3600, "scripts/setup.sh: CUDA torch for the driver, llama.cpp with CUDA, the gpu extra"),
    "cuda-torch": (120, "torch sees CUDA"),
    "tiny-models": (120, "the tiny Qwen2 and Llama-3 of the demo"),
    "sft-lora": (240, "swift sft LoRA on GPU 0, NVML watching"),
    "nvml-run": (10, "NVML attributes the run's process to the run"),
    "sft-qlora": (240, "4-bit QLoRA (bitsandbytes)"),
    "queue": (600, "two queued LoRA runs on the GPU, the second after the first"),
    "merge": (180, "swift export --merge_lora on the CPU"),
    "gguf": (120, "f16 GGUF"),
    "serve-gpu": (120, "llama.cpp with every layer on the GPU (serve-cpu with --cpu)"),
    "stream": (60, "an answer streamed through core.models.client"),
    "cancel": (120, "a cancelled 512-token stream frees its llama-server slot: the next first token comes as on an idle server"),
    "flash-packing": (240, "a run with attn_impl flash_attn and packing (needs flash-attn)"),
    "model-type": (240, "a Llama-3-family model swift cannot look up by name: --model_type llama, template llama3"),
    "deploy-transformers": (240, "swift deploy of base + adapter, transformers; each name answers"),
    "deploy-vllm": (420, "swift deploy of base + adapter, vLLM (when installed), memory share and LoRA rank"),
    "two-servers": (420, "two servers sized to share GPU 0, both answering, both on GPU 0"),
    "torchrun-stop": (480, "2 processes on GPUs 0,1: stopped with a checkpoint, nothing left, resumed"),
    "nvml-torchrun": (10, "NVML attributes both torchrun workers to the run"),
    "qlora-merge": (180, "the QLoRA checkpoint merged without re-quantising (no quantization_config)"),
    "waves": (300, "mhbench session generate in two waves: no two servers at once, every answer made"),
}
"""Every step, in order, with its time budget and what a PASS proves."""


class StepTimeout(Exception):
    """A step ran past its budget (raised inside it by SIGALRM)."""


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
        budget = BUDGET[{"serve-cpu": "serve-gpu"}.get(name, name)][0]
        try:
            if gpu and not self.gpu:
                raise Skip(f"no NVIDIA GPU ({self.found.get('gpu', 'NVML sees none')})")
            if missing:
                raise Skip(f"needs {', '.join(missing)}")
            signal.signal(signal.SIGALRM, _past_budget)
            signal.alarm(budget)
            try:
                detail = action()
            finally:
                signal.alarm(0)
        except Skip as why:
            status, detail = "SKIP", str(why)
        except StepTimeout:
            status, detail = "FAIL", f"past its budget of {budget} s: stopped"
        except MhbenchError as error:
            status, detail = "FAIL", str(error)
        except Exception as error:  # a smoke test reports every failure as a line, never a traceback
            status, detail = "FAIL", f"{type(error).__name__}: {error}"
        if name not in ("serve-gpu", "serve-cpu", "stream"):  # the stream and cancel steps after them use that server
            stop_everything(self)
        self.results[name] = status
        line = f"{status:<4}  {name:<19} {time.monotonic() - start:7.1f} s  {detail}"
        self.lines.append(line)
        print(line, flush=True)


def _past_budget(signum: int, frame: object) -> None:
    raise StepTimeout()


def stop_everything(smoke: Smoke) -> None:
    """Stop whatever a step left running in the smoke workspace: runs, jobs, servers."""
    from core.models.jobs import list_jobs, stop_job
    from core.train.runs import list_runs, stop_run

    if smoke.workspace is None:
        return
    for run in list_runs(smoke.workspace):
        if run.active:
            try:
                stop_run(smoke.workspace, run.id, timeout=60)
            except MhbenchError as error:
                print(f"note: could not stop run {run.id}: {error}", flush=True)
    for job in list_jobs(smoke.workspace):
        if job.status in ("starting", "running", "stopping"):
            try:
                stop_job(smoke.workspace, job.id)
            except MhbenchError as error:
                print(f"note: could not stop job {job.id}: {error}", flush=True)
    stop_servers(smoke)


# --- the steps -----------------------------------------------------------------------------------


def find_gpu(smoke: Smoke) -> str:
    from core.base.gpu import sample_gpus

    report = sample_gpus()
    if not report.gpus:
        smoke.found["gpu"] = report.problem or "NVML sees none"
        raise Skip(f"no NVIDIA GPU: {smoke.found['gpu']}")
    smoke.gpu = True
    if any(gpu.mig for gpu in report.gpus):
        smoke.found["mig"] = "MIG is on: NVML reports no per-process memory, so it cannot attribute processes"
    return report.summary()


def run_setup(smoke: Smoke) -> str:
    if not smoke.setup:
        raise Skip("--no-setup")
    # setup.sh installs the gpu extra itself (with the constraints, flash-attn only where it can).
    done = subprocess.run(["bash", str(ROOT / "scripts/setup.sh")], cwd=ROOT, capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        raise MhbenchError(f"scripts/setup.sh failed: {(done.stderr or done.stdout)[-400:]}")
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    return "CUDA torch and the gpu extra installed" + (f"; {len(warnings)} warning(s): {warnings[0]}" if warnings else "")


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


def train(smoke: Smoke, profile_name: str, *, qlora: bool, watch_gpu: bool, label: str | None = None,
          overrides: tuple[str, ...] = (), flash_attn: bool | None = False) -> str:
    from core.profiles import apply_overrides, find_profile, load_profiles
    from core.train.launch import LaunchRequest, launch, plan_run

    if qlora and importlib.util.find_spec("bitsandbytes") is None:
        raise Skip("bitsandbytes is not installed (`bash scripts/setup.sh` installs the gpu extra)")
    workspace = smoke.workspace
    assert workspace is not None
    steps = 60 if watch_gpu else 10
    changes = [*TRAIN_STEPS, f"train.max_steps={steps}", *overrides]
    if smoke.gpu:
        changes.append('train.dtype="bf16"')
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), profile_name), changes)
    label = label or ("qlora" if qlora else "lora")
    request = LaunchRequest(profile=profile, name=label, tuner="qlora" if qlora else None,
                            cuda_visible_devices="0" if smoke.gpu else None, flash_attn=flash_attn)
    plan = plan_run(workspace, request)
    if flash_attn and ("--packing" not in plan.command.argv or "flash_attn" not in plan.command.argv):
        raise MhbenchError("the plan dropped flash attention or packing: " + "; ".join(plan.command.notes))
    record = launch(workspace, plan)
    watcher = GpuWatcher(record.id, record.pgid or 0) if watch_gpu else None
    if watcher is not None:
        watcher.start()
    try:
        finished = wait_run(smoke, record.id, 600)
    finally:
        if watcher is not None:
            watcher.stop()
            smoke.found["nvml"] = watcher.verdict()
    smoke.found[f"run:{label}"] = finished.id
    loss = f", loss {finished.last_loss:.3f}" if finished.last_loss is not None else ""
    return f"{profile_name} {finished.progress_text} steps{loss}"


def wait_run(smoke: Smoke, run_id: str, timeout: float, *, status: str = "finished") -> Any:
    from core.train.runs import get_run

    assert smoke.workspace is not None
    deadline = time.monotonic() + timeout
    while get_run(smoke.workspace, run_id).active and time.monotonic() < deadline:
        time.sleep(0.5)
    record = get_run(smoke.workspace, run_id)
    if record.status != status:
        summary = (record.diagnosis or {}).get("summary", record.status)
        raise MhbenchError(f"run {record.id} {record.status}: {summary}", path=record.stdout_path)
    return record


class GpuWatcher:
    """Samples NVML as the Train mode's GPU pane does, until it sees ``want`` of the run's processes holding memory."""

    def __init__(self, run_id: str, pgid: int, want: int = 1) -> None:
        self.run_id, self.pgid, self.want = run_id, pgid, want
        self.held: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="smoke-nvml", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def enough(self) -> bool:
        return len(self.held) >= self.want

    def _sample(self) -> None:
        from core.base.gpu import map_processes_to_runs, sample_gpus

        while not self._stop.is_set():
            for gpu in sample_gpus().gpus:
                owners = map_processes_to_runs([p.pid for p in gpu.processes], {self.run_id: self.pgid})
                for process in gpu.processes:
                    held = process.used_memory or 0
                    if owners.get(process.pid) == self.run_id and held > self.held.get(process.pid, 0):
                        self.held[process.pid] = held
            self._stop.wait(0.2)

    def verdict(self) -> str:
        if not self.enough():
            return ""
        return ", ".join(f"pid {pid} of run {self.run_id} holds {held / 2**20:.0f} MiB"
                         for pid, held in sorted(self.held.items(), key=lambda item: -item[1])[:max(self.want, 1)])


def check_nvml(smoke: Smoke) -> str:
    if "mig" in smoke.found:
        raise Skip(smoke.found["mig"])
    verdict = smoke.found.get("nvml", "")
    if not verdict:
        raise MhbenchError("NVML never showed the run's process holding GPU memory.",
                           fix="check that nvidia-ml-py reads this driver and that the pids share a namespace.")
    return verdict


def queue_two_runs(smoke: Smoke) -> str:
    """Two short LoRA runs through the run queue and its detached runner: the second starts once the first ended."""
    from core.queue.enqueue import queue_runs
    from core.train.run_queue import get_entry
    from core.train.runs import get_run

    workspace = smoke.workspace
    assert workspace is not None
    overrides = [*TRAIN_STEPS, "train.max_steps=10", *(['train.dtype="bf16"'] if smoke.gpu else [])]
    entries, _ = queue_runs(workspace, ["demo-tiny-qwen2", "demo-tiny-qwen2"], overrides=overrides,
                            gpus="0" if smoke.gpu else None)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and any(
            get_entry(workspace, entry.id).status in ("queued", "training", "steps") for entry in entries):
        time.sleep(1)
    first, second = (get_entry(workspace, entry.id) for entry in entries)
    if first.status != "done" or second.status != "done":
        why = first.reason or second.reason or "still at work after 600 s"
        raise MhbenchError(f"the queued runs ended {first.status} and {second.status}: {why}",
                           path=workspace.root / "queue" / "runner.log")
    one, two = get_run(workspace, first.run_id or ""), get_run(workspace, second.run_id or "")
    if not one.ended_at or not two.started_at or two.started_at < one.ended_at:
        raise MhbenchError(f"the second queued run started at {two.started_at}, before the first ended "
                           f"({one.ended_at}).", path=workspace.root / "queue" / "runner.log")
    return f"{one.id} ended {one.ended_at[11:19]}, then {two.id} started {two.started_at[11:19]}"


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


# --- the seed profiles' paths on the box (issue 20) -----------------------------------------------


def flash_packing(smoke: Smoke) -> str:
    from core.train.attention import flash_attn_importable

    if not flash_attn_importable():
        raise Skip("flash-attn does not import here (setup installs it only with nvcc or a matching wheel)")
    return train(smoke, "demo-tiny-llama3", qlora=False, watch_gpu=False, label="flash",
                 overrides=('train.attn_impl="flash_attn"', "train.packing=true"), flash_attn=True)


def model_type(smoke: Smoke) -> str:
    """The demo's tiny Llama-3 under a name swift's registry does not know, trained as Llama-3-Chinese is."""
    import shutil

    from core.demo import create_demo

    workspace = smoke.workspace
    assert workspace is not None
    source = create_demo(workspace.root).llama_dir
    unknown = workspace.models_dir / "tiny-llama-3-chinese-instruct-v2"
    if not unknown.is_dir():
        shutil.copytree(source, unknown)
    detail = train(smoke, "demo-tiny-llama3", qlora=False, watch_gpu=False, label="llama3-chinese",
                   overrides=(f"model.id={json_string(str(unknown))}", 'model.family="llama3_chinese"'))
    return detail + " (--model_type llama, template llama3)"


def json_string(text: str) -> str:
    import json

    return json.dumps(text)


def adapter_of(smoke: Smoke, label: str) -> Any:
    from core.models import register_adapter
    from core.train.runs import checkpoints_on_disk, get_run

    assert smoke.workspace is not None
    run = get_run(smoke.workspace, smoke.found[f"run:{label}"])
    found = checkpoints_on_disk(run.output_dir)
    if not found:
        raise MhbenchError(f"run {run.id} saved no checkpoint.", path=run.output_dir)
    return register_adapter(smoke.workspace, found[-1][1], run.id)


def deploy_adapter(smoke: Smoke, backend: str) -> str:
    """The lora run's adapter and its base on one swift deploy server; readiness asks each name once."""
    from core.models.targets import ServeOptions, connect_models

    if backend != "transformers" and importlib.util.find_spec(backend) is None:
        raise Skip(f"{backend} is not installed (`.venv/bin/pip install {backend} -c constraints.txt`)")
    assert smoke.workspace is not None
    adapter = adapter_of(smoke, "lora")
    (target,) = connect_models(smoke.workspace, [adapter.id], options=ServeOptions(infer_backend=backend))
    answer = ask(target.base_url, target.model)
    detail = f"{target.model} answered {len(answer)} chars"
    if smoke.gpu:
        detail += "; " + server_on_gpu(smoke, target.server_id or "")
    return detail


def ask(base_url: str, model: str) -> str:
    import httpx

    body = {"model": model, "messages": [{"role": "user", "content": "最近总是睡不着，怎么办？"}], "max_tokens": 16}
    reply = httpx.post(base_url + "/chat/completions", json=body, timeout=120, trust_env=False)
    if reply.status_code != 200:
        raise MhbenchError(f"{model}: HTTP {reply.status_code}: {reply.text[:300]}")
    return str(reply.json()["choices"][0]["message"]["content"])


def two_servers(smoke: Smoke) -> str:
    """The two tiny bases, each sized by its estimate, both pinned to GPU 0 and both answering."""
    from core.models import register_base
    from core.models.serving import get_server
    from core.models.targets import ServeOptions, connect_models

    assert smoke.workspace is not None
    backend = "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"
    bases = [register_base(smoke.workspace, name) for name in ("demo-tiny-qwen2", "demo-tiny-llama3")]
    targets = connect_models(smoke.workspace, [base.id for base in bases], options=ServeOptions(infer_backend=backend))
    places = []
    for target in targets:
        ask(target.base_url, target.model)
        server = get_server(smoke.workspace, target.server_id or "")
        places.append(server_on_gpu(smoke, server.id))
    if len({place.rsplit(" ", 1)[-1] for place in places}) != 1:
        raise MhbenchError("the two servers are not on one GPU: " + "; ".join(places))
    return f"{backend}: " + "; ".join(places)


def torchrun_stop(smoke: Smoke) -> str:
    """Two processes on GPUs 0,1: stop after a few steps (a checkpoint, nothing left), then resume to the end."""
    from core.base.gpu import sample_gpus
    from core.base.processes import process_tree
    from core.profiles import apply_overrides, find_profile, load_profiles
    from core.train.launch import LaunchRequest, launch, plan_run, resume_run
    from core.train.runs import checkpoints_on_disk, get_run, stop_run

    workspace = smoke.workspace
    assert workspace is not None
    if len(sample_gpus().gpus) < 2:
        raise Skip("needs 2 GPUs (swift asserts that GPUs divide evenly among processes)")
    changes = ["train.save_steps=1000", "train.eval_steps=1000", "train.logging_steps=1", "train.max_steps=40",
               'train.dtype="bf16"']
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), "demo-tiny-llama3"), changes)
    record = launch(workspace, plan_run(workspace, LaunchRequest(profile=profile, name="torchrun",
                                                                 cuda_visible_devices="0,1", nproc_per_node=2)))
    watcher = GpuWatcher(record.id, record.pgid or 0, want=0 if "mig" in smoke.found else 2)
    watcher.start()
    deadline = time.monotonic() + 300
    while (get_run(workspace, record.id).last_step or 0) < 3 or not watcher.enough():
        if not get_run(workspace, record.id).active or time.monotonic() > deadline:
            watcher.stop()
            raise MhbenchError(f"run {record.id} did not reach step 3 with both workers on the GPU",
                               path=get_run(workspace, record.id).stdout_path)
        time.sleep(0.5)
    watcher.stop()
    smoke.found["nvml-torchrun"] = watcher.verdict()
    tree = process_tree(record.pid, record.start_time)
    stopped = stop_run(workspace, record.id, timeout=240)
    left = [process.pid for process in tree if process.is_running()]
    if stopped.status != "stopped" or left:
        raise MhbenchError(f"run {record.id} {stopped.status}; processes left: {left}", path=stopped.stdout_path)
    saved = checkpoints_on_disk(stopped.output_dir)
    if not saved:
        raise MhbenchError("the stop saved no checkpoint (graceful exit did not run).", path=stopped.stdout_path)
    resumed = wait_run(smoke, resume_run(workspace, record.id).id, 600)
    return f"stopped at step {saved[-1][0]} with a checkpoint, nothing left; resumed to {resumed.progress_text}"


def check_nvml_torchrun(smoke: Smoke) -> str:
    if "mig" in smoke.found:
        raise Skip(smoke.found["mig"])
    verdict = smoke.found.get("nvml-torchrun", "")
    if not verdict:
        raise MhbenchError("NVML did not attribute both torchrun workers to the run.")
    return verdict


def qlora_merge(smoke: Smoke) -> str:
    import json

    from core.models import get_model
    from core.models.jobs import merge, wait_job

    workspace = smoke.workspace
    assert workspace is not None
    job = wait_job(workspace, merge(workspace, smoke.found["run:qlora"], name="qlora-merged").id, 600)
    if job.status != "finished" or not job.result_model_id:
        raise MhbenchError(f"merge {job.status}: {(job.diagnosis or {}).get('summary', '')}", path=job.stdout_path)
    entry = get_model(workspace, job.result_model_id)
    assert entry.path is not None
    config = json.loads((entry.path / "config.json").read_text(encoding="utf-8"))
    return f"{entry.id}: {config.get('torch_dtype') or config.get('dtype')}, no quantization_config"
def two_waves(smoke: Smoke) -> str:
    """The demo's two tiny models pre-generated under a budget that fits one server: two waves, never overlapping."""
    from core.arena.pregenerate import plan_generation, start_pregeneration
    from core.arena.prompts import register_prompt_set
    from core.arena.sessions import create_session
    from core.models.client import GenerationParams
    from core.models.jobs import wait_job
    from core.models.serving import list_servers

    workspace = smoke.workspace
    assert workspace is not None
    models = ("tiny-qwen2", "tiny-llama3")
    prompts = workspace.root / "smoke-prompts.jsonl"
    prompts.write_text('{"id": "s1", "prompt": "最近总是睡不着，怎么办？"}\n{"id": "s2", "prompt": "我很焦虑。"}\n',
                       encoding="utf-8")
    session = create_session(workspace, register_prompt_set(workspace, prompts).id, *models, schedule="adaptive",
                             params=GenerationParams(max_tokens=16))
    budget = 1.5  # GB: the demo profiles estimate 1 GB a server, so one fits and two do not
    planned = [wave.models for wave in plan_generation(workspace, session.id, budget).waves.waves]
    if planned != [(models[0],), (models[1],)]:
        raise MhbenchError(f"planned {planned} under {budget} GB, not one wave per model.")
    already = {server.id for server in list_servers(workspace)}
    job = wait_job(workspace, start_pregeneration(workspace, session.id, budget).id, 600)
    log = job.stdout_path.read_text(errors="replace")
    if job.status != "finished" or "done: 4 responses generated" not in log:
        raise MhbenchError(f"the wave job {job.status}: {job.progress_text()}", path=job.stdout_path)
    ran = sorted((s for s in list_servers(workspace) if s.id not in already), key=lambda s: s.created_at)
    if len(ran) != 2 or not (ran[0].ended_at or "~") <= ran[1].created_at or any(s.active for s in ran):
        raise MhbenchError(f"the waves' servers overlapped or stayed: {[(s.id, s.created_at, s.ended_at) for s in ran]}")
    seconds = [line.rsplit(" in ", 1)[-1] for line in log.splitlines() if " generated in " in line]
    return f"2 waves, servers one after another; generation {', '.join(seconds)}"
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


def dry_run_text() -> str:
    """Each step with its budget and what a PASS proves; the budget of the steps, setup apart."""
    lines = [f"{name:<20} {seconds:>5} s  {proves}" for name, (seconds, proves) in BUDGET.items()]
    steps = sum(seconds for name, (seconds, _) in BUDGET.items() if name != "setup")
    lines.append(f"budget: {steps} s ({steps / 60:.0f} min) at most for the steps, plus up to "
                 f"{BUDGET['setup'][0] // 60} min of set-up; a step past its budget is stopped, and everything "
                 "it left running is stopped before the next step. These are ceilings, not measurements: "
                 "no GPU has run these steps yet")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="mhbench's GPU smoke test: one line per step, PASS/FAIL/SKIP.")
    parser.add_argument("--no-setup", action="store_true", help="skip scripts/setup.sh and the gpu extra")
    parser.add_argument("--cpu", action="store_true", help="without a GPU, run the CPU-capable steps on the CPU")
    parser.add_argument("--keep", metavar="DIR", help="build the workspace in DIR and keep it (default: a temp dir)")
    parser.add_argument("--dry-run", action="store_true", help="list the steps, their budgets and what they prove")
    args = parser.parse_args(argv)
    if args.dry_run:
        print(dry_run_text())
        return 0
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
        smoke.step("queue", lambda: queue_two_runs(smoke), needs=("tiny-models",), gpu=not on_cpu)
        smoke.step("merge", lambda: merge_lora(smoke), needs=("sft-lora",), gpu=not on_cpu)
        smoke.step("gguf", lambda: convert(smoke), needs=("merge",), gpu=not on_cpu)
        smoke.step("serve-gpu" if not on_cpu else "serve-cpu", lambda: serve(smoke), needs=("gguf",),
                   gpu=not on_cpu)
        served = "serve-gpu" if not on_cpu else "serve-cpu"
        smoke.step("stream", lambda: stream_answer(smoke), needs=(served,), gpu=not on_cpu)
        smoke.step("cancel", lambda: cancel_frees_slot(smoke), needs=(served,), gpu=not on_cpu)
        stop_servers(smoke)  # the llama.cpp server is done with
        smoke.step("flash-packing", lambda: flash_packing(smoke), needs=("tiny-models",))
        smoke.step("model-type", lambda: model_type(smoke), needs=("tiny-models",), gpu=not on_cpu)
        smoke.step("deploy-transformers", lambda: deploy_adapter(smoke, "transformers"), needs=("sft-lora",),
                   gpu=not on_cpu)
        smoke.step("deploy-vllm", lambda: deploy_adapter(smoke, "vllm"), needs=("sft-lora",))
        smoke.step("two-servers", lambda: two_servers(smoke), needs=("tiny-models",))
        smoke.step("torchrun-stop", lambda: torchrun_stop(smoke), needs=("tiny-models",))
        smoke.step("nvml-torchrun", lambda: check_nvml_torchrun(smoke), needs=("torchrun-stop",))
        smoke.step("qlora-merge", lambda: qlora_merge(smoke), needs=("sft-qlora",))
        smoke.step("waves", lambda: two_waves(smoke), needs=("tiny-models",), gpu=not on_cpu)
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
