"""A launch planned for a GPU box (issue 20): flash attention, GPUs per process, two nodes, GPU identity."""

from __future__ import annotations

import pytest

from core.base.errors import MhbenchError
from core.base.gpu import parse_gpu_list
from core.base.workspace import Workspace
from core.profiles import Profile, find_profile, load_profiles
from core.swift.diagnose.fixes import FIX_FLASH_ATTN, FIX_FLASH_ATTN_CPU
from core.train.distributed import check_gpus_per_process
from core.train.launch import LaunchRequest, plan_nodes, plan_run
from tests.helpers.commands import flag_values


@pytest.fixture(scope="module")
def qwen() -> Profile:
    return find_profile(load_profiles(), "qwen2.5-7b-instruct")


def test_without_flash_attn_the_plan_trains_with_sdpa_and_no_packing_and_says_so(
        workspace: Workspace, qwen: Profile) -> None:
    plan = plan_run(workspace, LaunchRequest(profile=qwen, flash_attn=False), check=False, dry_run=True)
    values = flag_values(plan.command.argv)
    assert values["attn_impl"] == ["sdpa"]
    assert "packing" not in values  # swift refuses packing without flash attention
    (note,) = [note for note in plan.command.notes if "flash-attn" in note]
    assert "sdpa" in note and "packing off" in note
    assert plan.effective_profile is not None and plan.effective_profile.train.packing is False


def test_with_flash_attn_the_profile_keeps_flash_attention_and_packing(workspace: Workspace, qwen: Profile) -> None:
    plan = plan_run(workspace, LaunchRequest(profile=qwen, flash_attn=True), check=False, dry_run=True)
    values = flag_values(plan.command.argv)
    assert values["attn_impl"] == ["flash_attn"] and values["packing"] == ["true"]
    assert not [note for note in plan.command.notes if "flash-attn" in note]


def test_the_flash_attn_fixes_name_both_settings() -> None:
    for fix in (FIX_FLASH_ATTN, FIX_FLASH_ATTN_CPU):
        assert 'attn_impl = "sdpa"' in fix and "packing = false" in fix


def test_two_nodes_save_on_each_node_and_the_dry_run_says_so(workspace: Workspace, qwen: Profile) -> None:
    plans = plan_nodes(workspace, LaunchRequest(profile=qwen, nnodes=2, master_addr="10.0.0.1", nproc_per_node=8,
                                                flash_attn=True), check=False)
    for plan in plans:
        assert flag_values(plan.command.argv)["save_on_each_node"] == ["true"]
        assert any("save_on_each_node" in note for note in plan.command.notes)
    one = plan_run(workspace, LaunchRequest(profile=qwen, flash_attn=True), check=False, dry_run=True)
    assert "--save_on_each_node" not in one.command.argv


@pytest.mark.parametrize(
    ("gpus", "nproc", "deepspeed", "message"),
    [
        ("0,1,2", 2, None, "do not divide among 2"),
        ("0,1,2,3", 2, "zero3", "DeepSpeed"),
        ("0,1", None, "zero2", "model"),
    ],
)
def test_gpus_against_processes_fail_in_the_dry_run(
        workspace: Workspace, qwen: Profile, gpus: str, nproc: int | None, deepspeed: str | None, message: str) -> None:
    request = LaunchRequest(profile=qwen, cuda_visible_devices=gpus, nproc_per_node=nproc, deepspeed=deepspeed,  # type: ignore[arg-type]
                            flash_attn=True)
    with pytest.raises(MhbenchError, match=message) as caught:
        plan_run(workspace, request, check=False, dry_run=True)
    assert caught.value.fix


def test_two_gpus_per_process_without_deepspeed_is_swifts_model_parallelism_and_allowed() -> None:
    check_gpus_per_process(4, 2, None)
    check_gpus_per_process(0, 2, "zero2")  # gloo on a CPU: nothing to divide


def test_runs_number_gpus_as_nvml_does_and_take_uuids(workspace: Workspace, qwen: Profile) -> None:
    uuid = "GPU-8c3a5f2e-1d4b-4c1e-9f0a-2b7d6e5c4a31"
    plan = plan_run(workspace, LaunchRequest(profile=qwen, cuda_visible_devices=uuid, flash_attn=True),
                    check=False, dry_run=True)
    assert plan.command.env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert plan.command.env["CUDA_VISIBLE_DEVICES"] == uuid
    assert parse_gpu_list("MIG-4b1f2c3d-aaaa-bbbb-cccc-0123456789ab,0") == (
        "MIG-4b1f2c3d-aaaa-bbbb-cccc-0123456789ab", "0")
    with pytest.raises(ValueError, match="gpu0"):
        parse_gpu_list("gpu0")


def test_qlora_with_zero3_stores_its_4bit_weights_as_the_compute_dtype(workspace: Workspace, qwen: Profile) -> None:
    request = LaunchRequest(profile=qwen, tuner="qlora", deepspeed="zero3", flash_attn=True)
    values = flag_values(plan_run(workspace, request, check=False, dry_run=True).command.argv)
    assert values["bnb_4bit_quant_storage"] == ["bfloat16"]
    zero2 = LaunchRequest(profile=qwen, tuner="qlora", deepspeed="zero2", flash_attn=True)
    assert "bnb_4bit_quant_storage" not in flag_values(plan_run(workspace, zero2, check=False, dry_run=True).command.argv)


class MigNvml:
    """An NVML with one H100 in MIG mode: a UUID, and processes without memory figures."""

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlSystemGetDriverVersion(self) -> str:
        return "570.86.15"

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> object:
        from types import SimpleNamespace

        return SimpleNamespace(used=10 * 10**9, total=80 * 10**9)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> object:
        from types import SimpleNamespace

        return SimpleNamespace(gpu=50)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 300_000

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 60

    def nvmlDeviceGetUUID(self, handle: int) -> bytes:
        return b"GPU-8c3a5f2e-1d4b-4c1e-9f0a-2b7d6e5c4a31"

    def nvmlDeviceGetMigMode(self, handle: int) -> tuple[int, int]:
        return (1, 1)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[object]:
        from types import SimpleNamespace

        return [SimpleNamespace(pid=4242, usedGpuMemory=None)]


def test_under_mig_nvml_says_it_has_no_per_process_memory_rather_than_zero() -> None:
    from core.base.gpu import sample_gpus

    report = sample_gpus(MigNvml())
    (gpu,) = report.gpus
    assert gpu.mig and gpu.uuid == "GPU-8c3a5f2e-1d4b-4c1e-9f0a-2b7d6e5c4a31"
    assert gpu.processes[0].used_memory is None
    assert "MIG: no per-process memory from NVML" in report.summary()


def test_this_machines_gpus_count_when_the_run_names_none(
        workspace: Workspace, qwen: Profile, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.base.gpu import GpuReport, GpuSample
    from core.train.launch import check_this_machine

    two = GpuReport(tuple(GpuSample(i, "H100", memory_used=0, memory_total=80 * 10**9) for i in range(2)))
    monkeypatch.setattr("core.train.launch.sample_gpus", lambda: two)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    plan = plan_run(workspace, LaunchRequest(profile=qwen, deepspeed="zero2", flash_attn=True), check=False,
                    dry_run=True)
    with pytest.raises(MhbenchError, match="model parallelism"):
        check_this_machine(plan)  # one process sees both GPUs: device_map, which DeepSpeed refuses
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with pytest.raises(MhbenchError, match="deepspeed package is not installed") if not _has("deepspeed") else _nothing():
        check_this_machine(plan)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _nothing() -> object:
    from contextlib import nullcontext

    return nullcontext()
