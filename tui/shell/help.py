"""F1 help: the keys of the app and of the current screen."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.arena.help import ARENA_KEY_LINES

HELP_TEXT = """\
mhbench — keys work over SSH: letters, digits, F1–F10, Ctrl, arrows.

Modes
  F2  Profiles   model profiles, parameters, expected VRAM, dry-run command
  F3  Train      ms-swift LoRA runs with live loss and GPU panes
  F4  Models     catalog, merge, GGUF, servers
  F5  Arena      blind side-by-side A/B rating
  F6  Results    leaderboard, agreement, exports

Everywhere
  F1        this help            Ctrl+P   command palette
  Tab       next pane            Ctrl+Q   quit (runs and servers keep going)

Profiles
  ↑/↓       choose a profile     c        check the command against the installed ms-swift
  r         reload the files     y        copy the dry-run command

Train
  n  new run (form → confirm with the exact command)    s  stop (checkpoint first)
  u  resume from the last checkpoint (a new, linked run)  d  delete (asks first)
  Space  mark a run      o  compare the marked runs' loss curves on one plot
  Runs are detached: quit the app (Ctrl+Q) and they go on; reopen to re-attach.
  In the form: Tab moves between fields, Ctrl+S reviews, Esc cancels; blank = profile's value.

Models
  m  merge the selected adapter into its base (swift export)   g  convert to an f16 GGUF
  q  quantise the selected GGUF (Q8_0, Q5_K_M, Q4_K_M)          p  chat-template parity check
  s  start (or reuse) a server for it    x  stop its server    c  chat with it
  a  add a folder or GGUF file    r  rescan runs/ and models/    k  stop the selected model's job
  Jobs and servers are detached: another TUI (a second rater) reuses a running server.
  In a chat: Enter sends, Esc stops the answer (or closes), Ctrl+L starts over.

Arena (there, F1 shows the session's rubric with these keys)
""" + ARENA_KEY_LINES + """
Results
  1 2 3 4   cycle the rater / session / tag / model filter    0  clear the filters
  t         next tab: leaderboard, matrix, chart, stats, judges  c  next chart (BT, each dimension, unsafe %)
  r         recompute now (it also refreshes every 10 s)      e  export ratings, comparisons, battles
  j         pool the LLM judges' ratings with the humans' (off by default; the Judges tab compares them)
  g         start an LLM judge on a session's stored answers (choose the model and the orders)
  Current ratings only; every turn counts. Exports go to <workspace>/exports/ (rater and session filters).
  The "stop:" line says whether the top model is separated from the second at 95% (Bradley–Terry
  intervals apart) and roughly how many more ratings that needs.

Profiles are TOML files: shipped ones in profiles/, your own in <workspace>/profiles/.
A workspace profile with the same name replaces a shipped one; `extends = "name"`
starts from another profile and overrides only the keys it sets.
"""


class HelpScreen(ModalScreen[None]):
    """A modal with the key map; Esc, F1 or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("f1", "dismiss", "Close", show=False, id="help.close_f1"),
        Binding("q", "dismiss", "Close", show=False, id="help.close_q"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(HELP_TEXT + moved_keys_text(getattr(self.app, "user_keymap", {})), markup=False,
                         id="help-text")


def moved_keys_text(keymap: dict[str, str]) -> str:
    """The keys that config.toml moved: the text above names the defaults, this names the user's own."""
    if not keymap:
        return ""
    width = max(len(binding_id) for binding_id in keymap)
    lines = [f"  {binding_id:<{width}}  {keys}" for binding_id, keys in sorted(keymap.items())]
    return "\nMoved by your config.toml (`mhbench config --show` lists every binding):\n" + "\n".join(lines) + "\n"
