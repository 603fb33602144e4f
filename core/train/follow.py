"""Following one run's files for a viewer: its curve (stitched onto its ancestors') and its log.

Each poll reads only what was appended since the last one, so following a long
run costs the same per line as following a short one.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.base.tail import JsonlTail, TextTail
from core.base.workspace import Workspace
from core.train.curve import RunCurve
from core.train.records import parse_record
from core.train.runs import RunRecord, lineage


@dataclass(frozen=True)
class FollowUpdate:
    """What one poll found."""

    curve: RunCurve
    new_lines: list[str]
    progress_line: str
    changed: bool


def read_curve(record: RunRecord) -> RunCurve:
    """The whole curve of a run, from its logging.jsonl."""
    curve = RunCurve()
    feed(curve, JsonlTail(record.logging_path))
    return curve


def feed(curve: RunCurve, tail: JsonlTail) -> bool:
    changed = False
    for obj in tail.poll():
        record = parse_record(obj)
        if record is None:
            continue
        curve.add(record)
        if record.kind == "final" and record.log_history:
            curve.extend_from_log_history(record.log_history)
        changed = True
    return changed


class RunFollower:
    """Incremental view of one run; its ancestors' curves are read once, at the start."""

    def __init__(self, workspace: Workspace, record: RunRecord) -> None:
        self.record = record
        self.jsonl = JsonlTail(record.logging_path)
        self.text = TextTail(record.stdout_path)
        self.curve = RunCurve()
        self.ancestors: RunCurve | None = None
        for ancestor in lineage(workspace, record)[:-1]:
            curve = read_curve(ancestor)
            self.ancestors = curve if self.ancestors is None else curve.stitched(self.ancestors)

    def poll(self) -> FollowUpdate:
        changed = feed(self.curve, self.jsonl)
        lines = self.text.poll()
        curve = self.curve.stitched(self.ancestors) if self.ancestors is not None else self.curve
        return FollowUpdate(curve, lines, self.text.current, changed or bool(lines))
