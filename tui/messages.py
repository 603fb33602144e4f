"""Messages that workers post to the UI; the only way a thread touches widgets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from core.gpu import GpuHistory, GpuReport
    from core.logtail import RunCurve
    from core.profiles import ProfileEntry
    from core.runs import RunRecord


class ProfilesLoaded(Message):
    """Every profile file was read and validated."""

    def __init__(self, entries: Sequence[ProfileEntry]) -> None:
        super().__init__()
        self.entries = entries


class GpusSampled(Message):
    """A fresh NVML reading (possibly "no GPU")."""

    def __init__(self, report: GpuReport) -> None:
        super().__init__()
        self.report = report


class FlagCheckDone(Message):
    """The installed swift accepted or rejected a profile's command."""

    def __init__(self, profile_name: str, text: str, ok: bool) -> None:
        super().__init__()
        self.profile_name = profile_name
        self.text = text
        self.ok = ok


class RunsListed(Message):
    """The registry was read (statuses settled)."""

    def __init__(self, records: Sequence[RunRecord]) -> None:
        super().__init__()
        self.records = records


class RunTailed(Message):
    """What a run's files gained since the last poll, coalesced into one message."""

    def __init__(
        self,
        run_id: str,
        curve: RunCurve,
        new_lines: Sequence[str],
        progress_line: str,
        reset: bool,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.curve = curve
        self.new_lines = new_lines
        self.progress_line = progress_line
        self.reset = reset


class GpuUpdated(Message):
    """A GPU sample from the sampler thread, with its history and the run of each GPU process."""

    def __init__(self, report: GpuReport, history: GpuHistory, run_of_pid: dict[int, str]) -> None:
        super().__init__()
        self.report = report
        self.history = history
        self.run_of_pid = run_of_pid


class ActionFinished(Message):
    """A slow action (launch, stop, resume, delete, check) ended; ``error`` is its one-line failure."""

    def __init__(self, action: str, detail: str, error: str | None = None, run_id: str | None = None) -> None:
        super().__init__()
        self.action = action
        self.detail = detail
        self.error = error
        self.run_id = run_id
