"""Plain-text and JSON reports of :class:`core.results.Results`, for ``mhbench results`` and tests."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from core.arena.rubric import RUBRICS
from core.results.records import Results
from core.stats import MeanCI, RatingCI

# --- reports ---------------------------------------------------------------------------------------


def results_dict(results: Results) -> dict[str, Any]:
    """Everything as JSON-ready data; NaN becomes null."""
    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return None if math.isnan(value) else value
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    data: dict[str, Any] = clean(asdict(results))
    for entry, score in zip(data["scores"], results.scores, strict=True):
        entry["unsafe"]["rate"] = clean(score.unsafe.rate)
    return data


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a report, "–" when it is missing or NaN."""
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def fmt_ci(value: MeanCI | RatingCI, digits: int = 2) -> str:
    centre = value.mean if isinstance(value, MeanCI) else value.rating
    if math.isnan(centre):
        return "–"
    return f"{centre:.{digits}f} [{value.low:.{digits}f}, {value.high:.{digits}f}]"


def results_text(results: Results) -> str:
    """A plain-text report of :func:`compute_results`, for ``mhbench results`` and logs."""
    f = results.filters
    active = ", ".join(f"{k}={v}" for k, v in (("rater", f.rater), ("session", f.session), ("tag", f.tag),
                                                 ("model", f.model)) if v)
    lines = [f"{results.ratings} current ratings" + (f" ({active})" if active else "")]
    if not results.ratings:
        return lines[0] + ": nothing to report yet. Rate some items in the Arena (F5)."
    lines += ["", "Bradley–Terry (Elo scale, 95% bootstrap CI)"]
    for rank, s in enumerate(results.standings, 1):
        lines.append(f"  {rank:>2}. {s.model}  {fmt_ci(s.rating, 0)}  battles {s.battles} "
                     f"(W {s.wins} / T {s.ties} / L {s.losses})")
    for name in results.rubrics:
        rubric = RUBRICS.get(name)
        if rubric is None:
            continue
        lines += ["", f"Rubric scores: {rubric.title} (mean, 95% CI; n judgements)"]
        for model in results.models:
            score = results.score(model, name)
            if score is None:
                continue
            parts = [f"{k} {fmt_ci(m)} n={m.n}" for k, m in score.means.items()]
            unsafe = f"unsafe {fmt(100 * score.unsafe.rate, 1)}% ({score.unsafe.unsafe}/{score.unsafe.n})"
            lines.append(f"  {model}: " + "; ".join([*parts, unsafe]))
    lines += ["", "Win / tie / loss (row against column; ties include both-bad)"]
    for row in results.models:
        cells = [f"{col} {w.wins}-{w.ties}-{w.losses}" + (f" ({w.both_bad} both bad)" if w.both_bad else "")
                 for col, w in results.matrix.get(row, {}).items() if w.battles]
        lines.append(f"  {row}: " + ("; ".join(cells) or "–"))
    p = results.position
    lines += ["", f"Position bias: left answer won {p.left_wins}/{p.decided} decided battles = {fmt(p.rate)} "
                  f"[{fmt(p.low)}, {fmt(p.high)}] (0.5 = no bias)", "", "Agreement (Krippendorff's alpha)"]
    for a in (*results.agreement, results.preference_agreement):
        label = f"{a.rubric}.{a.dimension}" if a.rubric else a.dimension
        lines.append(f"  {label} ({a.level}): {fmt(a.alpha, 3)}  ({a.paired} of {a.units} units with 2+ raters, "
                     f"{a.raters} raters)")
    lines += ["", "Raters"]
    for r in results.raters:
        lines.append(f"  {r.rater}: {r.ratings} ratings in {r.sessions} session(s), "
                     f"mean {fmt(r.mean_seconds, 0)} s per rating")
    if results.overlap:
        lines += ["", "Overlap with reference answers (turn 1, each response once)"]
        for o in results.overlap:
            lines.append(f"  {o.model}: BLEU-4 {o.bleu4:.3f}  ROUGE-L {o.rouge_l:.3f}  ({o.responses} responses)")
    return "\n".join(lines)
