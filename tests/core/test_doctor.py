"""``mhbench doctor``: every check present, every problem with a fix."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from core.base.gpu import GpuReport, GpuSample, sample_gpus
from core.doctor import Check, check_package, report_json, report_text, run_doctor

NAMES = [
    "Python",
    "torch",
    "GPUs (NVML)",
    "flash-attn",
    "bitsandbytes",
    "ms-swift",
    "llama-cpp-python",
    "GGUF converter",
    "disk",
]


def _installed(package: str) -> bool:
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


class OneGpuNvml:
    """A fake NVML with one H100 (see test_gpu.py for the full fake)."""

    NVML_TEMPERATURE_GPU = 0

    class _Memory:
        used = 1 * 10**9
        total = 80 * 10**9

    class _Rates:
        gpu = 0

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlSystemGetDriverVersion(self) -> bytes:
        return b"570.86.15"

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> object:
        return self._Memory()

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> object:
        return self._Rates()

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 40

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 70_000


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> list[Check]:
    return run_doctor(tmp_path_factory.mktemp("doctor") / "ws")


@pytest.fixture(scope="module")
def gpu_checks(tmp_path_factory: pytest.TempPathFactory) -> list[Check]:
    return run_doctor(tmp_path_factory.mktemp("doctor-gpu") / "ws", nvml=OneGpuNvml())


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_every_check_in_order(checks: list[Check]) -> None:
    assert [check.name for check in checks] == NAMES
    assert all(check.status in ("ok", "warn", "missing") for check in checks)
    assert all(check.detail for check in checks)


def test_every_problem_has_a_fix(checks: list[Check], gpu_checks: list[Check]) -> None:
    for check in [*checks, *gpu_checks]:
        if check.status != "ok":
            assert check.fix.strip(), f"{check.name} is {check.status} without a fix"
            assert check.disables.strip(), f"{check.name} is {check.status} without saying what it disables"


def test_facts_of_this_machine(checks: list[Check]) -> None:
    by_name = _by_name(checks)
    assert by_name["Python"].status == "ok"
    if _installed("ms-swift"):
        assert by_name["ms-swift"].status == "ok"
        assert "--tuner_type" in by_name["ms-swift"].detail
    if not sample_gpus().available:
        assert by_name["GPUs (NVML)"].status == "warn"
        assert by_name["GPUs (NVML)"].detail.startswith("no NVIDIA GPU")
        if not _installed("flash-attn"):
            assert by_name["flash-attn"].status == "warn"  # GPU-only package, no GPU: not a failure
            assert "GPU box only" in by_name["flash-attn"].detail


def test_report_text_names_every_check(checks: list[Check]) -> None:
    text = report_text(checks)
    for name in NAMES:
        assert name in text
    assert len([line for line in text.splitlines() if line.startswith("[")]) == len(NAMES)
    for check in checks:
        if check.status != "ok":
            assert f"fix: {check.fix}" in text


def test_report_json_parses(checks: list[Check]) -> None:
    data = json.loads(report_json(checks))
    assert [item["name"] for item in data] == NAMES
    assert set(data[0]) == {"name", "status", "detail", "disables", "fix"}
    assert data == [
        {"name": c.name, "status": c.status, "detail": c.detail, "disables": c.disables, "fix": c.fix} for c in checks
    ]


def test_with_a_gpu_flash_attn_missing_is_missing(gpu_checks: list[Check]) -> None:
    by_name = _by_name(gpu_checks)
    # then one line per seed profile (issue 20)
    assert [check.name for check in gpu_checks][:len(NAMES)] == NAMES
    assert all(check.name.startswith("profile ") for check in gpu_checks[len(NAMES):])
    assert by_name["GPUs (NVML)"].status == "ok"
    assert "NVIDIA H100 80GB HBM3" in by_name["GPUs (NVML)"].detail
    assert "driver 570.86.15" in by_name["GPUs (NVML)"].detail
    if not _installed("flash-attn"):
        assert by_name["flash-attn"].status == "missing"
        assert by_name["flash-attn"].fix
    if not _installed("bitsandbytes"):
        assert by_name["bitsandbytes"].status == "missing"
    assert "MISS" in report_text(gpu_checks) or _installed("flash-attn")


def test_check_package_statuses() -> None:
    no_gpu = GpuReport((), problem="none")
    one_gpu = GpuReport((GpuSample(0, "GPU", 0, 10**9),))
    missing = "mhbench-no-such-package-xyz"
    assert check_package("x", missing, "d", "f", gpu_only=True, gpus=no_gpu).status == "warn"
    assert check_package("x", missing, "d", "f", gpu_only=True, gpus=one_gpu).status == "missing"
    assert check_package("x", missing, "d", "f", gpu_only=False, gpus=no_gpu).status == "missing"
    ok = check_package("x", "pydantic", "d", "f", gpu_only=True, gpus=no_gpu)
    assert ok.status == "ok" and ok.detail == metadata.version("pydantic")


def test_missing_workspace_folder_checks_its_parent(tmp_path: Path) -> None:
    from core.doctor import check_disk

    check = check_disk(tmp_path / "a" / "b" / "c")
    assert str(tmp_path) in check.detail
    assert "GB free" in check.detail
