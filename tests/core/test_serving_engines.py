"""swift deploy's engines: each gets its own tensor-parallel, memory and context flags, checked by swift's parser."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from core.base.db import open_workspace
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models import register_base
from core.models.serving import SwiftDeploySpec, build_argv, check_deploy_argv
from core.models.serving.specs import ENGINE_FLAGS, ENGINE_INSTALL, engine_flags
from core.models.targets import ServeOptions, check_backend, planned_servers, server_spec
from core.swift.dialects import installed_swift_version

HAS_SWIFT = installed_swift_version() is not None


@pytest.fixture()
def catalog(demo, tmp_path: Path) -> Workspace:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    shutil.copytree(demo.workspace.profiles_dir, workspace.profiles_dir, dirs_exist_ok=True)
    return workspace


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(f"--{name}") + 1]


@pytest.mark.parametrize("backend", ["vllm", "lmdeploy", "sglang"])
def test_each_engine_gets_its_own_flags_and_the_installed_swift_accepts_them(demo, backend: str) -> None:
    extra = engine_flags(backend, tensor_parallel=2, gpu_memory=0.85, max_model_len=8192)
    tp_flag, memory_flag, length_flag = ENGINE_FLAGS[backend]
    assert extra == {tp_flag: 2, memory_flag: 0.85, length_flag: 8192}
    argv = build_argv(SwiftDeploySpec(demo.qwen_dir, infer_backend=backend, extra=extra), 8000)
    assert (flag(argv, "infer_backend"), flag(argv, tp_flag), flag(argv, memory_flag)) == (backend, "2", "0.85")
    if HAS_SWIFT:
        check_deploy_argv(argv)  # swift 4's own DeployArguments know every name


def test_the_names_are_swift_4s() -> None:
    assert ENGINE_FLAGS["vllm"] == ("vllm_tensor_parallel_size", "vllm_gpu_memory_utilization", "vllm_max_model_len")
    assert ENGINE_FLAGS["lmdeploy"][:2] == ("lmdeploy_tp", "lmdeploy_cache_max_entry_count")


@pytest.mark.skipif(not HAS_SWIFT, reason="ms-swift not installed")
def test_a_misspelt_engine_flag_is_refused_by_the_flag_check(demo) -> None:
    argv = build_argv(SwiftDeploySpec(demo.qwen_dir, infer_backend="vllm", extra={"vllm_tensor_parallel": 2}), 8000)
    with pytest.raises(MhbenchError, match=r"unknown flag --vllm_tensor_parallel\..*vllm_tensor_parallel_size"):
        check_deploy_argv(argv)


def test_the_transformers_engine_has_no_tensor_parallelism_to_ask_for() -> None:
    assert engine_flags("transformers") == {}
    for settings in ({"tensor_parallel": 2}, {"gpu_memory": 0.5}):
        with pytest.raises(MhbenchError, match="no tensor parallelism or GPU memory share") as caught:
            engine_flags("transformers", **settings)  # type: ignore[arg-type]
        assert "--backend vllm" in (caught.value.fix or "")
    with pytest.raises(MhbenchError, match="not between 0 and 1"):
        engine_flags("vllm", gpu_memory=1.5)


@pytest.mark.parametrize("backend", ["vllm", "lmdeploy", "sglang"])
def test_an_engine_that_is_not_installed_names_its_install_line(backend: str) -> None:
    if importlib.util.find_spec(backend) is not None:
        pytest.skip(f"{backend} is installed here")
    with pytest.raises(MhbenchError, match=f"{backend}, which is not installed") as caught:
        check_backend(backend)
    assert ENGINE_INSTALL[backend] in (caught.value.fix or "")
    assert backend not in __import__("sys").modules  # looked up, never imported


def test_the_profiles_deploy_settings_reach_the_served_command(catalog: Workspace) -> None:
    hub = register_base(catalog, "qwen2.5-7b-instruct")  # its profile: lmdeploy, session_len 4096
    spec = server_spec(catalog, [hub], ServeOptions(tensor_parallel=4, gpu_memory=0.7), engine_installed=False)
    assert isinstance(spec, SwiftDeploySpec) and spec.infer_backend == "lmdeploy"
    assert dict(spec.extra) == {"lmdeploy_tp": 4, "lmdeploy_cache_max_entry_count": 0.7, "lmdeploy_session_len": 4096}
    vllm = server_spec(catalog, [hub], ServeOptions(infer_backend="vllm", max_model_len=2048), engine_installed=False)
    assert isinstance(vllm, SwiftDeploySpec)
    assert dict(vllm.extra) == {"vllm_tensor_parallel_size": 1, "vllm_max_model_len": 2048,
                                "vllm_gpu_memory_utilization": 0.28}  # (20 GB + 2 GB headroom) / 80 GB
    plain = server_spec(catalog, [hub], ServeOptions(infer_backend="transformers"))
    assert isinstance(plain, SwiftDeploySpec) and dict(plain.extra) == {"max_batch_size": 8}  # no engine flags; several raters batched


def test_a_dry_run_shows_the_command_and_says_what_is_missing(catalog: Workspace) -> None:
    hub = register_base(catalog, "qwen2.5-7b-instruct")
    ((ids, argv, note),) = planned_servers(catalog, [hub.id], ServeOptions(infer_backend="vllm", tensor_parallel=2),
                                           check=HAS_SWIFT)
    assert ids == [hub.id] and argv[:2] == ["swift", "deploy"] and flag(argv, "port") == "PORT"
    assert flag(argv, "vllm_tensor_parallel_size") == "2"
    if importlib.util.find_spec("vllm") is None:
        assert note is not None and "pip install vllm" in note


def test_the_cli_serve_dry_run_prints_the_engine_flags(catalog: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    hub = register_base(catalog, "qwen2.5-7b-instruct")
    code = main(["--workspace", str(catalog.root), "serve", hub.id, "--backend", "vllm", "--tensor-parallel", "2",
                 "--gpu-memory", "0.9", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and "--infer_backend vllm" in out and "--vllm_tensor_parallel_size 2" in out
    assert "--vllm_gpu_memory_utilization 0.9" in out
    code = main(["--workspace", str(catalog.root), "serve", hub.id, "--backend", "transformers", "--tensor-parallel",
                 "2", "--dry-run"])
    assert code != 0 and "no tensor parallelism" in capsys.readouterr().err
