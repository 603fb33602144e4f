"""Servers planned for a GPU box (issue 20): adapters only on engines that serve them, memory shares
always passed and sized per GPU, each server pinned to a GPU, a readiness check that asks each name."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from core.base.errors import MhbenchError
from core.base.gpu import GpuReport, GpuSample
from core.base.workspace import Workspace
from core.models import register_adapter, register_base
from core.models.serving import SwiftDeploySpec, build_argv, check_deploy_argv
from core.models.serving.health import unanswered_name
from core.models.serving.memory import ModelMemory, gpus_that_fit, kv_cache_share, memory_share
from core.models.serving.specs import ENGINE_FLAGS, server_env
from core.models.targets import ServeOptions, server_spec
from core.swift.dialects import installed_swift_version
from tests.helpers.catalogs import demo_catalog
from tests.helpers.model_dirs import make_adapter

GB = 10**9
HAS_SWIFT = installed_swift_version() is not None


def h100(index: int, used_gb: float, uuid: str | None = None) -> GpuSample:
    return GpuSample(index, "NVIDIA H100 80GB HBM3", memory_used=int(used_gb * GB), memory_total=80 * GB, uuid=uuid)


@pytest.fixture()
def catalog(demo, tmp_path: Path) -> Workspace:
    """The demo's profiles in a fresh workspace."""
    return demo_catalog(demo, tmp_path / "ws")


def serve_with(catalog: Workspace, backend: str) -> None:
    path = catalog.profiles_dir / "demo-tiny-qwen2.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('infer_backend = "transformers"', f'infer_backend = "{backend}"')
    path.write_text(text.replace("infer_vram_gb = [0, 1]", "infer_vram_gb = [15, 20]"), encoding="utf-8")


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(f"--{name}") + 1]


def test_adapters_never_go_to_lmdeploy_or_sglang(catalog: Workspace, demo, tmp_path: Path) -> None:
    serve_with(catalog, "lmdeploy")
    register_base(catalog, "demo-tiny-qwen2")
    adapter = register_adapter(catalog, make_adapter(tmp_path / "a" / "checkpoint-2", demo.qwen_dir))
    spec = server_spec(catalog, [adapter], engine_installed=False, gpu_report=GpuReport((h100(0, 1),)))
    assert isinstance(spec, SwiftDeploySpec) and spec.infer_backend in ("vllm", "transformers")
    for backend in ("lmdeploy", "sglang"):
        with pytest.raises(MhbenchError, match="cannot serve LoRA adapters") as caught:
            server_spec(catalog, [adapter], ServeOptions(infer_backend=backend), engine_installed=False)
        assert "merge" in caught.value.fix and "vllm" in caught.value.fix


def test_vllm_serves_an_adapter_above_rank_16_with_its_rank_allowed(catalog: Workspace, demo, tmp_path: Path) -> None:
    register_base(catalog, "demo-tiny-qwen2")
    checkpoint = make_adapter(tmp_path / "a" / "checkpoint-2", demo.qwen_dir)
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    (checkpoint / "adapter_config.json").write_text(json.dumps({**config, "r": 64}))
    adapter = register_adapter(catalog, checkpoint)
    spec = server_spec(catalog, [adapter], ServeOptions(infer_backend="vllm"), engine_installed=False,
                       gpu_report=GpuReport((h100(0, 1),)))
    argv = build_argv(spec, 8000)
    assert flag(argv, "vllm_max_lora_rank") == "64"
    if HAS_SWIFT:
        check_deploy_argv(argv)


@pytest.mark.parametrize("backend", ["vllm", "sglang", "lmdeploy"])
def test_every_engine_gets_a_share_sized_from_the_estimate_and_a_gpu(catalog: Workspace, backend: str) -> None:
    serve_with(catalog, backend)
    base = register_base(catalog, "demo-tiny-qwen2")
    uuid = "GPU-8c3a5f2e-1d4b-4c1e-9f0a-2b7d6e5c4a31"
    # GPU0 is busy with a training run; GPU1 has room.
    report = GpuReport((h100(0, 70), h100(1, 10, uuid)))
    spec = server_spec(catalog, [base], engine_installed=False, gpu_report=report)
    assert isinstance(spec, SwiftDeploySpec)
    argv = build_argv(spec, 8000)
    share = float(flag(argv, ENGINE_FLAGS[backend][1]))
    assert 0 < share < 0.5  # never the engine's 0.8–0.9 of the device
    assert spec.gpus == uuid  # pinned to the GPU where it fits, by UUID
    env = server_env(spec)
    assert env["CUDA_VISIBLE_DEVICES"] == uuid and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    if HAS_SWIFT:
        check_deploy_argv(argv)


def test_two_servers_sized_to_share_one_gpu() -> None:
    one_gpu = GpuReport((h100(0, 0),))
    share = memory_share(20, 80)
    assert share == 0.28 and 2 * share < 0.95
    after_first = GpuReport((h100(0, share * 80),))
    assert gpus_that_fit(20, after_first) is not None  # the second still fits
    assert gpus_that_fit(20, one_gpu, tensor_parallel=2) is None  # two GPUs asked, one there


def test_fit_is_per_gpu_not_summed() -> None:
    report = GpuReport((h100(0, 65), h100(1, 65)))  # 15 GB free on each, 30 in all
    assert gpus_that_fit(20, report) is None
    assert gpus_that_fit(20, report, tensor_parallel=2) is not None


def test_lmdeploys_cache_share_is_of_the_memory_free_after_the_weights() -> None:
    share = kv_cache_share(ModelMemory(weights_gb=15, total_gb=20), gpu_free_gb=80)
    # 5 GB of cache plus 1 GB spare out of 80 - 15 - 2 = 63 GB: about a tenth, not 0.8
    assert share == pytest.approx(0.1, abs=0.01)


def test_readiness_asks_every_served_name_once() -> None:
    asked: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        asked.append(model)
        if model == "adapter-a":
            return httpx.Response(500, text="TypeError: _infer_stream_async() got an unexpected keyword 'adapter_request'")
        return httpx.Response(200, json={"choices": [{"message": {"content": "好"}}]})

    with httpx.Client(transport=httpx.MockTransport(reply)) as client:
        names = {"base": "/m", "adapter-a": "/a"}
        problem = unanswered_name("http://127.0.0.1:1", names, client)
        assert problem is not None and "adapter-a" in problem and "TypeError" in problem
        assert asked == ["base", "adapter-a"]
        assert unanswered_name("http://127.0.0.1:1", {"base": "/m"}, client) is None


def test_a_gguf_with_every_layer_on_the_gpu_is_pinned_to_a_gpu_where_it_fits(catalog: Workspace, tmp_path: Path) -> None:
    from core.models import register_gguf
    from core.models.serving import LlamaCppSpec

    gguf_file = tmp_path / "m-q8_0.gguf"
    gguf_file.write_bytes(b"GGUF" + b"\0" * 1000)
    gguf = register_gguf(catalog, gguf_file)
    report = GpuReport((h100(0, 79.9999), h100(1, 1, "GPU-b")))
    spec = server_spec(catalog, [gguf], gpu_report=report)
    assert isinstance(spec, LlamaCppSpec) and spec.n_gpu_layers == -1 and spec.gpus == "GPU-b"
    cpu = server_spec(catalog, [gguf], gpu_report=GpuReport((), problem="no driver"))
    assert isinstance(cpu, LlamaCppSpec) and cpu.n_gpu_layers == 0 and cpu.gpus is None
