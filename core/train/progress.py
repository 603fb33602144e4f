"""A run's figures as plain text: its latest metrics, its progress line and why it failed.

What the Train screen shows under the loss plot, kept here so it is tested without a
terminal and reads the same wherever a run is summarised. Everything is a plain string
(user text included): the caller decides styles.
"""

from __future__ import annotations

from core.train.curve import RunCurve
from core.train.runs import RunRecord

FAILED_STATUSES = frozenset({"failed", "lost"})


def format_duration(seconds: float | None) -> str:
    """``1h05m`` from an hour on, ``3m07s`` below it, ``–`` when unknown."""
    if seconds is None:
        return "–"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def latest_figures(curve: RunCurve) -> list[tuple[str, str]]:
    """(label, value) of the latest train step's known metrics, then its memory and the latest eval loss."""
    figures: list[tuple[str, str]] = []
    latest = curve.latest
    if latest is not None:
        for label, value in (
            ("loss", latest.loss), ("lr", latest.learning_rate), ("grad", latest.grad_norm),
            ("acc", latest.token_acc), ("epoch", latest.epoch),
        ):
            if value is not None:
                figures.append((label, f"{value:.4g}"))
        if latest.memory_gib is not None:
            figures.append(("mem", f"{latest.memory_gib:.2f} GiB"))
    if curve.latest_eval is not None and curve.latest_eval.eval_loss is not None:
        figures.append(("eval", f"{curve.latest_eval.eval_loss:.4g}"))
    return figures


def progress_summary(curve: RunCurve) -> str:
    """``step/total  elapsed …  ETA …  s/it``; ``?`` for a total the log has not given yet."""
    latest = curve.latest
    step = latest.step if latest else None
    parts = [f"{step or 0}/{curve.max_steps or '?'}"]
    if latest is not None:
        parts.append(f"elapsed {format_duration(latest.elapsed_s)}")
        parts.append(f"ETA {format_duration(latest.remaining_s)}")
        if latest.seconds_per_it:
            parts.append(f"{latest.seconds_per_it:.2f} s/it")
    return "  ".join(parts)


def failure_text(record: RunRecord) -> str | None:
    """``✗ <summary>`` and ``Fix: <fix>`` on two lines for a failed or lost run with a diagnosis; else None."""
    if record.status not in FAILED_STATUSES or not record.diagnosis:
        return None
    diagnosis = record.diagnosis
    return f"✗ {diagnosis.get('summary', record.status)}\nFix: {diagnosis.get('fix', '')}"
