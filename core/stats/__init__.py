"""Statistics for the arena's Results mode: ratings, confidence intervals, agreement and text overlap.

Everything here is a pure function of its arguments: no I/O, no clock, no global
random state (every bootstrap takes a ``seed`` and builds its own numpy Generator,
so the same battles always give the same intervals on screen). One module per kind
of question:

* :mod:`~core.stats.bradley_terry`: :func:`bradley_terry` and
  :func:`bootstrap_bradley_terry`, Elo-scale ratings as Chatbot Arena reports them,
  with percentile bootstrap intervals (resampled by independent unit, never narrower than the
  penalised fit's normal approximation), all rounds fitted at once; :data:`LEADERBOARD_PENALTY`
  is the weak prior the leaderboard uses.
* :mod:`~core.stats.battles`: :class:`Battle`, and the raw counts behind the
  ratings (:func:`win_matrix`) and whether raters favour the left answer
  (:func:`position_bias`).
* :mod:`~core.stats.bootstrap`: :func:`mean_ci`, a percentile bootstrap
  interval for a mean (e.g. rubric scores), and the interval helpers the others share.
* :mod:`~core.stats.agreement`: :func:`krippendorff_alpha`, inter-rater
  agreement, coincidence-matrix formulation.
* :mod:`~core.stats.separation`: :func:`separated` and :func:`separation`, whether
  the leader's interval clears every other model's (the tournament's stopping rule).
* :mod:`~core.stats.overlap`: :func:`bleu4` and :func:`rouge_l`, overlap with
  a reference answer on jieba words.
* :mod:`~core.stats.sequential`: :func:`pair_evidence`, an always-valid test that one model is
  stronger than another, safe to read after every rating.
* :mod:`~core.stats.stopping`: :func:`stopping_rule`, whether the top model is
  known to be on top (intervals apart and the always-valid test passed) and how many more
  ratings that roughly needs.

numpy is imported at module top; scipy is not needed, and jieba is imported only
inside the text metrics, so importing ``core`` stays light.
"""

from __future__ import annotations

from core.stats.agreement import krippendorff_alpha
from core.stats.battles import Battle, PositionBias, Winner, WinTieLoss, position_bias, win_matrix
from core.stats.bootstrap import MeanCI, mean_ci
from core.stats.bradley_terry import (
    LEADERBOARD_PENALTY,
    RatingCI,
    StrengthFit,
    bootstrap_bradley_terry,
    bradley_terry,
    fit_strengths,
)
from core.stats.overlap import bleu4, rouge_l
from core.stats.separation import Separation, separated, separation
from core.stats.sequential import Evidence, pair_evidence
from core.stats.stopping import Stopping, stopping_rule

__all__ = [
    "LEADERBOARD_PENALTY",
    "Battle",
    "Evidence",
    "MeanCI",
    "PositionBias",
    "RatingCI",
    "Separation",
    "Stopping",
    "StrengthFit",
    "WinTieLoss",
    "Winner",
    "bleu4",
    "bootstrap_bradley_terry",
    "bradley_terry",
    "fit_strengths",
    "krippendorff_alpha",
    "mean_ci",
    "pair_evidence",
    "position_bias",
    "rouge_l",
    "separated",
    "separation",
    "stopping_rule",
    "win_matrix",
]
