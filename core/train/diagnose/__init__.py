"""Why a training run (or a merge, a conversion, a server) failed, and what to change.

:func:`diagnose` reads the exit code and the log tail and returns one :class:`Diagnosis`:
a one-line summary quoting the telling fragment, and one fix in the profile's own terms.
The package is the matcher (:mod:`~core.train.diagnose.explain`), the table of known
failures (:mod:`~core.train.diagnose.rules`), the readers of the fields a summary quotes
(:mod:`~core.train.diagnose.details`) and the fix texts (:mod:`~core.train.diagnose.fixes`).
"""

from __future__ import annotations

from core.train.diagnose.explain import SUMMARY_MAX, TAIL_LINES, Diagnosis, clean_line, diagnose
from core.train.diagnose.fixes import (
    FIX_BNB,
    FIX_CUDA_OOM,
    FIX_CUDA_UNAVAILABLE,
    FIX_DATASET_MALFORMED,
    FIX_DATASET_NOT_FOUND,
    FIX_DATASET_TOO_LONG,
    FIX_DISK_FULL,
    FIX_FLASH_ATTN,
    FIX_FLASH_ATTN_CPU,
    FIX_HOST_OOM,
    FIX_MODEL_PATH,
    FIX_MODULE,
    FIX_NCCL,
    FIX_OFFLINE,
    FIX_OK,
    FIX_STOPPED,
    FIX_TERMINATED,
    FIX_UNKNOWN,
    FIX_UNKNOWN_FLAG,
)
from core.train.diagnose.rules import RULES, SIGINT_CODES, SIGKILL_CODES, SIGTERM_CODES, Extra, Rule

__all__ = [
    "FIX_BNB",
    "FIX_CUDA_OOM",
    "FIX_CUDA_UNAVAILABLE",
    "FIX_DATASET_MALFORMED",
    "FIX_DATASET_NOT_FOUND",
    "FIX_DATASET_TOO_LONG",
    "FIX_DISK_FULL",
    "FIX_FLASH_ATTN",
    "FIX_FLASH_ATTN_CPU",
    "FIX_HOST_OOM",
    "FIX_MODEL_PATH",
    "FIX_MODULE",
    "FIX_NCCL",
    "FIX_OFFLINE",
    "FIX_OK",
    "FIX_STOPPED",
    "FIX_TERMINATED",
    "FIX_UNKNOWN",
    "FIX_UNKNOWN_FLAG",
    "RULES",
    "SIGINT_CODES",
    "SIGKILL_CODES",
    "SIGTERM_CODES",
    "SUMMARY_MAX",
    "TAIL_LINES",
    "Diagnosis",
    "Extra",
    "Rule",
    "clean_line",
    "diagnose",
]
