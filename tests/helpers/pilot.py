"""Driving the app with Pilot: wait for a condition (never for a fixed time), read a widget's text."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from tests.helpers.machine import limit_note, scaled

POLL_S = 0.25
"""How often a wait looks again: long enough to let the app's workers and timers run in between."""


async def wait_until(pilot: Pilot[object], predicate: Callable[[], object], timeout: float, what: str,
                     detail: Callable[[], str] | None = None) -> None:
    """Return as soon as ``predicate()`` holds; fail naming ``what``, the limit and ``detail()`` if it never does."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return
        await pilot.pause(POLL_S)
    if predicate():
        return
    seen = f"; {detail()}" if detail is not None else ""
    raise AssertionError(f"timed out waiting for {what} (still not there after {timeout:g} s){seen}")


async def wait_for_real_work(pilot: Pilot[object], predicate: Callable[[], object], reference_s: float,
                             what: str) -> None:
    """``wait_until`` for what a real tool does (a training step, a GGUF, a model's answer): the limit is
    ``reference_s`` on the reference box, scaled to this machine, and the failure says so."""
    await wait_until(pilot, predicate, scaled(reference_s), what, detail=lambda: limit_note(reference_s))


def text_of(app: App[object], selector: str) -> str:
    """The rendered text of the ``Static`` that ``selector`` names on the current screen."""
    return str(app.screen.query_one(selector, Static).render())


async def settle(pilot: Pilot[object]) -> None:
    """Until the app has handled every message and finished its animations and workers: what was asked for is on
    screen, without guessing how long that takes."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
