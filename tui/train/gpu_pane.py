"""GPU pane: memory, utilisation, temperature and power per GPU, with a short history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from core.base.gpu import GpuHistory, GpuReport

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], high: float, width: int = 20) -> str:
    if not values or high <= 0:
        return ""
    tail = values[-width:]
    return "".join(SPARKS[min(len(SPARKS) - 1, int(value / high * (len(SPARKS) - 1)))] for value in tail)


class GpuPane(Static):
    """Plain text from NVML readings; 'no NVIDIA GPU' where there is none."""

    def show(
        self,
        report: GpuReport,
        history: GpuHistory | None = None,
        run_of_pid: Mapping[int, str] | None = None,
        swift_memory_gib: float | None = None,
    ) -> None:
        text = Text()
        if swift_memory_gib is not None:
            text.append(f"swift memory(GiB): {swift_memory_gib:.2f}\n", style="bold")
        if not report.available:
            text.append(report.summary(), style="dim")
            self.update(text)
            return
        for gpu in report.gpus:
            used, total = gpu.memory_used / 2**30, gpu.memory_total / 2**30
            text.append(f"GPU{gpu.index} ", style="bold")
            text.append(f"{used:.1f}/{total:.0f} GiB")
            if gpu.utilisation is not None:
                text.append(f"  {gpu.utilisation}%")
            if gpu.temperature is not None:
                text.append(f"  {gpu.temperature}°C")
            if gpu.power_watts is not None:
                text.append(f"  {gpu.power_watts:.0f} W")
            if history is not None:
                text.append("\n  " + sparkline(history.memory_series(gpu.index), total), style="green")
            if gpu.mig:
                text.append("\n  MIG: NVML gives no per-process memory here", style="dim")
            for process in gpu.processes:
                owner = (run_of_pid or {}).get(process.pid, "")
                memory = f"{process.used_memory / 2**30:.1f} GiB" if process.used_memory else "?"
                text.append(f"\n  pid {process.pid} {memory} {owner}", style="cyan" if owner else "dim")
            text.append("\n")
        self.update(text)
