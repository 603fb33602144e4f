"""Messages that workers post to the UI; the only way a thread touches widgets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from core.base.gpu import GpuHistory, GpuReport
    from core.models import ModelEntry
    from core.models.jobs import Job
    from core.models.serving import ServerRecord
    from core.models.targets import ChatTarget
    from core.profiles import ProfileEntry
    from core.results import Results
    from core.train.curve import RunCurve
    from core.train.run_queue import QueueEntry
    from core.train.runs import RunRecord


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


class QueueListed(Message):
    """The run queue was read: its entries in the order shown, and whether it is paused."""

    def __init__(self, entries: Sequence[QueueEntry], paused: bool) -> None:
        super().__init__()
        self.entries = entries
        self.paused = paused


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


class CatalogRead(Message):
    """The catalog, the jobs and the servers, read together; with new lines of the watched job's log."""

    def __init__(
        self,
        entries: Sequence[ModelEntry],
        jobs: Sequence[Job],
        servers: Sequence[ServerRecord],
        log_tail: tuple[str, list[str], bool] | None,
        note: str | None,
        progress: Mapping[str, str],
    ) -> None:
        super().__init__()
        self.entries = entries
        self.jobs = jobs
        self.servers = servers
        self.log_tail = log_tail
        self.note = note
        self.progress = progress


class ChatConnected(Message):
    """A chat target is ready (its server reused or started), or could not be."""

    def __init__(self, target: ChatTarget | None, error: str | None = None) -> None:
        super().__init__()
        self.target = target
        self.error = error


class ChatProgress(Message):
    """A line of progress while a server starts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class ResultsComputed(Message):
    """The Results screen's numbers for ``filters``; ``unchanged`` when nothing new was rated since ``key``."""

    def __init__(
        self,
        results: Results | None,
        filters: dict[str, str | None],
        key: tuple[object, ...],
        error: str | None,
        *,
        unchanged: bool = False,
    ) -> None:
        super().__init__()
        self.results = results
        self.filters = filters
        self.key = key
        self.error = error
        self.unchanged = unchanged
