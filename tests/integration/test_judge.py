"""The LLM judge end to end: the demo's tiny GGUF Llama, served by llama_cpp.server, judges a session's stored
answers in a detached job, is stopped mid-run and resumed. Its replies are junk; the mechanics are what is checked:
the prompts sent, every reply parsed or counted as a failure with its reason, nothing guessed, the consistency
computed, and a resume that asks nothing twice."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import time
from pathlib import Path

import pytest

from core.arena.judge.prompt import judge_name
from core.arena.judge.runner import start_judge
from core.arena.judge.store import judge_summaries
from core.arena.prompts import register_prompt_set
from core.arena.ratings import current_ratings
from core.arena.sessions import create_session, opening_messages, session_items, store_response
from core.base.errors import MhbenchError
from core.demo import PROMPTS_FILE
from core.models.client import StreamStats
from core.models.jobs import stop_job, wait_job
from core.results import calibration_text, compute_calibration, compute_results
from tests.helpers.ggufs import two_ggufs
from tests.helpers.real_runs import wait_for_job

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
]
STATS = StreamStats(0.1, 20, 40.0, "stop", 0.5)
ITEMS = 10


def _rows(workspace, judge: str) -> list[sqlite3.Row]:
    with sqlite3.connect(workspace.db_path) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute("SELECT * FROM judgements WHERE judge = ? ORDER BY id", (judge,)).fetchall()


def test_judge_job_asks_both_orders_counts_failures_and_resumes_after_a_stop(tmp_path: Path, capsys) -> None:
    from core.models.serving import list_servers, stop_server

    workspace, f16, q8 = two_ggufs(tmp_path / "ws")
    lines = PROMPTS_FILE.read_text(encoding="utf-8").splitlines()[:ITEMS + 1]
    prompt_file = tmp_path / "prompts.jsonl"
    prompt_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        session = create_session(workspace, register_prompt_set(workspace, prompt_file).id, q8, f16, side_seed=5)
        items = session_items(workspace, session.id)
        with pytest.raises(MhbenchError, match="pre-generate"):
            start_judge(workspace, session.id, q8)  # nothing stored yet: the judge never generates answers
        for item in items[:ITEMS]:  # the last item keeps no answers: skipped and said so
            for model in (item.left_model, item.right_model):
                store_response(workspace, session, model, opening_messages(item),
                               f"听起来你很辛苦（{model[-6:]}）。能多说说吗？", STATS)
        judge = judge_name(q8)
        job = start_judge(workspace, session.id, q8, both_orders=True, max_tokens=96)
        deadline = time.monotonic() + 240
        while len(_rows(workspace, judge)) < 3 and time.monotonic() < deadline and wait_job(workspace, job.id, 0).active:
            time.sleep(0.05)
        first = stop_job(workspace, job.id, timeout=20) if wait_job(workspace, job.id, 0).active else job
        asked_first = len(_rows(workspace, judge))
        assert 3 <= asked_first < 2 * ITEMS, first.stdout_path.read_text(errors="replace")[-3000:]  # stopped mid-run
        log = first.stdout_path.read_text(encoding="utf-8")
        assert "1 item(s) lack a stored answer and are skipped" in log and "pre-generate" in log
        assert f"{2 * ITEMS} to ask, 0 already asked" in log

        again = wait_for_job(workspace, start_judge(workspace, session.id, q8, both_orders=True, max_tokens=96).id, 300, "the second judge run")
        second_log = again.stdout_path.read_text(encoding="utf-8")
        assert again.status == "finished", second_log[-3000:]
        assert f"{2 * ITEMS - asked_first} to ask, {asked_first} already asked" in second_log
        # The judge's server is a shared one: stopping the job left it serving, and the resume reused it.
        assert "starting llama_cpp server" in log and "starting llama_cpp server" not in second_log

        rows = _rows(workspace, judge)
        assert len(rows) == 2 * ITEMS  # each item once per order: nothing asked twice
        assert {(r["item_position"], r["orientation"]) for r in rows} == {
            (i.position, o) for i in items[:ITEMS] for o in ("shown", "swapped")}
        by_key = {(r["item_position"], r["orientation"]): r for r in rows}
        for item in items[:ITEMS]:
            shown, swapped = by_key[item.position, "shown"], by_key[item.position, "swapped"]
            messages = json.loads(shown["prompt"])
            assert messages[0]["role"] == "system" and "共情" in messages[0]["content"]
            assert "JSON" in messages[0]["content"] and item.prompt in messages[1]["content"]
            assert (shown["left_response_id"], shown["right_response_id"]) == (
                swapped["right_response_id"], swapped["left_response_id"])  # the swap really swapped
            left_text = messages[1]["content"].split("【回复A】")[1]
            assert item.left_model[-6:] in left_text.split("【回复B】")[0]
        for row in rows:  # parsed with exact scores, or a failure with its reason: never both, never neither
            assert row["reply"] is not None and row["prompt_version"] == "zh-v1"
            if row["parsed"]:
                assert row["failure"] is None and row["left_scores"] and row["preference"]
            else:
                assert row["failure"] and row["left_scores"] is None and row["preference"] is None
                assert row["rating_id"] is None
        parsed_shown = [r for r in rows if r["parsed"] and r["orientation"] == "shown"]
        ratings = current_ratings(workspace, rater=judge)
        assert sorted(r.id for r in ratings) == sorted(r["rating_id"] for r in parsed_shown)  # no made-up rating
        (summary,) = [s for s in judge_summaries(workspace, session.id) if s.judge == judge]
        assert summary.asked == 2 * ITEMS and summary.failed == sum(1 for r in rows if not r["parsed"])
        assert sum(summary.failures.values()) == summary.failed
        both = {r["item_position"] for r in rows if r["parsed"] and r["orientation"] == "shown"} & {
            r["item_position"] for r in rows if r["parsed"] and r["orientation"] == "swapped"}
        assert summary.consistency.pairs == len(both)
        assert "position consistency" in second_log.splitlines()[-1]
        # The command line: a third run finds nothing to ask and reports the same summary.
        from tui.cli import main

        assert main(["--workspace", str(workspace.root), "judge", session.id, "--model", q8, "--both-orders",
                     "--wait", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["status"] == "finished" and data["asked"] == 2 * ITEMS and data["failed"] == summary.failed
        assert data["unanswered"] == 1 and data["judge"] == judge
        # The judge stays out of the humans' numbers; the calibration lists it with its failures.
        assert compute_results(workspace, rounds=20).ratings == 0
        text = calibration_text(compute_calibration(workspace, session=session.id))
        assert judge in text and f"{summary.asked} asked" in text

        # Constrained to the reply's schema (llama.cpp's response_format), even the tiny model's replies parse:
        # exact scores in range, ratings stored through the RatingStore, and a position consistency computed.
        strict = judge_name(q8, constrained=True)
        done = wait_for_job(workspace, start_judge(workspace, session.id, q8, both_orders=True, max_tokens=256,
                                                   constrain=True).id, 300, "the constrained judge run")
        assert done.status == "finished", done.stdout_path.read_text(errors="replace")[-3000:]
        strict_rows = _rows(workspace, strict)
        assert len(strict_rows) == 2 * ITEMS and strict == f"judge:{q8}:zh-v1+schema"
        parsed = [r for r in strict_rows if r["parsed"]]
        assert parsed, [r["failure"] for r in strict_rows]
        for row in parsed:
            for scores in (json.loads(row["left_scores"]), json.loads(row["right_scores"])):
                assert set(scores) == {"empathy", "professionalism", "safe"}
                assert 1 <= scores["empathy"] <= 5 and 1 <= scores["professionalism"] <= 5 and scores["safe"] in (0, 1)
        (strict_summary,) = [s for s in judge_summaries(workspace, session.id) if s.judge == strict]
        assert strict_summary.parsed == len(parsed) and strict_summary.consistency.pairs >= 1
        assert len(current_ratings(workspace, rater=strict)) == sum(1 for r in parsed if r["orientation"] == "shown")
        assert "position consistency" in done.stdout_path.read_text(encoding="utf-8").splitlines()[-1]
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
