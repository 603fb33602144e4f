"""Why a training run failed, and what to change: read from the exit code and the log tail.

A failed ``swift sft`` ends in hundreds of lines of traceback. The operator needs
one line (what went wrong, quoting the telling fragment: the flag, the path,
"Tried to allocate 2.00 GiB") and one fix in the profile's own terms. The rules
are a table (:mod:`core.swift.diagnose.rules`) so that a new failure seen on the GPU box is one
row, not a new branch here.

How a kind is chosen:

* every line is matched against the table; the first rule that matches a line claims it;
* the kind of the *last* claimed line wins: the final exception is the cause, earlier
  warnings are noise. *Weak* rules (NCCL, dataset warnings) are consequences more often
  than causes (one rank runs out of memory, the others time out in NCCL), so they win
  only when no strong rule matched anywhere;
* within the winning kind, the earliest rule in the table (the most telling text) and
  its last line give the summary and the evidence.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.base.text import terminal_line
from core.swift.diagnose.details import ERROR_LINE
from core.swift.diagnose.fixes import (
    FIX_HOST_OOM,
    FIX_OK,
    FIX_STOPPED,
    FIX_TERMINATED,
    FIX_UNKNOWN,
)
from core.swift.diagnose.rules import RULES, SIGINT_CODES, SIGKILL_CODES, SIGTERM_CODES, Rule

TAIL_LINES = 30
SUMMARY_MAX = 200


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


_BAR_END = re.compile(r"\[\d+:\d+(?:<[^\]]*)?, [^\]]*/s\]")


def clean_line(line: str) -> str:
    """One displayable line: no escape sequences or controls, and of progress bars only the last state or what
    follows them.

    tqdm redraws with ``\\r`` and often without a newline, so a log message can be glued to
    a bar: ``Generating train split: 0 examples [00:00, ? examples/s]Failed to load JSON ...``.
    """
    line = terminal_line(line)  # the same stripping as every other log shown on screen
    ends = [bar.end() for bar in _BAR_END.finditer(line)]
    if ends:
        pieces = [line[start:end] for start, end in zip([0, *ends], [*ends, len(line)], strict=True)]
        line = next((piece for piece in reversed(pieces) if piece.strip()), line)
    return line


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
        (line.strip() for line in reversed(lines) if ERROR_LINE.match(line.strip())),
        None,
    )
    ended = f"exited with code {exit_code}" if exit_code is not None else "ended without a recorded exit code"
    summary = _one_line(f"{ended}: {last_error}" if last_error else ended)
    return Diagnosis("unknown", summary, FIX_UNKNOWN, last_error, tail)
