"""After its fine-tune on a split's train part, the demo's learning model writes the counsellor's next turn of
conversations it never saw closer to the real one than its base does (ROUGE-L, greedy, deterministic).

One real `swift sft` run of the learning demo on `train.jsonl` of `mhbench dataset --hold-out`; the turn items
of `eval-prompts.jsonl` are answered from their whole history, as a turn-based session asks them.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from core.base.errors import MhbenchError
from core.demo import DEMO_LEARNER, DEMO_MAX_LENGTH, create_demo
from core.demo.learning import generate_answers, held_out_turns, train_and_wait
from core.swift.dialects import installed_swift_version
from core.train.datasets.holdout import split_dataset
from core.train.runs import get_run, list_runs, stop_run
from tests.helpers.machine import scaled
from tests.helpers.real_runs import run_overdue

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
]

DEMO_RUN_S = 600
"""The demo fine-tune's limit on the reference box, before scaling to this one."""


def test_the_fine_tune_writes_held_out_turns_closer_to_the_real_counsellor_than_its_base(tmp_path: Path) -> None:
    demo = create_demo(tmp_path / "ws")
    workspace = demo.workspace
    learning_file = workspace.data_dir / f"counselling-sharegpt-{DEMO_MAX_LENGTH}.jsonl"
    split = split_dataset(workspace, learning_file, tmp_path / "split", hold_out=8, seed=0, cuts=2)
    started = time.monotonic()
    try:
        run_id, wall = train_and_wait(workspace, DEMO_LEARNER, timeout=scaled(DEMO_RUN_S), name="on-the-split",
                                      dataset=(str(split.train_path),))
    except MhbenchError:
        (record,) = list_runs(workspace)
        if not record.active:
            raise
        with contextlib.suppress(MhbenchError):
            stop_run(workspace, record.id, timeout=60)
        pytest.fail(run_overdue(record, time.monotonic() - started, DEMO_RUN_S, "the demo run on the split"))
    run = get_run(workspace, run_id)
    assert any(str(split.train_path) in word for word in run.argv), "trained on the train part, not the whole file"
    assert not any(str(learning_file) in word for word in run.argv)
    turns = held_out_turns(split.eval_path)
    assert len(turns) == split.eval_rows >= 8 and any(len(turn.history) > 1 for turn in turns)
    base = generate_answers(demo.learner_dir, turns)
    tuned = generate_answers(demo.learner_dir, turns, adapter=Path(str(run.last_checkpoint)))
    print(f"turn items: {len(turns)} from {split.held_out} held-out dialogues; ROUGE-L base {base.mean_rouge:.4f}, "
          f"fine-tuned {tuned.mean_rouge:.4f}; run wall {wall:.0f} s")
    assert tuned.mean_rouge > base.mean_rouge
