"""Which ratings count, written once: the current version of each, with its session and item.

The Results mode (:mod:`core.results.compute`) and every export (:mod:`core.results.export`)
read ratings through :func:`current_ratings`, so a number on screen and a row in a file
always come from the same ratings: only the current version of each (an edited rating keeps
its older versions in the database for audit), joined to its session ``s`` (which always
exists: deleting a session cascades to its ratings) and, where it still exists, to its item
``i`` (an item removed by hand empties the prompt; it does not drop the rating).
"""

from __future__ import annotations

_FROM = """
FROM ratings r
JOIN sessions s ON s.id = r.session_id
LEFT JOIN items i ON i.session_id = r.session_id AND i.position = r.item_position
"""


def current_ratings(*, joins: str = "", where: str = "") -> str:
    """``FROM … WHERE …`` over the current ratings ``r``, their sessions ``s`` and items ``i``.

    ``joins`` joins more tables to those aliases; ``where`` narrows the ratings further
    (its ``?`` parameters are the caller's). The caller writes ``SELECT`` before it and any
    ``ORDER BY`` after it, so the same text serves as a subquery too.
    """
    condition = f"r.current = 1 AND ({where})" if where else "r.current = 1"
    return f"{_FROM}{joins}\nWHERE {condition}\n"
