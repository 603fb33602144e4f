"""One blind side of the arena: its title, its transcript, and the worker that fetches its answer.

The worker drives :func:`core.arena.answers.obtain_answer` (the stored answer, else a live
stream, stored when complete) and hands the result to the controller; the text is drawn
as it streams. Each side has its own worker, so both answers stream at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual.worker import Worker

from tui.widgets.chat_pane import ChatPane, safe_text

if TYPE_CHECKING:
    from core.arena.answers import PendingAnswer
    from core.arena.controller import ArenaController, SideView
    from core.arena.rubric import Side
    from core.arena.sessions import Response
    from core.models.targets import ChatTarget


class ArenaSide(Vertical):
    """Side A or B; ids ``title-<side>``, ``pane-<side>`` and ``stats-<side>`` inside."""

    def __init__(self, side: Side, label: str) -> None:
        super().__init__(classes="arena-side")
        self.side, self.label = side, label
        self.stream: Worker[None] | None = None
        self.pending: PendingAnswer | None = None
        """The answer this side shows now: a worker for an older one (the rater moved on) draws nothing."""

    def compose(self) -> ComposeResult:
        yield Static(self.label, id=f"title-{self.side}", classes="arena-title", markup=False)
        yield ChatPane(id=f"pane-{self.side}")
        yield Static("", id=f"stats-{self.side}", classes="chat-status", markup=False)

    @property
    def pane(self) -> ChatPane:
        return self.query_one(ChatPane)

    @property
    def stats(self) -> Static:
        return self.query_one(f"#stats-{self.side}", Static)

    def show_title(self, title: str) -> None:
        self.query_one(f"#title-{self.side}", Static).update(safe_text(title, "bold"))

    def show_turns(self, view: SideView) -> None:
        """The conversation so far; the opening prompt is in the screen's header, not repeated here."""
        pane = self.pane
        pane.clear_transcript()
        self.stats.update("")
        for message in view.turns:
            if message["role"] == "user":
                pane.add_user(str(message["content"]))
            else:
                self.show_answer(str(message["content"]))

    def show_answer(self, text: str) -> None:
        self.pane.begin_answer()
        self.pane.append(text)
        self.pane.end_answer()

    @property
    def fetching(self) -> bool:
        """The answer is still on its way (not stopped, failed or done)."""
        return self.stream is not None and not self.stream.is_finished

    def fetch(self, controller: ArenaController, pending: PendingAnswer,
              target_for: Callable[[str], Awaitable[ChatTarget]]) -> None:
        self.stop()
        self.pending = pending
        self.stream = self.answer(controller, pending, target_for)

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.cancel()
            self.stream = None

    @work(group="arena-answer")
    async def answer(self, controller: ArenaController, pending: PendingAnswer,
                     target_for: Callable[[str], Awaitable[ChatTarget]]) -> None:
        from core.arena.answers import obtain_answer
        from core.base.errors import MhbenchError

        pane, stats = self.pane, self.stats
        live = False

        def generating() -> None:
            nonlocal live
            live = True
            pane.begin_answer()
            stats.update(safe_text("waiting for the model…", "dim"))

        try:
            response = await obtain_answer(controller.answers, pending, target_for=target_for,
                                           on_generating=generating, on_text=pane.append)
        except MhbenchError as error:  # the server failed, or there is none
            if not live:
                pane.begin_answer()
            pane.end_answer(f"✗ {error}", "red")
            stats.update(safe_text("✗ failed: r regenerates", "red"))
            return
        except asyncio.CancelledError:
            # Cancelled by a move to another item or turn, the panes are already the new one's: leave them be.
            if live and self.pending is pending:
                pane.end_answer("(stopped: r regenerates)", "yellow")
                stats.update(safe_text("stopped", "yellow"))
            raise
        if live:
            pane.end_answer()
            if response.text != pending.text:  # another rater stored theirs first: everyone reads the same
                pane.replace_answer(response.text)
        else:
            self.show_answer(response.text)
        if controller.answers.accept(pending, response):  # the rater may have moved on meanwhile
            stats.update(describe_response(response))


def describe_response(response: Response) -> Text:
    from core.models.client import speed_summary

    text = Text(speed_summary(response.tokens, response.ttft_s, response.tokens_per_s), style="dim")
    if response.generation:
        text.append(f" · regenerated ×{response.generation}")
    if response.flags:
        text.append(f"  ⚠ names {', '.join(response.flags)}", style="bold yellow")
    return text
