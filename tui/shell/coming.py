"""Placeholder for a mode whose issue has not landed yet."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui.modes import mode_title


class ComingScreen(Screen[None]):
    """Says what the mode will do, so the shell is complete from day one."""

    def __init__(self, title: str, blurb: str) -> None:
        super().__init__()
        self.mode_title = title
        self.blurb = blurb

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(f"{self.mode_title}: coming.\n\n{self.blurb}", classes="coming", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = mode_title(self.mode_title)
