"""What every diagnosis of a failed run must hold: its kind, a one-line summary naming the cause, a fix."""

from __future__ import annotations

from core.swift.diagnose import TAIL_LINES, Diagnosis


def check(result: Diagnosis, kind: str, *fragments: str) -> None:
    assert result.kind == kind, result
    assert "\n" not in result.summary and len(result.summary) <= 200
    for fragment in fragments:
        assert fragment in result.summary, (fragment, result.summary)
    assert result.fix
    assert len(result.tail) <= TAIL_LINES
