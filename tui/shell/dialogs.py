"""Small modal questions shared by the modes: yes/no, one choice from a list, a line of text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static


class Confirm(ModalScreen[bool]):
    """A yes/no question: y answers yes, n or Esc no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "yes", "Yes", id="confirm.yes"),
        Binding("n,escape", "no", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, yes: str = "yes", no: str = "no") -> None:
        super().__init__()
        self.question = question
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(f"{self.question}\n\ny: {self.yes_label}    n / Esc: {self.no_label}", markup=False)

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class Choose(ModalScreen[str | None]):
    """One of a few options: arrows and Enter, or Esc for none."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="choose.cancel")]

    def __init__(self, title: str, options: Sequence[str], initial: int = 0) -> None:
        super().__init__()
        self.title_text = title
        self.options = list(options)
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(id="choose-box"):
            yield Static(self.title_text, markup=False)
            yield OptionList(*self.options, id="choose-list")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = min(self.initial, len(self.options) - 1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.options[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskText(ModalScreen[str | None]):
    """A line of text (a path, a name): Enter gives it, Esc gives none."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="ask.cancel")]

    def __init__(self, prompt: str, placeholder: str = "") -> None:
        super().__init__()
        self.prompt = prompt
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box"):
            yield Static(self.prompt, markup=False)
            yield Input(placeholder=self.placeholder, id="ask-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
