"""Results mode: leaderboard, win matrix, a bar chart and the agreement figures, filtered from the keyboard.

Everything is computed by :func:`core.results.compute_results` in a thread worker; the
panes draw themselves (:mod:`tui.results.tables`, :mod:`~tui.results.chart`,
:mod:`~tui.results.figures`, :mod:`~tui.results.filter_bar`) and the exports are
:func:`core.results.export.export_all`'s. The screen recomputes when shown and every 10 s, but only when a rating was
submitted (or a filter changed) since the last time: a cheap version check comes first.
Model ids, rater names, session names and tags are user text: shown as plain text.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from tui.messages import ActionFinished, ResultsComputed
from tui.modes import mode_title
from tui.results.calibration import CalibrationPane, start_judge_dialogs, stopping_view
from tui.results.chart import MetricChart
from tui.results.figures import stats_text
from tui.results.filter_bar import FILTERS, FilterBar
from tui.results.tables import LeaderBoard, WinMatrix

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.results import FilterValues, Results

TABS = ("tab-board", "tab-matrix", "tab-chart", "tab-stats", "tab-judges")
FOCUS = {"tab-board": "#results-board", "tab-matrix": "#results-matrix", "tab-chart": "#results-chart-box",
         "tab-stats": "#results-stats-box", "tab-judges": "#results-judges-box"}
REFRESH_S = 10.0


class ResultsScreen(Screen[None]):
    """The numbers behind the arena: who is better, by how much, and how much raters agree."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "cycle('rater')", "Rater", id="results.filter_rater"),
        Binding("2", "cycle('session')", "Session", id="results.filter_session"),
        Binding("3", "cycle('tag')", "Tag", id="results.filter_tag"),
        Binding("4", "cycle('model')", "Model", id="results.filter_model"),
        Binding("5", "cycle('kind')", "Kind", show=False, id="results.filter_kind"),
        Binding("0", "clear_filters", "Clear", show=False, id="results.clear"),
        Binding("t", "next_tab", "Tab", id="results.next_tab"),
        Binding("c", "next_metric", "Chart", show=False, id="results.chart_metric"),
        Binding("r", "recompute", "Redo", show=False, id="results.recompute"),
        Binding("e", "export", "Export", id="results.export"),
        Binding("j", "toggle_judges", "Judges", show=False, id="results.include_judges"),
        Binding("g", "judge", "Judge", show=False, id="results.start_judge"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters: dict[str, str | None] = dict.fromkeys(FILTERS)
        self.results: Results | None = None
        self.computed: tuple[object, ...] | None = None
        self.metric = 0
        self.busy = False
        self.error: str | None = None

    @property
    def workspace(self) -> Workspace:
        return self.app.workspace  # type: ignore[attr-defined, no-any-return]

    stats_text = staticmethod(stats_text)
    """The Stats tab's text for some results (:func:`tui.results.figures.stats_text`), at hand on the screen."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar("", id="results-filters", markup=False)
        yield Static("reading the ratings…", id="results-status", markup=False)
        yield Static("", id="results-stopping", markup=False)
        with TabbedContent(id="results-tabs", initial="tab-board"):
            with TabPane("Leaderboard", id="tab-board"):
                yield LeaderBoard(id="results-board", cursor_type="row", zebra_stripes=True)
            with TabPane("Matrix", id="tab-matrix"):
                yield WinMatrix(id="results-matrix", cursor_type="row", zebra_stripes=True)
            with TabPane("Chart", id="tab-chart"), VerticalScroll(id="results-chart-box"):
                yield MetricChart(id="results-chart")
            with TabPane("Stats", id="tab-stats"), VerticalScroll(id="results-stats-box"):
                yield Static("", id="results-stats", markup=False)
            with TabPane("Judges", id="tab-judges"):
                yield CalibrationPane(id="results-judges-box")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = mode_title("Results")
        self.show_filters()
        self.set_interval(REFRESH_S, self.refresh_if_shown)

    def on_screen_resume(self) -> None:
        self.recompute()

    def refresh_if_shown(self) -> None:
        if self.is_current:
            self.recompute()

    # --- background work -----------------------------------------------------------------------

    def recompute(self, force: bool = False) -> None:
        self.busy = True
        self.show_status()
        self.compute(dict(self.filters), force)

    @work(thread=True, exclusive=True, group="results-compute")
    def compute(self, filters: dict[str, str | None], force: bool) -> None:
        import sqlite3

        from core.base.errors import MhbenchError
        from core.results import compute_results, data_version

        key: tuple[object, ...] = (None, tuple(filters.items()))
        try:
            key = (data_version(self.workspace), tuple(filters.items()))
            if not force and key == self.computed:
                self.post_message(ResultsComputed(None, filters, key, None, unchanged=True))
                return
            results = compute_results(self.workspace, rater=filters["rater"], session=filters["session"],
                                      tag=filters["tag"], model=filters["model"], kind=filters["kind"],
                                      include_judges=bool(filters.get("judges")))
        except MhbenchError as error:
            self.post_message(ResultsComputed(None, filters, key, str(error)))
            return
        except (sqlite3.Error, OSError) as error:
            problem = f"cannot read the ratings: {error}. Fix: check {self.workspace.db_path} is readable; r retries."
            self.post_message(ResultsComputed(None, filters, key, problem))
            return
        self.post_message(ResultsComputed(results, filters, key, None))

    def on_results_computed(self, message: ResultsComputed) -> None:
        if message.filters != self.filters:
            return  # a filter changed meanwhile; its own computation is on the way
        self.busy = False
        self.error = message.error
        if message.results is not None:
            self.results, self.computed = message.results, message.key
            self.draw()
        self.show_status()

    # --- actions -------------------------------------------------------------------------------

    def action_cycle(self, name: str) -> None:
        """Step the filter ``name`` through its values and back to "all"."""
        self.filters[name] = self.filter_values().after(name, self.filters[name])
        self.show_filters()
        self.recompute()

    def action_clear_filters(self) -> None:
        self.filters = dict.fromkeys(FILTERS)
        self.show_filters()
        self.recompute()

    def action_toggle_judges(self) -> None:
        """Pool the LLM judges' ratings with the humans' in the numbers (off: humans only)."""
        self.filters["judges"] = None if self.filters.get("judges") else "on"
        self.show_filters()
        self.recompute()

    def action_judge(self) -> None:
        """Start an LLM judge on the filtered session's stored answers (asks the session when unfiltered)."""
        start_judge_dialogs(self, self.workspace, self.filters["session"])

    def action_recompute(self) -> None:
        self.recompute(force=True)

    def action_next_tab(self) -> None:
        tabs = self.query_one("#results-tabs", TabbedContent)
        tabs.active = TABS[(TABS.index(tabs.active) + 1) % len(TABS)] if tabs.active in TABS else TABS[0]
        self.query_one(FOCUS[tabs.active]).focus()

    def action_next_metric(self) -> None:
        self.metric += 1
        self.draw_chart()
        self.query_one("#results-tabs", TabbedContent).active = "tab-chart"

    def action_export(self) -> None:
        if self.filters["tag"] or self.filters["model"]:
            self.notify("exports honour the rater and session filters only; the tag and model filters are ignored.",
                        title="Export", severity="warning")
        self.run_export(self.filters["rater"], self.filters["session"], bool(self.filters.get("judges")))

    @work(thread=True, group="results-export")
    def run_export(self, rater: str | None, session: str | None, include_judges: bool = False) -> None:
        from core.base.errors import MhbenchError
        from core.results.export import export_all

        try:
            written = export_all(self.workspace, rater=rater, session=session, include_judges=include_judges)
        except MhbenchError as error:
            self.post_message(ActionFinished("Export", "", str(error)))
            return
        files = ", ".join(f"{path.name} ({rows} rows)" for path, rows in written)
        self.post_message(ActionFinished("Export", f"wrote {files} to {self.workspace.exports_dir}"))

    def on_action_finished(self, message: ActionFinished) -> None:
        if message.error:
            self.notify(message.error, title=message.action, severity="error", timeout=15)
        else:
            self.notify(message.detail, title=message.action, timeout=10)

    # --- drawing -------------------------------------------------------------------------------

    def filter_values(self) -> FilterValues:
        """What each filter can take, from the last computation (nothing before the first)."""
        from core.results import FilterValues

        return self.results.values if self.results is not None else FilterValues()

    def show_filters(self) -> None:
        self.query_one("#results-filters", FilterBar).show(self.filters, self.filter_values())

    def show_status(self) -> None:
        text = Text()
        if self.error:
            text.append(self.error, style="red")
        elif self.results is not None:
            r = self.results
            if not r.ratings:
                text.append("no ratings match the filters (0 clears them)" if r.filters.active
                            else "no ratings yet: rate some items in the Arena (F5)")
            else:
                text.append(f"{r.ratings} ratings · {len(r.standings)} models · {len(r.raters)} rater"
                            + ("" if len(r.raters) == 1 else "s"))
                if r.rubrics:
                    text.append(f" · rubric {r.rubrics[0]}" + (f" (+{len(r.rubrics) - 1} more, see Stats)"
                                                               if len(r.rubrics) > 1 else ""))
        if self.busy:
            text.append("  computing…", style="yellow")
        elif self.results is not None:
            text.append(f"  updated {time.strftime('%H:%M:%S')}", style="dim")
        self.query_one("#results-status", Static).update(text)

    def draw(self) -> None:
        assert self.results is not None
        self.query_one("#results-board", LeaderBoard).show(self.results)
        self.query_one("#results-matrix", WinMatrix).show(self.results)
        self.draw_chart()
        self.query_one("#results-stats", Static).update(stats_text(self.results))
        self.query_one("#results-stopping", Static).update(stopping_view(self.results))
        self.query_one(CalibrationPane).recompute(self.workspace, self.filters["session"], self.filters["kind"])
        self.show_filters()

    def draw_chart(self) -> None:
        if self.results is not None:
            self.query_one("#results-chart", MetricChart).show_metric(self.results, self.metric)
