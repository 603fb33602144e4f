"""The contamination check on a real run: the demo's learning model trained briefly by `swift sft`
on a file that shares prompts with a hand-made prompt set, its adapter rated against its base.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.arena.contamination import NOT_FINE_TUNED, latest_session_check, record_session_check
from core.arena.prompts import register_prompt_set
from core.arena.sessions import create_session
from core.demo import DEMO_LEARNER, DIALOGUES_FILE, create_demo
from core.models import get_model, register_adapter
from core.profiles import apply_overrides, find_profile, load_profiles
from core.swift.dialects import installed_swift_version
from core.train.launch import LaunchRequest, launch, plan_run
from tests.helpers.real_runs import wait_for_run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
]

COPIED = "我总担心自己说错话，和同事吃饭时一句话都不敢多说，回家还要反复回想好几遍。"
REWORDED = "孩子上初中以后就不怎么跟我说话了，一回家就关上房门，我敲门他也不理我。"
UNSEEN = "最近总是莫名其妙地想哭，也说不出是为什么，朋友问起来我只说没事。"


def test_a_real_run_on_shared_prompts_is_reported_contaminated(tmp_path: Path) -> None:
    workspace = create_demo(tmp_path / "ws").workspace
    records = [json.loads(line) for line in DIALOGUES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]

    def client_turn(line: int, text: str) -> None:
        turns = records[line - 1]["conversations"]
        next(turn for turn in turns if turn["from"] == "human")["value"] = text

    client_turn(3, COPIED)
    client_turn(10, COPIED + "\n")
    client_turn(20, "老师您好，" + REWORDED.replace("初中", "高中"))
    train = workspace.data_dir / "shared-prompts.jsonl"
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": key, "prompt": text}, ensure_ascii=False) + "\n" for key, text in
                               (("copied", COPIED), ("reworded", REWORDED), ("unseen", UNSEEN))), encoding="utf-8")

    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), DEMO_LEARNER),
                              ["train.max_steps=2", "train.save_steps=2", "train.eval_steps=2"])
    run = launch(workspace, plan_run(workspace, LaunchRequest(profile=profile, name="shared", dataset=(str(train),))))
    finished = wait_for_run(workspace, run.id, 600, "the two-step training run")
    assert finished.status == "finished", (finished.diagnosis, run.stdout_path.read_text(errors="replace")[-3000:])
    assert finished.last_checkpoint is not None

    adapter = register_adapter(workspace, finished.last_checkpoint)
    assert adapter.run_id == run.id and adapter.base_id is not None
    base = get_model(workspace, adapter.base_id)
    session = create_session(workspace, register_prompt_set(workspace, prompts).id, base.id, adapter.id, side_seed=3)
    record_session_check(workspace, session.id)

    report = latest_session_check(workspace, session.id)
    assert report is not None and report.contaminated and report.prompts == 3
    base_check, tuned = report.models
    assert (base_check.model_id, base_check.note) == (base.id, NOT_FINE_TUNED)
    assert (tuned.model_id, tuned.run_id, tuned.problems) == (adapter.id, run.id, [])
    assert (tuned.matched("exact"), tuned.matched("near")) == (["copied"], ["reworded"])
    [dataset] = tuned.runs[0].datasets
    assert (dataset.role, dataset.path, dataset.records) == ("train", str(train.resolve()), len(records))
    copied, reworded = dataset.matches
    assert (copied.kind, copied.line, copied.lines, copied.snippet) == ("exact", 3, 2, COPIED)
    assert (reworded.kind, reworded.line) == ("near", 20) and 0.5 <= reworded.score < 1
