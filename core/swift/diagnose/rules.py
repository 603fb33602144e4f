"""The table of known failures: each row, a log line that means a kind of failure, its summary and its fix.

A new failure seen on the GPU box is one row here, not a new branch in the matcher
(:mod:`core.swift.diagnose.explain`). The texts were taken from ms-swift 4.6,
transformers 5, huggingface_hub, modelscope_hub, datasets and torch, several of them from
real failed runs (see tests/core/test_diagnose.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from core.swift.diagnose.details import (
    DROPPED_ROW,
    dropped_reason,
    hub_item,
    network_cause,
    oom_detail,
    remaining_flags,
    unrecognized,
)
from core.swift.diagnose.fixes import (
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
    FIX_UNKNOWN_FLAG,
)

# Exit statuses that mean "killed by signal N": Popen gives -N, a shell 128+N, and
# ``swift``'s parent process re-raises its child's -N as ``sys.exit(-N)``, i.e. 256-N.
SIGKILL_CODES = frozenset({-9, 137, 247})
SIGTERM_CODES = frozenset({-15, 143, 241})
SIGINT_CODES = frozenset({-2, 130, 254})

Extra = Callable[[re.Match[str], Sequence[str]], Mapping[str, str]]


@dataclass(frozen=True)
class Rule:
    """One row of the table: a log line that means ``kind``."""

    kind: str
    pattern: re.Pattern[str]
    summary: str
    """``str.format`` template over the named groups, ``{match}`` and what ``extra`` returns."""
    fix: str
    weak: bool = False
    """A consequence more often than a cause: wins only when no strong rule matched."""
    requires: re.Pattern[str] | None = None
    """Counts only if this also matches some line of the log."""
    exit_codes: frozenset[int] | None = None
    """Counts only with one of these exit codes."""
    extra: Extra | None = None
    """More fields for ``summary``, read from the match and the whole log."""


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_DATA_FILE = r"[^'\"`]*\.(?:jsonl|json|csv|tsv|parquet|arrow|txt)"
_MODEL_FILE = r"(?:config|tokenizer|tokenizer_config|generation_config|special_tokens_map|vocab|adapter_config|preprocessor_config)\.json"

RULES: tuple[Rule, ...] = (
    # --- out of memory -------------------------------------------------------------------
    Rule(
        "oom",
        _rx(r"(?:torch\.(?:cuda\.)?OutOfMemoryError|CUDA out of memory)"),
        "CUDA out of memory{detail}",
        FIX_CUDA_OOM,
        extra=oom_detail,
    ),
    Rule(
        "oom",
        _rx(r"CUBLAS_STATUS_ALLOC_FAILED"),
        "cuBLAS could not allocate GPU memory (CUBLAS_STATUS_ALLOC_FAILED)",
        FIX_CUDA_OOM,
    ),
    Rule(
        "oom",
        _rx(r"DataLoader worker \(pid \d+\) is killed by signal: Killed"),
        "out of host RAM: {match}",
        FIX_HOST_OOM,
    ),
    Rule(
        "oom",
        _rx(r"^(?:.*\bline \d+:\s+\d+\s+)?Killed(?:\s+.*)?$"),
        "out of host RAM: killed by SIGKILL, most likely the kernel's OOM killer",
        FIX_HOST_OOM,
        exit_codes=SIGKILL_CODES,
    ),
    # --- disk ----------------------------------------------------------------------------
    Rule(
        "disk_full",
        _rx(r"(?:No space left on device|\[Errno 28\]|PytorchStreamWriter failed writing file)(?P<rest>.*)"),
        "disk full: {match}",
        FIX_DISK_FULL,
    ),
    # --- command line --------------------------------------------------------------------
    Rule(
        "unknown_flag",
        _rx(r"remaining_argv: (?P<argv>\[.*\])"),
        "unknown flag for the installed ms-swift: {flags}",
        FIX_UNKNOWN_FLAG,
        extra=remaining_flags,
    ),
    Rule(
        "unknown_flag",
        _rx(r"error: unrecognized arguments: (?P<argv>.+)$"),
        "unknown flag: {flags}",
        FIX_UNKNOWN_FLAG,
        extra=unrecognized,
    ),
    # --- model not reachable -------------------------------------------------------------
    Rule(
        "model_not_found",
        _rx(r"ValueError: path: '(?P<path>[^']+)' not found"),
        "model directory not found: {path}",
        FIX_MODEL_PATH,
    ),
    Rule(
        "model_not_found_offline",
        _rx(r"(?P<repo>\S+) is not a local folder and is not a valid model identifier"),
        "model {repo} is neither a local folder nor reachable on the hub",
        FIX_OFFLINE,
    ),
    Rule(
        "model_not_found_offline",
        _rx(
            r"(?:OfflineModeIsEnabled|LocalEntryNotFoundError|We couldn't connect to|"
            r"Cannot find the requested files in the disk cache|outgoing traffic has been disabled|"
            r"Cannot find an appropriate cached snapshot folder)"
        ),
        "{what} is not available offline: {match}",
        FIX_OFFLINE,
        extra=hub_item,
    ),
    Rule(
        "model_not_found_offline",
        _rx(r"(?:Repo|model:?)\s+(?P<repo>[\w.-]+/[\w.-]+)\s+(?:does )?not exists?"),
        "model {repo} does not exist on the hub (or the hub is unreachable)",
        FIX_OFFLINE,
    ),
    Rule(
        "model_not_found_offline",
        _rx(r"NetworkError: .*"),
        "{what} could not be downloaded: no network ({cause})",
        FIX_OFFLINE,
        extra=network_cause,
    ),
    # --- dataset -------------------------------------------------------------------------
    Rule(
        "dataset_not_found",
        _rx(r"The local path does not exist, dataset_id: `(?P<path>[^`]+)`"),
        "dataset not found: {path}",
        FIX_DATASET_NOT_FOUND,
    ),
    Rule(
        "dataset_not_found",
        _rx(
            r"FileNotFoundError: (?:\[Errno 2\] No such file or directory|Unable to find|Couldn't find)"
            rf"[^'\"`]*['\"`](?![^'\"`]*\b{_MODEL_FILE}['\"`])(?P<path>{_DATA_FILE})['\"`]"
        ),
        "dataset not found: {path}",
        FIX_DATASET_NOT_FOUND,
    ),
    Rule(
        "dataset_not_found",
        _rx(r"self\.dataset: \[\], self\.cached_dataset: \[\]\. Please input the training dataset"),
        "no training dataset was given to swift (--dataset is empty)",
        "set train.dataset in the profile to the JSONL file(s); check them with the dataset check "
        "(`mhbench dataset --profile PROFILE`).",
    ),
    Rule(
        "dataset_not_found",
        _rx(r"DatasetNotFoundError: (?P<msg>.*)|Dataset (?P<name>\S+) (?:was )?not found"),
        "dataset not found: {match}",
        FIX_DATASET_NOT_FOUND,
    ),
    Rule(
        "dataset_malformed",
        _rx(r"Failed to load JSON from file '(?P<path>[^']+)' with error <class '[^']+'>: (?P<msg>.*)"),
        "dataset {path} is not valid JSON Lines: {msg}",
        FIX_DATASET_MALFORMED,
    ),
    Rule(
        "dataset_malformed",
        _rx(r"(?:json\.decoder\.)?JSONDecodeError: (?P<msg>.*)|pyarrow\.lib\.ArrowInvalid: (?P<arrow>.*)"),
        "dataset is not valid JSON: {match}",
        FIX_DATASET_MALFORMED,
    ),
    Rule(
        "dataset_malformed",
        _rx(r"ZeroDivisionError"),
        "dataset is empty after preprocessing: every row was dropped{reason}",
        FIX_DATASET_MALFORMED,
        requires=_rx(r"in sample_dataset\b"),
        extra=dropped_reason,
    ),
    Rule(
        "dataset_malformed",
        _rx(
            r"Failed to retrieve the dataset\. You can avoid this issue by increasing `max_length`|MaxLengthError: (?P<msg>.*)"
        ),
        "dataset rows are longer than max_length: {match}",
        FIX_DATASET_TOO_LONG,
    ),
    Rule(
        "dataset_malformed",
        _rx(r"DatasetGenerationError: (?P<msg>.*)"),
        "the dataset could not be read: {msg}",
        FIX_DATASET_MALFORMED,
    ),
    Rule(
        "dataset_malformed",
        DROPPED_ROW,
        "some dataset rows have errors and were dropped{reason}",
        FIX_DATASET_MALFORMED,
        weak=True,
        extra=dropped_reason,
    ),
    # --- packages and devices ------------------------------------------------------------
    Rule(
        "cuda_unavailable",
        _rx(r"FlashAttention\d is not available on CPU"),
        "FlashAttention was asked for on a machine without a usable GPU",
        FIX_FLASH_ATTN_CPU,
    ),
    Rule(
        "flash_attn_missing",
        _rx(
            r"No module named '(?P<module>flash_attn\w*)'|FlashAttention\d has been toggled on, but it cannot be used.*"
        ),
        "flash-attn is not installed: {match}",
        FIX_FLASH_ATTN,
    ),
    Rule(
        "bitsandbytes_missing",
        _rx(r"No module named 'bitsandbytes'|requires bitsandbytes|install `?bitsandbytes|pip install -U bitsandbytes"),
        "bitsandbytes is not installed (needed for QLoRA): {match}",
        FIX_BNB,
    ),
    Rule(
        "cuda_unavailable",
        _rx(
            r"Torch not compiled with CUDA enabled|[Nn]o CUDA GPUs are available|Found no NVIDIA driver on your system|"
            r"CUDA driver version is insufficient|CUDA driver initialization failed"
        ),
        "no usable CUDA GPU: {match}",
        FIX_CUDA_UNAVAILABLE,
    ),
    Rule(
        "module_missing",
        _rx(r"No module named '(?P<module>[\w.]+)'"),
        "Python package missing: {module}",
        FIX_MODULE,
    ),
    Rule("gguf_tokenizer_unknown", _rx(r"BPE pre-tokenizer was not recognized"), "the GGUF converter refused the tokenizer: BPE pre-tokenizer not recognised (llama.cpp knows only the pre-tokenizers of published models, by hash)", "convert the real published base model (Qwen2.5, Llama-3.1…), whose tokenizer llama.cpp knows, with your adapter merged into it; or use a model with a SentencePiece tokenizer. A BPE tokenizer trained here cannot be converted."),
    # --- multi-GPU -----------------------------------------------------------------------
    Rule(
        "nccl",
        _rx(
            r"NCCL error|ncclInternalError|ncclSystemError|ncclUnhandledCudaError|ncclRemoteError|NCCL WARN|"
            r"Watchdog caught collective operation timeout|ProcessGroupNCCL"
        ),
        "NCCL (multi-GPU communication) failed: {match}",
        FIX_NCCL,
        weak=True,
    ),
)
