"""Train mode: the runs, and for the selected one its loss plot, progress, metrics, GPUs and log.

The screen only views and controls: runs are detached processes registered in
SQLite. The registry is read in a thread worker on a timer, the selected run's files
by :class:`tui.train.run_detail.RunDetail` in its own; NVML is sampled in its own
thread; every result comes back as a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from tui.messages import ActionFinished, GpuUpdated, QueueListed, RunsListed
from tui.modes import mode_title
from tui.train.queue_table import QueueTable
from tui.train.run_detail import RunDetail
from tui.train.run_table import RunTable

if TYPE_CHECKING:
    from core.base.gpu import GpuSampler
    from core.base.workspace import Workspace
    from core.train.launch import LaunchRequest, RunPlan
    from core.train.runs import RunRecord

REGISTRY_POLL_S = 2.0


class TrainScreen(Screen[None]):
    """Launch, watch, stop, resume and compare ms-swift runs; see and reorder the run queue."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_run", "New run", id="train.new"),
        Binding("s", "stop_run", "Stop", id="train.stop"),
        Binding("u", "resume_run", "Resume", id="train.resume"),
        Binding("d", "delete_run", "Delete", id="train.delete"),
        Binding("space", "mark_run", "Mark", id="train.mark"),
        Binding("o", "compare", "Compare", id="train.compare"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: list[RunRecord] = []
        self.selected_id: str | None = None
        self.marked: set[str] = set()
        self.sampler: GpuSampler | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="train-lists"):
                yield RunTable(id="run-table", cursor_type="row", zebra_stripes=True)
                yield QueueTable(id="queue-table", cursor_type="row")
            yield RunDetail(id="run-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = mode_title("Train")
        self.refresh_runs()
        self.set_interval(REGISTRY_POLL_S, self.refresh_runs)
        self.start_gpu_sampler()

    def on_unmount(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

    def selected(self) -> RunRecord | None:
        return next((r for r in self.records if r.id == self.selected_id), None)

    # --- background work -----------------------------------------------------------------------

    def start_gpu_sampler(self) -> None:
        from core.base.gpu import GpuSampler, map_processes_to_runs
        from core.train.runs import active_runs

        def on_sample(report: object) -> None:
            from core.base.gpu import GpuReport

            assert isinstance(report, GpuReport) and self.sampler is not None
            pids = [process.pid for gpu in report.gpus for process in gpu.processes]
            run_of_pid = map_processes_to_runs(pids, active_runs(self.records)) if pids else {}
            self.post_message(GpuUpdated(report, self.sampler.history, run_of_pid))

        self.sampler = GpuSampler(interval=1.0, on_sample=on_sample)
        self.sampler.start()

    @work(thread=True, exclusive=True, group="train-runs")
    def refresh_runs(self) -> None:
        from core.train.run_queue import is_paused, list_entries
        from core.train.runs import list_runs

        self.post_message(RunsListed(list_runs(self.workspace)))
        self.post_message(QueueListed(list_entries(self.workspace), is_paused(self.workspace)))

    # --- messages ------------------------------------------------------------------------------

    def on_runs_listed(self, message: RunsListed) -> None:
        self.records = list(message.records)
        self.select(self.query_one("#run-table", RunTable).show(self.records, self.marked, self.selected_id))

    def on_queue_listed(self, message: QueueListed) -> None:
        self.query_one("#queue-table", QueueTable).show(message.entries, message.paused)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "run-table" and event.row_key.value:
            self.select(str(event.row_key.value))

    def select(self, run_id: str | None) -> None:
        """Follow ``run_id`` in the detail pane; None (no runs left) stops following."""
        self.selected_id = run_id
        self.query_one("#run-detail", RunDetail).follow(self.selected())

    def on_gpu_updated(self, message: GpuUpdated) -> None:
        self.query_one("#run-detail", RunDetail).show_gpu(message)

    def on_action_finished(self, message: ActionFinished) -> None:
        if message.error:
            self.notify(message.error, title=message.action, severity="error", timeout=12)
        else:
            self.notify(message.detail, title=message.action)
        if message.run_id:
            self.selected_id = message.run_id
        self.refresh_runs()

    # --- actions -------------------------------------------------------------------------------

    def action_new_run(self) -> None:
        from tui.train.launch import LaunchForm

        def launched(request: LaunchRequest | None) -> None:
            if request is not None:
                self.confirm_launch(request)

        self.app.push_screen(LaunchForm(), launched)

    def confirm_launch(self, request: LaunchRequest) -> None:
        from tui.train.launch import ConfirmLaunch

        def decided(plan: RunPlan | None) -> None:
            if plan is not None:
                self.launch(plan)

        self.app.push_screen(ConfirmLaunch(request), decided)

    @work(thread=True, group="train-action")
    def perform(self, title: str, call: Callable[[], tuple[str, str | None]]) -> None:
        """Run a slow registry action off the event loop; ``call`` returns (message, run to select)."""
        from core.base.errors import MhbenchError

        try:
            detail, run_id = call()
            self.post_message(ActionFinished(title, detail, run_id=run_id))
        except MhbenchError as error:
            self.post_message(ActionFinished(title, "", str(error)))

    def launch(self, plan: RunPlan) -> None:
        from core.train.launch import launch

        def call() -> tuple[str, str | None]:
            record = launch(self.workspace, plan)
            return f"started {record.id}", record.id

        self.perform("Launch", call)

    def action_stop_run(self) -> None:
        from core.train.runs import stop_run

        record = self.selected()
        if record is None or not record.active:
            self.notify("Select a running run to stop.", severity="warning")
            return
        self.notify(f"Stopping {record.id}: a checkpoint is saved first.")

        def call() -> tuple[str, str | None]:
            stopped = stop_run(self.workspace, record.id)
            return f"{stopped.id} {stopped.status}; checkpoint {stopped.last_checkpoint}", None

        self.perform("Stop", call)

    def action_resume_run(self) -> None:
        from core.train.launch import resume_run

        record = self.selected()
        if record is None:
            return

        def call() -> tuple[str, str | None]:
            child = resume_run(self.workspace, record.id)
            return f"resumed as {child.id}", child.id

        self.perform("Resume", call)

    def action_delete_run(self) -> None:
        from core.train.runs import delete_run
        from tui.shell.dialogs import Confirm

        record = self.selected()
        if record is None:
            return

        def call() -> tuple[str, str | None]:
            delete_run(self.workspace, record.id)
            self.selected_id = None
            return f"deleted {record.id}", None

        def decided(yes: bool | None) -> None:
            if yes:
                self.perform("Delete", call)

        self.app.push_screen(
            Confirm(f"Delete run {record.id} and all its files (checkpoints included)?", "delete", "keep"), decided
        )

    def action_mark_run(self) -> None:
        if self.selected_id is None:
            return
        self.marked ^= {self.selected_id}
        self.refresh_runs()

    def action_compare(self) -> None:
        from tui.train.launch import CompareScreen

        chosen = [r for r in self.records if r.id in self.marked] or self.records
        if not chosen:
            self.notify("No runs to compare yet.", severity="warning")
            return
        self.app.push_screen(CompareScreen(chosen))
