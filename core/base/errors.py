"""Errors a user can act on: what went wrong, where, and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path


class MhbenchError(Exception):
    """A failure explained in one line: the place, the problem and the fix.

    The UI and the CLI print ``str(error)`` and never a traceback. The place is a
    file (``path`` and ``line``) or, for a value that came from elsewhere, its
    ``source`` as the user typed it (``--set train.epochs=0``).
    """

    def __init__(
        self,
        problem: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
        fix: str | None = None,
        source: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = Path(path) if path is not None else None
        self.line = line
        self.key = key
        self.fix = fix
        self.source = source
        super().__init__(self.text())

    @property
    def faults(self) -> tuple[MhbenchError, ...]:
        """Every fault this error stands for: itself, or each one of :class:`MhbenchFaults`."""
        return (self,)

    def place(self) -> str:
        parts: list[str] = []
        if self.path is not None:
            parts.append(str(self.path) + (f":{self.line}" if self.line else ""))
        elif self.source:
            parts.append(self.source)
        if self.key:
            parts.append(f"key '{self.key}'")
        return ": ".join(parts)

    def one_line(self) -> str:
        place = self.place()
        text = f"{place}: {self.problem}" if place else self.problem
        if self.fix:
            text += f" Fix: {self.fix}"
        return text

    def text(self) -> str:
        """What ``str()`` shows: one line here, one line per fault in :class:`MhbenchFaults`."""
        return self.one_line()


class MhbenchFaults(MhbenchError):
    """Several faults found in one pass, so that the user fixes them all before running again.

    Its own fields are the first fault's (code that reads ``.key`` or ``.line`` still
    works); ``str()`` is a heading and then each fault's own line.
    """

    def __init__(self, faults: Sequence[MhbenchError], *, where: str) -> None:
        self._faults = tuple(fault for error in faults for fault in error.faults)
        if len(self._faults) < 2:
            raise ValueError("MhbenchFaults needs two faults or more; use the fault itself for one.")
        self.where = where
        first = self._faults[0]
        super().__init__(
            first.problem, path=first.path, line=first.line, key=first.key, fix=first.fix, source=first.source
        )

    @property
    def faults(self) -> tuple[MhbenchError, ...]:
        return self._faults

    def text(self) -> str:
        heading = f"{self.where}: {len(self._faults)} faults, one per line:"
        return "\n".join([heading, *(f"  {fault.one_line()}" for fault in self._faults)])


def one_error(faults: Sequence[MhbenchError], *, where: str) -> MhbenchError | None:
    """None when there is no fault, the fault itself when there is one, else all of them together."""
    if not faults:
        return None
    if len(faults) == 1:
        return faults[0]
    return MhbenchFaults(faults, where=where)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
