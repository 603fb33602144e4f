"""A dialogue item on screen: two whole transcripts side by side, turn-aligned, scrolled together or apart.

Row *i* is client turn *i* and each side's counsellor answer to it. After the opening each side's
client answers its own counsellor, so each column shows its own client lines. Linked (the default),
the rows are one scrolling list whose two cells are drawn at the same height, so turn *i* of A is
always beside turn *i* of B; ``l`` unlinks them into two columns that scroll on their own (``w``
moves the keyboard's scrolling to the other column; the mouse wheel scrolls the one under it).
Every text is a model's: drawn verbatim, escapes stripped. The operator's Arena and the rater mode
both use this widget (:class:`~tui.arena.screen.ArenaScreen`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from core.base.i18n import N_, tr
from tui.widgets.chat_pane import safe_text

if TYPE_CHECKING:
    from core.arena.transcripts import Transcript, TranscriptTurn

SPEAKERS = {"client": N_("Client"), "counsellor": N_("Counsellor")}
SIDE_LABELS = ("A", "B")
ENDINGS = {"turns": N_("the turns ran out"), "resolved": N_("the client felt helped"),
           "client_stop": N_("the client ended it")}
"""Why a transcript ended, as a rater reads it; an error's own text is shown as stored."""


def cell_text(number: int, client: TranscriptTurn | None, answer: TranscriptTurn | None) -> Text:
    """One side's row: its client turn and its counsellor's answer (either may be missing at the end)."""
    text = Text()
    if client is not None:
        text.append(f"{number}. {tr(SPEAKERS['client'])}", style="bold cyan")
        if client.crisis:
            text.append(" ⚠", style="bold red")
        text.append("\n")
        text.append_text(safe_text(client.text))
    if answer is not None:
        text.append(f"\n{tr(SPEAKERS['counsellor'])}\n", style="bold green")
        text.append_text(safe_text(answer.text))
    return text


def end_of(transcript: Transcript | None) -> Text:
    """The line under a transcript: how many turns it has and why it ended (or that it is not there yet)."""
    if transcript is None:
        return Text(tr("not generated yet: `mhbench session generate` makes it"), style="italic")
    return Text(tr("— {turns} turns, ended: {ended} —").format(turns=transcript.counsellor_turns,
                                                                 ended=tr(ENDINGS.get(transcript.ended or "", transcript.ended or ""))), style="dim")


class DialogueView(Vertical):
    """Two transcripts, turn-aligned; ``l`` links or unlinks their scrolling, ``w`` switches the column."""

    DEFAULT_CSS = """
    DialogueView { height: 1fr; }
    DialogueView .dialogue-row { height: auto; }
    DialogueView .dialogue-cell { width: 1fr; height: auto; padding: 0 1 1 1; }
    DialogueView .dialogue-cell.left { border-right: vkey $secondary; }
    DialogueView #dialogue-columns { height: 1fr; }
    DialogueView .dialogue-column { width: 1fr; height: 1fr; }
    DialogueView .dialogue-column.left { border-right: vkey $secondary; }
    DialogueView #dialogue-note { height: auto; padding: 0 1; color: $text-muted; }
    DialogueView #dialogue-titles { height: auto; }
    DialogueView #dialogue-titles .dialogue-cell { padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "toggle_link", N_("Link/unlink scroll"), id="arena.dialogue_link"),
        Binding("w", "switch_column", N_("Other column"), show=False, id="arena.dialogue_column"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.linked = True
        self.transcripts: tuple[Transcript | None, Transcript | None] = (None, None)

    def compose(self) -> ComposeResult:
        yield Static("", id="dialogue-note", markup=False)
        with Horizontal(id="dialogue-titles"):
            yield Static("A", id="dialogue-title-left", classes="dialogue-cell left", markup=False)
            yield Static("B", id="dialogue-title-right", classes="dialogue-cell right", markup=False)
        yield VerticalScroll(id="dialogue-body")
        with Horizontal(id="dialogue-columns"):
            yield VerticalScroll(id="dialogue-left", classes="dialogue-column left")
            yield VerticalScroll(id="dialogue-right", classes="dialogue-column right")

    def on_mount(self) -> None:
        self.query_one("#dialogue-columns").display = False

    @property
    def body(self) -> VerticalScroll:
        return self.query_one("#dialogue-body", VerticalScroll)

    def show_titles(self, left: str, right: str) -> None:
        """Each side's title as the reveal policy lets it show (``A (hidden)`` until then)."""
        for name, title in (("left", left), ("right", right)):
            self.query_one(f"#dialogue-title-{name}", Static).update(safe_text(title, "bold"))

    def column(self, name: str) -> VerticalScroll:
        return self.query_one(f"#dialogue-{name}", VerticalScroll)

    def show_note(self) -> None:
        mode = (tr("linked: ↑↓ PgUp PgDn scroll both, l unlinks") if self.linked
                else tr("apart: ↑↓ scroll one column, w the other, l links"))
        self.query_one("#dialogue-note", Static).update(tr("whole sessions, turn by turn · {mode}").format(mode=mode))

    def show(self, left: Transcript | None, right: Transcript | None) -> None:
        """Draw the two transcripts (``None``: not generated yet), both ways; the scrolling mode picks one."""
        self.transcripts = (left, right)
        body = self.body
        body.remove_children()
        rows = [transcript.rows() if transcript else [] for transcript in self.transcripts]
        for index in range(max(len(rows[0]), len(rows[1]))):
            body.mount(Horizontal(*(Static(cell_text(index + 1, *side[index]) if index < len(side) else Text(),
                                           classes=f"dialogue-cell {name}")
                                    for side, name in zip(rows, ("left", "right"), strict=True)),
                                  classes="dialogue-row"))
        body.mount(Horizontal(*(Static(end_of(t), classes=f"dialogue-cell {name}")
                                for t, name in zip(self.transcripts, ("left", "right"), strict=True)),
                              classes="dialogue-row"))
        for transcript, side, name in zip(self.transcripts, rows, ("left", "right"), strict=True):
            column = self.column(name)
            column.remove_children()
            column.mount_all([*(Static(cell_text(number, client, answer), classes="dialogue-cell")
                                for number, (client, answer) in enumerate(side, 1)),
                              Static(end_of(transcript), classes="dialogue-cell")])
        self.show_mode()

    def show_mode(self) -> None:
        self.show_note()
        self.body.display = self.linked
        self.query_one("#dialogue-columns").display = not self.linked
        (self.body if self.linked else self.column("left")).focus()

    def action_toggle_link(self) -> None:
        self.linked = not self.linked
        self.show_mode()

    def action_switch_column(self) -> None:
        if not self.linked:
            self.column("right" if self.column("left").has_focus else "left").focus()
