"""The rater mode: one rater's sessions, the Arena and the rubric help; nothing of the operator's.

:class:`RaterApp` is its own small app, not the workbench with keys hidden: it has no
modes, imports none of the operator screens (Profiles, Train, Models, Results), no
export, delete or server control, and its command palette offers only its own
commands. Every question it asks of the workspace goes through one
:class:`~core.arena.door.RaterDoor`, bound to one rater once and for all: by
``--rater`` (or the rater id asked) in a terminal, by the token in a browser tab.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from core.base.i18n import DEFAULT_LANGUAGE, N_, tr, use_language
from tui.rater.language import speak_bindings
from tui.shell.toasts import keep_toasts_whole

if TYPE_CHECKING:
    from core.arena.door import RaterDoor
    from core.base.workspace import Workspace

DOORS = {"terminal": N_("terminal"), "browser": N_("browser")}
"""The doors a rater comes through, as the subtitle names them."""
TEXTUAL_TEXTS = (N_("palette"), N_("Open the command palette"))
"""Textual's own words on a rater's screen (the command palette's key in the footer)."""


def rater_keys() -> str:
    """The rating keys the operator's Arena has too, and the rater mode's own, in the active language."""
    from tui.arena.help import RATING_KEY_LINES

    return "\n" + tr("Keys") + "\n" + tr(RATING_KEY_LINES) + tr(
        "  !           report a broken answer (empty, cut off, not Chinese, garbled…): the item is set aside\n"
        "  o           back to your sessions             F1 this help        Ctrl+Q quit\n"
        "  Every key has a button too: click a score, safe / unsafe, a preference, then Save and Next.\n")


class RaterApp(App[None]):
    """One rater in one workspace: their sessions and the Arena, from the keyboard."""

    TITLE = N_("mhbench · rater")
    CSS_PATH: ClassVar[list[str | PurePath]] = ["../app.tcss", "rater.tcss"]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "rubric_help", N_("Rubric"), id="rater.help"),
        Binding("ctrl+l", "switch_language", N_("中文"), id="rater.language"),
        Binding("ctrl+q", "quit", N_("Quit"), id="rater.quit", priority=True),
    ]

    def __init__(self, workspace: Workspace, rater: str | None = None, *, session: str | None = None,
                 source: str = "terminal", token_required: bool = False, language: str | None = None,
                 keymap: Mapping[str, str] | None = None, theme: str | None = None) -> None:
        keep_toasts_whole()  # the raters read Chinese notices: no half characters at a widget's edge
        # Before any screen or binding is made: they are drawn in the language active when they are.
        use_language(language or DEFAULT_LANGUAGE)
        super().__init__()
        self.language_chosen = language if source == "terminal" else None
        """The rater's own choice (``mhbench rate --lang`` typed in their terminal, or Ctrl+L), remembered for them
        once bound. A browser tab's ``--lang`` is the operator's default for every tab: it holds until the rater
        is known, then their remembered choice wins, and it is never saved as theirs."""
        self.written_bindings = speak_bindings(self)
        self.title = tr(self.TITLE)
        self.workspace = workspace
        self.initial_rater = None if token_required else rater
        self.initial_session = session
        self.source = source
        self.token_required = token_required
        self.door: RaterDoor | None = None
        """Set once, by :meth:`bind`: every later query is this rater's."""
        if keymap:
            self.set_keymap(dict(keymap))
        if theme:
            self.theme = theme

    @property
    def rater(self) -> str | None:
        """The bound rater (the Arena screen reads it)."""
        return self.door.rater if self.door else None

    def on_mount(self) -> None:
        from core.base.errors import MhbenchError
        from tui.rater.sessions import RaterSessions, StartScreen
        from tui.rater.token import TokenScreen

        self.sub_title = tr("rater")
        if self.token_required:
            self.push_screen(TokenScreen())
        elif self.initial_rater:
            try:
                self.bind_rater(self.initial_rater)
            except MhbenchError as error:  # revoked: refused here too, and asked who rates
                self.notify(str(error), severity="error", timeout=15)
                self.push_screen(StartScreen())
                return
            self.push_screen(RaterSessions(self.initial_session))
        else:
            self.push_screen(StartScreen())

    def bind_rater(self, rater: str) -> RaterDoor:
        """Bind the app to ``rater``, once: a second, different rater is refused."""
        from core.arena.door import RaterDoor
        from core.arena.raters import rater_language, refuse_revoked, set_rater_language
        from core.base.errors import MhbenchError

        if self.door is not None:
            if self.door.rater != rater:
                raise MhbenchError(tr("this window rates as '{rater}'.").format(rater=self.door.rater),
                                   fix=tr("open another one to switch."))
            return self.door
        refuse_revoked(self.workspace, rater)
        self.door = RaterDoor(self.workspace, rater, self.source)
        remembered = rater_language(self.workspace, rater)
        if self.language_chosen:
            set_rater_language(self.workspace, rater, self.language_chosen)
        elif remembered:
            self.speak(remembered)
        self.sub_title = tr("rater {rater} · {door}").format(rater=rater, door=tr(DOORS.get(self.source, self.source)))
        return self.door

    def speak(self, language: str) -> None:
        """Draw every later screen in ``language`` (the screens shown so far keep theirs)."""
        use_language(language)
        speak_bindings(self, self.written_bindings)
        self.title = tr(self.TITLE)

    def action_switch_language(self) -> None:
        """中文 ⇄ English (Ctrl+L): remembered for this rater, and the screen is drawn again in it."""
        from core.arena.raters import set_rater_language
        from core.base.i18n import active_language

        language = "en" if active_language() == "zh" else "zh"
        self.language_chosen = language
        self.speak(language)
        from tui.rater.sessions import RaterSessions
        from tui.rater.token import TokenScreen

        while len(self.screen_stack) > 2:
            self.pop_screen()
        if self.door is None:
            if isinstance(self.screen, TokenScreen):
                self.switch_screen(TokenScreen())
            return
        set_rater_language(self.workspace, self.door.rater, language)
        self.sub_title = tr("rater {rater} · {door}").format(rater=self.door.rater, door=tr(DOORS.get(self.source, self.source)))
        self.switch_screen(RaterSessions())

    def on_unmount(self) -> None:
        if self.door is not None:
            self.door.close()
        use_language("en")  # the process's other apps (the operator's, in tests) speak English

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications can carry server messages: never read them as markup. An error's fix keeps its word."""
        from core.base.text import strip_control

        message = message.replace(" Fix: ", " " + tr("Fix:") + " ")
        super().notify(strip_control(message), title=strip_control(title), severity=severity, timeout=timeout,
                       markup=False)

    def action_rubric_help(self) -> None:
        from core.arena.rubric import DEFAULT_RUBRIC
        from tui.arena.help import RubricHelp

        if isinstance(self.screen, RubricHelp):
            return
        controller = getattr(self.screen, "controller", None)
        rubric = controller.rubric if controller is not None else DEFAULT_RUBRIC
        self.push_screen(RubricHelp(f"{tr(rubric.title)}\n\n{rubric.shown_text()}\n{rater_keys()}"))

    def action_my_sessions(self) -> None:
        from tui.rater.sessions import RaterSessions

        if self.door is None:
            return
        while len(self.screen_stack) > 1 and not isinstance(self.screen, RaterSessions):
            self.pop_screen()
        if not isinstance(self.screen, RaterSessions):
            self.push_screen(RaterSessions())

    def get_system_commands(self, screen: Screen[None]) -> Iterable[SystemCommand]:
        """Only the rater's own commands: none of Textual's defaults (no screenshot onto the server's disk)."""
        if self.door is not None:
            yield SystemCommand(tr("My sessions"), tr("Back to the list of your sessions"), self.action_my_sessions)
        yield SystemCommand(tr("Rubric help"), tr("The rubric and the rating keys (F1)"), self.action_rubric_help)
        yield SystemCommand(tr("Quit"), tr("Leave the rater mode (Ctrl+Q); every saved rating stays"), self.action_quit)
