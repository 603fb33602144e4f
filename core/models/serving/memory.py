"""How much of which GPU a server may take: per-GPU fit, the engines' memory shares, the GPU to pin.

An engine left to its defaults takes the GPU for itself: vLLM reserves 0.9 of the device at start
and aborts when that much is not free; lmdeploy gives 0.8 of the free memory to its KV cache;
SGLang picks its own static fraction. So the second server of an A/B session, or a server beside a
training run, dies. Every engine server therefore gets a share sized from the model's estimate
plus :data:`HEADROOM_GB`, and is pinned to GPUs where that share is free, each GPU counted on its
own (a model does not spill from one GPU's free memory into another's).

These functions are small and pure on purpose: the wave planner of generation sessions uses the
same estimate, fit and share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.base.gpu import GpuReport, GpuSample

HEADROOM_GB = 2.0
"""Per GPU, on top of a model's estimate: the CUDA context, activations, the engine's graphs."""
MAX_SHARE = 0.95
"""Never ask an engine for the whole device: the driver and other processes keep some."""
REFERENCE_GPU_GB = 80.0
"""The device a share is sized against where no GPU is visible (a dry run): the seed profiles' H100."""


@dataclass(frozen=True)
class ModelMemory:
    """A served model's GPU memory: the weights, and what the engine may add for its KV cache."""

    weights_gb: float
    total_gb: float
    """Weights plus cache: the profile's ``infer_vram_gb`` high end, or a GGUF's size with its overhead."""

    @property
    def cache_gb(self) -> float:
        return max(self.total_gb - self.weights_gb, 0.0)


def gpus_that_fit(
    expected_gb: float, report: GpuReport, *, tensor_parallel: int = 1, gpu_indices: Sequence[int] | None = None
) -> tuple[GpuSample, ...] | None:
    """The ``tensor_parallel`` GPUs with the most free memory, if each holds its part; else ``None``.

    Each GPU must hold ``expected_gb / tensor_parallel`` plus the headroom by itself: free memory
    on two GPUs does not add up for a model served on one.
    """
    candidates = sorted((gpu for gpu in report.gpus if gpu_indices is None or gpu.index in gpu_indices),
                        key=lambda gpu: gpu.memory_free, reverse=True)[:tensor_parallel]
    if len(candidates) < tensor_parallel:
        return None
    part = expected_gb / tensor_parallel + HEADROOM_GB  # what memory_share asks the engine to find free
    return tuple(candidates) if all(gpu.free_gb >= part for gpu in candidates) else None


def memory_share(expected_gb: float, gpu_total_gb: float | None, *, tensor_parallel: int = 1) -> float:
    """The share of each GPU's total memory to give vLLM or SGLang: its part of the estimate plus headroom.

    Rounded up to a hundredth, at most :data:`MAX_SHARE`; sized against
    :data:`REFERENCE_GPU_GB` when no GPU is visible.
    """
    total = gpu_total_gb or REFERENCE_GPU_GB
    share = (expected_gb / tensor_parallel + HEADROOM_GB) / total
    return min(math.ceil(share * 100) / 100, MAX_SHARE)


def kv_cache_share(memory: ModelMemory, gpu_free_gb: float | None, *, tensor_parallel: int = 1) -> float:
    """lmdeploy's ``cache_max_entry_count``: the share of the memory free *after the weights* for its KV cache.

    lmdeploy reads it as a fraction of what is free once the weights are loaded, so the estimate's
    cache part is divided by that, not by the device's total.
    """
    free = gpu_free_gb if gpu_free_gb is not None else REFERENCE_GPU_GB
    after_weights = free - memory.weights_gb / tensor_parallel - HEADROOM_GB
    if after_weights <= 0:
        return 0.05
    share = (memory.cache_gb / tensor_parallel + HEADROOM_GB / 2) / after_weights
    return min(max(math.ceil(share * 100) / 100, 0.05), MAX_SHARE)


def gpu_pin(gpus: Sequence[GpuSample]) -> str:
    """``CUDA_VISIBLE_DEVICES`` for a server on ``gpus``: UUIDs where NVML gave them, else indices."""
    return ",".join(gpu.uuid or str(gpu.index) for gpu in gpus)
