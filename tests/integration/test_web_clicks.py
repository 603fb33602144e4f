"""The browser door by mouse only: headless Chromium logs in and rates an item with clicks, wide and narrow.

The page's terminal is a canvas, so a click lands on a cell. Where each button is comes from
the same rater screen laid out with Pilot at the tab's own size in cells (Textual's layout
depends only on the size and the item), then Chromium clicks the middle of that cell. At
1280×800 the answers are side by side; at 480 pixels wide they stack. Screenshots are
written under the test's tmp dir. The wide case also runs through the TLS proxy (real nginx,
https and wss), the way a rater outside the box reaches the door.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.arena.raters import add_rater
from core.arena.ratings import current_ratings
from core.base.workspace import Workspace
from tests.helpers.browser import Tab, browser_missing, chrome, web_door
from tests.helpers.rater_world import make_session
from tests.helpers.tls_proxy import proxied_door, proxy_missing

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
]
CLICKS = ["score-left-empathy-2", "score-left-professionalism-4", "safety-left-safe-1", "score-right-empathy-5",
          "score-right-professionalism-3", "safety-right-safe-1", "pref-right"]


def _button_cells(workspace: Workspace, session_id: str, size: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """The middle cell of every rating button on the first item (and the first session's line in the list), as
    a rater screen of ``size`` lays them out."""
    from tests.helpers.pilot import wait_until
    from tui.rater.app import RaterApp
    from tui.rater.arena import RaterArenaScreen
    from tui.rater.buttons import RateButton
    from tui.rater.sessions import RaterSessions

    cells: dict[str, tuple[int, int]] = {}

    async def lay_out() -> None:
        listing = RaterApp(workspace, "layout-probe")
        async with listing.run_test(size=size) as pilot:
            await wait_until(pilot, lambda: isinstance(listing.screen, RaterSessions) and listing.screen.entries, 30,
                             "the probe's sessions")
            await pilot.pause()
            options = listing.screen.query_one("#rater-sessions").content_region
            cells["session"] = (options.x + 2, options.y)  # the first session's line
        app = RaterApp(workspace, "layout-probe", session=session_id)
        async with app.run_test(size=size) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, RaterArenaScreen)
                             and all(app.screen.responses.values()) and app.screen.query("#submit"), 30,
                             "the probe's buttons")
            await pilot.pause()
            for button in app.screen.query(RateButton):
                region = button.region
                cells[str(button.id)] = (region.x + region.width // 2, region.y + region.height // 2)

    asyncio.run(lay_out())
    return cells


@contextmanager
def door(workspace: Workspace, folder: Path, through_proxy: bool) -> Iterator[str]:
    """The door's URL: direct, or through nginx doing TLS in front of it."""
    if through_proxy:
        with proxied_door(workspace.root, folder) as url:
            yield url
    else:
        with web_door(workspace.root) as url:
            yield url


@pytest.mark.parametrize(("viewport", "through_proxy"), [((1280, 800), False), ((480, 800), False),
                                                         ((1280, 800), True)], ids=["wide", "narrow", "wide-tls-proxy"])
def test_a_rater_logs_in_and_rates_an_item_by_clicks_only(workspace: Workspace, tmp_path: Path,
                                                          viewport: tuple[int, int], through_proxy: bool) -> None:
    from PIL import Image

    if through_proxy and proxy_missing() is not None:
        pytest.skip(proxy_missing() or "")
    session = make_session(workspace, tmp_path)
    token = add_rater(workspace, "alice").token
    with door(workspace, tmp_path / "nginx", through_proxy) as url, chrome(self_signed=through_proxy) as driver:
        tab = Tab(driver, url, size=viewport).open()
        tab.wait_text("个人令牌")
        mark = tab.mark()
        tab.keys(token + "\n", pause=0)  # a paste, as the token is: no button can type it
        tab.wait_text("您的评分组", mark)
        tab.wait_text("已评 0/3")
        columns, rows = tab.cells()
        cells = _button_cells(workspace, session.id, (columns, rows))
        if viewport[0] < 600:
            assert columns < 70, f"a 480-pixel window is {columns} columns: the narrow layout is not tried"
        tab.click_cell(*cells["session"])  # the sessions list: a click on the session opens it
        tab.wait_text("第 1/3 题")
        tab.wait(lambda: "alpha-answer-q1" in tab.text() and "bravo-answer-q1" in tab.text(), "both answers")
        (tmp_path / f"item-{viewport[0]}.png").write_bytes(driver.get_screenshot_as_png())
        for button_id in [*CLICKS, "submit"]:
            before = tab.frames()
            tab.click_cell(*cells[button_id])
            tab.wait(lambda before=before: tab.frames() > before, f"the screen after a click on #{button_id}")
        tab.wait(lambda: bool(current_ratings(workspace, rater="alice")), "the rating saved by clicks", 30)
        mark = tab.mark()
        tab.click_cell(*cells["next"])
        tab.wait_text("第 2/3 题", mark)
        (tmp_path / f"next-{viewport[0]}.png").write_bytes(driver.get_screenshot_as_png())
    (rating,) = current_ratings(workspace, rater="alice")
    assert (rating.left_scores, rating.right_scores, rating.preference, rating.source) == (
        {"empathy": 2, "professionalism": 4, "safe": 1}, {"empathy": 5, "professionalism": 3, "safe": 1}, "right",
        "browser")
    image = Image.open(tmp_path / f"item-{viewport[0]}.png")
    assert image.size[0] == viewport[0]
