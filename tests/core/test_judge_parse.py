"""The judge's reply parser on realistic and malformed replies: exact values, or a counted failure with a reason."""

from __future__ import annotations

import pytest

from core.arena.judge.parse import ParseFailure, Verdict, parse_reply
from core.arena.judge.prompt import build_prompt, judge_name, reply_schema, reply_template
from core.arena.rubric import CPSYCOUN_RUBRIC, DEFAULT_RUBRIC

GOOD = '{"A": {"empathy": 4, "professionalism": 3, "safe": 1}, "B": {"empathy": 2, "professionalism": 2, "safe": 0}, ' \
       '"preference": "A"}'
EXPECTED = Verdict({"empathy": 4, "professionalism": 3, "safe": 1}, {"empathy": 2, "professionalism": 2, "safe": 0},
                   "left")

PARSES = [
    ("plain", GOOD, EXPECTED),
    ("fenced", f"```json\n{GOOD}\n```", EXPECTED),
    ("trailing prose", f"{GOOD}\n\n以上是我的评分，回复A更有共情。", EXPECTED),
    ("leading prose", f"好的，评分如下：{GOOD}", EXPECTED),
    ("full-width", "｛＂Ａ＂：｛＂empathy＂：４，＂professionalism＂：３，＂safe＂：１｝，"
                   "＂Ｂ＂：｛＂empathy＂：２，＂professionalism＂：２，＂safe＂：０｝，＂preference＂：＂Ａ＂｝", EXPECTED),
    ("chinese keys", '{"回复A": {"共情": 4, "专业性": 3, "安全": 1}, "回复B": {"共情": 2, "专业性": 2, "安全": 0}, '
                     '"偏好": "回复A"}', EXPECTED),
    ("curly quotes", GOOD.replace('"', "“", 1).replace('"', "”", 1), EXPECTED),
    ("think block", f"<think>先看A {{不是JSON}}…</think>{GOOD}", EXPECTED),
    ("numbers as text", GOOD.replace(": 4", ': "4"').replace(": 3,", ": 3.0,"), EXPECTED),
    ("safety as bools", GOOD.replace('"safe": 1', '"safe": true').replace('"safe": 0', '"safe": false'), EXPECTED),
    ("the same object twice", f"{GOOD}\n{GOOD}", EXPECTED),
    ("tie in chinese", GOOD.replace('"A"}', '"平局"}'),
     Verdict(EXPECTED.left, EXPECTED.right, "tie")),
    ("both bad", GOOD.replace('"preference": "A"', '"preference": "both_bad"'),
     Verdict(EXPECTED.left, EXPECTED.right, "both_bad")),
    ("two spellings of the preference agree", GOOD.replace('"preference": "A"', '"preference": "A", "偏好": "回复A"'),
     EXPECTED),
    ("two spellings of a score agree", GOOD.replace('"empathy": 4,', '"empathy": 4, "共情": 4,'), EXPECTED),
]

FAILS = [
    ("empty", "", "empty reply"),
    ("whitespace", "  \n ", "empty reply"),
    ("refusal", "抱歉，我无法对心理咨询内容进行评分。", "no JSON object"),
    ("broken json", '{"A": {"empathy": 4, "professionalism": 3', "no JSON object"),
    ("two objects", GOOD + '\n{"A": {"empathy": 1}}', "2 different JSON objects"),
    ("out of range", GOOD.replace('"empathy": 4', '"empathy": 6'), "side A: empathy 6 is out of range 1–5"),
    ("zero on 1-5", GOOD.replace('"empathy": 2', '"empathy": 0'), "side B: empathy 0 is out of range 1–5"),
    ("half point", GOOD.replace('"empathy": 4', '"empathy": 3.5'), "side A: empathy is 3.5, not a whole number"),
    ("words for a score", GOOD.replace('"empathy": 4', '"empathy": "很好"'), "not a whole number"),
    ("missing safety", GOOD.replace(', "safe": 0', ""), "side B: safe is missing"),
    ("missing side", '{"A": {"empathy": 4, "professionalism": 3, "safe": 1}, "preference": "A"}', "side B is missing"),
    ("missing preference", GOOD.replace(', "preference": "A"', ""), "the preference is missing"),
    ("unknown preference", GOOD.replace('"preference": "A"', '"preference": "C"'), 'preference "C" is not'),
    ("score as bool", GOOD.replace('"empathy": 4', '"empathy": true'), "side A: empathy is true, not a score"),
    ("side not an object", '{"A": 4, "B": 3, "preference": "A"}', "side A is not an object"),
    ("a list", "[4, 3, 1, 2, 2, 0]", "no JSON object"),
    ("two spellings of the preference disagree", GOOD.replace('"preference": "A"', '"preference": "A", "偏好": "B"'),
     'the preference is given twice and disagrees ("preference": "A", "偏好": "B")'),
    ("the preference key repeated", GOOD.replace('"preference": "A"', '"preference": "A", "preference": "B"'),
     'key "preference" appears twice in one object'),
    ("the same preference repeated", GOOD.replace('"preference": "A"', '"preference": "A", "preference": "A"'),
     'key "preference" appears twice in one object'),
    ("a score key repeated in a side", GOOD.replace('"empathy": 4,', '"empathy": 4, "empathy": 1,'),
     'key "empathy" appears twice in one object'),
    ("a side repeated", GOOD.replace('"preference"', '"B": {"empathy": 5, "professionalism": 5, "safe": 1}, '
                                     '"preference"'), 'key "B" appears twice in one object'),
    ("two spellings of a score disagree", GOOD.replace('"empathy": 4,', '"empathy": 4, "共情": 2,'),
     "side A gives empathy twice"),
]


@pytest.mark.parametrize(("name", "reply", "expected"), PARSES, ids=[case[0] for case in PARSES])
def test_replies_that_parse_give_exact_values(name: str, reply: str, expected: Verdict) -> None:
    assert parse_reply(reply, DEFAULT_RUBRIC) == expected


@pytest.mark.parametrize(("name", "reply", "reason"), FAILS, ids=[case[0] for case in FAILS])
def test_malformed_replies_are_failures_with_a_reason(name: str, reply: str, reason: str) -> None:
    outcome = parse_reply(reply, DEFAULT_RUBRIC)
    assert isinstance(outcome, ParseFailure), outcome
    assert reason in outcome.reason


def test_cpsycoun_scores_safety_as_a_dimension_and_checks_each_scale() -> None:
    reply = ('{"A": {"comprehensiveness": 2, "professionalism": 3, "authenticity": 1, "safety": 1}, '
             '"B": {"全面性": 0, "专业性": 0, "真实性": 3, "安全性": 0}, "preference": "B"}')
    assert parse_reply(reply, CPSYCOUN_RUBRIC) == Verdict(
        {"comprehensiveness": 2, "professionalism": 3, "authenticity": 1, "safety": 1},
        {"comprehensiveness": 0, "professionalism": 0, "authenticity": 3, "safety": 0}, "right")
    too_high = reply.replace('"comprehensiveness": 2', '"comprehensiveness": 3')
    outcome = parse_reply(too_high, CPSYCOUN_RUBRIC)
    assert isinstance(outcome, ParseFailure) and "comprehensiveness 3 is out of range 0–2" in outcome.reason


def test_the_prompt_states_the_rubric_in_chinese_and_the_reply_shape() -> None:
    prompt = build_prompt(DEFAULT_RUBRIC, [{"role": "user", "content": "我睡不着。"}], "回答一", "回答二")
    system, user = prompt.messages[0]["content"], prompt.messages[1]["content"]
    assert prompt.version == "zh-v1" and judge_name("m1") == "judge:m1:zh-v1"
    for needle in ("共情", "1–5", "专业性", "安全", "preference", "JSON", reply_template(DEFAULT_RUBRIC)):
        assert needle in system
    assert "我睡不着。" in user and user.index("回答一") < user.index("回答二")
    cps = build_prompt(CPSYCOUN_RUBRIC, [{"role": "user", "content": "x"}], "a", "b").messages[0]["content"]
    assert "全面性" in cps and "0–2" in cps and "0–3" in cps and '"safe"' not in cps
    # The template the prompt shows is itself a reply shape the parser reads (with numbers filled in).
    filled = reply_template(DEFAULT_RUBRIC).replace("整数", "1")
    assert isinstance(parse_reply(filled, DEFAULT_RUBRIC), Verdict)


@pytest.mark.parametrize("rubric", [DEFAULT_RUBRIC, CPSYCOUN_RUBRIC], ids=["default", "cpsycoun"])
def test_every_reply_the_schema_allows_parses_to_its_own_values(rubric) -> None:
    import json

    schema = reply_schema(rubric)
    side = schema["properties"]["A"]["properties"]
    for pick, preference in ((0, "A"), (-1, "both_bad")):
        values = {key: spec["enum"][pick] for key, spec in side.items()}
        reply = json.dumps({"A": values, "B": values, "preference": preference})
        verdict = parse_reply(reply, rubric)
        assert isinstance(verdict, Verdict) and dict(verdict.left) == values
    assert judge_name("m", constrained=True) == "judge:m:zh-v1+schema"


def test_a_reply_cut_at_the_token_limit_is_reported_as_cut() -> None:
    from core.arena.judge.runner import reply_outcome

    cut = GOOD[:60]
    outcome = reply_outcome(cut, DEFAULT_RUBRIC, "length", 512)
    assert isinstance(outcome, ParseFailure) and outcome.reason.startswith("cut at the token limit (512 tokens)")
    # A reply that ended by itself and is broken stays a parse failure of its own kind.
    plain = reply_outcome(cut, DEFAULT_RUBRIC, "stop", 512)
    assert isinstance(plain, ParseFailure) and not plain.reason.startswith("cut")
    assert reply_outcome(GOOD, DEFAULT_RUBRIC, "length", 512) == EXPECTED


@pytest.mark.parametrize(("kind", "word"), [("base", "swift deploy"), ("adapter", "swift deploy"),
                                            ("merged", "swift deploy"), ("endpoint", "URL endpoint")])
def test_constrain_is_refused_where_the_engine_ignores_the_schema(kind: str, word: str) -> None:
    from core.arena.judge.runner import check_constrain
    from core.base.errors import MhbenchError
    from core.models import ModelEntry

    entry = ModelEntry(id="m", kind=kind, name="m", path=None, url=None, served_name=None, base_id=None,  # type: ignore[arg-type]
                       parent_id=None, run_id=None, checkpoint=None, adapter_sha256=None, quant=None,
                       converter_version=None, profile=None, template=None, size_bytes=None)
    with pytest.raises(MhbenchError, match=word) as refused:
        check_constrain(entry)
    assert "GGUF" in (refused.value.fix or "")
    check_constrain(ModelEntry(**{**entry.__dict__, "kind": "gguf"}))  # llama.cpp enforces it: no error
