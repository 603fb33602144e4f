"""GPU sampling through NVML, with a fake NVML module and with the real one (no GPU here)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from core.base.gpu import GpuReport, GpuSample, sample_gpus

GB = 10**9


@dataclass
class FakeGpu:
    name: str | bytes
    used: int
    total: int
    utilisation: int
    temperature: int
    power_mw: int


class FakeNvml:
    """Just the part of ``pynvml`` that ``core.base.gpu`` calls."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, gpus: list[FakeGpu], driver: str | bytes = b"570.86.15", init_error: Exception | None = None):
        self.gpus = gpus
        self.driver = driver
        self.init_error = init_error
        self.calls: list[str] = []

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlSystemGetDriverVersion(self) -> str | bytes:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str | bytes:
        return handle.name

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu) -> Any:
        return SimpleNamespace(used=handle.used, total=handle.total, free=handle.total - handle.used)

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGpu) -> Any:
        return SimpleNamespace(gpu=handle.utilisation, memory=0)

    def nvmlDeviceGetTemperature(self, handle: FakeGpu, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return handle.temperature

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        return handle.power_mw


def two_gpus() -> FakeNvml:
    return FakeNvml(
        [
            FakeGpu(
                b"NVIDIA H100 80GB HBM3", used=10 * GB, total=80 * GB, utilisation=87, temperature=64, power_mw=312_500
            ),
            FakeGpu("NVIDIA A10", used=2 * GB, total=24 * GB, utilisation=0, temperature=35, power_mw=15_000),
        ]
    )


def test_fake_nvml_numbers() -> None:
    nvml = two_gpus()
    report = sample_gpus(nvml=nvml)
    assert report.available
    assert report.problem is None
    assert report.driver == "570.86.15"  # bytes decoded
    assert len(report.gpus) == 2
    first, second = report.gpus
    assert first == GpuSample(
        index=0,
        name="NVIDIA H100 80GB HBM3",
        memory_used=10 * GB,
        memory_total=80 * GB,
        utilisation=87,
        temperature=64,
        power_watts=312.5,
    )
    assert first.memory_free == 70 * GB
    assert first.free_gb == pytest.approx(70.0)
    assert (second.index, second.name, second.utilisation, second.temperature) == (1, "NVIDIA A10", 0, 35)
    assert second.power_watts == pytest.approx(15.0)
    assert report.summary() == "GPU0 NVIDIA H100 80GB HBM3: 70.0/80.0 GB free, GPU1 NVIDIA A10: 22.0/24.0 GB free"
    assert nvml.calls == ["init", "shutdown"]


def test_optional_readings_may_fail() -> None:
    nvml = two_gpus()

    def unsupported(*_: Any) -> Any:
        raise RuntimeError("Not Supported")

    nvml.nvmlDeviceGetUtilizationRates = unsupported  # type: ignore[method-assign]
    nvml.nvmlDeviceGetPowerUsage = unsupported  # type: ignore[method-assign]
    nvml.nvmlDeviceGetTemperature = unsupported  # type: ignore[method-assign]
    report = sample_gpus(nvml=nvml)
    assert report.available
    assert all(g.utilisation is None and g.power_watts is None and g.temperature is None for g in report.gpus)
    assert report.gpus[0].memory_used == 10 * GB


def test_nvml_error_while_reading_gives_problem_and_shuts_down() -> None:
    nvml = two_gpus()

    def broken(_: Any) -> Any:
        raise RuntimeError("GPU is lost")

    nvml.nvmlDeviceGetMemoryInfo = broken  # type: ignore[method-assign]
    report = sample_gpus(nvml=nvml)
    assert not report.available
    assert report.problem is not None and "GPU is lost" in report.problem
    assert nvml.calls == ["init", "shutdown"]


def test_zero_gpus() -> None:
    report = sample_gpus(nvml=FakeNvml([]))
    assert not report.available
    assert report.summary() == "no NVIDIA GPU"


def test_init_failure_means_no_gpu() -> None:
    nvml = FakeNvml([], init_error=RuntimeError("Driver Not Loaded"))
    report = sample_gpus(nvml=nvml)
    assert isinstance(report, GpuReport)
    assert report.available is False
    assert report.gpus == ()
    assert report.summary().startswith("no NVIDIA GPU")
    assert "Driver Not Loaded" in report.summary()
    assert "shutdown" not in nvml.calls


def test_real_pynvml_does_not_raise() -> None:
    report = sample_gpus()
    assert isinstance(report, GpuReport)
    if report.available:  # only on a GPU box
        assert all(g.memory_total > 0 for g in report.gpus)
        return
    assert report.gpus == ()
    assert report.problem
    assert report.summary().startswith("no NVIDIA GPU")
