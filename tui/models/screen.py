"""Models mode: the catalog with lineage and sizes; merge, convert, quantise, serve, parity, chat.

Merges, conversions and servers are detached processes (see :mod:`core.models.jobs` and
:mod:`core.models.serving`); this screen starts them and watches the registry on a timer
from a thread worker, so it can quit at any moment and a second TUI sees the same.
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
from textual.widgets import DataTable, Footer, Header, Log, Static

from core.base.tail import TextTail
from core.models.catalog import format_size
from tui.messages import ActionFinished, CatalogRead
from tui.models.detail import KIND_STYLE, activity, model_detail, short_id
from tui.modes import mode_title

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.models import ModelEntry
    from core.models.jobs import Job
    from core.models.serving import ServerRecord

QUANTS = ("Q8_0", "Q5_K_M", "Q4_K_M")


class ModelsScreen(Screen[None]):
    """Every model that can be chatted with, where it came from, and the work on it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "merge", "Merge", id="models.merge"),
        Binding("g", "convert", "GGUF", id="models.convert"),
        Binding("q", "quantize", "Quantise", id="models.quantize"),
        Binding("s", "serve", "Serve", id="models.serve"),
        Binding("x", "stop_server", "Stop srv", id="models.stop_server"),
        Binding("c", "chat", "Chat", id="models.chat"),
        Binding("p", "parity", "Parity", id="models.parity"),
        Binding("a", "add", "Add", show=False, id="models.add"),
        Binding("r", "discover", "Rescan", show=False, id="models.discover"),
        Binding("k", "stop_job", "Stop job", show=False, id="models.stop_job"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[ModelEntry] = []
        self.jobs: list[Job] = []
        self.servers: list[ServerRecord] = []
        self.progress: dict[str, str] = {}
        """Job id → its newest progress line, read by the worker."""
        self.selected_id: str | None = None
        self.job_log: tuple[str, TextTail] | None = None
        """The job whose log the pane shows, and the tail of that log; touched by the worker only."""

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

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
        self.query_one("#model-table", DataTable).add_columns("model", "kind", "size", "")
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

    @work(thread=True, group="models-action")
    def perform(self, title: str, call: Callable[[], str]) -> None:
        """Run a slow action off the event loop; ``call`` returns what to tell the user."""
        from core.base.errors import MhbenchError

        try:
            self.post_message(ActionFinished(title, call()))
        except MhbenchError as error:
            self.post_message(ActionFinished(title, "", str(error)))

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
                Text(short_id(entry.id), style="red strike" if entry.missing else ""),
                Text(entry.kind, style=KIND_STYLE.get(entry.kind, "")),
                Text(format_size(entry.size_bytes), justify="right"),
                Text("●", style="green" if server.ready else "yellow") if server else "",
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

    def on_action_finished(self, message: ActionFinished) -> None:
        if message.error:
            self.notify(message.error, title=message.action, severity="error", timeout=15)
        elif message.detail:
            self.notify(message.detail, title=message.action, timeout=8)
        self.read_catalog()

    # --- rendering -----------------------------------------------------------------------------

    def selected(self) -> ModelEntry | None:
        return next((entry for entry in self.entries if entry.id == self.selected_id), None)

    def server_of(self, model_id: str) -> ServerRecord | None:
        return next((s for s in self.servers if s.active and model_id in s.model_ids), None)

    def job_of(self, model_id: str | None) -> Job | None:
        """The newest job that made or works on the model."""
        if model_id is None:
            return None
        return next((job for job in self.jobs if model_id in (job.source_id, job.result_model_id)), None)

    def show_detail(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        self.query_one("#model-lineage", Static).update(model_detail(entry, self.entries, self.server_of(entry.id)))
        self.show_activity()

    def show_activity(self) -> None:
        self.query_one("#model-activity", Static).update(activity(self.jobs, self.servers, self.progress))

    # --- actions -------------------------------------------------------------------------------

    def require(self, *kinds: str) -> ModelEntry | None:
        entry = self.selected()
        if entry is None or (kinds and entry.kind not in kinds):
            self.notify(f"Select a {' or '.join(kinds)} model first.", severity="warning")
            return None
        return entry

    def action_merge(self) -> None:
        from core.models.jobs import merge

        entry = self.require("adapter")
        if entry is not None:
            self.perform("Merge", lambda: f"merging {entry.id}: job {merge(self.workspace, entry.id).id}")

    def action_convert(self) -> None:
        from core.models.jobs import convert_to_gguf

        entry = self.require("merged", "base")
        if entry is not None:
            self.perform("GGUF", lambda: f"converting {entry.id}: job {convert_to_gguf(self.workspace, entry.id).id}")

    def action_quantize(self) -> None:
        from core.models.jobs import quantize
        from tui.shell.dialogs import Choose

        entry = self.require("gguf")
        if entry is None:
            return

        def chosen(quant: str | None) -> None:
            if quant is not None:
                self.perform("Quantise",
                             lambda: f"quantising to {quant}: job {quantize(self.workspace, entry.id, quant).id}")

        self.app.push_screen(Choose(f"Quantise {entry.id} to:", QUANTS), chosen)

    def action_serve(self) -> None:
        entry = self.require()
        if entry is not None:
            self.serve_checked(entry.id, then_chat=False)

    def action_chat(self) -> None:
        entry = self.require()
        if entry is not None:
            self.serve_checked(entry.id, then_chat=True)

    @work(thread=True, group="models-action")
    def serve_checked(self, model_id: str, then_chat: bool) -> None:
        """Ask first when the model may not fit the free GPU memory."""
        from core.base.errors import MhbenchError
        from core.models.targets import memory_warnings

        try:
            warnings = memory_warnings(self.workspace, [model_id])
        except MhbenchError as error:
            self.post_message(ActionFinished("Serve", "", str(error)))
            return
        self.app.call_from_thread(self.confirm_serve, model_id, then_chat, warnings)

    def confirm_serve(self, model_id: str, then_chat: bool, warnings: list[str]) -> None:
        from tui.shell.dialogs import Confirm

        def go(yes: bool | None = True) -> None:
            if not yes:
                return
            if then_chat:
                from tui.models.chat import ChatScreen

                self.app.push_screen(ChatScreen(model_id))
            else:
                self.start_server(model_id)

        if warnings:
            self.app.push_screen(Confirm("\n".join(warnings) + "\n\nStart it anyway?", "start", "cancel"), go)
        else:
            go()

    def start_server(self, model_id: str) -> None:
        from core.models.targets import connect_models

        self.notify(f"Starting or reusing a server for {model_id}…")

        def call() -> str:
            (target,) = connect_models(self.workspace, [model_id])
            return f"{model_id} is served at {target.base_url} (model {target.model})"

        self.perform("Serve", call)

    def action_stop_server(self) -> None:
        from core.models.serving import stop_server

        entry = self.selected()
        server = self.server_of(entry.id) if entry else None
        if server is None:
            self.notify("The selected model has no server running.", severity="warning")
            return

        def call() -> str:
            stopped = stop_server(self.workspace, server.id)
            return f"server {stopped.id} {stopped.status}"

        self.perform("Stop server", call)

    def action_parity(self) -> None:
        entry = self.require("gguf", "merged", "base", "adapter")
        if entry is None:
            return
        self.notify(f"Checking the chat template of {entry.id} against its source…")

        def call() -> str:
            import json
            import subprocess
            import sys

            from core.base.errors import MhbenchError

            # In a child: llama.cpp writes to file descriptor 2, under the TUI's feet.
            done = subprocess.run(
                [sys.executable, "-m", "tui.cli", "-w", str(self.workspace.root), "parity", entry.id, "--json"],
                capture_output=True, text=True, timeout=600,
            )
            try:
                verdict = json.loads(done.stdout)
            except ValueError:
                lines = [line for line in done.stderr.splitlines() if line.startswith("mhbench:")]
                raise MhbenchError((lines or ["the parity check failed"])[-1].removeprefix("mhbench: error: "),
                                   fix="see `mhbench parity " + entry.id + "`.") from None
            if verdict["passed"]:
                return f"{entry.id}: the same prompt as {'its source' if entry.kind == 'gguf' else 'its template'}."
            raise MhbenchError(f"{entry.id}: parity FAILED: {verdict['difference']}",
                               fix="do not use it in the arena before fixing the template (see F1).")

        self.perform("Parity", call)

    def action_add(self) -> None:
        from core.models import discover
        from tui.shell.dialogs import AskText

        def given(path: str | None) -> None:
            if path:
                def call() -> str:
                    found = discover(self.workspace, [path])
                    return ", ".join(f"{e.kind} {e.id}" for e in found) or f"nothing new found at {path}"

                self.perform("Add", call)

        self.app.push_screen(AskText("Model folder, adapter checkpoint or GGUF file to register:",
                                     "/path/to/model"), given)

    def action_discover(self) -> None:
        self.read_catalog(discover=True)

    def action_stop_job(self) -> None:
        from core.models.jobs import stop_job

        job = self.job_of(self.selected_id)
        if job is None or not job.active:
            self.notify("No job is running on the selected model.", severity="warning")
            return
        self.perform("Stop job", lambda: f"job {stop_job(self.workspace, job.id).id} stopped")
