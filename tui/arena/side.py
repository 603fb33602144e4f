"""One blind side of the arena: its title, its transcript, and the worker that fetches its answer.

The worker drives :func:`core.arena.answers.obtain_answer` (the stored answer, else a live
stream, stored when complete) and hands the result to the controller; the text is drawn
as it streams. Each side has its own worker, so both answers stream at once.

The line under an answer says how fast it came only where the names are shown: each model
has its own speed, so a speed line would name the side as surely as a title.
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

from core.base.i18n import tr
from tui.widgets.chat_pane import ChatPane, safe_text

if TYPE_CHECKING:
    from core.arena.answers import PendingAnswer
    from core.arena.controller import ArenaController, SideView
    from core.arena.rubric import Side
    from core.arena.sessions import Response
    from core.models.targets import ChatTarget


class ArenaSide(Vertical):
    """Side A or B; ids ``title-<side>``, ``pane-<side>`` and ``stats-<side>`` inside."""

    def __init__(self, side: Side, label: str, *, show_speed: bool = True) -> None:
        super().__init__(classes="arena-side")
        self.side, self.label = side, label
        self.show_speed = show_speed
        """Speed, first-token time and tokens may show once the names are revealed (never in the rater mode)."""
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

    def speed_shown(self, controller: ArenaController) -> bool:
        return self.show_speed and controller.revealed

    def show_stats(self, controller: ArenaController) -> None:
        """Redraw the line under a finished answer (the names were just revealed, or the item redrawn)."""
        response = controller.responses[self.side]
        if response is not None and not self.fetching:
            self.stats.update(describe_response(response, speed=self.speed_shown(controller)))

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
        # The operator regenerates a broken answer; a rater has no r and reports it instead.
        again = tr("r regenerates") if controller.may_regenerate else tr("! reports it")

        def generating() -> None:
            nonlocal live
            live = True
            pane.begin_answer()
            stats.update(safe_text(tr("waiting for the model…"), "dim"))

        try:
            response = await obtain_answer(controller.answers, pending, target_for=target_for,
                                           on_generating=generating, on_text=pane.append)
        except MhbenchError as error:  # the server failed, or there is none
            if not live:
                pane.begin_answer()
            pane.end_answer(f"✗ {error}", "red")
            stats.update(safe_text(tr("✗ failed: {again}").format(again=again), "red"))
            return
        except asyncio.CancelledError:
            # Cancelled by a move to another item or turn, the panes are already the new one's: leave them be.
            if live and self.pending is pending:
                pane.end_answer(tr("(stopped: {again})").format(again=again), "yellow")
                stats.update(safe_text(tr("stopped"), "yellow"))
            raise
        if live:
            pane.end_answer()
            if response.text != pending.text:  # another rater stored theirs first: everyone reads the same
                pane.replace_answer(response.text)
        else:
            self.show_answer(response.text)
        if controller.answers.accept(pending, response):  # the rater may have moved on meanwhile
            stats.update(describe_response(response, speed=self.speed_shown(controller)))


def describe_response(response: Response, *, speed: bool = True) -> Text:
    """The line under an answer: with ``speed``, its tokens, first-token time, rate and generation defects."""
    from core.models.client import speed_summary

    parts = [speed_summary(response.tokens, response.ttft_s, response.tokens_per_s)] if speed else []
    if response.generation:
        parts.append(f"regenerated ×{response.generation}")
    text = Text(" · ".join(parts), style="dim")
    if speed and response.defects:
        # A defect belongs to a model family (Qwen's <|endoftext|>): a tell, so only beside the names.
        text.append(f"  ⚠ {', '.join(response.defects)} removed", style="yellow")
    if response.flags:
        text.append(f"  ⚠ names {', '.join(response.flags)}", style="bold yellow")
    return text
