"""The rater mode at 80×24 in Chinese: an item rated by clicks only, one by keys only, the login, the language.

The clicks go through Pilot to the buttons by their ids; every label on the screen is
checked for English left behind (the answers' own text aside).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from textual.widget import Widget
from textual.widgets import Button, Static
from textual.widgets._footer import FooterKey

from core.arena.raters import add_rater, rater_language, revoke_rater
from core.arena.ratings import current_ratings
from core.arena.token_tries import FREE_TRIES, try_token
from core.base.i18n import active_language
from core.base.workspace import Workspace
from tests.helpers.pilot import wait_until
from tests.helpers.rater_world import make_session
from tui.rater.app import RaterApp
from tui.rater.arena import RaterArenaScreen
from tui.rater.sessions import RaterSessions
from tui.rater.token import TokenScreen
from tui.widgets.chat_pane import ChatPane

SIZE = (80, 24)
ENGLISH_LABELS = re.compile(
    r"\b(empathy|professionalism|safety|safe|unsafe|preference|Save|Next|Comment|tie|both bad|better|item|rater|"
    r"Rubric|Quit|Report|Sessions|Follow-up|hidden|waiting|back|flag|submits|token|Paste|your|sessions|rated|"
    r"palette)\b")


def _labels(app: RaterApp) -> str:
    """Every label a rater reads on the screen: texts, buttons, footer keys and the header; not the answers."""
    parts = [app.title, app.sub_title]
    for widget in app.screen.query("*"):
        if any(isinstance(ancestor, ChatPane) for ancestor in widget.ancestors_with_self):
            continue
        if isinstance(widget, Button):
            parts.append(str(widget.label))
        elif isinstance(widget, FooterKey):
            parts.append(widget.description)
        elif isinstance(widget, Static):
            parts.append(str(widget.render()))
    return "\n".join(parts)


def _english_on(app: RaterApp) -> list[str]:
    # Ids and the answers' markers are data, not labels: the prompt ids (q1) and rubric name carry no words.
    return ENGLISH_LABELS.findall(_labels(app).replace("mhbench", ""))


def _visible(widget: Widget) -> bool:
    return widget.region.area > 0 and widget.screen.region.contains_region(widget.region)


async def _open_arena(pilot, app: RaterApp) -> RaterArenaScreen:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: isinstance(app.screen, RaterArenaScreen) and all(app.screen.responses.values())
                     and app.screen.query("#score-left-empathy-1"), 15, "the first item's answers and buttons")
    screen = app.screen
    assert isinstance(screen, RaterArenaScreen)
    return screen


async def test_an_item_rated_by_clicks_only_and_one_by_keys_only_at_80x24_in_chinese(workspace: Workspace,
                                                                                    tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    app = RaterApp(workspace, "r1", session=session.id)
    async with app.run_test(size=SIZE) as pilot:
        arena = await _open_arena(pilot, app)
        assert active_language() == "zh"
        assert not _english_on(app), _english_on(app)
        assert "共情" in _labels(app) and "专业性" in _labels(app), "dimension names are written out in full"
        buttons = ["score-left-empathy-4", "score-left-professionalism-3", "safety-left-safe-1",
                   "score-right-empathy-5", "score-right-professionalism-2", "safety-right-safe-0", "pref-left",
                   "comment", "submit", "next"]
        for button_id in buttons:
            assert _visible(app.screen.query_one(f"#{button_id}")), f"#{button_id} is off the 80×24 screen"
        for button_id in buttons[:7]:  # out of the keys' order: a click answers its own field
            await pilot.click(f"#{button_id}")
        assert app.screen.query_one("#score-left-empathy-4").has_class("-chosen")
        await pilot.click("#comment")
        await wait_until(pilot, lambda: app.screen is not arena, 10, "the comment box")
        await pilot.click("#ask-input")
        await pilot.press(*"ok", "enter")
        await wait_until(pilot, lambda: app.screen is arena, 10, "the comment given")
        await pilot.click("#submit")
        await wait_until(pilot, lambda: arena.submitted, 15, "the saved rating")
        await pilot.click("#next")
        await wait_until(pilot, lambda: arena.index == 1 and all(arena.responses.values()), 15, "the second item")
        # The second item by keys only, exactly as before the buttons existed.
        for key in "43s54sa":
            await pilot.press(key)
        await pilot.press("enter")
        await wait_until(pilot, lambda: arena.submitted, 15, "the second saved rating")
        await pilot.press("enter")
        await wait_until(pilot, lambda: arena.index == 2, 15, "the third item")
        assert not _english_on(app), _english_on(app)
    first, second = sorted(current_ratings(workspace, rater="r1"), key=lambda rating: rating.item_position)
    assert (first.left_scores, first.right_scores) == ({"empathy": 4, "professionalism": 3, "safe": 1},
                                                       {"empathy": 5, "professionalism": 2, "safe": 0})
    assert (first.preference, first.comment) == ("left", "ok")
    assert (second.left_scores, second.right_scores, second.preference) == (
        {"empathy": 4, "professionalism": 3, "safe": 1}, {"empathy": 5, "professionalism": 4, "safe": 1}, "left")


async def test_the_answers_stack_on_a_narrow_screen(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    app = RaterApp(workspace, "r1", session=session.id)
    async with app.run_test(size=(56, 40)) as pilot:
        await _open_arena(pilot, app)
        left, right = (app.screen.query_one(f"#pane-{side}") for side in ("left", "right"))
        await wait_until(pilot, lambda: right.region.y > left.region.y, 10, "B under A")
        for button_id in ("score-right-professionalism-5", "pref-both_bad", "submit", "next"):
            assert _visible(app.screen.query_one(f"#{button_id}")), button_id


async def test_the_login_explains_itself_answers_an_empty_enter_and_says_when_to_retry(workspace: Workspace,
                                                                                      tmp_path: Path) -> None:
    make_session(workspace, tmp_path)
    token = add_rater(workspace, "alice").token
    app = RaterApp(workspace, source="browser", token_required=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TokenScreen), 10, "the token screen")
        text = _labels(app)
        assert "令牌" in text and "管理员" in text and "mhb_" in text, "what the token is and where it comes from"
        assert not _english_on(app), _english_on(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: "还没有输入" in _labels(app), 10, "the answer to an empty Enter")
        await pilot.press(*"mhb_abc")
        await wait_until(pilot, lambda: "已输入 7 个字符" in _labels(app), 10, "the masked field's count")
        await pilot.click("#token-submit")
        await wait_until(pilot, lambda: "无效" in _labels(app), 10, "the refusal")
        # Other tabs keep trying: the door closes for everyone, this tab included, and says until when.
        for n in range(FREE_TRIES - 1):
            try_token(workspace, f"mhb_other{n}", "browser", time.time())
        await pilot.press(*token, "enter")
        await wait_until(pilot, lambda: "暂停" in _labels(app), 10, "the pause and its end")
        assert re.search(r"\d\d:\d\d:\d\d", _labels(app)) and app.door is None
        assert isinstance(app.screen, TokenScreen)


async def test_a_revoked_rater_is_refused_in_the_terminal_and_the_language_is_remembered(workspace: Workspace,
                                                                                        tmp_path: Path) -> None:
    make_session(workspace, tmp_path)
    token = add_rater(workspace, "carol").token
    app = RaterApp(workspace, "carol", language="en")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RaterSessions) and app.screen.entries, 10, "sessions")
        assert "Your sessions" in _labels(app)
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, RaterSessions) and "您的评分组" in _labels(app), 10,
                         "the list in Chinese")
    assert rater_language(workspace, "carol") == "zh"
    again = RaterApp(workspace, source="terminal", token_required=True)  # a shared SSH account: --token
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press(*token, "enter")
        await wait_until(pilot, lambda: isinstance(again.screen, RaterSessions), 10, "carol's sessions")
        assert again.door is not None and again.door.rater == "carol"
    revoke_rater(workspace, "carol")
    refused = RaterApp(workspace, "carol")
    async with refused.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: any("撤销" in n.message for n in refused._notifications), 10,
                         "the refusal, in Chinese")
        assert refused.door is None


async def test_a_tabs_language_is_a_default_and_the_raters_own_choice_wins(workspace: Workspace,
                                                                           tmp_path: Path) -> None:
    make_session(workspace, tmp_path)
    token = add_rater(workspace, "erin").token
    app = RaterApp(workspace, source="browser", token_required=True, language="en")  # the operator's default
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TokenScreen), 10, "the token screen")
        assert "Paste your personal token" in _labels(app) or "paste your personal token" in _labels(app)
        await pilot.press(*token, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RaterSessions) and app.screen.entries, 10, "sessions")
        assert "Your sessions" in _labels(app)
    assert rater_language(workspace, "erin") is None, "the operator's default is not the rater's choice"
    mine = RaterApp(workspace, "erin", language="zh")  # erin types --lang zh in her own terminal
    async with mine.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(mine.screen, RaterSessions) and mine.screen.entries, 10, "sessions")
    assert rater_language(workspace, "erin") == "zh"
    tab = RaterApp(workspace, source="browser", token_required=True, language="en")
    async with tab.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(tab.screen, TokenScreen), 10, "the token screen")
        await pilot.press(*token, "enter")
        await wait_until(pilot, lambda: isinstance(tab.screen, RaterSessions) and tab.screen.entries, 10, "sessions")
        assert "您的评分组" in _labels(tab), "her own choice wins once she is known"
