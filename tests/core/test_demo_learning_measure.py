"""The demo learning measure without a run: eval losses from a log, the drop, the ratio, the held-out prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.base.errors import MhbenchError
from core.demo import DIALOGUES_FILE, PROMPTS_FILE, read_jsonl
from core.demo.learning import Answers, LearningReport, eval_losses, held_out_prompts


def test_eval_losses_in_order_skipping_steps_summary_and_a_partial_line(tmp_path: Path) -> None:
    log = tmp_path / "logging.jsonl"
    lines = [
        {"eval_loss": 6.4, "global_step/max_steps": "0/150"},
        {"loss": 6.2, "global_step/max_steps": "1/150"},
        {"eval_loss": 3.5, "global_step/max_steps": "30/150"},
        {"train_runtime": 60.0},
        {"last_model_checkpoint": "x", "log_history": [{"eval_loss": 99.0}]},
    ]
    log.write_text("\n".join(json.dumps(line) for line in lines) + '\n{"eval_loss": 1.', encoding="utf-8")
    assert eval_losses(log) == (6.4, 3.5)
    with pytest.raises(MhbenchError, match=r"no logging\.jsonl"):
        eval_losses(tmp_path / "missing.jsonl")


def test_report_drop_ratio_and_last_line() -> None:
    prompts = held_out_prompts(PROMPTS_FILE)
    base = Answers(("a",), (0.02,))
    tuned = Answers(("b",), (0.09,))
    report = LearningReport(83.25, (6.0, 4.0, 2.7), base, tuned, prompts)
    assert report.eval_loss_drop == pytest.approx(0.55)
    assert report.rouge_ratio == pytest.approx(4.5)
    assert report.summary_line() == "demo learning: wall s 83.2, eval loss drop 0.550, rouge-l ratio 4.50"
    silent = LearningReport(1.0, (6.0,), Answers((), ()), tuned, prompts)
    assert silent.eval_loss_drop == 0.0 and silent.rouge_ratio == float("inf")


def test_held_out_prompts_have_references_and_are_not_training_turns() -> None:
    prompts = held_out_prompts(PROMPTS_FILE)
    assert len(prompts) >= 20 and all(item.reference for item in prompts)
    turns = {str(turn["value"]) for record in read_jsonl(DIALOGUES_FILE)
             for turn in record["conversations"]}  # type: ignore[attr-defined]
    assert not [item.id for item in prompts if item.prompt in turns or item.reference in turns]
