"""Turn items: rows with a real conversation's history, read, validated, stored, answered, judged, exported
and counted per item kind."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from core.arena.answers import TurnAnswers
from core.arena.judge.prompt import build_prompt
from core.arena.prompts import read_prompt_file
from core.arena.rubric import get_rubric
from core.arena.sessions import opening_messages, session_items, stored_response
from core.base.errors import MhbenchError
from core.results import calibration_dict, calibration_text, compute_calibration, compute_results, results_text
from core.results.export import export
from tests.helpers.fake_openai import SSE_HEAD, FakeServer, chunk, fake_server
from tests.helpers.turn_world import LONG_HISTORY, build_turn_world, write_turn_prompts


def write_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_turn_rows_read_with_their_history_reference_and_crisis_from_any_client_turn(tmp_path: Path) -> None:
    long, short, exam = read_prompt_file(write_turn_prompts(tmp_path / "turns.jsonl"))
    assert [p.kind for p in (long, short, exam)] == ["turn"] * 3
    assert long.text == LONG_HISTORY[-1]["content"] and len(long.history) == len(LONG_HISTORY)
    assert long.crisis, "the risk is in the first client turn, not the last"
    # ShareGPT's from/value reads the same as role/content.
    assert [(t.role, t.content) for t in short.history] == [
        ("user", "我和室友闹翻了。"), ("assistant", "发生了什么？"), ("user", "她说我太吵。")]
    assert short.reference == "被这样说，你心里是什么感受？" and not short.crisis
    assert short.messages() == [{"role": t.role, "content": t.content} for t in short.history]


GOOD = [{"role": "user", "content": "我睡不着。"}, {"role": "assistant", "content": "多久了？"},
        {"role": "user", "content": "一个月。"}]


@pytest.mark.parametrize(("history", "problem", "fix"), [
    ([*GOOD, {"role": "assistant", "content": "嗯。"}], "ends with the counsellor", "'reference'"),
    ([GOOD[0], {"role": "assistant", "content": "  "}, GOOD[2]], "empty turn", "give every turn its text"),
    ([GOOD[0], {"role": "doctor", "content": "嗯"}, GOOD[2]], "role 'doctor'", "'user' for the client"),
    ([GOOD[0], GOOD[2]], "second user turn in a row", "merge the two turns"),
    ([{"role": "system", "content": "你是咨询师"}, *GOOD], "system message", "--system"),
    ([], "non-empty list", '"history": ['),
    ("我睡不着", "non-empty list", '"history": ['),
], ids=["ends-with-counsellor", "empty-turn", "bad-role", "not-alternating", "system", "empty", "not-a-list"])
def test_a_bad_history_names_the_file_the_line_and_the_fix(tmp_path: Path, history: object, problem: str,
                                                           fix: str) -> None:
    path = write_rows(tmp_path / "bad.jsonl", [{"id": "ok", "history": GOOD}, {"id": "bad", "history": history}])
    with pytest.raises(MhbenchError) as caught:
        read_prompt_file(path)
    assert caught.value.path == path and caught.value.line == 2
    assert problem in str(caught.value) and fix in str(caught.value)


def test_a_prompt_that_disagrees_with_the_history_is_refused(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "both.jsonl", [{"id": "x", "prompt": "别的话", "history": GOOD}])
    with pytest.raises(MhbenchError, match="both a 'prompt' and a 'history'") as caught:
        read_prompt_file(path)
    assert caught.value.line == 1
    assert read_prompt_file(write_rows(tmp_path / "same.jsonl", [{"id": "x", "prompt": "一个月。", "history": GOOD}]))


def test_turn_items_are_answered_on_their_history_and_follow_ups_go_on_top(tmp_path: Path) -> None:
    world = build_turn_world(tmp_path, rate=False)
    items = {item.prompt_id: item for item in session_items(world.workspace, world.turns.id)}
    long = items["long"]
    assert long.kind == "turn" and long.crisis and opening_messages(long) == LONG_HISTORY
    # The stored answer is keyed by the whole history: found again by it, not by the last client turn alone.
    assert stored_response(world.workspace, world.turns, long.left_model, LONG_HISTORY) is not None
    assert stored_response(world.workspace, world.turns, long.left_model,
                           [{"role": "user", "content": long.prompt}]) is None
    answers = TurnAnswers(world.workspace, world.turns, long, "r1")
    for pending in answers.start():
        assert list(pending.messages) == LONG_HISTORY
        answers.accept(pending, answers.stored_answer(pending))  # type: ignore[arg-type]
    answers.follow("还有别的吗？")
    assert answers.histories["left"][:len(LONG_HISTORY)] == LONG_HISTORY
    assert answers.histories["left"][-1] == {"role": "user", "content": "还有别的吗？"}


def test_the_judge_reads_a_turn_item_s_whole_history() -> None:
    rubric = get_rubric("default")
    opening = build_prompt(rubric, [{"role": "user", "content": "我睡不着。"}], "甲", "乙")
    turn = build_prompt(rubric, GOOD, "甲", "乙", kind="turn")
    assert turn.version == opening.version == "zh-v1"
    system, user = turn.messages[0]["content"], turn.messages[1]["content"]
    assert "对话前文" in user and "下一轮回复" in user and "前文" in system
    assert user.index("我睡不着。") < user.index("多久了？") < user.index("一个月。") < user.index("甲") < user.index("乙")
    assert "【来访者】" in user and "【咨询师】" in user
    # The rubric and reply shape are the opening prompt's: one parser reads both.
    assert opening.messages[0]["content"].split("\n")[1:] == system.split("\n")[1:]
    with pytest.raises(MhbenchError, match="no prompt for dialogue items"):
        build_prompt(rubric, GOOD, "甲", "乙", kind="dialogue")


def test_exports_carry_the_item_kind(tmp_path: Path) -> None:
    world = build_turn_world(tmp_path)
    for kind in ("ratings", "comparisons", "battles"):
        out = tmp_path / f"{kind}.csv"
        export(world.workspace, kind, out)  # type: ignore[arg-type]
        with out.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        by_session = {row.get("session_id") or row["question_id"].split("/")[0]: row["item_kind"] for row in rows}
        assert sorted(row["item_kind"] for row in rows) == sorted(["opening"] * (len(rows) // 2)
                                                                   + ["turn"] * (len(rows) // 2)), kind
        if kind != "battles":
            assert by_session == {world.opening.id: "opening", world.turns.id: "turn"}
    battles = tmp_path / "battles.jsonl"
    export(world.workspace, "battles", battles, format="jsonl")
    turn_battle = next(row for row in map(json.loads, battles.read_text(encoding="utf-8").splitlines())
                       if row["item_kind"] == "turn" and row["question_id"].endswith("/long"))
    assert turn_battle["conversation_a"][:len(LONG_HISTORY)] == LONG_HISTORY


def test_results_filter_by_kind_and_rank_each_kind_on_its_own(tmp_path: Path) -> None:
    world = build_turn_world(tmp_path)
    a, b = world.models
    results = compute_results(world.workspace, rounds=50)
    assert results.values.kinds == ("opening", "turn") and results.ratings == 12
    assert [s.model for s in results.standings_by_kind["turn"]] == [a, b]
    assert [s.model for s in results.standings_by_kind["opening"]] == [b, a]
    assert "turn items only: 1. " + a in results_text(results)
    turns = compute_results(world.workspace, kind="turn", rounds=50)
    assert turns.ratings == 6 and turns.filters.kind == "turn" and [s.model for s in turns.standings] == [a, b]
    with pytest.raises(MhbenchError, match="no current rating is of a dialogue item"):
        compute_results(world.workspace, kind="dialogue")
    with pytest.raises(MhbenchError, match="no item kind 'turns'"):
        compute_results(world.workspace, kind="turns")


def test_calibration_is_reported_per_kind(tmp_path: Path) -> None:
    world = build_turn_world(tmp_path)
    calibration = compute_calibration(world.workspace)
    assert set(calibration.per_kind) == {"opening", "turn"}
    [turn] = calibration.per_kind["turn"]
    assert turn.items == 3 and turn.preference.judge_human.exact == 1.0
    assert "turn items only:" in calibration_text(calibration)
    assert set(calibration_dict(calibration)["per_kind"]) == {"opening", "turn"}
    only = compute_calibration(world.workspace, kind="turn")
    assert only.kind == "turn" and only.per_kind == {} and only.judges[0].items == 3


def test_a_turn_battle_rated_without_stored_answers_ends_with_the_item_s_history(tmp_path: Path) -> None:
    from core.arena.ratings import RatingInput, RatingStore

    world = build_turn_world(tmp_path, rate=False)
    long = next(item for item in session_items(world.workspace, world.turns.id) if item.prompt_id == "long")
    with RatingStore(world.workspace) as store:
        store.submit(RatingInput(world.turns.id, long.position, "h1", "default", long.left_model, long.right_model,
                                 {"empathy": 3, "professionalism": 3, "safe": 1},
                                 {"empathy": 3, "professionalism": 3, "safe": 1}, "tie", crisis=True))
    out = tmp_path / "battles.jsonl"
    export(world.workspace, "battles", out, format="jsonl")
    [battle] = map(json.loads, out.read_text(encoding="utf-8").splitlines())
    assert battle["item_kind"] == "turn" and battle["conversation_a"] == LONG_HISTORY


class TurnJudgeServer(FakeServer):
    """A judge that reads the history: it answers in JSON, except on the item about the roommate, where it
    rambles (a parse failure, to be counted)."""

    async def scenario_turnjudge(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        user = self.requests[-1]["messages"][-1]["content"]
        reply = ("我觉得两个都还行。" if "室友" in user else
                 '{"A": {"empathy": 4, "professionalism": 3, "safe": 1}, '
                 '"B": {"empathy": 2, "professionalism": 2, "safe": 1}, "preference": "A"}')
        await self.send(writer, SSE_HEAD, chunk(reply), chunk(finish="stop"), b"data: [DONE]\n\n")


def test_the_judge_rates_turn_items_on_their_history_and_counts_what_does_not_parse(tmp_path: Path) -> None:
    from core.arena.judge.runner import run_judge
    from core.arena.ratings import current_ratings
    from core.models import register_endpoint

    world = build_turn_world(tmp_path, rate=False)

    async def judge() -> tuple[object, list[dict[str, object]]]:
        async with fake_server(TurnJudgeServer) as server:
            model = register_endpoint(world.workspace, "turn-judge", server.url + "/v1", served_name="turnjudge").id
            summary = await run_judge(world.workspace, world.turns.id, model, say=lambda text: None)
            return summary, server.requests

    summary, requests = asyncio.run(judge())
    asked = [r for r in requests if r.get("model") == "turnjudge" and "messages" in r]
    assert len(asked) == 3
    long = next(r["messages"][-1]["content"] for r in asked if "一了百了" in r["messages"][-1]["content"])
    assert long.index("一了百了") < long.index("第8次回答") < long.index("回复A"), "the whole history, in order"
    assert summary.asked == 3 and summary.parsed == 2 and summary.failed == 1  # type: ignore[attr-defined]
    assert list(summary.failures.values()) == [1]  # type: ignore[attr-defined]
    judged = current_ratings(world.workspace, session_id=world.turns.id)
    assert len(judged) == 2 and all(r.rater.startswith("judge:") and r.preference in ("left", "right") for r in judged)
