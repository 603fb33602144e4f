"""The mode keys, shown in every screen's header so the Footer stays short (and the first frame quick)."""

from __future__ import annotations

MODE_HINT = "F2–F6 switch modes · F1 help"


def mode_title(name: str) -> str:
    """The header subtitle of a mode's screen: its name and the keys to the others."""
    return f"{name}   {MODE_HINT}"
