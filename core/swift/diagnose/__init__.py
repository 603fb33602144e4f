"""Why a training run (or a merge, a conversion, a server) failed, and what to change.

:func:`diagnose` reads the exit code and the log tail and returns one :class:`Diagnosis`:
a one-line summary quoting the telling fragment, and one fix in the profile's own terms.
The package is the matcher (:mod:`~core.swift.diagnose.explain`), the table of known
failures (:mod:`~core.swift.diagnose.rules`), the readers of the fields a summary quotes
(:mod:`~core.swift.diagnose.details`) and the fix texts (:mod:`~core.swift.diagnose.fixes`).
"""

from __future__ import annotations

from core.swift.diagnose import fixes
from core.swift.diagnose.explain import SUMMARY_MAX, TAIL_LINES, Diagnosis, clean_line, diagnose
from core.swift.diagnose.fixes import *  # noqa: F403 - every fix text, as before the split
from core.swift.diagnose.rules import RULES, SIGINT_CODES, SIGKILL_CODES, SIGTERM_CODES, Extra, Rule

__all__ = [
    "RULES",
    "SIGINT_CODES",
    "SIGKILL_CODES",
    "SIGTERM_CODES",
    "SUMMARY_MAX",
    "TAIL_LINES",
    "Diagnosis",
    "Extra",
    "Rule",
    "clean_line",
    "diagnose",
]
__all__ += fixes.__all__
