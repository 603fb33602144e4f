"""GPUs through NVML (nvidia-ml-py). With no GPU or no driver: an empty list and a reason.

Callers sample from a thread, never from the event loop: NVML calls can block.
Tests pass a fake module in place of ``pynvml``; that is the only fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

GIB = 1024**3


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one moment."""

    index: int
    name: str
    memory_used: int
    memory_total: int
    utilisation: int | None = None
    temperature: int | None = None
    power_watts: float | None = None

    @property
    def memory_free(self) -> int:
        return self.memory_total - self.memory_used

    @property
    def free_gb(self) -> float:
        return self.memory_free / 1e9


@dataclass(frozen=True)
class GpuReport:
    """Every GPU, or why there are none to show."""

    gpus: tuple[GpuSample, ...]
    driver: str | None = None
    problem: str | None = None

    @property
    def available(self) -> bool:
        return bool(self.gpus)

    def summary(self) -> str:
        if not self.gpus:
            return f"no NVIDIA GPU ({self.problem})" if self.problem else "no NVIDIA GPU"
        return ", ".join(f"GPU{g.index} {g.name}: {g.free_gb:.1f}/{g.memory_total / 1e9:.1f} GB free" for g in self.gpus)


def _load_nvml() -> Any:
    import pynvml

    return pynvml


def _optional(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except Exception:
        return None


def sample_gpus(nvml: ModuleType | Any | None = None) -> GpuReport:
    """Read every GPU's memory, utilisation, temperature and power."""
    try:
        nvml = nvml or _load_nvml()
        nvml.nvmlInit()
    except ImportError:
        return GpuReport((), problem="nvidia-ml-py is not installed")
    except Exception as error:
        return GpuReport((), problem=f"NVML unavailable: {error}")
    try:
        driver = _optional(nvml.nvmlSystemGetDriverVersion)
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            rates = _optional(nvml.nvmlDeviceGetUtilizationRates, handle)
            power = _optional(nvml.nvmlDeviceGetPowerUsage, handle)
            gpus.append(
                GpuSample(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    memory_used=int(memory.used),
                    memory_total=int(memory.total),
                    utilisation=int(rates.gpu) if rates is not None else None,
                    temperature=_optional(nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)),
                    power_watts=power / 1000 if power is not None else None,
                )
            )
        return GpuReport(tuple(gpus), driver=driver.decode() if isinstance(driver, bytes) else driver)
    except Exception as error:
        return GpuReport((), problem=f"NVML error: {error}")
    finally:
        _optional(nvml.nvmlShutdown)
