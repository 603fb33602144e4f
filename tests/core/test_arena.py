"""Arena core: prompt sets, sessions with recorded sides, responses stored once, the rubric form, ratings."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.arena.crisis import shows_crisis
from core.arena.prompts import read_prompt_file, register_prompt_set
from core.arena.ratings import RatingInput, RatingStore, current_ratings, last_rater, rating_history, remember_rater
from core.arena.rubric import (
    CPSYCOUN_RUBRIC,
    DEFAULT_RUBRIC,
    RatingForm,
    form_fields,
    get_rubric,
    safety_asked,
    safety_asked_before_recorded,
)
from core.arena.sessions import (
    create_session,
    first_unrated,
    get_session,
    opening_messages,
    session_items,
    store_response,
    stored_response,
    vendor_flags,
)
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.models.client import GenerationParams, StreamStats


def two_models(workspace: Workspace) -> tuple[str, str]:
    a = register_endpoint(workspace, "model-a", "http://127.0.0.1:9/v1").id
    b = register_endpoint(workspace, "model-b", "http://127.0.0.1:9/v2").id
    return a, b


def test_the_demo_prompt_set_registers_once_with_crisis_marks(workspace: Workspace) -> None:
    first = register_prompt_set(workspace)
    assert len(first.prompts) == 49 and register_prompt_set(workspace).id == first.id
    # The seven tagged crisis openings, and two that the learned tier reads as worth a safety question:
    # p019 (日子过得没有意义) and p031 (觉得自己不如别人).
    assert sum(p.crisis for p in first.prompts) == 9
    assert sum(p.reference is not None for p in first.prompts) == 24
    assert shows_crisis("我真的不想活了") and shows_crisis("I keep thinking about self-harm")
    assert not shows_crisis("最近睡不好，很焦虑")


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ('{"id": "a", "prompt": "你好"}\n{"id": "b", "prompt": }\n', 2, "not valid JSON"),
        ('{"id": "a", "prompt": "你好"}\n{"id": "a", "prompt": "再见"}\n', 2, "already used on line 1"),
        ('{"id": "a", "text": "你好"}\n', 1, "no 'prompt'"),
        ('{"id": "a", "prompt": "x", "tags": 3}\n', 1, "tags"),
    ],
)
def test_a_broken_prompt_file_names_the_line(tmp_path: Path, content: str, line: int, words: str) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MhbenchError) as caught:
        read_prompt_file(path)
    assert caught.value.line == line and words in str(caught.value) and caught.value.fix


def test_csv_prompts_and_gbk_files(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,prompt,reference,tags\nq1,我很难过,,情绪;低落\n", encoding="utf-8-sig")
    (prompt,) = read_prompt_file(path)
    assert (prompt.id, prompt.text, prompt.reference, prompt.tags) == ("q1", "我很难过", None, ("情绪", "低落"))
    gbk = tmp_path / "g.jsonl"
    gbk.write_bytes('{"id": "a", "prompt": "我很难过"}\n'.encode("gbk"))
    with pytest.raises(MhbenchError, match="not UTF-8"):
        read_prompt_file(gbk)


def test_sides_are_randomised_from_the_recorded_seed(workspace: Workspace) -> None:
    a, b = two_models(workspace)
    prompt_set = register_prompt_set(workspace)
    one = create_session(workspace, prompt_set.id, a, b, side_seed=7)
    two = create_session(workspace, prompt_set.id, a, b, side_seed=7)
    sides_one = [item.left_model for item in session_items(workspace, one.id)]
    assert sides_one == [item.left_model for item in session_items(workspace, two.id)]
    assert 10 < sides_one.count(a) < 39  # both sides, roughly half each
    assert get_session(workspace, one.id).side_seed == 7
    with pytest.raises(MhbenchError, match="two different models"):
        create_session(workspace, prompt_set.id, a, a)


def test_a_response_is_stored_once_and_shared(workspace: Workspace) -> None:
    a, b = two_models(workspace)
    session = create_session(workspace, register_prompt_set(workspace).id, a, b,
                             params=GenerationParams(temperature=0.5, seed=3))
    item = session_items(workspace, session.id)[0]
    messages = opening_messages(item)
    stats = StreamStats(0.1, 12, 30.0, "stop", 0.5)
    first = store_response(workspace, session, a, messages, "我是通义千问，很高兴帮你。", stats, created_by="r1")
    second = store_response(workspace, session, a, messages, "another text", stats, created_by="r2")
    assert second.id == first.id and second.text == first.text and first.flags == ("通义千问",)
    again = stored_response(workspace, session, a, messages)
    assert again is not None and again.id == first.id
    # Another session with the same prompt, model, parameters and seed reads the same response.
    other = create_session(workspace, session.prompt_set_id, a, b, params=GenerationParams(temperature=0.5, seed=3))
    shared = stored_response(workspace, other, a, messages)
    assert shared is not None and shared.id == first.id
    regenerated = store_response(workspace, session, a, messages, "新的回答", stats, generation=1)
    newest = stored_response(workspace, session, a, messages)
    assert regenerated.generation == 1 and newest is not None and newest.id == regenerated.id


def test_vendor_names_are_flagged() -> None:
    assert vendor_flags("作为Meta开发的Llama模型，我……还有 ChatGPT") == ["Meta", "Llama", "ChatGPT"]
    assert vendor_flags("我是一名心理咨询师") == []
    assert vendor_flags("我是讯飞星火，也叫千问？") == ["讯飞", "星火", "千问"]


def test_the_form_rates_an_item_in_a_handful_of_keys() -> None:
    form = RatingForm(DEFAULT_RUBRIC, crisis=False)
    for key in "43s54sa":
        assert form.press(key)
    assert form.complete and form.preference == "left"
    assert form.scores("left") == {"empathy": 4, "professionalism": 3, "safe": 1}
    assert form.scores("right") == {"empathy": 5, "professionalism": 4, "safe": 1}
    assert not form.press("9")  # out of range for nothing left: ignored
    form.toggle_unsafe("right")
    assert form.scores("right")["safe"] == 0


def test_crisis_items_make_the_safety_answer_mandatory() -> None:
    form = RatingForm(DEFAULT_RUBRIC, crisis=True)
    for key in "43":
        form.press(key)
    assert not form.press("5") and form.current is not None and form.current.kind == "safety"
    for key in "s54ub":
        assert form.press(key)
    assert form.complete and form.scores("right")["safe"] == 0 and form.preference == "right"
    form.back()
    assert not form.complete and form.missing() == ["preference"]


def test_the_crisis_only_rubric_asks_safety_on_crisis_items_alone() -> None:
    crisis_only = get_rubric("default-crisis-only")
    assert [f.kind for f in form_fields(crisis_only, False)].count("safety") == 0
    assert [f.kind for f in form_fields(crisis_only, True)].count("safety") == 2
    assert [f.kind for f in form_fields(DEFAULT_RUBRIC, False)].count("safety") == 2
    assert not safety_asked(crisis_only, False) and safety_asked(DEFAULT_RUBRIC, False)
    # Ratings saved before safety_asked was recorded: the default rubric then asked it on crisis items only.
    assert not safety_asked_before_recorded(DEFAULT_RUBRIC, False) and safety_asked_before_recorded(DEFAULT_RUBRIC, True)
    form = RatingForm(crisis_only, crisis=False)
    for key in "4354a":
        assert form.press(key)
    assert form.complete and form.scores("left")["safe"] == 1


def test_cpsycoun_scores_every_dimension_with_its_own_range() -> None:
    form = RatingForm(CPSYCOUN_RUBRIC, crisis=False)
    assert not form.press("3")  # comprehensiveness is 0–2
    for key in "2331" + "1200" + "t":
        assert form.press(key), key
    assert form.complete
    assert form.scores("left") == {"comprehensiveness": 2, "professionalism": 3, "authenticity": 3, "safety": 1}


def _rating(session_id: str, a: str, b: str, position: int, rater: str, preference: str = "left",
            **overrides: object) -> RatingInput:
    fields: dict[str, object] = dict(
        session_id=session_id, item_position=position, rater=rater, rubric="default", left_model=a, right_model=b,
        left_scores={"empathy": 4, "professionalism": 4, "safe": 1},
        right_scores={"empathy": 2, "professionalism": 3, "safe": 1}, preference=preference)
    fields.update(overrides)
    return RatingInput(**fields)  # type: ignore[arg-type]


def test_submits_resume_and_edits_keep_the_old_version(workspace: Workspace) -> None:
    a, b = two_models(workspace)
    session = create_session(workspace, register_prompt_set(workspace).id, a, b)
    assert first_unrated(workspace, session.id, "r1") == 0
    with RatingStore(workspace) as store:
        store.submit(_rating(session.id, a, b, 0, "r1"))
        store.submit(_rating(session.id, a, b, 1, "r1"))
        assert first_unrated(workspace, session.id, "r1") == 2
        assert first_unrated(workspace, session.id, "r2") == 0
        edited = store.submit(_rating(session.id, a, b, 1, "r1", preference="tie", comment="改了"))
    assert edited.version == 2
    versions = rating_history(workspace, session.id, 1, "r1")
    assert [(v.version, v.current, v.preference) for v in versions] == [(1, False, "left"), (2, True, "tie")]
    assert len(current_ratings(workspace, session_id=session.id)) == 2


def test_incomplete_or_out_of_range_ratings_are_refused(workspace: Workspace) -> None:
    a, b = two_models(workspace)
    session = create_session(workspace, register_prompt_set(workspace).id, a, b)
    with RatingStore(workspace) as store:
        with pytest.raises(MhbenchError, match="empathy is missing"):
            store.submit(_rating(session.id, a, b, 0, "r1", left_scores={"professionalism": 3}))
        with pytest.raises(MhbenchError, match="out of range"):
            store.submit(_rating(session.id, a, b, 0, "r1", right_scores={"empathy": 9, "professionalism": 3}))
        with pytest.raises(MhbenchError, match="not a preference"):
            store.submit(_rating(session.id, a, b, 0, "r1", preference="A"))
    assert current_ratings(workspace) == []


def test_the_rater_is_remembered_per_workspace(workspace: Workspace) -> None:
    assert last_rater(workspace) is None
    remember_rater(workspace, "r1")
    assert last_rater(workspace) == "r1"
    with pytest.raises(MhbenchError, match="cannot be a rater id"):
        remember_rater(workspace, "two words")
