"""The Models mode's moves on the selected model: merge, convert, quantise, serve, chat, parity, add, stop.

:class:`ModelActions` is owned by :class:`~tui.models.screen.ModelsScreen` and given the
screen as its host (:class:`ModelsHost`): each move reads the model highlighted at the
moment of the key, runs its slow part in a thread worker (:meth:`ModelActions.perform`),
which starts a detached job or server through :mod:`core.models.jobs` and
:mod:`core.models.serving` and posts an :class:`~tui.messages.ActionFinished` to the
screen, which tells the user and rereads the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from core.base.errors import MhbenchError
from tui.messages import ActionFinished

if TYPE_CHECKING:
    from textual.app import App
    from textual.message import Message
    from textual.notifications import SeverityLevel
    from textual.worker import Worker

    from core.base.workspace import Workspace
    from core.models import ModelEntry
    from core.models.jobs import Job
    from core.models.serving import ServerRecord

QUANTS = ("Q8_0", "Q5_K_M", "Q4_K_M")


class ModelsHost(Protocol):
    """What the moves need of the Models screen: the highlighted model, its server and job, and a worker."""

    @property
    def app(self) -> App[Any]: ...

    @property
    def workspace(self) -> Workspace: ...

    def selected(self) -> ModelEntry | None: ...

    def server_of(self, model_id: str) -> ServerRecord | None: ...

    def job_of(self, model_id: str | None) -> Job | None: ...

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    def post_message(self, message: Message) -> bool: ...

    def run_worker(self, work: Callable[[], Any], name: str | None = "", group: str = "default",
                   description: str = "", exit_on_error: bool = True, start: bool = True,
                   exclusive: bool = False, thread: bool = False) -> Worker[Any]: ...


class ModelActions:
    """Every key's move on the highlighted model."""

    def __init__(self, host: ModelsHost) -> None:
        self.host = host

    @property
    def app(self) -> App[Any]:
        return self.host.app

    @property
    def workspace(self) -> Workspace:
        return self.host.workspace

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information") -> None:
        self.host.notify(message, title=title, severity=severity)

    def require(self, *kinds: str) -> ModelEntry | None:
        entry = self.host.selected()
        if entry is None or (kinds and entry.kind not in kinds):
            self.notify(f"Select a {' or '.join(kinds)} model first.", severity="warning")
            return None
        return entry

    # --- running a move ------------------------------------------------------------------------

    def perform(self, title: str, call: Callable[[], str]) -> None:
        """Run a slow action off the event loop; ``call`` returns what to tell the user."""
        self.host.run_worker(partial(self.finish, title, call), group="models-action", thread=True)

    def finish(self, title: str, call: Callable[[], str]) -> None:
        try:
            self.host.post_message(ActionFinished(title, call()))
        except MhbenchError as error:
            self.host.post_message(ActionFinished(title, "", str(error)))

    # --- the moves -----------------------------------------------------------------------------

    def merge(self) -> None:
        from core.models.jobs import merge

        entry = self.require("adapter")
        if entry is not None:
            self.perform("Merge", lambda: f"merging {entry.id}: job {merge(self.workspace, entry.id).id}")

    def convert(self) -> None:
        from core.models.jobs import convert_to_gguf

        entry = self.require("merged", "base")
        if entry is not None:
            self.perform("GGUF", lambda: f"converting {entry.id}: job {convert_to_gguf(self.workspace, entry.id).id}")

    def quantize(self) -> None:
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

    def serve(self) -> None:
        entry = self.require()
        if entry is not None:
            self.serve_checked(entry.id, then_chat=False)

    def chat(self) -> None:
        entry = self.require()
        if entry is not None:
            self.serve_checked(entry.id, then_chat=True)

    def serve_checked(self, model_id: str, then_chat: bool) -> None:
        self.host.run_worker(partial(self.check_memory, model_id, then_chat), group="models-action", thread=True)

    def check_memory(self, model_id: str, then_chat: bool) -> None:
        """In a thread: ask first when the model may not fit the free GPU memory."""
        from core.models.targets import memory_warnings

        try:
            warnings = memory_warnings(self.workspace, [model_id])
        except MhbenchError as error:
            self.host.post_message(ActionFinished("Serve", "", str(error)))
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

    def stop_server(self) -> None:
        from core.models.serving import stop_server

        entry = self.host.selected()
        server = self.host.server_of(entry.id) if entry else None
        if server is None:
            self.notify("The selected model has no server running.", severity="warning")
            return

        def call() -> str:
            stopped = stop_server(self.workspace, server.id)
            return f"server {stopped.id} {stopped.status}"

        self.perform("Stop server", call)

    def parity(self) -> None:
        entry = self.require("gguf", "merged", "base", "adapter")
        if entry is None:
            return
        self.notify(f"Checking the chat template of {entry.id} against its source…")

        def call() -> str:
            import json
            import subprocess
            import sys

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

    def add(self) -> None:
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

    def stop_job(self) -> None:
        from core.models.jobs import stop_job

        entry = self.host.selected()
        job = self.host.job_of(entry.id if entry else None)
        if job is None or not job.active:
            self.notify("No job is running on the selected model.", severity="warning")
            return
        self.perform("Stop job", lambda: f"job {stop_job(self.workspace, job.id).id} stopped")
