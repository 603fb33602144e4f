"""The demo fine-tune really learns: one real `swift sft` run of the demo profile, then greedy answers.

The figures are deterministic (fixed seeds, greedy decoding), so this is a pass/fail on
learning, not on speed: the eval loss falls by at least half from the evaluation before
the first step to the last, and on the held-out demo prompts the fine-tuned model's ROUGE-L
against the references is at least twice the random base's. The same run then gives the
ready A/B session, base vs fine-tuned, through core.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from core.base.errors import MhbenchError
from core.demo import DEMO_LEARNER, create_demo
from core.demo.learning import measure_run, train_and_wait
from core.swift.dialects import installed_swift_version
from core.train.runs import get_run, list_runs, stop_run
from tests.helpers.machine import scaled
from tests.helpers.real_runs import run_overdue

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
]

DEMO_RUN_S = 600
"""The demo fine-tune's limit on the reference box, before scaling to this one."""


def chinese_share(texts: tuple[str, ...]) -> float:
    """Share of the characters that are Chinese (ideographs and full-width punctuation)."""
    text = "".join(texts)
    chinese = sum("\u4e00" <= char <= "\u9fff" or char in "，。？！、：；“”" for char in text)
    return chinese / len(text) if text else 0.0


def test_demo_run_learns_and_offers_an_ab_session(tmp_path: Path) -> None:
    from core.arena.sessions import list_sessions
    from core.demo.session import DEMO_SESSION_NAME, create_demo_session
    from core.models import get_model

    demo = create_demo(tmp_path / "ws")
    started = time.monotonic()
    try:
        run_id, wall = train_and_wait(demo.workspace, DEMO_LEARNER, timeout=scaled(DEMO_RUN_S))
    except MhbenchError:
        (record,) = list_runs(demo.workspace)
        if not record.active:
            raise  # it failed rather than ran long: its own message names the cause
        with contextlib.suppress(MhbenchError):
            stop_run(demo.workspace, record.id, timeout=60)
        pytest.fail(run_overdue(record, time.monotonic() - started, DEMO_RUN_S, "the demo run"))
    run = get_run(demo.workspace, run_id)
    report = measure_run(demo.learner_dir, Path(str(run.last_checkpoint)), run.output_dir / "logging.jsonl",
                         demo.prompts, wall)
    print(report.summary_line())
    assert len(report.eval_losses) >= 2
    assert report.eval_loss_drop >= 0.5, report.eval_losses
    assert len(report.prompts) >= 20
    assert report.rouge_ratio >= 2, (report.base.mean_rouge, report.tuned.mean_rouge)
    # What a person sees: the fine-tuned answers are mostly Chinese; the base's random bytes are not.
    assert chinese_share(report.tuned.texts) >= 2 * chinese_share(report.base.texts)
    assert report.tuned.texts != report.base.texts

    made = create_demo_session(demo.workspace, rater="newcomer")
    assert made.run.id == run_id
    assert [session.id for session in list_sessions(demo.workspace)] == [made.session.id]
    assert made.session.name == DEMO_SESSION_NAME
    tuned = get_model(demo.workspace, made.tuned_id)
    assert tuned.kind == "adapter" and tuned.run_id == run_id and tuned.base_id == made.base_id
    assert get_model(demo.workspace, made.base_id).path == demo.learner_dir
