"""A quick chat with one catalog model, to try it before it goes into the arena.

The model's server is reused when one is up (another TUI's, say), else started and
waited for in a thread worker; answers stream over HTTP in an async worker that Esc
cancels. The transcript keeps the history, so follow-ups are multi-turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker

from tui.messages import ChatConnected, ChatProgress
from tui.widgets.chat_pane import ChatPane, safe_text

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.models.client import Message
    from core.models.targets import ChatTarget


class ChatScreen(ModalScreen[None]):
    """Type, Enter sends; Esc stops an answer, or closes when none is streaming."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel_or_close", "Stop / close", id="chat.cancel"),
        Binding("ctrl+l", "clear", "New chat", id="chat.clear"),
    ]

    def __init__(self, model_id: str, system: str | None = None) -> None:
        super().__init__()
        self.model_id = model_id
        self.system = system
        self.target: ChatTarget | None = None
        self.history: list[Message] = []
        self.streaming: Worker[None] | None = None

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

    def compose(self) -> ComposeResult:
        with Vertical(id="chat-box"):
            yield Static(safe_text(f"chat with {self.model_id}"), id="chat-title")
            yield ChatPane(id="chat-pane")
            yield Static("connecting…", id="chat-status", classes="chat-status", markup=False)
            yield Input(placeholder="connecting to the model…", id="chat-input", disabled=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.connect()

    @work(thread=True, exclusive=True, group="chat-connect")
    def connect(self) -> None:
        from core.base.errors import MhbenchError
        from core.models.targets import connect_models

        try:
            def progress(text: str) -> None:
                self.post_message(ChatProgress(text))

            (target,) = connect_models(self.workspace, [self.model_id], progress=progress)
            self.post_message(ChatConnected(target))
        except MhbenchError as error:
            self.post_message(ChatConnected(None, str(error)))

    def on_chat_progress(self, message: ChatProgress) -> None:
        self.query_one("#chat-status", Static).update(safe_text(message.text))

    def on_chat_connected(self, message: ChatConnected) -> None:
        status = self.query_one("#chat-status", Static)
        if message.target is None:
            status.update(safe_text(f"✗ {message.error}", "red"))
            return
        self.target = message.target
        where = f"server {message.target.server_id}" if message.target.server_id else "endpoint"
        status.update(safe_text(f"ready: {message.target.base_url} ({where}); Enter sends, Esc stops or closes"))
        field = self.query_one("#chat-input", Input)
        field.disabled = False
        field.placeholder = "your message (Enter sends)"
        field.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or self.target is None or self.streaming is not None:
            return
        event.input.value = ""
        self.history.append({"role": "user", "content": text})
        pane = self.query_one(ChatPane)
        pane.add_user(text)
        pane.begin_answer()
        self.streaming = self.stream_answer()

    @work(exclusive=True, group="chat-stream")
    async def stream_answer(self) -> None:
        import asyncio
        from contextlib import aclosing

        from core.models.client import (
            ChatError,
            ChatRequest,
            GenerationParams,
            StreamStats,
            TextDelta,
            speed_summary,
            stream_chat,
        )

        assert self.target is not None
        pane = self.query_one(ChatPane)
        status = self.query_one("#chat-status", Static)
        request = ChatRequest(list(self.history), GenerationParams(), self.target.model, system=self.system)
        note, style = None, "dim"
        try:
            async with aclosing(stream_chat(self.target.base_url, request, api_key=self.target.api_key)) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        pane.append(event.text)
                    elif isinstance(event, StreamStats):
                        note = speed_summary(event.tokens, event.ttft_s, event.tokens_per_s, event.finish_reason)
        except ChatError as error:
            note, style = f"✗ {error}", "red"
        except asyncio.CancelledError:
            note, style = "(stopped)", "yellow"
            raise
        finally:
            answer = pane.answer
            if answer:
                self.history.append({"role": "assistant", "content": answer})
            else:
                self.history.pop()  # nothing came: the turn is not part of the conversation
            pane.end_answer(note, style)
            status.update(safe_text(note or "", style))
            self.streaming = None

    def action_cancel_or_close(self) -> None:
        if self.streaming is not None:
            self.streaming.cancel()
        else:
            self.dismiss(None)

    def action_clear(self) -> None:
        if self.streaming is None:
            self.history.clear()
            self.query_one(ChatPane).clear_transcript()
