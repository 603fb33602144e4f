"""Train mode: the runs, and for the selected one its loss plot, progress, metrics, GPUs and log.

The screen only views and controls: runs are detached processes registered in
SQLite. Files and the registry are read in thread workers on timers; NVML is
sampled in its own thread; every result comes back as a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Log, ProgressBar, Static

from tui.messages import ActionFinished, GpuUpdated, RunsListed, RunTailed
from tui.modes import mode_title
from tui.train.gpu_pane import GpuPane
from tui.train.loss_plot import LossPlot, Series

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.train.curve import RunCurve
    from core.train.follow import RunFollower
    from core.train.gpu import GpuSampler
    from core.train.launch import LaunchRequest, RunPlan
    from core.train.runs import RunRecord

STATUS_STYLE = {
    "running": "green", "starting": "green", "stopping": "yellow", "finished": "cyan",
    "stopped": "yellow", "failed": "red", "lost": "red",
}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class TrainScreen(Screen[None]):
    """Launch, watch, stop, resume and compare ms-swift runs."""

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
        self.follower: RunFollower | None = None
        self.sampler: GpuSampler | None = None
        self.last_swift_memory: float | None = None
        self.last_gpu: GpuUpdated | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="run-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="run-detail"):
                yield LossPlot(id="loss-plot")
                yield Static("select a run, or press n to start one", id="run-metrics", markup=False)
                with Horizontal(id="run-progress-row"):
                    yield ProgressBar(id="run-progress", show_eta=False, show_percentage=True)
                    yield Static("", id="run-progress-text", markup=False)
                with Horizontal(id="run-bottom"):
                    yield GpuPane("reading GPUs…", id="gpu-pane", markup=False)
                    yield Log(id="run-log", max_lines=2000, highlight=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = mode_title("Train")
        table = self.query_one("#run-table", DataTable)
        table.add_columns("run", "status", "step", "loss")
        self.refresh_runs()
        self.set_interval(2.0, self.refresh_runs)
        self.set_interval(0.5, self.poll_selected)
        self.start_gpu_sampler()

    def on_unmount(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()

    # --- background work -----------------------------------------------------------------------

    def start_gpu_sampler(self) -> None:
        from core.train.gpu import GpuSampler, map_processes_to_runs
        from core.train.runs import active_runs

        def on_sample(report: object) -> None:
            from core.train.gpu import GpuReport

            assert isinstance(report, GpuReport) and self.sampler is not None
            pids = [process.pid for gpu in report.gpus for process in gpu.processes]
            run_of_pid = map_processes_to_runs(pids, active_runs(self.records)) if pids else {}
            self.post_message(GpuUpdated(report, self.sampler.history, run_of_pid))

        self.sampler = GpuSampler(interval=1.0, on_sample=on_sample)
        self.sampler.start()

    @work(thread=True, exclusive=True, group="train-runs")
    def refresh_runs(self) -> None:
        from core.train.runs import list_runs

        self.post_message(RunsListed(list_runs(self.workspace)))

    @work(thread=True, exclusive=True, group="train-tail")
    def poll_selected(self) -> None:
        from core.train.follow import RunFollower
        from core.train.runs import get_run

        run_id = self.selected_id
        if run_id is None:
            return
        reset = self.follower is None or self.follower.record.id != run_id
        if reset:
            self.follower = RunFollower(self.workspace, get_run(self.workspace, run_id))
        assert self.follower is not None
        update = self.follower.poll()
        if update.changed or reset:
            self.post_message(RunTailed(run_id, update.curve, update.new_lines, update.progress_line, reset))

    # --- messages ------------------------------------------------------------------------------

    def on_runs_listed(self, message: RunsListed) -> None:
        self.records = list(message.records)
        table = self.query_one("#run-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for record in self.records:
            mark = "★ " if record.id in self.marked else ""
            loss = f"{record.last_loss:.3f}" if record.last_loss is not None else "–"
            node = f" ·n{record.node_rank}" if record.nnodes > 1 else ""
            table.add_row(
                Text((mark + record.id[16:] if len(record.id) > 16 else mark + record.id) + node),
                Text(record.status, style=STATUS_STYLE.get(record.status, "")),
                record.progress_text,
                loss,
                key=record.id,
            )
        if self.records:
            index = next((i for i, r in enumerate(self.records) if r.id == self.selected_id), min(cursor, len(self.records) - 1))
            table.move_cursor(row=max(index, 0))
            self.select(self.records[max(index, 0)].id)
        self.show_record_state()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "run-table" and event.row_key.value:
            self.select(str(event.row_key.value))

    def select(self, run_id: str) -> None:
        if run_id != self.selected_id:
            self.selected_id = run_id
            self.query_one("#run-log", Log).clear()
            self.poll_selected()
            self.show_record_state()

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

    def selected(self) -> RunRecord | None:
        return next((r for r in self.records if r.id == self.selected_id), None)

    def on_run_tailed(self, message: RunTailed) -> None:
        if message.run_id != self.selected_id:
            return
        log = self.query_one("#run-log", Log)
        if message.reset:
            log.clear()
        if message.new_lines:
            log.write_lines(message.new_lines)
        self.show_curve(message.curve, message.progress_line)

    def on_gpu_updated(self, message: GpuUpdated) -> None:
        self.last_gpu = message
        self.query_one("#gpu-pane", GpuPane).show(
            message.report, message.history, message.run_of_pid, self.last_swift_memory
        )

    def on_action_finished(self, message: ActionFinished) -> None:
        if message.error:
            self.notify(message.error, title=message.action, severity="error", timeout=12)
        else:
            self.notify(message.detail, title=message.action)
        if message.run_id:
            self.selected_id = message.run_id
        self.refresh_runs()

    # --- rendering -----------------------------------------------------------------------------

    def show_record_state(self) -> None:
        record = self.selected()
        if record is None:
            return
        if record.status in {"failed", "lost"} and record.diagnosis:
            diagnosis = record.diagnosis
            text = Text(f"✗ {diagnosis.get('summary', record.status)}\nFix: {diagnosis.get('fix', '')}", style="red")
            self.query_one("#run-metrics", Static).update(text)

    def show_curve(self, curve: RunCurve, progress_line: str) -> None:
        record = self.selected()
        series = [Series("train", curve.train_points)]
        if curve.eval_points:
            series.append(Series("eval", curve.eval_points))
        title = f"loss — {record.name}" if record else "loss"
        if record is not None and record.node_label:
            title += f" ({record.node_label})"
        self.query_one("#loss-plot", LossPlot).show(series, title)
        latest = curve.latest
        metrics = Text()
        if record is not None and record.node_note:  # a worker node: no curve of its own, not a stalled run
            metrics.append(record.node_note, style="yellow")
        if latest is not None:
            for label, value in (
                ("loss", latest.loss), ("lr", latest.learning_rate), ("grad", latest.grad_norm),
                ("acc", latest.token_acc), ("epoch", latest.epoch),
            ):
                if value is not None:
                    metrics.append(f"{label} ", style="dim")
                    metrics.append(f"{value:.4g}  ")
            if latest.memory_gib is not None:
                self.last_swift_memory = latest.memory_gib
                metrics.append("mem ", style="dim")
                metrics.append(f"{latest.memory_gib:.2f} GiB")
        if curve.latest_eval is not None and curve.latest_eval.eval_loss is not None:
            metrics.append("  eval ", style="dim")
            metrics.append(f"{curve.latest_eval.eval_loss:.4g}")
        if record is not None and record.status in {"failed", "lost"} and record.diagnosis:
            metrics.append(f"\n✗ {record.diagnosis.get('summary')} Fix: {record.diagnosis.get('fix')}", style="red")
        if metrics:
            self.query_one("#run-metrics", Static).update(metrics)
        bar = self.query_one("#run-progress", ProgressBar)
        step = latest.step if latest else None
        total = curve.max_steps
        if total:
            bar.update(total=total, progress=step or 0)
        parts = [f"{step or 0}/{total or '?'}"]
        if latest is not None:
            parts.append(f"elapsed {format_duration(latest.elapsed_s)}")
            parts.append(f"ETA {format_duration(latest.remaining_s)}")
            if latest.seconds_per_it:
                parts.append(f"{latest.seconds_per_it:.2f} s/it")
        self.query_one("#run-progress-text", Static).update("  ".join(parts))
        if self.last_gpu is not None:
            self.on_gpu_updated(self.last_gpu)

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
