"""The browser door for real: ``mhbench web`` on 127.0.0.1, driven by headless Chromium with the keyboard.

A rater enters their token, rates two items, closes the tab, opens a new one (and, after
a restart of ``mhbench web``, another) and is back at their first unrated item; the screenshot (1280×800) shows the two answers side by side.
A wrong token, and a token revoked since, see no session. The answers are pre-stored
through the core API, so no model server is involved.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from core.arena.raters import add_rater, revoke_rater
from core.arena.ratings import current_ratings
from core.base.workspace import Workspace
from tests.helpers.browser import Tab, browser_missing, chrome, web_door
from tests.helpers.rater_world import make_session

# The tabs speak Chinese, as a counsellor reads them (docs/raters.md).
TOKEN_SCREEN = "个人令牌"
SESSIONS = "您的评分组"
REFUSED = "令牌无效"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
]


def _log_in(tab: Tab, token: str) -> None:
    mark = tab.mark()
    tab.wait_text(TOKEN_SCREEN)
    tab.keys(token + "\n", pause=0)
    tab.wait_text(SESSIONS, mark)


def _rate_current_item(tab: Tab, number: int, scores: str) -> None:
    """Wait for item ``number`` and both its answers, fill the form, save, and see the names revealed."""
    from selenium.webdriver.common.keys import Keys

    tab.wait_text(f"第 {number}/3 题")
    mark = tab.mark()
    tab.wait(lambda: "alpha-answer" in tab.text() and "bravo-answer" in tab.text(), "both answers")
    tab.keys(scores)
    tab.keys(Keys.ENTER)
    tab.wait_text("model-a", mark)  # revealed only after this rater's own submit


def _bright_pixels(image: object, box: tuple[int, int, int, int]) -> int:
    region = image.crop(box).convert("L")  # type: ignore[attr-defined]
    return sum(1 for value in region.getdata() if value > 150)


def test_a_rater_rates_two_items_in_the_browser_and_resumes_in_a_new_tab(workspace: Workspace,
                                                                          tmp_path: Path) -> None:
    from PIL import Image
    from selenium.webdriver.common.keys import Keys

    session = make_session(workspace, tmp_path, reveal="item")  # the names show after each submit
    alice = add_rater(workspace, "alice").token
    with web_door(workspace.root) as url, chrome() as driver:
        tab = Tab(driver, url).open()
        _log_in(tab, alice)
        tab.wait_text("已评 0/3")
        assert "model-a" not in tab.text() and "model-b" not in tab.text()
        tab.keys(Keys.ENTER)  # rate the highlighted session
        _rate_current_item(tab, 1, "43s54sa")
        tab.keys(Keys.ENTER)  # on to the next item
        _rate_current_item(tab, 2, "54s45sb")
        ratings = current_ratings(workspace, session_id=session.id)
        assert [(r.rater, r.source, r.item_position) for r in ratings] == [("alice", "browser", 0),
                                                                           ("alice", "browser", 1)]

        # Closing the tab ends its app; the next tab is a new app that resumes at the third item.
        again = Tab(driver, url)
        driver.switch_to.new_window("tab")  # a second tab first, so the browser stays open when the first closes
        tab.close()
        again.open()
        _log_in(again, alice)
        again.wait_text("已评 2/3")
        again.keys(Keys.ENTER)
        again.wait_text("第 3/3 题")
        again.wait(lambda: "alpha-answer-q3" in again.text() and "bravo-answer-q3" in again.text(), "both answers")
        assert "model-a" not in again.text()  # item 3 is not rated yet: names hidden
        png = driver.get_screenshot_as_png()
        (tmp_path / "door.png").write_bytes(png)

    # A restarted `mhbench web` loses nothing either: the first tab on the new server resumes there.
    with web_door(workspace.root) as url, chrome() as driver:
        restarted = Tab(driver, url).open()
        _log_in(restarted, alice)
        restarted.wait_text("已评 2/3")
        restarted.keys(Keys.ENTER)
        restarted.wait_text("第 3/3 题")
    assert len(current_ratings(workspace, session_id=session.id)) == 2

    image = Image.open(io.BytesIO(png))
    assert image.size == (1280, 800)
    width, height = image.size
    # The answers' band: below the prompt, above the rating bar. Text in both halves, and the
    # border between the panes down the middle.
    top, bottom = int(height * 0.12), int(height * 0.5)
    left = _bright_pixels(image, (0, top, width // 2 - 8, bottom))
    right = _bright_pixels(image, (width // 2 + 8, top, width, bottom))
    assert left > 300 and right > 300, (left, right)
    middle = image.crop((width // 2 - 12, top, width // 2 + 12, bottom)).convert("L")
    columns = [[middle.getpixel((x, y)) for y in range(middle.height)] for x in range(middle.width)]
    background = image.convert("L").getpixel((width // 4, int(height * 0.45)))
    assert any(sum(1 for value in column if value != background) > 0.9 * len(column) for column in columns), \
        "no border between the two panes"


def test_a_wrong_or_revoked_token_sees_no_session(workspace: Workspace, tmp_path: Path) -> None:
    make_session(workspace, tmp_path)
    bob = add_rater(workspace, "bob").token
    with web_door(workspace.root) as url, chrome() as driver:
        tab = Tab(driver, url).open()
        tab.wait_text(TOKEN_SCREEN)
        mark = tab.mark()
        tab.keys(bob[:-2] + "xx\n", pause=0)
        tab.wait_text(REFUSED, mark)
        # The session is named "door": the token screen's own text never says it.
        for secret in (SESSIONS, "已评", "alpha-answer", "bravo-answer", "bob"):
            assert secret not in tab.text(), secret

        revoke_rater(workspace, "bob")
        fresh = Tab(driver, url).open(new_window=True)
        fresh.wait_text(TOKEN_SCREEN)
        mark = fresh.mark()
        fresh.keys(bob + "\n", pause=0)
        fresh.wait_text(REFUSED, mark)
        assert SESSIONS not in fresh.text() and "alpha-answer" not in fresh.text()


def test_two_browser_raters_and_a_terminal_rater_share_a_session_and_the_export_shows_each_source(
        workspace: Workspace, tmp_path: Path) -> None:
    import asyncio
    import csv

    from selenium.webdriver.common.keys import Keys

    from core.results.export import export
    from tests.helpers.pilot import wait_until
    from tui.rater.app import RaterApp
    from tui.rater.arena import RaterArenaScreen

    session = make_session(workspace, tmp_path, reveal="item")  # the names show after each submit
    tokens = {name: add_rater(workspace, name, [session.id]).token for name in ("r1", "r2")}
    with web_door(workspace.root) as url, chrome() as driver:
        first = Tab(driver, url).open()
        second = Tab(driver, url).open(new_window=True)
        for tab, name in ((first, "r1"), (second, "r2")):
            driver.switch_to.window(tab.handle)
            _log_in(tab, tokens[name])
            tab.wait_text("已评 0/3")  # the list has loaded: an Enter before it opens nothing
            tab.keys(Keys.ENTER)
            tab.wait_text("第 1/3 题")
        for tab, comment, scores in ((second, "SECRETr2", "22s22sb"), (first, "", "43s54sa")):
            driver.switch_to.window(tab.handle)
            tab.wait(lambda tab=tab: "alpha-answer-q1" in tab.text() and "bravo-answer-q1" in tab.text(), "answers")
            assert "model-a" not in tab.text()
            if comment:
                tab.keys("c")
                tab.wait_text("对这次比较的备注")
                tab.keys(comment + "\n")
            mark = tab.mark()
            tab.keys(scores)
            tab.keys(Keys.ENTER)
            tab.wait_text("model-a", mark)
        # r1 rated after r2: r1's own progress only, and never r2's comment or scores.
        driver.switch_to.window(first.handle)
        first.keys("o")
        first.wait_text("已评 1/3")
        assert "SECRETr2" not in first.text() and "2/3" not in first.text()

        async def terminal_rater() -> None:
            app = RaterApp(workspace, "r3", session=session.id)
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_until(pilot, lambda: isinstance(app.screen, RaterArenaScreen)
                                 and all(app.screen.responses.values()), 30, "the terminal rater's answers")
                for key in "33s33st":
                    await pilot.press(key)
                await pilot.press("enter")
                await wait_until(pilot, lambda: app.screen.submitted, 30, "the terminal submit")

        asyncio.run(terminal_rater())  # while both tabs are still open

    out = tmp_path / "ratings.csv"
    export(workspace, "comparisons", out=out)
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((row["rater"], row["source"]) for row in rows) == [
        ("r1", "browser"), ("r2", "browser"), ("r3", "terminal")]
    assert {r.rater: r.comment for r in current_ratings(workspace)}["r2"] == "SECRETr2"
