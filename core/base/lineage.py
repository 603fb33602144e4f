"""Walking a lineage: from a row up its ``parent_id`` links to the first ancestor.

Runs (a resumed run's parent) and models (a GGUF's merged model, its adapter, its base)
are both chains of rows linked by ``parent_id``; one walk serves both, so both stop the
same way at a deleted parent and at a cycle that a hand-edited database might hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar


class Lineal(Protocol):
    """A row that names its parent."""

    @property
    def id(self) -> str: ...

    @property
    def parent_id(self) -> str | None: ...


Row = TypeVar("Row", bound=Lineal)


def walk_lineage(start: Row, parent: Callable[[str], Row | None]) -> list[Row]:
    """``start``'s ancestors, the oldest first, then ``start`` itself.

    ``parent`` fetches a row by its exact id, or ``None`` when it is gone: the walk ends
    there, as it does when an id comes round again.
    """
    chain = [start]
    seen = {start.id}
    while (parent_id := chain[0].parent_id) and parent_id not in seen:
        found = parent(parent_id)
        if found is None:
            break
        seen.add(found.id)
        chain.insert(0, found)
    return chain
