"""The Models mode's moves on the selected model: merge, convert, quantise, serve, chat, parity, add, stop.

Each move runs its slow part in a thread worker (:meth:`ModelActions.perform`), which
starts a detached job or server through :mod:`core.models.jobs` and :mod:`core.models.serving`
and reports an :class:`~tui.messages.ActionFinished`; the subclass
(:class:`~tui.models.screen.ModelsScreen`) keeps the widgets and rereads the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import work
from textual.screen import Screen

from tui.messages import ActionFinished

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.models import ModelEntry
    from core.models.jobs import Job
    from core.models.serving import ServerRecord

QUANTS = ("Q8_0", "Q5_K_M", "Q4_K_M")


class ModelActions(Screen[None]):
    """The catalog as last read, the selected model in it, and every key's move on that model."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[ModelEntry] = []
        self.jobs: list[Job] = []
        self.servers: list[ServerRecord] = []
        self.selected_id: str | None = None

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

    def read_catalog(self, discover: bool = False) -> None:
        """Reread the catalog after a move (the subclass reads it in a worker)."""
        raise NotImplementedError

    # --- the selection -------------------------------------------------------------------------

    def selected(self) -> ModelEntry | None:
        return next((entry for entry in self.entries if entry.id == self.selected_id), None)

    def server_of(self, model_id: str) -> ServerRecord | None:
        return next((s for s in self.servers if s.active and model_id in s.model_ids), None)

    def job_of(self, model_id: str | None) -> Job | None:
        """The newest job that made or works on the model."""
        if model_id is None:
            return None
        return next((job for job in self.jobs if model_id in (job.source_id, job.result_model_id)), None)

    def require(self, *kinds: str) -> ModelEntry | None:
        entry = self.selected()
        if entry is None or (kinds and entry.kind not in kinds):
            self.notify(f"Select a {' or '.join(kinds)} model first.", severity="warning")
            return None
        return entry

    # --- running a move ------------------------------------------------------------------------

    @work(thread=True, group="models-action")
    def perform(self, title: str, call: Callable[[], str]) -> None:
        """Run a slow action off the event loop; ``call`` returns what to tell the user."""
        from core.base.errors import MhbenchError

        try:
            self.post_message(ActionFinished(title, call()))
        except MhbenchError as error:
            self.post_message(ActionFinished(title, "", str(error)))

    def on_action_finished(self, message: ActionFinished) -> None:
        if message.error:
            self.notify(message.error, title=message.action, severity="error", timeout=15)
        elif message.detail:
            self.notify(message.detail, title=message.action, timeout=8)
        self.read_catalog()

    # --- the moves -----------------------------------------------------------------------------

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


    def action_stop_job(self) -> None:
        from core.models.jobs import stop_job

        job = self.job_of(self.selected_id)
        if job is None or not job.active:
            self.notify("No job is running on the selected model.", severity="warning")
            return
        self.perform("Stop job", lambda: f"job {stop_job(self.workspace, job.id).id} stopped")
