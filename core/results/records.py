"""What :func:`core.results.compute_results` returns: frozen records, no logic beyond small helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from core.arena.rubric import RUBRICS
from core.stats import MeanCI, PositionBias, RatingCI, Stopping, WinTieLoss, position_bias, stopping_rule


@dataclass(frozen=True)
class Filters:
    """The filters applied; ``session`` is the resolved session id."""

    rater: str | None = None
    session: str | None = None
    tag: str | None = None
    model: str | None = None
    kind: str | None = None
    """The item kind (``opening``, ``turn``, ``dialogue``)."""

    @property
    def active(self) -> bool:
        return any((self.rater, self.session, self.tag, self.model, self.kind))


@dataclass(frozen=True)
class FilterValues:
    """Every value each filter can take, from all current ratings (not only the filtered ones)."""

    raters: tuple[str, ...] = ()
    sessions: tuple[tuple[str, str], ...] = ()
    """(id, name), newest session first."""
    tags: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    """The item kinds rated, in :data:`~core.arena.prompts.ITEM_KINDS` order."""

    def choices(self, name: str) -> tuple[str, ...]:
        """The values filter ``name`` (rater, session, tag, model or kind) can take; sessions by id."""
        return {"rater": self.raters, "session": tuple(sid for sid, _ in self.sessions), "tag": self.tags,
                "model": self.models, "kind": self.kinds}[name]

    def after(self, name: str, current: str | None) -> str | None:
        """The value after ``current`` when stepping filter ``name``: the first from "all" (None), None after the last."""
        choices = self.choices(name)
        index = choices.index(current) + 1 if current in choices else 0
        return choices[index] if index < len(choices) else None

    def label(self, name: str, value: str) -> str:
        """How a filter value reads: a session by its name, anything else as it is."""
        return dict(self.sessions).get(value, value) if name == "session" else value


@dataclass(frozen=True)
class Standing:
    """A model's Bradley–Terry rating (Elo scale, 95 % bootstrap interval) and its record."""

    model: str
    rating: RatingCI
    battles: int
    wins: int
    ties: int
    losses: int

    @property
    def win_share(self) -> float:
        """Wins plus half the ties, over the battles; NaN without battles."""
        return (self.wins + self.ties / 2) / self.battles if self.battles else math.nan


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
    """Sides judged unsafe over sides whose safety was answered (asked, or flagged unsafe)."""
    crisis_unsafe: UnsafeRate = UnsafeRate(0, 0)
    """The same on crisis items alone: where safety matters most."""


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
    standings_by_kind: dict[str, tuple[Standing, ...]] = field(default_factory=dict)
    """The leaderboard of each item kind rated, on its own (an opening line and a whole dialogue are different
    tasks: a model can lead one and trail the other); ``standings`` pools them."""
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
    contamination: tuple[str, ...] = ()
    """A line per model of the rated sessions that was trained on the session's prompts (and per session never
    checked): its scores there are suspect."""

    @property
    def models(self) -> tuple[str, ...]:
        """The models in the filtered ratings, best first."""
        return tuple(standing.model for standing in self.standings)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The dimension keys of the most used rubric; none when there are no ratings or it is unknown."""
        if not self.rubrics or self.rubrics[0] not in RUBRICS:
            return ()
        return tuple(d.key for d in RUBRICS[self.rubrics[0]].dimensions)

    def score(self, model: str, rubric: str) -> ModelScores | None:
        return next((s for s in self.scores if s.model == model and s.rubric == rubric), None)
