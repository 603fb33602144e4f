"""Keep the garbage collector off what start-up and the first imports of a mode allocated."""

from __future__ import annotations


def freeze_heap() -> None:
    """Move what start-up allocated out of the collector's reach.

    A full collection over the imported libraries' objects stalls the event loop for
    over 100 ms, a visible hitch while two answers stream; frozen objects are never
    scanned again.
    """
    import gc

    gc.freeze()
