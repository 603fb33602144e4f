"""The Train screen's right side: the followed run's loss plot, figures, progress, the GPUs and its log.

The pane follows one run by itself: every 0.5 s a thread worker reads what the run's
files gained (:class:`core.train.follow.RunFollower`) and posts it back as a
:class:`RunTailed`; the figures are written by :mod:`core.train.progress`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Log, ProgressBar, Static

from tui.messages import GpuUpdated, RunTailed
from tui.train.gpu_pane import GpuPane
from tui.train.loss_plot import LossPlot, Series

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.train.curve import RunCurve
    from core.train.follow import RunFollower
    from core.train.runs import RunRecord

POLL_S = 0.5


class RunDetail(Vertical):
    """One run's live panes; :meth:`follow` says which run, :meth:`show_gpu` brings each GPU sample."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.record: RunRecord | None = None
        self.follower: RunFollower | None = None
        self.last_swift_memory: float | None = None
        """swift's own memory figure, shown beside NVML's in the GPU pane."""
        self.last_gpu: GpuUpdated | None = None

    def compose(self) -> ComposeResult:
        yield LossPlot(id="loss-plot")
        yield Static("select a run, or press n to start one", id="run-metrics", markup=False)
        with Horizontal(id="run-progress-row"):
            yield ProgressBar(id="run-progress", show_eta=False, show_percentage=True)
            yield Static("", id="run-progress-text", markup=False)
        with Horizontal(id="run-bottom"):
            yield GpuPane("reading GPUs…", id="gpu-pane", markup=False)
            yield Log(id="run-log", max_lines=2000, highlight=False)

    def on_mount(self) -> None:
        self.set_interval(POLL_S, self.poll)

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

    def follow(self, record: RunRecord | None) -> None:
        """Show ``record`` (None: follow nothing). Another run starts from an empty log; the same one refreshes."""
        changed = record is not None and (self.record is None or record.id != self.record.id)
        self.record = record
        if changed:
            self.query_one("#run-log", Log).clear()
            self.poll()
        self.show_failure()

    @work(thread=True, exclusive=True, group="train-tail")
    def poll(self) -> None:
        from core.train.follow import RunFollower

        record = self.record
        if record is None:
            return
        reset = self.follower is None or self.follower.record.id != record.id
        if reset:
            self.follower = RunFollower(self.workspace, record)
        assert self.follower is not None
        update = self.follower.poll()
        if update.changed or reset:
            self.post_message(RunTailed(record.id, update.curve, update.new_lines, update.progress_line, reset))

    def on_run_tailed(self, message: RunTailed) -> None:
        message.stop()
        if self.record is None or message.run_id != self.record.id:
            return
        log = self.query_one("#run-log", Log)
        if message.reset:
            log.clear()
        if message.new_lines:
            log.write_lines(message.new_lines)
        self.show_curve(message.curve)

    def show_gpu(self, message: GpuUpdated) -> None:
        self.last_gpu = message
        self.query_one("#gpu-pane", GpuPane).show(
            message.report, message.history, message.run_of_pid, self.last_swift_memory
        )

    def show_failure(self) -> None:
        from core.train.progress import failure_text

        failure = failure_text(self.record) if self.record is not None else None
        if failure is not None:
            self.query_one("#run-metrics", Static).update(Text(failure, style="red"))

    def show_curve(self, curve: RunCurve) -> None:
        from core.train.progress import failure_text, latest_figures, progress_summary

        record = self.record
        series = [Series("train", curve.train_points)]
        if curve.eval_points:
            series.append(Series("eval", curve.eval_points))
        title = f"loss — {record.name}" if record else "loss"
        if record is not None and record.node_label:
            title += f" ({record.node_label})"
        self.query_one("#loss-plot", LossPlot).show(series, title)
        metrics = Text()
        if record is not None and record.node_note:
            # swift writes logging.jsonl on rank 0 only: say where the curve is instead of an empty plot.
            metrics.append(record.node_note, style="yellow")
        for label, value in latest_figures(curve):
            metrics.append(f"{'  ' if metrics else ''}{label} ", style="dim")
            metrics.append(value)
        failure = failure_text(record) if record is not None else None
        if failure is not None:
            metrics.append(("\n" if metrics else "") + failure, style="red")
        if metrics:
            self.query_one("#run-metrics", Static).update(metrics)
        latest = curve.latest
        if latest is not None and latest.memory_gib is not None:
            self.last_swift_memory = latest.memory_gib
        if curve.max_steps:
            self.query_one("#run-progress", ProgressBar).update(
                total=curve.max_steps, progress=(latest.step if latest else None) or 0)
        self.query_one("#run-progress-text", Static).update(progress_summary(curve))
        if self.last_gpu is not None:
            self.show_gpu(self.last_gpu)
