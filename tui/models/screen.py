"""Models mode: the catalog with lineage and sizes; merge, convert, quantise, serve, parity, chat.

Merges, conversions and servers are detached processes (see :mod:`core.models.jobs` and
:mod:`core.models.serving`); this screen starts them and watches the registry on a timer
from a thread worker, so it can quit at any moment and a second TUI sees the same. The
table's rows are keyed by model id and updated in place, so a refresh never moves the
cursor. The screen owns the keys' moves on the highlighted model
(:class:`~tui.models.actions.ModelActions`, given the screen as its host).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Log, Static

from core.base.tail import TextTail
from core.models.catalog import format_size
from tui.messages import ActionFinished, CatalogRead
from tui.models.actions import ModelActions
from tui.models.detail import KIND_STYLE, activity, model_detail, short_id
from tui.modes import mode_title

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.models import ModelEntry
    from core.models.jobs import Job
    from core.models.serving import ServerRecord

# The server dot first: at 80 columns a long model id pushed it out of view.
COLUMNS = ("server", "model", "kind", "size")


class ModelsScreen(Screen[None]):
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
        self.entries: list[ModelEntry] = []
        self.jobs: list[Job] = []
        self.servers: list[ServerRecord] = []
        self.selected_id: str | None = None
        """The highlighted model as last drawn (the worker reads it; a key reads the table's cursor)."""
        self.actions = ModelActions(self)
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
        table = self.query_one("#model-table", DataTable)
        for column in COLUMNS:
            table.add_column("" if column == "server" else column, key=column)
        self.read_catalog(discover=True)
        self.set_interval(2.0, self.read_catalog)

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

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
        self.show_rows()
        if not self.entries:
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

    def show_rows(self) -> None:
        """Update the rows in place; rebuild only when models came or went (the cursor stays on its model)."""
        table = self.query_one("#model-table", DataTable)
        if [row.key.value for row in table.ordered_rows] == [entry.id for entry in self.entries]:
            for entry in self.entries:
                for column, cell in zip(COLUMNS, self.cells(entry), strict=True):
                    table.update_cell(entry.id, column, cell)
        else:
            keep, cursor = self.highlighted_id(), table.cursor_row
            table.clear()
            for entry in self.entries:
                table.add_row(*self.cells(entry), key=entry.id)
            if self.entries:
                index = next((i for i, e in enumerate(self.entries) if e.id == keep),
                             min(cursor, len(self.entries) - 1))
                table.move_cursor(row=max(index, 0))
        self.selected_id = self.highlighted_id()

    def cells(self, entry: ModelEntry) -> tuple[Text | str, Text, Text, Text]:
        """The row of ``entry``, in :data:`COLUMNS` order."""
        server = self.server_of(entry.id)
        return (Text("●", style="green" if server.ready else "yellow") if server else "",
                Text(short_id(entry.id), style="red strike" if entry.missing else ""),
                Text(entry.kind, style=KIND_STYLE.get(entry.kind, "")),
                Text(format_size(entry.size_bytes), justify="right"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self.selected_id:
            self.selected_id = str(event.row_key.value)
            self.show_detail()
            self.read_catalog()

    # --- the selection -------------------------------------------------------------------------

    def highlighted_id(self) -> str | None:
        """The model under the table's cursor now (a key acts on it even before the highlight event lands)."""
        if self.is_mounted:
            table = self.query_one("#model-table", DataTable)
            if table.row_count:
                value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
                return str(value) if value is not None else None
        return self.selected_id

    def selected(self) -> ModelEntry | None:
        model_id = self.highlighted_id()
        return next((entry for entry in self.entries if entry.id == model_id), None)

    def server_of(self, model_id: str) -> ServerRecord | None:
        return next((s for s in self.servers if s.active and model_id in s.model_ids), None)

    def job_of(self, model_id: str | None) -> Job | None:
        """The newest job that made or works on the model."""
        if model_id is None:
            return None
        return next((job for job in self.jobs if model_id in (job.source_id, job.result_model_id)), None)

    # --- rendering -----------------------------------------------------------------------------

    def show_detail(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        self.query_one("#model-lineage", Static).update(model_detail(entry, self.entries, self.server_of(entry.id)))
        self.show_activity()

    def show_activity(self) -> None:
        self.query_one("#model-activity", Static).update(activity(self.jobs, self.servers, self.progress))

    # --- the keys: the moves on the highlighted model ------------------------------------------

    def action_discover(self) -> None:
        self.read_catalog(discover=True)

    def on_action_finished(self, message: ActionFinished) -> None:
        if message.error:
            self.notify(message.error, title=message.action, severity="error", timeout=15)
        elif message.detail:
            self.notify(message.detail, title=message.action, timeout=8)
        self.read_catalog()

    def action_merge(self) -> None:
        self.actions.merge()

    def action_convert(self) -> None:
        self.actions.convert()

    def action_quantize(self) -> None:
        self.actions.quantize()

    def action_serve(self) -> None:
        self.actions.serve()

    def action_stop_server(self) -> None:
        self.actions.stop_server()

    def action_chat(self) -> None:
        self.actions.chat()

    def action_parity(self) -> None:
        self.actions.parity()

    def action_add(self) -> None:
        self.actions.add()

    def action_stop_job(self) -> None:
        self.actions.stop_job()

