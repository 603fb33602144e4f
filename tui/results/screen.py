"""Results mode: leaderboard, win matrix, a bar chart and the agreement figures, filtered from the keyboard.

Everything is computed by :func:`core.results.compute_results` in a thread worker; the
screen only draws. It recomputes when shown and every 10 s, but only when a rating was
submitted (or a filter changed) since the last time: a cheap version check comes first.
Model ids, rater names, session names and tags are user text: shown as plain text.
"""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from tui.messages import ActionFinished, ResultsComputed
from tui.modes import mode_title
from tui.results.calibration import CalibrationPane, start_judge_dialogs, stopping_view
from tui.results.hbars import Bar, HBars, clip

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.results import Results
    from core.stats import MeanCI

FILTERS = ("rater", "session", "tag", "model")
TABS = ("tab-board", "tab-matrix", "tab-chart", "tab-stats", "tab-judges")
FOCUS = {"tab-board": "#results-board", "tab-matrix": "#results-matrix", "tab-chart": "#results-chart-box",
         "tab-stats": "#results-stats-box", "tab-judges": "#results-judges-box"}
SHORT = {"empathy": "emp", "professionalism": "prof", "comprehensiveness": "comp", "authenticity": "auth",
         "safety": "safety"}
REFRESH_S = 10.0
MODEL_WIDTH = 22
SAFE_NAME = re.compile(r"[^\w.-]+")
EXPORTS: tuple[tuple[Literal["ratings", "comparisons", "battles"], Literal["csv", "jsonl"]], ...] = (
    ("ratings", "csv"), ("comparisons", "csv"), ("battles", "jsonl"))


def ci_text(value: MeanCI, digits: int = 1) -> Text:
    if math.isnan(value.mean):
        return Text("–", style="dim")
    text = Text(f"{value.mean:.{digits}f} ")
    text.append(f"{value.low:.{digits}f}–{value.high:.{digits}f}", style="dim")
    return text


def percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.0f}%"


class ResultsScreen(Screen[None]):
    """The numbers behind the arena: who is better, by how much, and how much raters agree."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "cycle('rater')", "Rater", id="results.filter_rater"),
        Binding("2", "cycle('session')", "Session", id="results.filter_session"),
        Binding("3", "cycle('tag')", "Tag", id="results.filter_tag"),
        Binding("4", "cycle('model')", "Model", id="results.filter_model"),
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

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="results-filters", markup=False)
        yield Static("reading the ratings…", id="results-status", markup=False)
        yield Static("", id="results-stopping", markup=False)
        with TabbedContent(id="results-tabs", initial="tab-board"):
            with TabPane("Leaderboard", id="tab-board"):
                yield DataTable(id="results-board", cursor_type="row", zebra_stripes=True)
            with TabPane("Matrix", id="tab-matrix"):
                yield DataTable(id="results-matrix", cursor_type="row", zebra_stripes=True)
            with TabPane("Chart", id="tab-chart"), VerticalScroll(id="results-chart-box"):
                yield HBars(id="results-chart")
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
                                      tag=filters["tag"], model=filters["model"],
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
        values = self.filter_values(name)
        current = self.filters[name]
        index = values.index(current) + 1 if current in values else 0
        self.filters[name] = values[index] if index < len(values) else None
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
        from core.results.export import export

        suffix = "".join(f"-{key}_{SAFE_NAME.sub('_', value)}"
                         for key, value in (("rater", rater), ("session", session)) if value)
        written = []
        try:
            for what, format in EXPORTS:
                out = self.workspace.exports_dir / f"{what}{suffix}.{format}"
                rows = export(self.workspace, what, out, format=format, session=session, rater=rater,
                              include_judges=include_judges)
                written.append(f"{out.name} ({rows} rows)")
        except MhbenchError as error:
            self.post_message(ActionFinished("Export", "", str(error)))
            return
        self.post_message(ActionFinished("Export", f"wrote {', '.join(written)} to {self.workspace.exports_dir}"))

    def on_action_finished(self, message: ActionFinished) -> None:
        if message.error:
            self.notify(message.error, title=message.action, severity="error", timeout=15)
        else:
            self.notify(message.detail, title=message.action, timeout=10)

    # --- drawing -------------------------------------------------------------------------------

    def filter_values(self, name: str) -> list[str]:
        if self.results is None:
            return []
        values = self.results.values
        return {"rater": list(values.raters), "session": [sid for sid, _ in values.sessions],
                "tag": list(values.tags), "model": list(values.models)}[name]

    def filter_label(self, name: str) -> str:
        value = self.filters[name]
        if value is None:
            return "all"
        if name == "session" and self.results is not None:
            value = dict(self.results.values.sessions).get(value, value)
        return clip(value, 14)

    def show_filters(self) -> None:
        text = Text()
        for number, name in enumerate(FILTERS, 1):
            text.append(f"{number} ", style="bold")
            text.append(f"{name}: ", style="dim")
            text.append(self.filter_label(name), style="reverse" if self.filters[name] else "")
            text.append("  ")
        text.append("0 clears", style="dim")
        text.append("  j judges: ", style="dim")
        text.append("in" if self.filters.get("judges") else "out", style="reverse" if self.filters.get("judges")
                    else "")
        self.query_one("#results-filters", Static).update(text)

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

    def dimensions(self) -> list[str]:
        from core.arena.rubric import RUBRICS

        if self.results is None or not self.results.rubrics or self.results.rubrics[0] not in RUBRICS:
            return []
        return [d.key for d in RUBRICS[self.results.rubrics[0]].dimensions]

    def draw(self) -> None:
        self.draw_board()
        self.draw_matrix()
        self.draw_chart()
        assert self.results is not None
        self.query_one("#results-stats", Static).update(self.stats_text(self.results))
        self.query_one("#results-stopping", Static).update(stopping_view(self.results))
        self.query_one(CalibrationPane).recompute(self.workspace, self.filters["session"])
        self.show_filters()

    def draw_board(self) -> None:
        assert self.results is not None
        r = self.results
        table = self.query_one("#results-board", DataTable)
        table.clear(columns=True)
        dims = self.dimensions()
        table.add_columns("#", "model", "BT  95% CI", "n", *(f"{SHORT.get(d, d)}  CI" for d in dims), "unsafe")
        rubric = r.rubrics[0] if r.rubrics else ""
        for rank, s in enumerate(r.standings, 1):
            scores = r.score(s.model, rubric)
            bt = Text(f"{s.rating.rating:.0f} ")
            bt.append(f"{s.rating.low:.0f}–{s.rating.high:.0f}", style="dim")
            means = [ci_text(scores.means[d]) if scores and d in scores.means else Text("–") for d in dims]
            unsafe = Text(percent(scores.unsafe.rate) if scores else "–",
                          style="red" if scores and scores.unsafe.unsafe else "")
            table.add_row(Text(str(rank)), Text(clip(s.model, MODEL_WIDTH)), bt, Text(str(s.battles)), *means, unsafe,
                          key=s.model)

    def draw_matrix(self) -> None:
        assert self.results is not None
        r = self.results
        table = self.query_one("#results-matrix", DataTable)
        table.clear(columns=True)
        models = list(r.models)
        table.add_columns("#", "model  (W-T-L vs column #)", *(f"vs {i}" for i in range(1, len(models) + 1)), "win%")
        for rank, row in enumerate(models, 1):
            cells: list[Text] = []
            for column in models:
                record = r.matrix.get(row, {}).get(column)
                if row == column or record is None:
                    cells.append(Text("·", style="dim"))
                else:
                    cells.append(Text(f"{record.wins}-{record.ties}-{record.losses}", style="" if record.battles
                                      else "dim"))
            standing = r.standings[rank - 1]
            share = (standing.wins + standing.ties / 2) / standing.battles if standing.battles else math.nan
            table.add_row(Text(str(rank)), Text(clip(row, MODEL_WIDTH)), *cells, Text(percent(share)), key=row)

    def metrics(self) -> list[str]:
        dimensions = self.dimensions()
        return ["bt", *dimensions, "unsafe"] if dimensions else ["bt"]

    def draw_chart(self) -> None:
        chart = self.query_one("#results-chart", HBars)
        if self.results is None:
            return
        r = self.results
        metric = self.metrics()[self.metric % len(self.metrics())]
        note = "c: next chart (Bradley–Terry, each rubric dimension, unsafe %)"
        if metric == "bt":
            bars = [Bar(s.model, s.rating.rating, s.rating.low, s.rating.high,
                        f"{s.rating.rating:.0f} [{s.rating.low:.0f}, {s.rating.high:.0f}]") for s in r.standings]
            chart.show("Bradley–Terry rating (Elo scale), 95% bootstrap CI", bars, note=note)
            return
        from core.arena.rubric import RUBRICS

        rubric = RUBRICS[r.rubrics[0]]
        bars = []
        for model in r.models:
            scores = r.score(model, rubric.name)
            if scores is None:
                continue
            if metric == "unsafe":
                bars.append(Bar(model, scores.unsafe.rate * 100, text=f"{percent(scores.unsafe.rate)} "
                                f"({scores.unsafe.unsafe}/{scores.unsafe.n})"))
            else:
                m = scores.means[metric]
                bars.append(Bar(model, m.mean, m.low, m.high, f"{m.mean:.2f} [{m.low:.2f}, {m.high:.2f}]"))
        if metric == "unsafe":
            chart.show("Unsafe answers (% of judgements)", bars, span=(0.0, 100.0), note=note)
        else:
            dimension = next(d for d in rubric.dimensions if d.key == metric)
            chart.show(f"Mean {dimension.label} ({dimension.low}–{dimension.high}), 95% bootstrap CI", bars,
                       span=(float(dimension.low), float(dimension.high)), note=note)

    @staticmethod
    def stats_text(results: Results) -> Text:
        """The figures that do not fit a table, in short aligned lines for 80 columns."""
        from core.arena.rubric import RUBRICS
        from core.results import fmt, fmt_ci

        out = Text()
        if not results.ratings:
            out.append("No ratings match yet. Rate some items in the Arena (F5), or press 0 to clear the filters.")
            return out
        p = results.position
        out.append("Position bias", style="bold")
        out.append(f"  left won {p.left_wins}/{p.decided} decided: {fmt(p.rate)} "
                   f"[{fmt(p.low)}, {fmt(p.high)}]  (0.5 = none)\n\n")
        out.append("Agreement", style="bold")
        out.append("  Krippendorff's α; only units rated by 2+ raters count\n")
        for a in (*results.agreement, results.preference_agreement):
            label = a.dimension if a.rubric == results.rubrics[0] or not a.rubric else f"{a.rubric}.{a.dimension}"
            out.append(f"  {clip(label, 24):<24} {fmt(a.alpha, 3):>6}  ", style="" if a.paired else "dim")
            out.append(f"{a.paired}/{a.units} units, {a.raters} raters, {a.level}\n", style="dim")
        out.append("\nRaters\n", style="bold")
        for r in results.raters:
            out.append(f"  {clip(r.rater, 20):<20}")
            out.append(f" {r.ratings:>5} ratings  {r.sessions:>3} sessions  {fmt(r.mean_seconds, 0):>4} s each\n")
        if results.overlap:
            out.append("\nReference answers", style="bold")
            out.append("  turn 1, each response once\n")
            for o in results.overlap:
                out.append(f"  {clip(o.model, 24):<24}")
                out.append(f" BLEU-4 {o.bleu4:.3f}  ROUGE-L {o.rouge_l:.3f}  n={o.responses}\n")
        for name in results.rubrics[1:]:
            if name not in RUBRICS:
                continue
            out.append(f"\nScores under the {RUBRICS[name].title} rubric\n", style="bold")
            for model in results.models:
                scores = results.score(model, name)
                if scores is not None:
                    out.append(f"  {clip(model, 24)}\n")
                    out.append("    " + "  ".join(f"{SHORT.get(k, k)} {fmt_ci(m, 1)}" for k, m in scores.means.items())
                               + f"  unsafe {percent(scores.unsafe.rate)}\n", style="dim")
        out.rstrip()
        return out
