"""Errors a user can act on: what went wrong, where, and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class MhbenchError(Exception):
    """A failure explained in one line: the place, the problem and the fix.

    The UI and the CLI print ``str(error)`` and never a traceback.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = Path(path) if path is not None else None
        self.line = line
        self.key = key
        self.fix = fix
        super().__init__(self.one_line())

    def place(self) -> str:
        parts: list[str] = []
        if self.path is not None:
            parts.append(str(self.path) + (f":{self.line}" if self.line else ""))
        if self.key:
            parts.append(f"key '{self.key}'")
        return ": ".join(parts)

    def one_line(self) -> str:
        place = self.place()
        text = f"{place}: {self.problem}" if place else self.problem
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""
