"""The LLM judge: a rater of its own kind (``judge:<model>:<prompt version>``) over a session's stored answers.

* :mod:`~core.arena.judge.prompt`: the versioned Chinese prompt that states the rubric and asks for JSON;
* :mod:`~core.arena.judge.parse`: the reply to exact scores, or a failure with its reason (never a guess);
* :mod:`~core.arena.judge.store`: the ``judgements`` table, failure counts, position consistency;
* :mod:`~core.arena.judge.runner`: the detached job that asks the judge item by item and resumes after a kill.
"""

from __future__ import annotations
