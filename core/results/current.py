"""Which ratings count, written once: the current version of each, with its session and item.

The Results mode (:mod:`core.results.compute`) and every export (:mod:`core.results.export`)
read ratings through :func:`current_ratings`, so a number on screen and a row in a file
always come from the same ratings: only the current version of each (an edited rating keeps
its older versions in the database for audit), joined to its session ``s`` (which always
exists: deleting a session cascades to its ratings) and, where it still exists, to its item
``i`` (an item removed by hand empties the prompt; it does not drop the rating).

Judges (raters named ``judge:<model>:<version>``, see :mod:`core.arena.judge`) are left
out unless asked for: humans and judges are never pooled by accident. This is the one
place that decides it, for the leaderboard and for every export.
"""

from __future__ import annotations

from core.arena.raters import JUDGE_PREFIX

_FROM = """
FROM ratings r
JOIN sessions s ON s.id = r.session_id
LEFT JOIN items i ON i.session_id = r.session_id AND i.position = r.item_position
"""


HUMANS_ONLY = f"substr(r.rater, 1, {len(JUDGE_PREFIX)}) != '{JUDGE_PREFIX}'"
"""The condition that leaves the judges' ratings out."""


PROMPT_JOIN = "LEFT JOIN prompts p ON p.set_id = s.prompt_set_id AND p.id = i.prompt_id"
"""Joins each rating's prompt (its text, tags and crisis mark) as ``p``, for :func:`current_ratings`'s ``joins``."""


def current_ratings(*, joins: str = "", where: str = "", include_judges: bool = False) -> str:
    """``FROM … WHERE …`` over the current ratings ``r``, their sessions ``s`` and items ``i``.

    ``joins`` joins more tables to those aliases; ``where`` narrows the ratings further
    (its ``?`` parameters are the caller's). The caller writes ``SELECT`` before it and any
    ``ORDER BY`` after it, so the same text serves as a subquery too. ``include_judges``:
    the judges' ratings count too (by default only the humans' do).
    """
    condition = "r.current = 1" if include_judges else f"r.current = 1 AND {HUMANS_ONLY}"
    if where:
        condition += f" AND ({where})"
    return f"{_FROM}{joins}\nWHERE {condition}\n"
