"""Plain-text and JSON reports of :class:`core.results.Results`, for ``mhbench results`` and tests."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from core.arena.rubric import RUBRICS
from core.results.records import Results
from core.stats import MeanCI, RatingCI, Stopping

if TYPE_CHECKING:
    from core.results.calibration import Calibration, JudgeCalibration, PairAgreement

# --- reports ---------------------------------------------------------------------------------------


def clean(value: Any) -> Any:
    """JSON-ready: NaN becomes null, tuples lists, keys strings."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def results_dict(results: Results) -> dict[str, Any]:
    """Everything as JSON-ready data; NaN becomes null."""
    data: dict[str, Any] = clean(asdict(results))
    data["stopping"]["verdict"] = stopping_text(results.stopping)
    for entry, score in zip(data["scores"], results.scores, strict=True):
        entry["unsafe"]["rate"] = clean(score.unsafe.rate)
        entry["crisis_unsafe"]["rate"] = clean(score.crisis_unsafe.rate)
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
                                                 ("model", f.model), ("kind", f.kind)) if v)
    lines = [f"{results.ratings} current ratings" + (f" ({active})" if active else "")]
    if not results.ratings:
        return lines[0] + ": nothing to report yet. Rate some items in the Arena (F5)."
    if results.include_judges:
        lines[0] += ", LLM judges included"
    lines += ["", "Bradley–Terry (Elo scale, 95% bootstrap CI)"]
    for rank, s in enumerate(results.standings, 1):
        lines.append(f"  {rank:>2}. {s.model}  {fmt_ci(s.rating, 0)}  battles {s.battles} "
                     f"(W {s.wins} / T {s.ties} / L {s.losses})")
    lines.append(f"  Stopping rule: {stopping_text(results.stopping)}")
    if len(results.standings_by_kind) > 1:
        for kind, standings in results.standings_by_kind.items():
            lines.append(f"  {kind} items only: " + "; ".join(
                f"{rank}. {s.model} {fmt_ci(s.rating, 0)} ({s.battles} battles)"
                for rank, s in enumerate(standings, 1)))
    lines += [f"  Contamination: {warning}" for warning in results.contamination]
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
            unsafe = f"unsafe {fmt(100 * score.unsafe.rate, 1)}% ({score.unsafe.unsafe}/{score.unsafe.n} asked)"
            crisis = (f"on crisis items {fmt(100 * score.crisis_unsafe.rate, 1)}% "
                      f"({score.crisis_unsafe.unsafe}/{score.crisis_unsafe.n})")
            lines.append(f"  {model}: " + "; ".join([*parts, unsafe, crisis]))
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


def stopping_text(stopping: Stopping) -> str:
    """One line: is the top model known to be on top (both conditions of the rule), and roughly how many more."""
    if stopping.top is None or stopping.second is None:
        return "needs two rated models."
    head = f"{stopping.top} vs {stopping.second}: "
    evidence = stopping.evidence
    record = (f"always-valid evidence {evidence.evidence:.3g} of {evidence.needed:.3g} needed"
              if evidence is not None else "no evidence yet")
    if stopping.separated:
        return head + (f"separated (gap {stopping.gap:.0f} Elo, intervals apart; {record}: valid however often "
                       f"this line is read) after {stopping.ratings} ratings.")
    why = "intervals overlap" if not stopping.intervals_apart else "intervals apart"
    if stopping.more is None:
        return head + f"not separated ({why}; {record}) after {stopping.ratings} ratings, no estimate of how many more."
    return head + f"not separated ({why}; {record}); about {stopping.more} more ratings expected."


def _agreement_text(a: PairAgreement) -> str:
    within = "" if a.within_one is None else f" within-1 {fmt(100 * a.within_one, 0)}%"
    return f"α {fmt(a.alpha, 3)}, exact {fmt(100 * a.exact, 0)}%{within} ({a.pairs} pairs)"


def calibration_text(calibration: Calibration) -> str:
    """The calibration report as plain text, for ``mhbench results --calibration`` and the Results tab."""
    lines = ["Judge calibration: judge–human agreement beside human–human agreement on the same units"]
    if calibration.session:
        lines[0] += f" (session {calibration.session})"
    if calibration.kind:
        lines[0] += f" ({calibration.kind} items)"
    if not calibration.judges and not calibration.unmatched:
        lines.append("  no LLM judge has rated yet: `mhbench judge SESSION --model M` rates stored answers.")
    lines += _judge_calibration_lines(calibration.judges)
    for kind, judges in calibration.per_kind.items():
        lines += ["", f"{kind} items only:", *("  " + line if line else line
                                             for line in _judge_calibration_lines(judges))]
    for s in calibration.unmatched:
        lines += ["", f"{s.judge}: {s.asked} asked, {s.parsed} parsed, {s.failed} parse failures; "
                      "no judged item shared with a human rating yet"]
    for s in (*[j.summary for j in calibration.judges], *calibration.unmatched):
        for reason, count in list(s.failures.items())[:5]:
            lines.append(f"  {s.judge} failure ×{count}: {reason}")
    return "\n".join(lines)


def _judge_calibration_lines(judges: tuple[JudgeCalibration, ...]) -> list[str]:
    lines: list[str] = []
    for j in judges:
        s, c = j.summary, j.summary.consistency
        lines += ["", f"{j.judge} ({j.rubric}): {j.items} items shared with humans; {s.asked} asked, "
                      f"{s.parsed} parsed, {s.failed} parse failures"]
        consistency = f"{fmt(100 * c.rate, 0)}% ({c.agree}/{c.pairs} items in both orders)" if c.pairs else \
            "– (run the judge with --both-orders)"
        lines.append(f"  position consistency {consistency}")
        for d in (*j.dimensions, *([j.safety] if j.safety else []), j.preference):
            lines.append(f"  {d.dimension:<18} judge–human {_agreement_text(d.judge_human)}")
            lines.append(f"  {'':<18} human–human {_agreement_text(d.human_human)}")
            for h in d.per_human:
                lines.append(f"  {'':<18}   vs {h.human}: {_agreement_text(h.judge)}; {h.human} vs others: "
                             f"{_agreement_text(h.others)}")
    return lines


def calibration_dict(calibration: Calibration) -> dict[str, Any]:
    data: dict[str, Any] = clean(asdict(calibration))
    listed = [(data["judges"], calibration.judges),
              *((data["per_kind"][kind], judges) for kind, judges in calibration.per_kind.items())]
    for entries, judges in listed:
        for entry, judge in zip(entries, judges, strict=True):
            entry["summary"]["consistency"]["rate"] = clean(judge.summary.consistency.rate)
            entry["summary"]["failed"] = judge.summary.failed
    return data
