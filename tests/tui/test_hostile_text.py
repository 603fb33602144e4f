"""Untrusted text (model output, prompts, server errors) is shown verbatim and never drives the terminal."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from tui.widgets.chat_pane import ChatPane

HOSTILE = (
    "[bold red]not bold[/] [link=http://evil]click[/link] [/] "
    "\x1b[31mred\x1b[0m \x1b]52;c;ZXZpbA==\x07clipboard \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ "
    "\x9b2J \x07bell \u202eevil-rtl\u202c \x00nul "
    "=HYPERLINK(\"http://x\",\"y\") 😀👩‍👩‍👧 你好，世界，这是一段很长很长的中文，用来测试宽字符在八十列终端里的换行是否正确。"
    + "长" * 200
)
CONTROL = ["\x1b", "\x9b", "\x07", "\x00", "\u202e", "\u202c"]


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ChatPane(id="pane")


def _texts(pane: ChatPane) -> list[str]:
    return [str(child.render()) for child in pane.query(Static)]


async def test_markup_escapes_and_wide_text_render_verbatim_at_80x24() -> None:
    app = PaneApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(ChatPane)
        pane.add_user(HOSTILE)
        pane.begin_answer()
        for piece in (HOSTILE[i:i + 7] for i in range(0, len(HOSTILE), 7)):
            pane.append(piece)
        pane.end_answer("[b]note[/b] \x1b[2J")
        await pilot.pause()
        texts = _texts(pane)
        assert len(texts) == 3
        for text in texts[:2]:
            assert "[bold red]not bold[/]" in text and "[link=http://evil]click[/link]" in text
            assert "=HYPERLINK(" in text and "😀" in text and "你好，世界" in text
            assert "clipboard" in text and "evil-rtl" in text
            assert not any(control in text for control in CONTROL), repr(text)
        assert "[b]note[/b]" in texts[2] and "\x1b" not in texts[2]
        # Wide characters wrap inside the pane: no line is wider than the screen.
        for child in pane.query(Static):
            assert child.size.width <= 80


async def test_a_notification_with_markup_is_shown_as_text() -> None:
    from pathlib import Path

    from core.base.workspace import Workspace
    from tui.app import MhbenchApp

    app = MhbenchApp(Workspace(Path("/nonexistent-ws")))
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify("server said: [/] [bold]boom[/bold] \x1b[31m")  # an unbalanced [/] would raise as markup
        await pilot.pause()
        (notification,) = list(app._notifications)
        assert notification.markup is False and "[bold]boom[/bold]" in notification.message
        assert "\x1b" not in notification.message
