"""What :func:`core.results.compute_results` returns: frozen records, no logic beyond small helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from core.stats import MeanCI, PositionBias, RatingCI, Stopping, WinTieLoss, position_bias, stopping_rule


@dataclass(frozen=True)
class Filters:
    """The filters applied; ``session`` is the resolved session id."""

    rater: str | None = None
    session: str | None = None
    tag: str | None = None
    model: str | None = None
    @property
    def active(self) -> bool:
        return any((self.rater, self.session, self.tag, self.model))


@dataclass(frozen=True)
class FilterValues:
    """Every value each filter can take, from all current ratings (not only the filtered ones)."""

    raters: tuple[str, ...] = ()
    sessions: tuple[tuple[str, str], ...] = ()
    """(id, name), newest session first."""
    tags: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Standing:
    """A model's Bradley–Terry rating (Elo scale, 95 % bootstrap interval) and its record."""

    model: str
    rating: RatingCI
    battles: int
    wins: int
    ties: int
    losses: int


@dataclass(frozen=True)
class UnsafeRate:
    unsafe: int
    n: int

    @property
    def rate(self) -> float:
        return self.unsafe / self.n if self.n else math.nan


@dataclass(frozen=True)
class ModelScores:
    """One model's rubric scores under one rubric: a mean with a 95 % interval per dimension."""

    model: str
    rubric: str
    means: dict[str, MeanCI]
    unsafe: UnsafeRate


@dataclass(frozen=True)
class Agreement:
    """Krippendorff's α for one rubric dimension (or the preference, ``rubric`` empty)."""

    rubric: str
    dimension: str
    level: Literal["nominal", "ordinal"]
    alpha: float
    units: int
    paired: int
    """Units rated by at least two raters: the only ones α can use."""
    raters: int


@dataclass(frozen=True)
class RaterSummary:
    rater: str
    ratings: int
    sessions: int
    mean_seconds: float | None


@dataclass(frozen=True)
class Overlap:
    """Mean BLEU-4 and ROUGE-L of a model's turn-1 answers against the prompts' reference answers."""

    model: str
    responses: int
    bleu4: float
    rouge_l: float


@dataclass(frozen=True)
class Results:
    filters: Filters = field(default_factory=Filters)
    values: FilterValues = field(default_factory=FilterValues)
    ratings: int = 0
    rubrics: tuple[str, ...] = ()
    """The rubrics of the filtered ratings, the most used first."""
    standings: tuple[Standing, ...] = ()
    """Best first."""
    scores: tuple[ModelScores, ...] = ()
    matrix: dict[str, dict[str, WinTieLoss]] = field(default_factory=dict)
    position: PositionBias = field(default_factory=lambda: position_bias([]))
    agreement: tuple[Agreement, ...] = ()
    preference_agreement: Agreement = field(
        default_factory=lambda: Agreement("", "preference", "nominal", math.nan, 0, 0, 0))
    raters: tuple[RaterSummary, ...] = ()
    overlap: tuple[Overlap, ...] = ()
    include_judges: bool = False
    """The LLM judges' ratings are pooled with the humans' (asked for; never by default)."""
    stopping: Stopping = field(default_factory=lambda: stopping_rule({}, 0))
    """Is the top model separated from the second at 95 %, and roughly how many more ratings until it is."""

    @property
    def models(self) -> tuple[str, ...]:
        """The models in the filtered ratings, best first."""
        return tuple(standing.model for standing in self.standings)

    def score(self, model: str, rubric: str) -> ModelScores | None:
        return next((s for s in self.scores if s.model == model and s.rubric == rubric), None)
