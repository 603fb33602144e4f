"""Models mode: the catalog with lineage and sizes; merge, convert, quantise, serve, parity, chat.

Merges, conversions and servers are detached processes (see :mod:`core.models.jobs` and
:mod:`core.models.serving`); this screen starts them and watches the registry on a timer
from a thread worker, so it can quit at any moment and a second TUI sees the same. The
keys' moves on the selected model are :mod:`tui.models.actions`.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Log, Static

from core.base.tail import TextTail
from core.models.catalog import format_size
from tui.messages import CatalogRead
from tui.models.actions import ModelActions
from tui.models.detail import KIND_STYLE, activity, model_detail, short_id
from tui.modes import mode_title


class ModelsScreen(ModelActions):
    """Every model that can be chatted with, where it came from, and the work on it (the moves: ModelActions)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "merge", "Merge", id="models.merge"),
        Binding("g", "convert", "GGUF", id="models.convert"),
        Binding("q", "quantize", "Quantise", id="models.quantize"),
        Binding("s", "serve", "Serve", id="models.serve"),
        Binding("x", "stop_server", "Stop srv", id="models.stop_server"),
        Binding("c", "chat", "Chat", id="models.chat"),
        Binding("p", "parity", "Parity", id="models.parity"),
        Binding("a", "add", "Add", show=False, id="models.add"),
        Binding("r", "discover", "Rescan", id="models.discover"),
        Binding("k", "stop_job", "Stop job", show=False, id="models.stop_job"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.progress: dict[str, str] = {}
        """Job id → its newest progress line, read by the worker."""
        self.job_log: tuple[str, TextTail] | None = None
        """The job whose log the pane shows, and the tail of that log; touched by the worker only."""

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield DataTable(id="model-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="model-detail"):
                yield Static("reading the catalog…", id="model-lineage", markup=False)
                yield Static("", id="model-activity", markup=False)
                yield Log(id="model-job-log", max_lines=500, highlight=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = mode_title("Models")
        # The server dot first: at 80 columns a long model id pushed it out of view.
        self.query_one("#model-table", DataTable).add_columns("", "model", "kind", "size")
        self.read_catalog(discover=True)
        self.set_interval(2.0, self.read_catalog)

    # --- background work -----------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="models-read")
    def read_catalog(self, discover: bool = False) -> None:
        from core.base.errors import MhbenchError
        from core.models import list_models
        from core.models.jobs import list_jobs
        from core.models.serving import list_servers

        note = None
        if discover:
            from core.models.targets import sync_catalog

            try:
                found = sync_catalog(self.workspace)
                note = f"registered {len(found)} new model(s)" if found else None
            except MhbenchError as error:
                note = str(error)
        else:
            from core.models.discovery import register_ended_runs

            ended = register_ended_runs(self.workspace)
            note = f"registered {len(ended)} checkpoint(s) of finished runs" if ended else None
        log_tail = self.read_job_log()
        jobs = list_jobs(self.workspace)
        # Read here, in the worker: a progress line is the tail of a log file.
        progress = {job.id: job.progress_text() for job in jobs if job.active}
        self.post_message(CatalogRead(list_models(self.workspace), jobs, list_servers(self.workspace), log_tail,
                                      note, progress))

    def read_job_log(self) -> tuple[str, list[str], bool] | None:
        """New lines of the log of the selected model's newest job: (job id, lines, reset)."""
        job = self.job_of(self.selected_id)
        if job is None:
            return None
        if self.job_log is not None and self.job_log[0] == job.id:
            tail, reset = self.job_log[1], False
        else:
            tail, reset = TextTail(job.stdout_path, max_lines=1), True  # the Log widget keeps the history
            self.job_log = job.id, tail
        # At most a megabyte a read: a long log catches up over a few ticks instead of stalling one.
        return job.id, tail.poll(max_bytes=1 << 20), reset

    # --- messages ------------------------------------------------------------------------------

    def on_catalog_read(self, message: CatalogRead) -> None:
        self.entries, self.jobs, self.servers = list(message.entries), list(message.jobs), list(message.servers)
        self.progress = dict(message.progress)
        if message.note:
            self.notify(message.note, title="Catalog")
        table = self.query_one("#model-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for entry in self.entries:
            server = self.server_of(entry.id)
            table.add_row(
                Text("●", style="green" if server.ready else "yellow") if server else "",
                Text(short_id(entry.id), style="red strike" if entry.missing else ""),
                Text(entry.kind, style=KIND_STYLE.get(entry.kind, "")),
                Text(format_size(entry.size_bytes), justify="right"),
                key=entry.id,
            )
        if self.entries:
            index = next((i for i, e in enumerate(self.entries) if e.id == self.selected_id),
                         min(cursor, len(self.entries) - 1))
            table.move_cursor(row=max(index, 0))
            self.selected_id = self.entries[max(index, 0)].id
        else:
            self.query_one("#model-lineage", Static).update(
                "The catalog is empty.\n\nTrain a run (F3), press a to add a model folder or GGUF file, "
                "or r to scan runs/ and models/."
            )
        self.show_detail()
        if message.log_tail is not None:
            job_id, lines, reset = message.log_tail
            log = self.query_one("#model-job-log", Log)
            if reset:
                log.clear()
                log.write_line(f"── log of job {job_id}")
            log.write_lines(lines)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self.selected_id:
            self.selected_id = str(event.row_key.value)
            self.show_detail()
            self.read_catalog()

    # --- rendering -----------------------------------------------------------------------------

    def show_detail(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        self.query_one("#model-lineage", Static).update(model_detail(entry, self.entries, self.server_of(entry.id)))
        self.show_activity()

    def show_activity(self) -> None:
        self.query_one("#model-activity", Static).update(activity(self.jobs, self.servers, self.progress))

    def action_discover(self) -> None:
        self.read_catalog(discover=True)

