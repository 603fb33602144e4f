"""Which servers run together: waves of servers whose expected memory fits a budget.

One GPU box holds a few 7–8B models at once, not the eight a session compares; starting every
server of a session at once (as :func:`core.models.targets.connect_models` does for a chat) runs
out of memory before the first answer. A generation job therefore plans *waves*: each wave is a
set of servers (adapters of one base share one, as always) whose estimates add up to no more than
the budget, and every unit of work is done in a wave that holds all the models it needs (a
simulated-client dialogue needs its candidate and the client together). The job starts a wave's
servers, does the wave's work with each server's queue kept full (:func:`concurrency_of`), stops
the servers it started, and goes on to the next wave.

The plan itself (:func:`plan_waves`) is pure: server units with their estimates, the sets of
models each task needs, and a budget in, waves out. A unit too large for the budget alone is
refused before any work starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psutil

from core.base.errors import MhbenchError
from core.base.gpu import sample_gpus
from core.base.workspace import Workspace
from core.models import get_model
from core.models.serving import LlamaCppSpec, ServerSpec, list_servers, llama_server_binary
from core.models.targets import expected_gpu_gb, server_groups, server_spec

MARGIN_SHARE = 0.10
"""Memory left out of a measured budget: CUDA contexts, fragmentation, a rater's chat started meanwhile."""
BATCH_ENGINES_CONCURRENCY = 64
"""Concurrent requests kept in flight on a vLLM, lmdeploy or SGLang server: they batch dozens of streams
(continuous batching) for little more than the cost of one, and 64 keeps a 7–8B model's batch full
without holding hundreds of half-read streams open."""
BATCH_ENGINES = ("vllm", "lmdeploy", "sglang")


@dataclass(frozen=True)
class ServerUnit:
    """One server a wave starts: the catalog ids it serves (one model, or adapters of one base) and its estimate."""

    models: tuple[str, ...]
    memory_gb: float
    running: bool = False
    """Already served when the plan was made: within a measured budget it costs nothing more."""


@dataclass(frozen=True)
class Wave:
    """Servers that run together, and how much memory they are expected to take."""

    units: tuple[ServerUnit, ...]

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(model for unit in self.units for model in unit.models)

    @property
    def memory_gb(self) -> float:
        return sum(unit.memory_gb for unit in self.units)


@dataclass(frozen=True)
class Budget:
    """How much memory a wave may take, and where that figure came from (for the plan's first line)."""

    gb: float
    source: str
    measured: bool = False
    """Measured free memory: what running servers hold is already taken out of it."""


@dataclass(frozen=True)
class WavePlan:
    waves: tuple[Wave, ...]
    budget: Budget
    estimates: dict[str, float]
    """Every planned catalog id → its server's expected GB."""

    def wave_of(self, models: Sequence[str]) -> int | None:
        """The index of the first wave holding every one of ``models`` (``None``: no local model needed)."""
        local = [model for model in models if model in self.estimates]
        if not local:
            return None
        for index, wave in enumerate(self.waves):
            if all(model in wave.models for model in local):
                return index
        raise MhbenchError(f"no wave holds {', '.join(local)} together.", fix="this is a bug in the wave plan.")


def memory_budget(explicit_gb: float | None = None) -> Budget:
    """``--memory-budget``, else the GPUs' free memory less a margin, else (no GPU) the host's available memory."""
    if explicit_gb is not None:
        if explicit_gb <= 0:
            raise MhbenchError(f"--memory-budget {explicit_gb}: a budget must be more than 0 GB.",
                               fix="give the GB that the servers of one wave may take together, e.g. 70.")
        return Budget(explicit_gb, "--memory-budget")
    report = sample_gpus()
    if report.gpus:
        free = sum(gpu.free_gb for gpu in report.gpus)
        total = sum(gpu.memory_total / 1e9 for gpu in report.gpus)
        return Budget(max(free - MARGIN_SHARE * total, 0.0),
                      f"free GPU memory ({free:.1f} GB) less {MARGIN_SHARE:.0%} of {total:.0f} GB", measured=True)
    available = psutil.virtual_memory().available / 1e9
    return Budget(available * (1 - MARGIN_SHARE),
                  f"no GPU: available host memory ({available:.1f} GB) less {MARGIN_SHARE:.0%}", measured=True)


def server_memory_gb(workspace: Workspace, models: Sequence[str]) -> float:
    """What one server of ``models`` (one model, or adapters sharing a base) is expected to take.

    The one place the wave plan asks for an estimate: the serve confirmation's (the profile's
    inference estimate, or the GGUF's size), the base loaded once for all its adapters.
    """
    return max((expected_gpu_gb(workspace, get_model(workspace, model)) for model in models), default=0.0)


def server_units(workspace: Workspace, model_ids: Sequence[str]) -> list[ServerUnit]:
    """The servers ``model_ids`` need (endpoints need none), each with its estimate and whether it already runs."""
    entries = [get_model(workspace, model) for model in dict.fromkeys(model_ids)]
    served = {model for server in list_servers(workspace, active_only=True) for model in server.model_ids}
    units = []
    for group in server_groups(workspace, [entry for entry in entries if entry.kind != "endpoint"]):
        ids = tuple(entry.id for entry in group)
        units.append(ServerUnit(ids, server_memory_gb(workspace, ids), running=all(i in served for i in ids)))
    return units


def plan_waves(units: Sequence[ServerUnit], needs: Sequence[Sequence[str]], budget: Budget) -> WavePlan:
    """Waves of ``units`` within ``budget`` such that each of ``needs`` (the models one task needs) is in one wave.

    A unit already running costs nothing against a measured budget (its memory is already taken
    out of the free memory); ``--memory-budget`` counts it like any other. Tasks that
    need several servers are placed first, largest first, each into the first wave that can take
    what it lacks; then every unit not yet placed, largest first (first-fit decreasing). A unit,
    or a task's units together, that cannot fit even alone is refused, naming models, estimate and
    budget.
    """
    unit_of = {model: unit for unit in units for model in unit.models}

    def cost(unit: ServerUnit) -> float:
        return 0.0 if unit.running and budget.measured else unit.memory_gb

    for unit in units:
        if cost(unit) > budget.gb:
            raise MhbenchError(
                f"{', '.join(unit.models)} cannot be served within the memory budget: it needs about "
                f"{unit.memory_gb:.1f} GB, the budget is {budget.gb:.1f} GB ({budget.source}).",
                fix="serve a quantised GGUF of it, free memory (stop servers or runs), or give a larger "
                    "--memory-budget if the estimate is too high.")
    needed_units: list[tuple[ServerUnit, ...]] = []
    for need in needs:
        together = tuple(dict.fromkeys(unit_of[model] for model in need if model in unit_of))
        if len(together) > 1 and together not in needed_units:
            needed_units.append(together)
    waves: list[list[ServerUnit]] = []

    def place(together: Sequence[ServerUnit]) -> None:
        if any(all(unit in wave for unit in together) for wave in waves):
            return
        for wave in waves:
            lacking = [unit for unit in together if unit not in wave]
            if sum(map(cost, wave)) + sum(map(cost, lacking)) <= budget.gb:
                wave.extend(lacking)
                return
        if sum(map(cost, together)) > budget.gb:
            names = " + ".join(", ".join(unit.models) for unit in together)
            raise MhbenchError(
                f"{names} must be served together (one task needs them all) but need about "
                f"{sum(map(cost, together)):.1f} GB, the budget is {budget.gb:.1f} GB ({budget.source}).",
                fix="serve a quantised GGUF of one of them, or give a larger --memory-budget.")
        waves.append(list(together))

    for together in sorted(needed_units, key=lambda group: -sum(map(cost, group))):
        place(together)
    for unit in sorted(units, key=lambda unit: -cost(unit)):
        place((unit,))
    if not waves and needs:
        waves.append([])  # work for endpoints only: one wave that starts nothing
    estimates = {model: unit.memory_gb for unit in units for model in unit.models}
    return WavePlan(tuple(Wave(tuple(wave)) for wave in waves), budget, estimates)


def plan_for(workspace: Workspace, needs: Sequence[Sequence[str]], budget: Budget) -> WavePlan:
    """The waves that serve every model ``needs`` names, within ``budget``."""
    return plan_waves(server_units(workspace, [model for need in needs for model in need]), needs, budget)


def concurrency_of(spec: ServerSpec) -> int:
    """How many requests to keep in flight on one server: as many as its engine serves well at once.

    vLLM, lmdeploy and SGLang batch continuously (:data:`BATCH_ENGINES_CONCURRENCY`); llama.cpp's
    ``llama-server`` runs its ``--parallel`` slots at once, while the fallback ``python -m
    llama_cpp.server`` serves one request at a time (a second queues behind the first). swift's
    transformers engine gets one: it pads a batch to its longest prompt and ignores a request's
    seed, so an answer made in a batch depends on its neighbours, and a stored answer must be the
    one the seed makes. Its ``--max_batch_size`` is for raters asking live, not for the record.
    """
    if isinstance(spec, LlamaCppSpec):
        return spec.parallel if llama_server_binary() is not None else 1
    if spec.infer_backend in BATCH_ENGINES:
        return BATCH_ENGINES_CONCURRENCY
    return 1


def unit_spec(workspace: Workspace, unit: ServerUnit) -> ServerSpec:
    """The server spec that :func:`core.models.targets.connect_models` starts for ``unit``."""
    return server_spec(workspace, [get_model(workspace, model) for model in unit.models])
