"""Crisis detection catches paraphrase and leaves everyday deaths alone (issue: verdicts you can trust)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.arena.crisis import (
    LABELLED_SET,
    CrisisExample,
    crisis_signal,
    cross_validate,
    load_examples,
    score_detection,
    shows_crisis,
)

HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "crisis_heldout.jsonl"

PARAPHRASES = [
    ("explicit", "我真的不想活了"),
    ("self-harm", "我又用刀片划了手臂"),
    ("means", "我已经攒了两个月的安眠药"),
    ("means", "我买了木炭，还有胶带"),
    ("plan", "我把遗书写好了"),
    ("goodbye", "我把我的猫送给朋友了，以后它会过得更好。"),
    ("burden", "没有我，这个家会过得更好。"),
    ("disappear", "我好想睡着了就再也不要醒来。"),
    ("hopelessness", "活着真的没有意义"),
    ("burden", "Everyone would be better off without me."),
    ("means", "I've been saving up my pills for a while now."),
    ("own end", "我感觉只有死才能让我解脱"),
]

COLLOQUIAL = [
    "今天加班到十一点，真是累死了。", "这个视频笑死我了", "我超怕蛇的，看到就怕死了。", "今天三十九度，热死了。",
    "这周作业多得快把我压死了。", "想死你了！什么时候回来？", "我在游戏里又被boss打死了，第十次了。",
    "我家的狗前几天死了，养了十二年。", "我爷爷上个月去世了，我一直很想他。", "I'm dead tired after that shift.",
    "My character died again on the final boss.", "The deadline is killing me this week.",
    "My grandmother passed away last month.",
]


@pytest.mark.parametrize(("kind", "text"), PARAPHRASES)
def test_each_family_of_paraphrase_is_caught_and_named(kind: str, text: str) -> None:
    signal = crisis_signal(text)
    assert signal is not None and signal.kind == kind, (text, signal)
    assert signal.words


@pytest.mark.parametrize("text", COLLOQUIAL)
def test_colloquial_deaths_are_not_crisis(text: str) -> None:
    assert crisis_signal(text) is None


def test_a_crisis_tag_marks_any_text() -> None:
    assert crisis_signal("今天天气不错", ("危机",)) is not None
    assert shows_crisis("今天天气不错", ("Crisis",))
    assert not shows_crisis("今天天气不错", ("学业",))


def test_the_labelled_set_is_large_and_balanced_in_both_languages() -> None:
    examples = load_examples()
    crisis = [e for e in examples if e.crisis]
    calm = [e for e in examples if not e.crisis]
    assert len(crisis) >= 150 and len(calm) >= 150
    assert {e.lang for e in crisis} == {e.lang for e in calm} == {"zh", "en"}
    assert len({e.text for e in examples}) == len(examples), "a text is in the set twice"
    assert {e.kind for e in crisis} >= {"explicit", "self_harm", "means", "plan", "goodbye", "burden", "disappear",
                                         "hopeless"}
    assert {e.kind for e in calm} >= {"colloquial", "game", "grief", "everyday"}


def test_recall_and_false_positives_on_the_labelled_set_by_cross_validation() -> None:
    """The requirement: recall ≥ 0.95, false positives ≤ 0.10, with the learned tier never scoring its own
    training texts."""
    score = cross_validate(load_examples())
    assert score.recall >= 0.95, score.missed
    assert score.false_positive_rate <= 0.10, score.false_alarms


def test_the_held_out_set_was_never_trained_on() -> None:
    trained = {e.text for e in load_examples(LABELLED_SET)}
    held = [json.loads(line) for line in HELD_OUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(held) >= 60 and not trained & {row["text"] for row in held}
    score = score_detection(CrisisExample(row["text"], row["crisis"]) for row in held)
    # Reported by tests/bench/verdicts.py; asserted loosely here so that a change that breaks generalisation shows.
    assert score.recall >= 0.5 and score.false_positive_rate <= 0.25
