"""Why a training run (or a merge, a conversion, a server) failed, and what to change.

:func:`diagnose` reads the exit code and the log tail and returns one :class:`Diagnosis`:
a one-line summary quoting the telling fragment, and one fix in the profile's own terms.
The package is the matcher (:mod:`~core.train.diagnose.explain`), the table of known
failures (:mod:`~core.train.diagnose.rules`), the readers of the fields a summary quotes
(:mod:`~core.train.diagnose.details`) and the fix texts (:mod:`~core.train.diagnose.fixes`).
"""

from __future__ import annotations

from core.train.diagnose import fixes
from core.train.diagnose.explain import SUMMARY_MAX, TAIL_LINES, Diagnosis, clean_line, diagnose
from core.train.diagnose.fixes import *  # noqa: F403 - every fix text, as before the split
from core.train.diagnose.rules import RULES, SIGINT_CODES, SIGKILL_CODES, SIGTERM_CODES, Extra, Rule

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
