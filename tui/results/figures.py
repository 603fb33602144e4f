"""The Results screen's Stats tab: the figures that do not fit a table, in short aligned lines for 80 columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from tui.results.hbars import clip
from tui.results.tables import SHORT, percent

if TYPE_CHECKING:
    from core.results import Results


def stats_text(results: Results) -> Text:
    """Position bias, agreement, the raters, overlap with reference answers and the other rubrics' scores."""
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
                           + f"  unsafe {percent(scores.unsafe.rate)}"
                           + f" (crisis items {percent(scores.crisis_unsafe.rate)})\n", style="dim")
    out.rstrip()
    return out
