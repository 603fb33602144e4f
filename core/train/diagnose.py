"""Why a training run failed, and what to change: read from the exit code and the log tail.

A failed ``swift sft`` ends in hundreds of lines of traceback. The operator needs
one line (what went wrong, quoting the telling fragment: the flag, the path,
"Tried to allocate 2.00 GiB") and one fix in the profile's own terms. The rules
are a table so that a new failure seen on the GPU box is one row, not a new branch.

How a kind is chosen:

* every line is matched against the table; the first rule that matches a line claims it;
* the kind of the *last* claimed line wins: the final exception is the cause, earlier
  warnings are noise. *Weak* rules (NCCL, dataset warnings) are consequences more often
  than causes (one rank runs out of memory, the others time out in NCCL), so they win
  only when no strong rule matched anywhere;
* within the winning kind, the earliest rule in the table (the most telling text) and
  its last line give the summary and the evidence.

The texts were taken from ms-swift 4.6, transformers 5, huggingface_hub, modelscope_hub,
datasets and torch, several of them from real failed runs (see tests/core/test_diagnose.py).
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

TAIL_LINES = 30
SUMMARY_MAX = 200

# Exit statuses that mean "killed by signal N": Popen gives -N, a shell 128+N, and
# ``swift``'s parent process re-raises its child's -N as ``sys.exit(-N)``, i.e. 256-N.
SIGKILL_CODES = frozenset({-9, 137, 247})
SIGTERM_CODES = frozenset({-15, 143, 241})
SIGINT_CODES = frozenset({-2, 130, 254})

FIX_CUDA_OOM = (
    "lower batch_size (and raise grad_accum to keep the effective batch), turn on gradient_checkpointing, "
    'shorten max_length, or switch to QLoRA (lora.tuner = "qlora"); check that no other process holds the GPU.'
)
FIX_HOST_OOM = (
    "the machine ran out of RAM and the kernel's OOM killer ended the run (see `dmesg | grep -i oom`): "
    "stop other memory-hungry processes, lower dataset_num_proc / dataloader_num_workers (train.extra_args), "
    "or use a machine with more RAM."
)
FIX_DATASET_NOT_FOUND = (
    "check the path in the profile's train.dataset (absolute, or relative to the workspace) and that the file "
    "exists on this machine; run the dataset check (`mhbench train PROFILE --check-dataset` / the Train screen's "
    "dataset check) before launching."
)
FIX_DATASET_MALFORMED = (
    "run the dataset check (`mhbench train PROFILE --check-dataset` / the Train screen's dataset check); "
    "it names the file and line: repair that line (one JSON object per line, a non-empty `messages` list "
    "of {role, content})."
)
FIX_DATASET_TOO_LONG = (
    "every sampled row is longer than max_length: raise train.max_length, or drop/shorten the long dialogues "
    "(the dataset check lists the lengths)."
)
FIX_UNKNOWN_FLAG = (
    "the installed ms-swift does not know this flag: fix its spelling in the profile (train.extra_args) or use the "
    "name for this swift version (4.x: --tuner_type, not --train_type); `swift sft --help` lists them."
)
FIX_OFFLINE = (
    "this machine cannot download it: on a connected machine run `modelscope download --model ID --local_dir DIR`, "
    'copy DIR here, and set the profile\'s model.id to that directory with model.hub = "local".'
)
FIX_MODEL_PATH = (
    "the model directory does not exist: fix model.id in the profile (a local directory needs "
    'model.hub = "local"), or download it with `modelscope download --model ID --local_dir DIR`.'
)
FIX_DISK_FULL = (
    "the disk is full: free space on the filesystem holding the run's output directory (the workspace's runs/ "
    "folder; old checkpoints are large), lower train.save_total_limit, or move the workspace (--workspace DIR)."
)
FIX_NCCL = (
    "check that NPROC_PER_NODE and CUDA_VISIBLE_DEVICES match the GPUs you mean to use; try NCCL_P2P_DISABLE=1 "
    "and NCCL_IB_DISABLE=1 (and NCCL_DEBUG=INFO for details); run on one GPU to confirm the training itself works."
)
FIX_FLASH_ATTN = (
    'install it on the GPU box (`pip install flash-attn --no-build-isolation`) or set train.attn_impl = "sdpa".'
)
FIX_FLASH_ATTN_CPU = 'FlashAttention needs an NVIDIA GPU: set train.attn_impl = "sdpa" or run on the GPU box.'
FIX_BNB = (
    'QLoRA needs bitsandbytes: `pip install -U bitsandbytes` on the GPU box (mhbench[gpu]), or set lora.tuner = "lora".'
)
FIX_CUDA_UNAVAILABLE = (
    "this run asked for a GPU that torch cannot see: check `nvidia-smi`, CUDA_VISIBLE_DEVICES and that torch is a "
    'CUDA build (`python -c "import torch; print(torch.cuda.is_available())"`); on a CPU use a tiny demo profile, '
    'lora.tuner = "lora" and no flash attention.'
)
FIX_MODULE = "install the missing package into the project's virtual environment (`pip install NAME`)."
FIX_STOPPED = "nothing to fix: the run was stopped on request; start it again to resume from its last checkpoint."
FIX_TERMINATED = (
    "something outside mhbench sent SIGTERM/SIGINT (a job scheduler, a shutdown, Ctrl-C in a shell): "
    "start it again; it resumes from its last checkpoint."
)
FIX_UNKNOWN = "read the last 30 lines of the log (shown below; the whole log is the run's stdout.log)."
FIX_OK = "nothing to fix."

Extra = Callable[[re.Match[str], Sequence[str]], Mapping[str, str]]


@dataclass(frozen=True)
class Diagnosis:
    """One failed (or finished) run, explained."""

    kind: str
    summary: str
    """One line, quoting the most telling fragment of the log."""
    fix: str
    evidence: str | None
    """The log line that matched, or ``None``."""
    tail: tuple[str, ...]
    """The last 30 log lines, cleaned of terminal control sequences."""

    @property
    def failed(self) -> bool:
        """A stop on request and a clean exit are not failures."""
        return self.kind not in ("ok", "stopped")


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


def _oom_detail(match: re.Match[str], _lines: Sequence[str]) -> Mapping[str, str]:
    line = match.string
    parts: list[str] = []
    tried = re.search(r"Tried to allocate ([\d.]+ ?[KMGT]i?B)", line)
    if tried:
        parts.append(f"Tried to allocate {tried.group(1)}")
    free = re.search(
        r"GPU (\d+) has a total capacity of ([\d.]+ ?[KMGT]i?B) of which ([\d.]+ ?[KMGT]i?B) is free", line
    )
    if free:
        parts.append(f"GPU {free.group(1)}: {free.group(3)} free of {free.group(2)}")
    return {"detail": f" ({'; '.join(parts)})" if parts else ""}


_HUB_ITEM = re.compile(r"Downloading the (model|dataset) from \w+(?: Hub)?, (?:model|dataset)_id: (\S+)")
_HUB_URL = re.compile(r"(?:/api/v1/models/|/api/models/|/api/datasets/|Repo )([\w.-]+/[\w.-]+)")


def _hub_item(_match: re.Match[str], lines: Sequence[str]) -> Mapping[str, str]:
    """Which model (or dataset) swift was fetching: its own log line says, else a URL."""
    for line in reversed(lines):
        found = _HUB_ITEM.search(line)
        if found:
            return {"what": f"{found.group(1)} {found.group(2)}"}
    for line in reversed(lines):
        url = _HUB_URL.search(line)
        if url:
            return {"what": f"model {url.group(1)}"}
    return {"what": "the model"}


_CAUSES = (
    re.compile(r"Failed to resolve '[^']+'"),
    re.compile(r"Connection refused"),
    re.compile(r"timed out"),
    re.compile(r"Max retries exceeded"),
    re.compile(r"Connection failed"),
)


def _network_cause(match: re.Match[str], lines: Sequence[str]) -> Mapping[str, str]:
    """The most specific reason in a ModelScope ``NetworkError`` line (DNS before "retries exceeded")."""
    cause = next((found.group(0) for rx in _CAUSES if (found := rx.search(match.string))), "network error")
    return {**_hub_item(match, lines), "cause": cause}


def _remaining_flags(match: re.Match[str], _lines: Sequence[str]) -> Mapping[str, str]:
    try:
        items = [str(item) for item in ast.literal_eval(match.group("argv"))]
    except (ValueError, SyntaxError):
        items = match.group("argv").strip("[]").replace("'", "").split(", ")
    flags = [item for item in items if item.startswith("-")] or items
    return {"flags": " ".join(flags)}


def _unrecognized(match: re.Match[str], _lines: Sequence[str]) -> Mapping[str, str]:
    items = match.group("argv").split()
    flags = [item for item in items if item.startswith("-")] or items
    return {"flags": " ".join(flags)}


_DROPPED_ROW = re.compile(r"There are errors in the dataset, the data will be deleted")
_ERROR_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?([\w.]*(?:Error|Exception)\b:.*)$")


_FILTERED = re.compile(r"Dataset filtered, origin length: (\d+), filtered dataset length: (\d+)")


def _dropped_reason(_match: re.Match[str], lines: Sequence[str]) -> Mapping[str, str]:
    """How many rows swift kept, and the error of the first dropped row.

    swift logs each bad row's traceback, then a warning, and later
    "Dataset filtered, origin length: N, filtered dataset length: M".
    """
    reason = ""
    for line in reversed(lines):
        counts = _FILTERED.search(line)
        if counts:
            reason += f" ({counts.group(2)} of {counts.group(1)} rows kept)"
            break
    for index, line in enumerate(lines):
        if _DROPPED_ROW.search(line):
            for previous in reversed(lines[max(0, index - 8) : index]):
                error = _ERROR_LINE.match(previous.strip())
                if error:
                    return {"reason": f"{reason}; first bad row: {error.group(1)}"}
            break
    return {"reason": reason}


_DATA_FILE = r"[^'\"`]*\.(?:jsonl|json|csv|tsv|parquet|arrow|txt)"
_MODEL_FILE = r"(?:config|tokenizer|tokenizer_config|generation_config|special_tokens_map|vocab|adapter_config|preprocessor_config)\.json"

RULES: tuple[Rule, ...] = (
    # --- out of memory -------------------------------------------------------------------
    Rule(
        "oom",
        _rx(r"(?:torch\.(?:cuda\.)?OutOfMemoryError|CUDA out of memory)"),
        "CUDA out of memory{detail}",
        FIX_CUDA_OOM,
        extra=_oom_detail,
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
        extra=_remaining_flags,
    ),
    Rule(
        "unknown_flag",
        _rx(r"error: unrecognized arguments: (?P<argv>.+)$"),
        "unknown flag: {flags}",
        FIX_UNKNOWN_FLAG,
        extra=_unrecognized,
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
        extra=_hub_item,
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
        extra=_network_cause,
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
        "(`mhbench train PROFILE --check-dataset`).",
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
        extra=_dropped_reason,
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
        _DROPPED_ROW,
        "some dataset rows have errors and were dropped{reason}",
        FIX_DATASET_MALFORMED,
        weak=True,
        extra=_dropped_reason,
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

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


_BAR_END = re.compile(r"\[\d+:\d+(?:<[^\]]*)?, [^\]]*/s\]")


def clean_line(line: str) -> str:
    """One displayable line: no colours, and of progress bars only the last state or what follows them.

    tqdm redraws with ``\\r`` and often without a newline, so a log message can be glued to
    a bar: ``Generating train split: 0 examples [00:00, ? examples/s]Failed to load JSON ...``.
    """
    line = _ANSI.sub("", line.rstrip("\r\n"))
    if "\r" in line:
        parts = [part for part in line.split("\r") if part.strip()]
        line = parts[-1] if parts else ""
    ends = [bar.end() for bar in _BAR_END.finditer(line)]
    if ends:
        pieces = [line[start:end] for start, end in zip([0, *ends], [*ends, len(line)], strict=True)]
        line = next((piece for piece in reversed(pieces) if piece.strip()), line)
    return _CONTROL.sub("", line)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


@dataclass(frozen=True)
class _Hit:
    line: int
    rule: int
    match: re.Match[str]


def _hits(lines: Sequence[str], exit_code: int | None) -> list[_Hit]:
    usable: list[tuple[int, Rule]] = []
    for number, rule in enumerate(RULES):
        if rule.exit_codes is not None and exit_code not in rule.exit_codes:
            continue
        if rule.requires is not None and not any(rule.requires.search(line) for line in lines):
            continue
        usable.append((number, rule))
    hits: list[_Hit] = []
    for index, line in enumerate(lines):
        for number, rule in usable:
            match = rule.pattern.search(line)
            if match:
                hits.append(_Hit(index, number, match))
                break
    return hits


def _render(rule: Rule, match: re.Match[str], lines: Sequence[str]) -> str:
    fields: dict[str, str] = {key: value or "" for key, value in match.groupdict().items()}
    fields["match"] = match.string[match.start() :].strip()
    if rule.extra is not None:
        fields.update(rule.extra(match, lines))
    return _one_line(rule.summary.format(**fields))


def _did_you_mean(flags: str, known_flags: Iterable[str]) -> str:
    known = [flag.lstrip("-") for flag in known_flags]
    hints = []
    for flag in flags.split():
        close = difflib.get_close_matches(flag.lstrip("-"), known, n=1, cutoff=0.6)
        if close:
            hints.append(f"--{close[0]}")
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def _signal_from_code(exit_code: int | None) -> str | None:
    if exit_code in SIGKILL_CODES:
        return "SIGKILL"
    if exit_code in SIGTERM_CODES:
        return "SIGTERM"
    if exit_code in SIGINT_CODES:
        return "SIGINT"
    return None


def diagnose(
    exit_code: int | None,
    log_lines: Sequence[str],
    *,
    signal_name: str | None = None,
    known_flags: Iterable[str] | None = None,
) -> Diagnosis:
    """Explain how a run ended.

    ``exit_code``: as the registry recorded it (``None`` when unknown); Popen's ``-N`` and a
    shell's ``128+N`` both read as signal N. ``log_lines``: the end of ``stdout.log``, as long as
    the caller likes (the whole of it is searched; only the last 30 lines are kept).
    ``signal_name``: set when mhbench itself stopped the run (SIGTERM, then SIGKILL): then it
    is no failure, whatever the log says. ``known_flags``: the installed swift's flags, for a
    did-you-mean on an unknown flag.
    """
    lines = [clean_line(line) for line in log_lines]
    tail = tuple(lines[-TAIL_LINES:])
    if signal_name:
        return Diagnosis(
            "stopped", f"stopped on request ({signal_name}); this is not a failure", FIX_STOPPED, None, tail
        )
    if exit_code == 0:
        return Diagnosis("ok", "finished successfully (exit code 0)", FIX_OK, None, tail)

    hits = _hits(lines, exit_code)
    strong = [hit for hit in hits if not RULES[hit.rule].weak]
    candidates = strong or hits
    if candidates:
        kind = RULES[candidates[-1].rule].kind
        same_kind = [hit for hit in candidates if RULES[hit.rule].kind == kind]
        best_rule = min(hit.rule for hit in same_kind)
        hit = [hit for hit in same_kind if hit.rule == best_rule][-1]
        rule = RULES[hit.rule]
        summary = _render(rule, hit.match, lines)
        if kind == "unknown_flag" and known_flags is not None:
            flags = summary.rsplit(": ", 1)[-1]
            summary = _one_line(summary + _did_you_mean(flags, known_flags))
        return Diagnosis(kind, summary, rule.fix, lines[hit.line].strip(), tail)

    signal = _signal_from_code(exit_code)
    if signal == "SIGKILL":
        return Diagnosis(
            "oom",
            "killed by SIGKILL with no error in the log: most likely the kernel's OOM killer (out of host RAM)",
            FIX_HOST_OOM,
            None,
            tail,
        )
    if signal is not None:
        return Diagnosis("terminated", f"terminated by {signal}, not by mhbench", FIX_TERMINATED, None, tail)

    last_error = next(
        (line.strip() for line in reversed(lines) if _ERROR_LINE.match(line.strip())),
        None,
    )
    ended = f"exited with code {exit_code}" if exit_code is not None else "ended without a recorded exit code"
    summary = _one_line(f"{ended}: {last_error}" if last_error else ended)
    return Diagnosis("unknown", summary, FIX_UNKNOWN, last_error, tail)
