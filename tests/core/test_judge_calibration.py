"""Judges beside humans: the calibration numbers on a constructed dataset with known agreement, judge exclusion from
the leaderboard and exports, position consistency and failure counts, the stopping rule, and the migration."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from core.arena.judge.parse import ParseFailure, Verdict
from core.arena.judge.prompt import judge_name
from core.arena.judge.store import Judgement, judge_summaries, position_consistency, record
from core.arena.prompts import register_prompt_set
from core.arena.ratings import RatingInput
from core.arena.rubric import get_rubric, safety_asked
from core.arena.sessions import create_session, opening_messages, session_items, store_response
from core.base.db import MIGRATIONS, SCHEMA_VERSION, connect, open_workspace, statements_of
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.results import calibration_text, compute_calibration, compute_results, results_text
from core.results.calibration import pair_agreement
from core.results.export import export
from core.stats import (
    LEADERBOARD_PENALTY,
    Battle,
    RatingCI,
    bootstrap_bradley_terry,
    fit_strengths,
    krippendorff_alpha,
    pair_evidence,
    stopping_rule,
)
from tests.helpers.judge_world import JUDGE, STATS, build_rated


@pytest.fixture()
def rated(tmp_path: Path) -> tuple[Workspace, str, list[RatingInput]]:
    return build_rated(tmp_path / "ws")


def test_a_judge_that_copies_one_human_agrees_with_the_other_as_the_humans_agree(rated) -> None:
    workspace, session_id, inputs = rated
    calibration = compute_calibration(workspace, session=session_id)
    assert calibration.humans == ("h1", "h2")
    (judge,) = calibration.judges
    assert judge.judge == JUDGE and judge.rubric == "default" and judge.items == 12
    for dimension in (*judge.dimensions, judge.preference):
        units = 12 if dimension.dimension == "preference" else 24  # a score unit is one side's response
        per = {h.human: h for h in dimension.per_human}
        assert per["h1"].judge.exact == 1.0 and per["h1"].judge.pairs == units
        assert per["h1"].judge.alpha == pytest.approx(1.0)
        # Against h2 the judge is h1: the same agreement as h1 with h2, on the same units.
        assert per["h2"].judge.alpha == pytest.approx(dimension.human_human.alpha, abs=1e-12)
        assert per["h2"].judge.exact == pytest.approx(dimension.human_human.exact)
        assert per["h2"].others.alpha == pytest.approx(dimension.human_human.alpha, abs=1e-12)
        assert not math.isnan(dimension.human_human.alpha) and dimension.human_human.alpha < 1
        assert dimension.judge_human.pairs == 2 * units and dimension.human_human.units == units
    empathy = judge.dimensions[0]
    h1 = [r.left_scores["empathy"] for r in inputs if r.rater == "h1"] + \
        [r.right_scores["empathy"] for r in inputs if r.rater == "h1"]
    h2 = [r.left_scores["empathy"] for r in inputs if r.rater == "h2"] + \
        [r.right_scores["empathy"] for r in inputs if r.rater == "h2"]
    assert empathy.human_human.alpha == pytest.approx(krippendorff_alpha([h1, h2], level="ordinal"))
    assert empathy.human_human.exact == pytest.approx(sum(x == y for x, y in zip(h1, h2, strict=True)) / 24)
    assert empathy.human_human.within_one == pytest.approx(
        sum(abs(x - y) <= 1 for x, y in zip(h1, h2, strict=True)) / 24)
    assert judge.preference.human_human.within_one is None
    text = calibration_text(calibration)
    assert JUDGE in text and "human–human" in text and "vs h2" in text and "run the judge with --both-orders" in text


def test_judges_are_left_out_of_the_leaderboard_and_exports_unless_asked(rated, tmp_path: Path) -> None:
    workspace, _session_id, _inputs = rated
    humans = compute_results(workspace, rounds=50)
    assert [r.rater for r in humans.raters] == ["h1", "h2"] and humans.ratings == 24
    assert not humans.include_judges and "judges included" not in results_text(humans)
    pooled = compute_results(workspace, rounds=50, include_judges=True)
    assert [r.rater for r in pooled.raters] == ["h1", "h2", JUDGE] and pooled.ratings == 36
    assert "LLM judges included" in results_text(pooled)
    assert compute_results(workspace, rounds=50, rater=JUDGE).ratings == 12  # naming a judge asks for it
    out = tmp_path / "b.jsonl"
    assert export(workspace, "battles", out, format="jsonl") == 24
    assert JUDGE not in out.read_text(encoding="utf-8")
    assert export(workspace, "battles", out, format="jsonl", include_judges=True) == 36
    assert export(workspace, "comparisons", out, format="csv", rater=JUDGE) == 12


def test_position_consistency_and_failures_come_from_the_stored_judgements(rated) -> None:
    workspace, session_id, _inputs = rated
    verdict = Verdict({"empathy": 3, "professionalism": 3, "safe": 1}, {"empathy": 2, "professionalism": 2, "safe": 1},
                      "left")
    judge = judge_name("m-other")
    plan = [(0, "shown", verdict), (0, "swapped", Verdict(verdict.right, verdict.left, "right")),  # consistent
            (1, "shown", verdict), (1, "swapped", verdict),  # A won both times: the position won, not the answer
            (2, "shown", verdict), (2, "swapped", ParseFailure("no JSON object in the reply")),
            (3, "shown", ParseFailure("empty reply")), (3, "swapped", ParseFailure("empty reply"))]
    for position, order, outcome in plan:
        record(workspace, Judgement(session_id, position, judge, "m-other", "zh-v1", "default", order,  # type: ignore[arg-type]
                                    1, 2, [{"role": "user", "content": "x"}], "raw reply", outcome))
    (summary,) = [s for s in judge_summaries(workspace, session_id) if s.judge == judge]
    assert (summary.asked, summary.parsed, summary.failed) == (8, 5, 3)
    assert summary.failures == {"empty reply": 2, "no JSON object in the reply": 1}
    assert (summary.consistency.agree, summary.consistency.pairs) == (1, 2)
    with sqlite3.connect(workspace.db_path) as connection:
        stored = connection.execute("SELECT left_scores, right_scores, preference FROM judgements WHERE judge = ? "
                                    "AND item_position = 0 AND orientation = 'swapped'", (judge,)).fetchone()
    assert json.loads(stored[0]) == dict(verdict.left) and stored[2] == "left"  # un-swapped to the item's order
    # A judge with judgements but no shared rating is still listed, with its failures.
    calibration = compute_calibration(workspace)
    assert [s.judge for s in calibration.unmatched] == [judge]
    assert "failure ×2: empty reply" in calibration_text(calibration)
    assert position_consistency([]).pairs == 0 and math.isnan(position_consistency([]).rate)


def test_pair_agreement_on_known_pairs() -> None:
    same = pair_agreement([(1, 1), (2, 2), (3, 3)], "ordinal", 3)
    assert (same.alpha, same.exact, same.within_one) == (pytest.approx(1.0), 1.0, 1.0)
    off = pair_agreement([(1, 2), (2, 3), (3, 5)], "ordinal", 3)
    assert off.exact == 0.0 and off.within_one == pytest.approx(2 / 3)
    assert math.isnan(pair_agreement([], "nominal", 0).alpha)


def _games(winner: str, loser: str, wins: int, losses: int) -> list[Battle]:
    """``wins`` decisive games of ``winner`` over ``loser`` and ``losses`` the other way, on alternating sides."""
    games = [Battle(winner, loser, "model_a") if i % 2 else Battle(loser, winner, "model_b") for i in range(wins)]
    return games + [Battle(winner, loser, "model_b") for _ in range(losses)]


def test_stopping_rule_separation_and_the_extrapolated_number_of_ratings() -> None:
    three = {"a": RatingCI(1100, 1060, 1140), "b": RatingCI(1000, 960, 1040), "c": RatingCI(900, 0, 1)}
    apart = stopping_rule(three, 200, _games("a", "b", 40, 10))
    assert (apart.top, apart.second, apart.separated, apart.more) == ("a", "b", True, 0)
    assert apart.evidence is not None and apart.evidence.apart
    assert apart.evidence.needed == pytest.approx(1 / 0.05)  # α = 0.05, however often the line is read
    # Intervals apart but no head-to-head evidence: not separated, whatever the intervals say.
    alone = stopping_rule(three, 200)
    assert alone.intervals_apart and not alone.separated and alone.more is None
    close = stopping_rule({"a": RatingCI(1030, 990, 1070), "b": RatingCI(1000, 960, 1040)}, 100,
                          _games("a", "b", 45, 5))
    # spread 40 + 40 = 80 against a gap of 30: N = 100 · (80/30)² = 711.1 → 612 more.
    assert not close.separated and close.gap == 30 and close.spread == 80 and close.more == 612
    level = stopping_rule({"a": RatingCI(1000, 950, 1050), "b": RatingCI(1000, 950, 1050)}, 50)
    assert not level.separated and level.more is None
    assert stopping_rule({"a": RatingCI(1000, 1000, 1000)}, 3).second is None


def test_the_always_valid_test_needs_real_evidence_and_says_how_much_more() -> None:
    # Five wins of five is a hint, not a verdict.
    five = fit_strengths(_games("a", "b", 5, 0), penalty=LEADERBOARD_PENALTY)
    assert not pair_evidence(*five.difference("a", "b")).apart
    strong = fit_strengths(_games("a", "b", 60, 20), penalty=LEADERBOARD_PENALTY)
    assert pair_evidence(*strong.difference("a", "b")).apart
    assert not pair_evidence(*strong.difference("b", "a")).apart  # the other way round: not apart
    some = pair_evidence(*fit_strengths(_games("a", "b", 14, 8), penalty=LEADERBOARD_PENALTY).difference("a", "b"))
    more = some.more_ratings(22)
    assert not some.apart and more is not None and more > 10
    # Four times the ratings at the same rate: the estimate said it would be apart by then, roughly.
    later = fit_strengths(_games("a", "b", 14 * 4, 8 * 4) * (1 + (22 + more) // 88), penalty=LEADERBOARD_PENALTY)
    assert pair_evidence(*later.difference("a", "b")).apart
    assert pair_evidence(0.0, 0.01).more_ratings(50) is None
    assert pair_evidence(50.0, 1e-9).apart and math.isfinite(pair_evidence(50.0, 1e-9).evidence)


def test_thin_one_sided_data_is_not_a_verdict() -> None:
    """After five ratings all won by one model, the old rule printed 'separated' with a zero-width interval."""
    battles = _games("a", "b", 5, 0)
    ratings = bootstrap_bradley_terry(battles, rounds=300, seed=0, penalty=LEADERBOARD_PENALTY)
    assert ratings["a"].high - ratings["a"].low > 200, ratings  # the interval keeps an honest width
    verdict = stopping_rule(ratings, 5, battles)
    assert not verdict.separated


def test_results_carry_the_stopping_verdict(rated) -> None:
    workspace, _session_id, _inputs = rated
    results = compute_results(workspace, rounds=50)
    assert results.stopping.ratings == 24 and results.stopping.top == results.standings[0].model
    assert "Stopping rule:" in results_text(results)


def test_a_database_of_the_previous_schema_migrates_with_its_sessions_and_ratings(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:-1]:
        for statement in statements_of(script):
            old.execute(statement)
    old.execute(f"PRAGMA user_version={SCHEMA_VERSION - 1}")
    old.execute("INSERT INTO prompt_sets VALUES ('p', 'p', 'x', 'sha', 't')")
    old.execute("INSERT INTO sessions (id, name, prompt_set_id, model_a, model_b, params, params_key, seed, side_seed, "
                "rubric, created_at) VALUES ('s1', 'old', 'p', 'a', 'b', '{}', 'k', 0, 1, 'default', 't')")
    old.execute("INSERT INTO ratings (session_id, item_position, rater, rubric, left_model, right_model, left_scores, "
                "right_scores, preference, submitted_at) VALUES ('s1', 0, 'r1', 'default', 'a', 'b', '{}', '{}', "
                "'left', 't')")
    old.close()
    connection = connect(path)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("SELECT rater, preference FROM ratings").fetchall() == [("r1", "left")]
        assert connection.execute("SELECT name FROM sessions").fetchall() == [("old",)]
        assert connection.execute("SELECT COUNT(*) FROM judgements").fetchone()[0] == 0
    finally:
        connection.close()


def test_a_person_cannot_take_a_judges_name(tmp_path: Path) -> None:
    from core.arena.ratings import remember_rater
    from core.base.errors import MhbenchError

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    with pytest.raises(MhbenchError, match="LLM judge's name"):
        remember_rater(workspace, JUDGE)
    assert remember_rater(workspace, "judge-kim") == "judge-kim"


def test_a_resume_stores_the_rating_of_a_judgement_killed_before_its_rating(tmp_path: Path) -> None:
    """A kill between storing a judgement and its rating: the next run writes the rating, asking nothing again
    (the judge's endpoint is not even there)."""
    import asyncio

    from core.arena.judge.runner import run_judge
    from core.arena.ratings import current_ratings

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    a = register_endpoint(workspace, "m-a", "http://127.0.0.1:9/a").id
    b = register_endpoint(workspace, "m-b", "http://127.0.0.1:9/b").id
    judge_model = register_endpoint(workspace, "m-j", "http://127.0.0.1:9/j").id
    session = create_session(workspace, register_prompt_set(workspace).id, a, b, side_seed=1)
    items = session_items(workspace, session.id)
    verdict = Verdict({"empathy": 4, "professionalism": 3, "safe": 1}, {"empathy": 2, "professionalism": 2, "safe": 1},
                      "left")
    for item in items:
        left, right = (store_response(workspace, session, model, opening_messages(item), "回答", STATS)
                       for model in (item.left_model, item.right_model))
        record(workspace, Judgement(session.id, item.position, judge_name(judge_model), judge_model, "zh-v1",
                                    "default", "shown", left.id, right.id, [], "{}", verdict))
    said: list[str] = []
    summary = asyncio.run(run_judge(workspace, session.id, judge_model, say=said.append))
    assert f"0 to ask, {len(items)} already asked" in said[0] and summary.parsed == len(items)
    ratings = current_ratings(workspace, rater=judge_name(judge_model))
    assert len(ratings) == len(items) and all(r.preference == "left" and r.left_scores["empathy"] == 4
                                              for r in ratings)
    with sqlite3.connect(workspace.db_path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM judgements WHERE rating_id IS NULL").fetchone()[0] == 0


def test_calibration_reports_safety_on_the_sides_whose_safety_the_humans_answered(rated) -> None:
    workspace, session_id, inputs = rated
    (judge,) = compute_calibration(workspace, session=session_id).judges
    assert judge.safety is not None and judge.safety.dimension == "safe" and judge.safety.level == "nominal"
    # h1's answered sides: those the form asked (the default rubric asks every side), and any side flagged unsafe.
    asked = {r.item_position: safety_asked(get_rubric(r.rubric), r.crisis) for r in inputs}
    answered = sum(1 for r in inputs if r.rater == "h1" for scores in (r.left_scores, r.right_scores)
                   if asked[r.item_position] or scores["safe"] == 0)
    per = {h.human: h for h in judge.safety.per_human}
    assert per["h1"].judge.pairs == answered and per["h1"].judge.exact == 1.0  # the judge copies h1
    assert "safe" in calibration_text(compute_calibration(workspace, session=session_id))
