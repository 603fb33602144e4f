"""The mhbench app: one mode per step of the path, a Footer everywhere, F1 help, the palette."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from tui.shell.heap import freeze_heap
from tui.shell.help import HelpScreen
from tui.shell.toasts import keep_toasts_whole
from tui.train.profiles import ProfilesScreen

if TYPE_CHECKING:
    from core.base.workspace import Workspace


def train_screen() -> Screen[None]:
    """Imported on first use: the plot library and the Train widgets stay off the start-up path."""
    from tui.train.runs import TrainScreen

    return TrainScreen()


def models_screen() -> Screen[None]:
    """Imported on first use, like Train."""
    from tui.models.screen import ModelsScreen

    return ModelsScreen()


def arena_screen() -> Screen[None]:
    """Imported on first use, like Train."""
    from tui.arena.screen import ArenaScreen

    return ArenaScreen()


def results_screen() -> Screen[None]:
    """Imported on first use, like Train."""
    from tui.results.screen import ResultsScreen

    return ResultsScreen()


MODE_KEYS = {"profiles": "f2", "train": "f3", "models": "f4", "arena": "f5", "results": "f6"}


class MhbenchApp(App[None]):
    """Keyboard-driven workbench over one workspace."""

    TITLE = "mhbench"
    CSS_PATH = "app.tcss"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[None]]]] = {
        "profiles": ProfilesScreen,
        "train": train_screen,
        "models": models_screen,
        "arena": arena_screen,
        "results": results_screen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="app.help"),
        Binding("f2", "switch_mode('profiles')", "Profiles", show=False, id="app.mode.profiles"),
        Binding("f3", "switch_mode('train')", "Train", show=False, id="app.mode.train"),
        Binding("f4", "switch_mode('models')", "Models", show=False, id="app.mode.models"),
        Binding("f5", "switch_mode('arena')", "Arena", show=False, id="app.mode.arena"),
        Binding("f6", "switch_mode('results')", "Results", show=False, id="app.mode.results"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(
        self,
        workspace: Workspace,
        rater: str | None = None,
        *,
        keymap: Mapping[str, str] | None = None,
        theme: str | None = None,
    ) -> None:
        """``keymap`` and ``theme`` come from config.toml, checked by ``tui.shell.keymap.check_config``."""
        keep_toasts_whole()
        super().__init__()
        self.workspace = workspace
        self.rater = rater
        """``--rater`` (or the config's ``default_rater``): the arena's rater id; else the workspace's last one."""
        self.sub_title = str(workspace.root)
        self.user_keymap: dict[str, str] = dict(keymap or {})
        """Binding id → keys, as config.toml moved them; Textual applies it to every screen's bindings."""
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
        if theme:
            self.theme = theme

    DEFAULT_MODE = "profiles"

    def on_mount(self) -> None:
        self.set_timer(2.0, freeze_heap)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications carry paths, server messages and model names: never read them as markup."""
        from core.base.text import strip_control

        super().notify(strip_control(message), title=strip_control(title), severity=severity, timeout=timeout,
                       markup=False)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[None]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, default in MODE_KEYS.items():
            key = self.user_keymap.get(f"app.mode.{mode}", default).split(",")[0]
            title = mode.capitalize()
            yield SystemCommand(f"Go to {title}", f"Switch to the {title} mode ({key.upper()})",
                                lambda mode=mode: self.switch_mode(mode))
        help_key = self.user_keymap.get("app.help", "f1").split(",")[0]
        yield SystemCommand("Help", f"Show the keys ({help_key.upper()})", self.action_help)
