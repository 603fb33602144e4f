"""How much slower this machine is than the one the real-run limits were set on, measured once per session.

The integration tests' limits (600 s for the demo fine-tune, 300 s for a GGUF conversion)
were set on an idle 2-core box. On a box shared with other work the same healthy run
takes longer, and a fixed limit fails it for being slow rather than for being wrong. So a
limit is the reference limit times a factor: the larger of how much slower a small fixed
CPU workload runs here than it ran there, and how many runnable processes each core has
(the 1-minute load average per core), never below 1 and never above ``MAX_FACTOR``.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

WORKLOAD_LOOPS = 1_000_000
REFERENCE_S = 0.05
"""Best of five runs of the workload on the reference 2-core box (Python 3.11), in seconds."""
REPEATS = 5
MAX_FACTOR = 4.0
"""A run this much slower than the reference is not just a busy box: fail it rather than wait longer."""


def _workload() -> int:
    total = 0
    for i in range(WORKLOAD_LOOPS):
        total += i * i % 7
    return total


@dataclass(frozen=True)
class MachineSpeed:
    workload_s: float
    """This machine's best time for the workload."""
    load: float
    """The 1-minute load average when it was measured."""
    cores: int

    @property
    def slowdown(self) -> float:
        return self.workload_s / REFERENCE_S

    @property
    def load_per_core(self) -> float:
        return self.load / self.cores

    @property
    def factor(self) -> float:
        return min(MAX_FACTOR, max(1.0, self.slowdown, self.load_per_core))

    def describe(self) -> str:
        return (f"this box measured {self.factor:.2f}× slower than the reference (workload {self.workload_s:.3f} s "
                f"vs {REFERENCE_S:.3f} s, load {self.load:.1f} on {self.cores} cores; factor capped at {MAX_FACTOR:g})")


@functools.cache
def machine_speed() -> MachineSpeed:
    """Measured on first use, then the same for the whole test session."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        _workload()
        best = min(best, time.perf_counter() - started)
    return MachineSpeed(workload_s=best, load=os.getloadavg()[0], cores=os.cpu_count() or 1)


def scaled(reference_s: float) -> float:
    """The limit for a real run that took up to ``reference_s`` seconds on the reference box."""
    return reference_s * machine_speed().factor


def limit_note(reference_s: float) -> str:
    """Why the limit is what it is, for a failure message."""
    speed = machine_speed()
    return f"limit {scaled(reference_s):.0f} s = {reference_s:g} s × {speed.factor:.2f}; {speed.describe()}"
