"""The Results mode's judges and stopping rule: the Judges tab, the ``stop:`` line, and ``g`` to start a judge.

The Judges tab shows each LLM judge's agreement with the humans beside the humans' with
each other; its numbers come from :func:`core.results.compute_calibration`, computed in a
thread worker whenever the Results screen redraws; this module only draws them and asks,
through dialogs, what to judge (the job itself is :func:`core.arena.judge.runner.start_judge`).
Judge and rater names are user text: shown as plain text.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from tui.results.hbars import clip

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.results import Calibration, Results
    from core.results.calibration import PairAgreement


def _pct(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.0f}%"


def _alpha(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def _row(label: str, a: PairAgreement, dim: bool = False) -> Text:
    within = "" if a.within_one is None else f"  ±1 {_pct(a.within_one):>4}"
    return Text(f"  {clip(label, 16):<16} α {_alpha(a.alpha):>5}  exact {_pct(a.exact):>4}{within}  n={a.pairs}\n",
                style="dim" if dim or not a.pairs else "")


def calibration_view(calibration: Calibration) -> Text:
    """The Judges tab's text, in short lines for 80 columns."""
    out = Text()
    if not calibration.judges and not calibration.unmatched:
        out.append("No LLM judge has rated yet.\n", style="bold")
        out.append("mhbench judge SESSION --model M [--both-orders] rates the stored answers; its ratings show here "
                   "beside the humans' and stay out of the leaderboard unless j includes them.")
        return out
    for judge in calibration.judges:
        s, c = judge.summary, judge.summary.consistency
        out.append(f"{clip(judge.judge, 44)}", style="bold")
        out.append(f"  {judge.rubric}, {judge.items} items shared with humans\n", style="dim")
        out.append(f"  {s.asked} asked · {s.parsed} parsed · ")
        out.append(f"{s.failed} parse failures", style="red" if s.failed else "")
        out.append(" · position consistency " if c.pairs else " · consistency ")
        out.append(f"{_pct(c.rate)} ({c.agree}/{c.pairs})\n" if c.pairs else "– (needs --both-orders)\n",
                   style="" if c.pairs else "dim")
        for d in (*judge.dimensions, *([judge.safety] if judge.safety else []), judge.preference):
            out.append(f" {d.dimension}\n", style="bold")
            out.append_text(_row("judge–human", d.judge_human))
            out.append_text(_row("human–human", d.human_human))
            for h in d.per_human:
                row = _row(f"vs {h.human}", h.judge, dim=True)
                row.rstrip()
                row.append(f"  ({clip(h.human, 8)}–others α {_alpha(h.others.alpha)})\n", style="dim")
                out.append_text(row)
        for reason, count in list(s.failures.items())[:3]:
            out.append(f"  ×{count} {reason}\n", style="red")
        out.append("\n")
    for s in calibration.unmatched:
        out.append(f"{clip(s.judge, 44)}", style="bold")
        out.append(f"  {s.asked} asked · {s.parsed} parsed · {s.failed} parse failures; no item shared with a human\n")
        for reason, count in list(s.failures.items())[:3]:
            out.append(f"  ×{count} {reason}\n", style="red")
    for kind, judges in calibration.per_kind.items():
        out.append(f"{kind} items only (5 filters by kind)\n", style="bold")
        for judge in judges:
            out.append_text(_row(f"{clip(judge.judge, 30)}", judge.preference.judge_human))
    out.rstrip()
    return out


def stopping_view(results: Results) -> Text:
    """The stopping rule's verdict on the current data, one line under the status, and any contamination warning
    (a model trained on the prompts it is scored on) below it."""
    from core.results import stopping_text

    stop = results.stopping
    if not results.ratings or stop.second is None:
        return Text("")
    line = Text("stop: " + stopping_text(stop), style="green" if stop.separated else "yellow")
    for warning in results.contamination:
        line.append("\ncontamination: " + warning, style="bold red")
    return line


JUDGE_MODES = ("shown order only", "both orders (position consistency)",
               "both orders, reply constrained to the JSON schema")


def start_judge_dialogs(screen: Screen[None], workspace: Workspace, session: str | None) -> None:
    """``g`` in Results: choose the session (unless filtered to one), the judge model and the mode, then start the
    detached judge job. Reads the catalog in a thread; the dialogs run on the UI thread."""

    def read() -> None:
        from core.arena.sessions import list_sessions
        from core.models import list_models

        sessions = [s.id for s in list_sessions(workspace)]
        models = [m.id for m in list_models(workspace) if not m.missing]
        screen.app.call_from_thread(ask, sessions, models)

    def ask(sessions: list[str], models: list[str]) -> None:
        from tui.shell.dialogs import Choose

        if not sessions or not models:
            screen.notify("a judge needs a session with stored answers and a catalog model.", title="Judge",
                          severity="warning")
            return

        def with_session(chosen: str | None) -> None:
            if chosen is not None:
                screen.app.push_screen(Choose(f"Judge session {chosen} with:", models),
                                       lambda model: with_model(chosen, model))

        def with_model(chosen: str, model: str | None) -> None:
            def with_mode(mode: str | None) -> None:
                if mode is not None and model is not None:
                    start(chosen, model, JUDGE_MODES.index(mode))

            if model is not None:
                screen.app.push_screen(Choose(f"Judge {chosen} with {model}:", JUDGE_MODES), with_mode)

        if session is not None:
            with_session(session)
        else:
            screen.app.push_screen(Choose("Judge which session (stored answers only)?", sessions), with_session)

    def start(chosen: str, model: str, mode: int) -> None:
        screen.run_worker(lambda: launch(chosen, model, mode), thread=True, group="results-judge")

    def launch(chosen: str, model: str, mode: int) -> None:
        from core.arena.judge.runner import start_judge
        from core.base.errors import MhbenchError

        try:
            job = start_judge(workspace, chosen, model, both_orders=mode > 0, constrain=mode == 2)
        except MhbenchError as error:
            screen.app.call_from_thread(screen.notify, str(error), title="Judge", severity="error", timeout=15)
            return
        screen.app.call_from_thread(screen.notify, f"job {job.id} started; the Judges tab shows its results "
                                    f"(log: {job.stdout_path})", title="Judge", timeout=10)

    screen.run_worker(read, thread=True, group="results-judge")


class CalibrationPane(VerticalScroll):
    """The Judges tab: recomputed in a thread when asked, drawn on the UI thread."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("reading the judges…", id="results-judges", markup=False)

    def recompute(self, workspace: Workspace, session: str | None, kind: str | None = None) -> None:
        self.compute(workspace, session, kind)

    @work(thread=True, exclusive=True, group="results-calibration")
    def compute(self, workspace: Workspace, session: str | None, kind: str | None) -> None:
        import sqlite3

        from core.base.errors import MhbenchError
        from core.results import compute_calibration

        try:
            text = calibration_view(compute_calibration(workspace, session=session, kind=kind))
        except (MhbenchError, sqlite3.Error, OSError) as error:
            text = Text(f"cannot compute the calibration: {error}", style="red")
        self.app.call_from_thread(self.query_one("#results-judges", Static).update, text)
