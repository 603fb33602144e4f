"""From catalog entries to server specs and chat targets, on hand-made folders (no server is started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.base.db import open_workspace
from core.base.errors import MhbenchError
from core.base.gpu import GpuReport, GpuSample
from core.base.workspace import Workspace
from core.models import register_adapter, register_base, register_endpoint, register_gguf, register_merged
from core.models.serving import LlamaCppSpec, SwiftDeploySpec, build_argv
from core.models.targets import (
    ServeOptions,
    connect_models,
    expected_gpu_gb,
    memory_warnings,
    served_name,
    server_groups,
    server_spec,
    sync_catalog,
)
from tests.helpers.model_dirs import make_adapter, make_hf_dir


@pytest.fixture()
def catalog(demo, tmp_path: Path) -> Workspace:
    """A copy of the demo's profiles in a fresh workspace, with the tiny Qwen as a base."""
    import shutil

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    shutil.copytree(demo.workspace.profiles_dir, workspace.profiles_dir, dirs_exist_ok=True)
    return workspace


def test_adapters_of_one_base_share_one_swift_server(catalog: Workspace, demo, tmp_path: Path) -> None:
    base = register_base(catalog, "demo-tiny-qwen2")
    one = register_adapter(catalog, make_adapter(tmp_path / "a" / "checkpoint-2", demo.qwen_dir))
    two = register_adapter(catalog, make_adapter(tmp_path / "b" / "checkpoint-4", demo.qwen_dir))
    assert one.base_id == two.base_id == base.id
    groups = server_groups(catalog, [one, two])
    assert [[entry.id for entry in group] for group in groups] == [[one.id, two.id]]
    spec = server_spec(catalog, groups[0])
    assert isinstance(spec, SwiftDeploySpec)
    # The installed swift 4 names for the demo profile's family, the profile's backend.
    assert (spec.model_type, spec.template, spec.infer_backend) == ("qwen2", "qwen2_5", "transformers")
    assert dict(spec.adapters) == {served_name(one): one.path, served_name(two): two.path}
    argv = build_argv(spec, 8000)
    assert argv[argv.index("--adapters") + 1].startswith(served_name(one) + "=")
    with pytest.raises(MhbenchError, match="one swift server serves one model"):
        server_spec(catalog, [base, one])


def test_gguf_and_merged_and_hub_bases_get_their_own_commands(catalog: Workspace, demo, tmp_path: Path) -> None:
    gguf_file = tmp_path / "m-q8_0.gguf"
    gguf_file.write_bytes(b"GGUF" + b"\0" * 1000)
    gguf = register_gguf(catalog, gguf_file)
    spec = server_spec(catalog, [gguf], ServeOptions(n_ctx=1024))
    assert isinstance(spec, LlamaCppSpec) and spec.n_ctx == 1024 and spec.n_gpu_layers == 0  # no GPU here
    assert spec.served_model_name == served_name(gguf)
    merged = register_merged(catalog, make_hf_dir(tmp_path / "merged"), base_id=None)
    merged_spec = server_spec(catalog, [merged], ServeOptions(infer_backend="pt"))
    assert isinstance(merged_spec, SwiftDeploySpec) and merged_spec.infer_backend == "pt"
    hub = register_base(catalog, "qwen2.5-7b-instruct")
    assert hub.path is None
    hub_argv = build_argv(server_spec(catalog, [hub], ServeOptions(infer_backend="transformers")), 8000)
    assert hub_argv[hub_argv.index("--model") + 1] == "Qwen/Qwen2.5-7B-Instruct"
    assert hub_argv[hub_argv.index("--served_model_name") + 1] == served_name(hub)


def test_a_backend_that_is_not_installed_is_refused_with_the_fix(catalog: Workspace) -> None:
    import importlib.util

    hub = register_base(catalog, "qwen2.5-7b-instruct")  # its profile serves with lmdeploy
    if importlib.util.find_spec("lmdeploy") is not None:
        pytest.skip("lmdeploy is installed here")
    with pytest.raises(MhbenchError, match="lmdeploy, which is not installed") as caught:
        server_spec(catalog, [hub])
    assert "--backend transformers" in (caught.value.fix or "")


def test_an_endpoint_is_called_where_it_is_with_its_key(catalog: Workspace) -> None:
    entry = register_endpoint(catalog, "remote", "http://10.0.0.5:8000/v1", api_key="sk-secret", served_name="qwen")
    (target,) = connect_models(catalog, [entry.id])
    assert (target.base_url, target.model, target.api_key, target.server_id) == (
        "http://10.0.0.5:8000/v1", "qwen", "sk-secret", None)
    assert "sk-secret" not in repr(target)


def test_memory_warning_uses_the_profile_estimate_and_skips_served_models(catalog: Workspace) -> None:
    hub = register_base(catalog, "qwen2.5-7b-instruct")
    assert expected_gpu_gb(catalog, hub) == 20.0
    tight = GpuReport(gpus=(GpuSample(0, "H100", memory_used=70 * 10**9, memory_total=80 * 10**9),))
    roomy = GpuReport(gpus=(GpuSample(0, "H100", memory_used=10 * 10**9, memory_total=80 * 10**9),))
    (warning,) = memory_warnings(catalog, [hub.id], tight)
    assert "20.0 GB" in warning and "10.0 GB is free" in warning
    assert memory_warnings(catalog, [hub.id], roomy) == []


def test_sync_registers_profile_bases_and_models_on_disk_once(catalog: Workspace, demo) -> None:
    first = sync_catalog(catalog)
    profiles = {entry.profile for entry in first if entry.kind == "base"}
    assert {"qwen2.5-7b-instruct", "demo-tiny-qwen2", "demo-tiny-llama3"} <= profiles
    assert sync_catalog(catalog) == []
