"""A training run's loss curves and latest figures, built from its ``logging.jsonl`` records.

:class:`RunCurve` is what the Train screen's loss plot and progress line draw. Points
are keyed by step, so a resumed run or a log read twice never draws a step twice, and a
resumed run is shown as one curve stitched onto its parent's (:meth:`RunCurve.stitched`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.train.records import StepRecord, as_number, parse_record, steps_of

__all__ = ["RunCurve"]

_NOT_TRAIN_KEYS = frozenset({"eval_loss", "train_runtime", "last_model_checkpoint", "log_history"})
"""Keys that make a line with ``loss`` something other than a step line (see :func:`parse_record`)."""


class _Series:
    """Values by step, with a sorted view that stays O(1) per in-order append."""

    def __init__(self) -> None:
        self.values: dict[int, float] = {}
        self._sorted: list[tuple[int, float]] = []
        self._stale = False

    def set(self, step: int, value: float) -> None:
        known = step in self.values
        self.values[step] = value
        if self._stale:
            return
        if not known and (not self._sorted or step > self._sorted[-1][0]):
            self._sorted.append((step, value))
        else:
            self._stale = True  # a replacement or an out-of-order step: rebuild on next read

    def points(self) -> list[tuple[int, float]]:
        if self._stale:
            self._sorted = sorted(self.values.items())
            self._stale = False
        return list(self._sorted)

    def first(self) -> int | None:
        if not self.values:
            return None
        return min(self.values) if self._stale else self._sorted[0][0]


class RunCurve:
    """A run's loss curves and its latest figures, fed with :class:`StepRecord` s in log order.

    Points are keyed by step: a later record for a step replaces the earlier one (a
    resumed run, or a log read twice after a restart, never draws a step twice).
    """

    def __init__(self) -> None:
        self._train = _Series()
        self._eval = _Series()
        self.latest: StepRecord | None = None
        """The most recent train record."""
        self.latest_eval: StepRecord | None = None
        self.max_steps: int | None = None
        self.summary: StepRecord | None = None
        """The train-end line (``train_runtime``, ``train_loss``)."""
        self.final: StepRecord | None = None
        """The last line (``last_model_checkpoint``, ``log_history``): present once the run finished."""

    @property
    def train_points(self) -> list[tuple[int, float]]:
        """(step, loss), sorted by step."""
        return self._train.points()

    @property
    def eval_points(self) -> list[tuple[int, float]]:
        """(step, eval_loss), sorted by step."""
        return self._eval.points()

    @property
    def first_step(self) -> int | None:
        """The lowest step with a train or eval point."""
        firsts = [step for step in (self._train.first(), self._eval.first()) if step is not None]
        return min(firsts) if firsts else None

    def add(self, record: StepRecord) -> None:
        if record.max_steps:
            self.max_steps = record.max_steps
        if record.kind == "train":
            self.latest = record
            if record.step is not None and record.loss is not None:
                self._train.set(record.step, record.loss)
        elif record.kind == "eval":
            self.latest_eval = record
            if record.step is not None and record.eval_loss is not None:
                self._eval.set(record.step, record.eval_loss)
        elif record.kind == "summary":
            self.summary = record
        elif record.kind == "final":
            self.final = record
            self.extend_from_log_history(record.log_history)

    def add_objects(self, objects: Iterable[Mapping[str, object]]) -> int:
        """Parse and :meth:`add` raw ``logging.jsonl`` objects (what :meth:`JsonlTail.poll` returns); returns how many.

        Same result as :meth:`add` of each :func:`parse_record`, but a step line only has its
        step and loss read, and only the last one of a batch is parsed in full for
        :attr:`latest`: catching up with a million-line log is then mostly JSON decoding.
        """
        count = 0
        last_train: Mapping[str, object] | None = None
        for obj in objects:
            if not isinstance(obj, Mapping):
                continue
            count += 1
            if "loss" in obj and not _NOT_TRAIN_KEYS.intersection(obj):
                step, max_steps = steps_of(obj)
                if max_steps:
                    self.max_steps = max_steps
                loss = as_number(obj["loss"])
                if step is not None and loss is not None:
                    self._train.set(step, loss)
                last_train = obj
                continue
            if last_train is not None:
                self.latest = parse_record(last_train)
                last_train = None
            record = parse_record(obj)
            if record is not None:
                self.add(record)
        if last_train is not None:
            self.latest = parse_record(last_train)
        return count

    def extend_from_log_history(self, history: Iterable[object]) -> int:
        """Fill in points from a final line's ``log_history`` (HF keys, ``step``); returns how many steps were new.

        Steps already seen keep their values, so reading the history after the live lines
        changes nothing but the gaps (a log that was truncated, or a tail started late).
        """
        added = 0
        for entry in history:
            if not isinstance(entry, Mapping):
                continue
            record = parse_record(entry)
            if record is None or record.step is None:
                continue
            if record.kind == "train" and record.loss is not None:
                if record.step not in self._train.values:
                    self._train.set(record.step, record.loss)
                    added += 1
                if self.latest is None or (self.latest.step or 0) < record.step:
                    self.latest = record
            elif record.kind == "eval" and record.eval_loss is not None:
                if record.step not in self._eval.values:
                    self._eval.set(record.step, record.eval_loss)
                    added += 1
                if self.latest_eval is None or (self.latest_eval.step or 0) < record.step:
                    self.latest_eval = record
            elif record.kind == "summary" and self.summary is None:
                self.summary = record
        return added

    def stitched(self, parent: RunCurve) -> RunCurve:
        """A resumed run drawn as one curve: the parent's points before this run's first step, then this run's.

        Latest figures, ``summary`` and ``final`` are this run's; the parent's latest figures
        and ``max_steps`` stand in only until this run has logged its own.
        """
        first = self.first_step
        curve = RunCurve()
        for own, theirs, into in (
            (self._train, parent._train, curve._train),
            (self._eval, parent._eval, curve._eval),
        ):
            for step, value in theirs.points():
                if first is None or step < first:
                    into.set(step, value)
            for step, value in own.points():
                into.set(step, value)
        curve.latest = self.latest if self.latest is not None else parent.latest
        curve.latest_eval = self.latest_eval if self.latest_eval is not None else parent.latest_eval
        curve.max_steps = self.max_steps if self.max_steps is not None else parent.max_steps
        curve.summary = self.summary
        curve.final = self.final
        return curve
