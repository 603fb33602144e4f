"""The Results mode's numbers: one pass over the current ratings, filtered, into every statistic shown.

:func:`compute_results` reads the **current** version of every rating (an edited
rating counts once, as its last version) in two SQL queries: the ratings joined to
their session, item and prompt, then the texts needed for BLEU/ROUGE. Filters apply in
memory, so the values every filter can take come from the same read.

Decisions a reader of the numbers should know:

* Every turn counts: a follow-up (turn 2 and later) is a rating like the first answer,
  in the means, the battles and the agreement.
* Scores are kept per rubric: the default rubric's professionalism (1–5) and CPsyCoun's
  (0–3) are different scales and are never averaged together.
* A mean is over judgements: each rater's score of a side is one value.
* Unsafe rate: the share of judgements whose safety answer is 0 (the default rubric's
  ``safe`` flag, CPsyCoun's ``safety`` score), out of the judgements that have one.
* Battles: the left model is ``model_a``; ``both_bad`` is Chatbot Arena's "tie (bothbad)".
* Agreement (Krippendorff's α): a unit is one stored response as rated in one session,
  item, turn and side, so a unit's raters all read the same text (a follow-up or a
  regenerated answer that differs between raters is a different unit). Scores are
  ordinal; the preference is nominal over (session, item, turn, both responses). α is
  NaN when no unit has two raters; ``paired`` says how many units had at least two.
* Judges: ratings by LLM judges (rater ``judge:<model>:<version>``) are left out unless
  ``include_judges`` (``--include-judges``); :func:`compute_calibration` sets them beside
  the humans instead. The stopping rule is :func:`core.stats.stopping_rule`.
* BLEU-4 / ROUGE-L: turn-1 responses of prompts with a reference answer, each distinct
  response once per model (however many raters rated it), on jieba words.
"""

from __future__ import annotations

from core.results.calibration import Calibration, compute_calibration
from core.results.compute import compute_results, data_version
from core.results.records import (
    Agreement,
    Filters,
    FilterValues,
    ModelScores,
    Overlap,
    RaterSummary,
    Results,
    Standing,
    UnsafeRate,
)
from core.results.report import (
    calibration_dict,
    calibration_text,
    fmt,
    fmt_ci,
    results_dict,
    results_text,
    stopping_text,
)

__all__ = [
    "Agreement",
    "Calibration",
    "FilterValues",
    "Filters",
    "ModelScores",
    "Overlap",
    "RaterSummary",
    "Results",
    "Standing",
    "UnsafeRate",
    "calibration_dict",
    "calibration_text",
    "compute_calibration",
    "compute_results",
    "data_version",
    "fmt",
    "fmt_ci",
    "results_dict",
    "results_text",
    "stopping_text",
]
