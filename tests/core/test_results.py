"""Results: three endpoint models rated by two raters through the real APIs (no servers)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.arena.prompts import register_prompt_set
from core.arena.ratings import RatingInput, RatingStore
from core.arena.rubric import get_rubric, safety_asked
from core.arena.sessions import create_session, session_items
from core.base.db import open_workspace
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.results import compute_results, data_version, results_dict, results_text
from tests.helpers.results_world import ITEMS, Built, build_ratings


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_ratings(open_workspace(Workspace(tmp_path_factory.mktemp("results") / "ws")))


def _reliability(ratings: list[RatingInput], unit_of, value_of) -> np.ndarray:
    units: dict[object, dict[str, float]] = {}
    for r in ratings:
        for unit, value in value_of(r, unit_of):
            units.setdefault(unit, {})[r.rater] = value
    raters = sorted({rater for values in units.values() for rater in values})
    return np.array([[values.get(rater, math.nan) for values in units.values()] for rater in raters], dtype=float)


def test_bradley_terry_order_and_the_win_matrix(built: Built) -> None:
    results = compute_results(built.workspace, rounds=200)
    m1, m2, m3 = (built.ids[name] for name in ("m1", "m2", "m3"))
    assert results.ratings == len(built.submitted) == 3 * 2 * ITEMS + 2
    assert results.models == (m1, m2, m3)
    for standing in results.standings:
        assert standing.rating.low <= standing.rating.rating <= standing.rating.high
    # Per pair and rater: the better model wins 6 of 8 (r2 calls one of them both bad), loses 1, ties 1;
    # m1 vs m2 also has r1's extra item and r1's follow-up turn, both won by m1.
    pair = results.matrix[m1][m2]
    assert (pair.wins, pair.ties, pair.losses, pair.both_bad) == (13, 3, 2, 1)
    assert (results.matrix[m2][m1].wins, results.matrix[m2][m1].losses) == (2, 13)
    for better, worse in ((m2, m3), (m1, m3)):
        record = results.matrix[better][worse]
        assert (record.wins, record.ties, record.losses, record.both_bad) == (11, 3, 2, 1)
    assert {s.model: s.battles for s in results.standings} == {m1: 34, m2: 34, m3: 32}
    decided = sum(r.preference in ("left", "right") for r in built.submitted)
    left = sum(r.preference == "left" for r in built.submitted)
    assert (results.position.decided, results.position.left_wins) == (decided, left)
    assert results.rubrics == ("default",)


def test_scores_unsafe_rates_and_raters(built: Built) -> None:
    results = compute_results(built.workspace, rounds=200)
    m1, m3 = built.ids["m1"], built.ids["m3"]
    expected = [(r.left_scores if r.left_model == m1 else r.right_scores)["empathy"]
                for r in built.submitted if m1 in (r.left_model, r.right_model)]
    score = results.score(m1, "default")
    assert score is not None and score.means["empathy"].n == len(expected)
    assert score.means["empathy"].mean == pytest.approx(sum(expected) / len(expected))
    assert score.means["empathy"].low <= score.means["empathy"].mean <= score.means["empathy"].high
    unsafe = results.score(m3, "default")
    # The denominator counts only sides whose safety was answered: asked (the default rubric asks it on every
    # item; default-crisis-only on crisis items) or flagged unsafe; a safety left at its default says nothing.
    crisis = {(item.session_id, item.position) for items in built.items.values() for item in items if item.crisis}
    answered = [r for r in built.submitted if m3 in (r.left_model, r.right_model)
                and (safety_asked(get_rubric(r.rubric), (r.session_id, r.item_position) in crisis)
                     or (r.left_scores if r.left_model == m3 else r.right_scores)["safe"] == 0)]
    assert unsafe is not None and (unsafe.unsafe.unsafe, unsafe.unsafe.n) == (2, len(answered))  # r1 flagged m3 twice
    assert 2 <= len(answered) <= 32
    on_crisis = [r for r in answered if (r.session_id, r.item_position) in crisis]
    assert unsafe.crisis_unsafe.n == len(on_crisis)
    assert score.unsafe.unsafe == 0 and score.unsafe.rate == 0
    assert [(r.rater, r.ratings, r.sessions, r.mean_seconds) for r in results.raters] == [
        ("r1", 3 * ITEMS + 2, 3, 10.0), ("r2", 3 * ITEMS, 3, 20.0)]


def test_alpha_matches_the_krippendorff_package(built: Built) -> None:
    krippendorff = pytest.importorskip("krippendorff")
    results = compute_results(built.workspace, rounds=50)

    def sides(dimension: str):
        def values(r: RatingInput, _unit_of):
            for side, scores in (("left", r.left_scores), ("right", r.right_scores)):
                yield (r.session_id, r.item_position, r.turn, side), scores[dimension]
        return values

    for dimension in ("empathy", "professionalism"):
        data = _reliability(built.submitted, None, sides(dimension))
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
        (agreement,) = [a for a in results.agreement if a.dimension == dimension]
        assert agreement.rubric == "default" and agreement.level == "ordinal"
        assert agreement.alpha == pytest.approx(expected, abs=1e-9)
        assert (agreement.units, agreement.paired, agreement.raters) == (2 * (3 * ITEMS + 2), 2 * 3 * ITEMS, 2)
    codes = {"left": 0, "right": 1, "tie": 2, "both_bad": 3}
    data = _reliability(built.submitted, None, lambda r, _u: [((r.session_id, r.item_position, r.turn),
                                                                  codes[r.preference])])
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert results.preference_agreement.alpha == pytest.approx(expected, abs=1e-9)
    assert results.preference_agreement.paired == 3 * ITEMS
    # One rater: nothing overlaps, so α is undefined.
    alone = compute_results(built.workspace, rater="r1", rounds=50)
    assert all(math.isnan(a.alpha) and a.paired == 0 for a in (*alone.agreement, alone.preference_agreement))


def test_filters(built: Built) -> None:
    everything = compute_results(built.workspace, rounds=50)
    m1, m2, m3 = (built.ids[name] for name in ("m1", "m2", "m3"))
    assert everything.values.raters == ("r1", "r2")
    assert everything.values.models == tuple(sorted((m1, m2, m3)))
    assert {sid for sid, _ in everything.values.sessions} == {s.id for s in built.sessions}
    assert "焦虑" in everything.values.tags
    assert compute_results(built.workspace, rater="r2", rounds=50).ratings == 3 * ITEMS
    first = built.sessions[0]
    by_session = compute_results(built.workspace, session=first.id, rounds=50)
    assert by_session.ratings == 2 * ITEMS + 2 and set(by_session.models) == {m1, m2}
    assert compute_results(built.workspace, session=first.name, rounds=50).filters.session == first.id
    by_model = compute_results(built.workspace, model=m3, rounds=50)
    assert by_model.ratings == 4 * ITEMS and by_model.models[-1] == m3
    tagged = {(s.id, i.position) for s in built.sessions for i in built.items[s.id] if "焦虑" in i.tags}
    expected = sum((r.session_id, r.item_position) in tagged for r in built.submitted)
    by_tag = compute_results(built.workspace, tag="焦虑", rounds=50)
    assert 0 < by_tag.ratings == expected
    both = compute_results(built.workspace, rater="r1", model=m3, tag="焦虑", rounds=50)
    assert both.ratings == sum((r.session_id, r.item_position) in tagged and r.rater == "r1"
                               and m3 in (r.left_model, r.right_model) for r in built.submitted)
    assert both.values == everything.values  # the choices stay the same under a filter
    with pytest.raises(MhbenchError, match="Did you mean 'r1'"):
        compute_results(built.workspace, rater="r11")


def test_bleu_and_rouge_for_prompts_with_references(built: Built) -> None:
    results = compute_results(built.workspace, rounds=50)
    overlap = {o.model: o for o in results.overlap}
    m1, m2 = built.ids["m1"], built.ids["m2"]
    # m1 repeats each reference: every distinct response once, however many sessions and raters showed it.
    with_reference = {i.prompt_id for s in built.sessions for i in built.items[s.id][: ITEMS + 1] if i.reference}
    assert overlap[m1].responses == len(with_reference)
    assert overlap[m1].bleu4 == pytest.approx(1.0) and overlap[m1].rouge_l == pytest.approx(1.0)
    assert overlap[m2].bleu4 < 0.5 and 0 < overlap[m2].rouge_l < 0.5


def test_reports(built: Built) -> None:
    results = compute_results(built.workspace, rounds=50)
    text = results_text(results)
    for words in ("Bradley–Terry", built.ids["m1"], "Position bias", "Krippendorff", "empathy", "BLEU-4", "r2"):
        assert words in text
    json.dumps(results_dict(results), allow_nan=False, ensure_ascii=False)
    assert data_version(built.workspace)[0] > results.ratings  # the edited rating's old version is still stored


def test_an_empty_workspace_has_empty_results(tmp_path: Path) -> None:
    for workspace in (Workspace(tmp_path / "missing"), open_workspace(Workspace(tmp_path / "fresh"))):
        results = compute_results(workspace, rounds=50)
        assert results.ratings == 0 and results.standings == () and results.matrix == {}
        assert results.overlap == () and results.raters == () and math.isnan(results.position.rate)
        assert math.isnan(results.preference_agreement.alpha)
        assert "nothing to report" in results_text(results)
        json.dumps(results_dict(results), allow_nan=False)
    assert not (tmp_path / "missing").exists()


def test_rubrics_are_never_mixed(workspace: Workspace) -> None:
    a = register_endpoint(workspace, "a", "http://127.0.0.1:9/a").id
    b = register_endpoint(workspace, "b", "http://127.0.0.1:9/b").id
    prompt_set = register_prompt_set(workspace)
    default = create_session(workspace, prompt_set.id, a, b, side_seed=1)
    cpsycoun = create_session(workspace, prompt_set.id, a, b, side_seed=2, rubric="cpsycoun")
    with RatingStore(workspace) as store:
        for item in session_items(workspace, default.id)[:2]:
            store.submit(RatingInput(default.id, item.position, "r1", "default", item.left_model, item.right_model,
                                     {"empathy": 5, "professionalism": 5, "safe": 1},
                                     {"empathy": 5, "professionalism": 5, "safe": 1}, "tie"))
        for rater in ("r1", "r2"):
            for item in session_items(workspace, cpsycoun.id)[:3]:
                scores = {"comprehensiveness": 2, "professionalism": 1, "authenticity": 3, "safety": 1}
                unsafe = {**scores, "safety": 0} if item.position == 0 else scores
                store.submit(RatingInput(cpsycoun.id, item.position, rater, "cpsycoun", item.left_model,
                                         item.right_model, unsafe if item.left_model == a else scores,
                                         unsafe if item.right_model == a else scores, "left"))
    results = compute_results(workspace, rounds=50)
    assert results.rubrics == ("cpsycoun", "default")
    by_cpsycoun, by_default = results.score(a, "cpsycoun"), results.score(a, "default")
    assert by_cpsycoun is not None and by_default is not None
    assert by_cpsycoun.means["professionalism"].mean == 1 and by_default.means["professionalism"].mean == 5
    assert list(by_cpsycoun.means) == ["comprehensiveness", "professionalism", "authenticity", "safety"]
    assert (by_cpsycoun.unsafe.unsafe, by_cpsycoun.unsafe.n) == (2, 6)
    assert [(x.rubric, x.dimension) for x in results.agreement] == [
        ("cpsycoun", "comprehensiveness"), ("cpsycoun", "professionalism"), ("cpsycoun", "authenticity"),
        ("cpsycoun", "safety"), ("default", "empathy"), ("default", "professionalism")]
    assert results.agreement[0].paired == 6 and results.agreement[4].paired == 0
    assert "CPsyCoun" in results_text(results)


def test_what_the_results_screen_asks_of_the_results(built: Built) -> None:
    from core.arena.rubric import RUBRICS
    from core.results import Results, Standing
    from core.stats import RatingCI

    results = compute_results(built.workspace, rounds=50)
    assert results.dimensions == tuple(d.key for d in RUBRICS["default"].dimensions)
    assert Results().dimensions == ()
    # m1: 13 + 11 wins and 3 + 3 ties in 34 battles (see the win matrix test).
    assert results.standings[0].win_share == pytest.approx((24 + 6 / 2) / 34)
    assert math.isnan(Standing("idle", RatingCI(1000.0, 1000.0, 1000.0), 0, 0, 0, 0).win_share)
    values = results.values
    assert values.after("rater", None) == "r1" and values.after("rater", "r1") == "r2"
    assert values.after("rater", "r2") is None  # back to all
    assert values.after("rater", "gone") == "r1"
    newest_id, newest_name = values.sessions[0]
    assert values.choices("session")[0] == newest_id and values.after("session", None) == newest_id
    assert values.label("session", newest_id) == newest_name and values.label("rater", "r1") == "r1"
    assert values.choices("model") == values.models and values.choices("tag") == values.tags
