"""Driving the app with Pilot: wait for a condition (never for a fixed time), read a widget's text."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

POLL_S = 0.25
"""How often a wait looks again: long enough to let the app's workers and timers run in between."""


async def wait_until(pilot: Pilot[object], predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Return as soon as ``predicate()`` holds; fail naming ``what`` and the limit if it never does."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return
        await pilot.pause(POLL_S)
    if predicate():
        return
    raise AssertionError(f"timed out waiting for {what} (still not there after {timeout:g} s)")


def text_of(app: App[object], selector: str) -> str:
    """The rendered text of the ``Static`` that ``selector`` names on the current screen."""
    return str(app.screen.query_one(selector, Static).render())
