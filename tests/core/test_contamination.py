"""The contamination check on hand-made runs, datasets and prompt sets (no swift)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.arena.contamination import (
    GONE_FROM_CATALOG,
    NOT_FINE_TUNED,
    check_contamination,
    contamination_lines,
    dataset_entries,
    latest_session_check,
    record_session_check,
    recorded_warnings,
)
from core.arena.near_duplicates import NEAR_THRESHOLD, PromptIndex, normalise
from core.arena.prompts import register_prompt_set
from core.arena.sessions import create_session
from core.base.db import open_workspace, registry
from core.base.workspace import Workspace
from core.models import ModelEntry, register_adapter, register_base, register_gguf, register_merged, remove_model
from tests.helpers.model_dirs import make_adapter, make_hf_dir

EXAM = "下个月就要期末考了，我已经连续三晚失眠，一打开书就心慌，觉得自己肯定要挂科。"
OVERTIME = "每天加班到十点，周末还要回消息，感觉自己像个机器，对什么都没兴趣了。怎么办？"
MOTHER = "我妈每天翻我手机看聊天记录，我说了好多次她都不听，还说我有什么不能让她看的。我已经23岁了。"
BREAKUP = "和男朋友分手半年了，还是每天会翻看以前的照片，朋友都劝我走出来，可我就是做不到。"


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return open_workspace(Workspace(tmp_path / "ws"))


def sharegpt(path: Path, clients: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"conversations": [{"from": "system", "value": "你是一位心理咨询师。"},
                                           {"from": "human", "value": text}, {"from": "gpt", "value": "我在听。"}]},
                        ensure_ascii=False) for text in clients]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def prompt_set(ws: Workspace, tmp_path: Path) -> str:
    file = tmp_path / "prompts.jsonl"
    rows = [{"id": "exam", "prompt": EXAM}, {"id": "overtime", "prompt": OVERTIME}, {"id": "mother", "prompt": MOTHER},
            {"id": "breakup", "prompt": BREAKUP}]
    file.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return register_prompt_set(ws, file).id


def add_run(ws: Workspace, run_id: str, datasets: Sequence[str], *, val: Sequence[str] = (),
            parent_id: str | None = None) -> Path:
    """A finished run in the registry whose recorded command trains on ``datasets``."""
    run_dir = ws.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = ["swift", "sft", "--model", "m", "--dataset", *datasets]
    if val:
        argv += ["--val_dataset", *val]
    argv += ["--output_dir", str(run_dir / "output")]
    with registry(ws) as connection:
        connection.execute(
            "INSERT INTO runs (id, name, profile, parent_id, run_dir, output_dir, argv, env, status, created_at) "
            "VALUES (?, ?, 'demo', ?, ?, ?, ?, '{}', 'finished', ?)",
            (run_id, run_id, parent_id, str(run_dir), str(run_dir / "output"), json.dumps(argv), run_id))
    return run_dir


def chain(ws: Workspace, run_id: str) -> tuple[ModelEntry, ModelEntry, ModelEntry, ModelEntry]:
    """A base, an adapter of the run, its merged model and the merged model's GGUF."""
    base_dir = make_hf_dir(ws.models_dir / "Tiny")
    base = register_base(ws, base_dir)
    adapter = register_adapter(ws, make_adapter(ws.runs_dir / run_id / "output" / "checkpoint-4", base_dir))
    merged = register_merged(ws, make_hf_dir(ws.models_dir / "tiny-merged"), adapter.id)
    gguf_file = ws.models_dir / "tiny-merged-q8_0.gguf"
    gguf_file.write_bytes(b"G" * 100)
    return base, adapter, merged, register_gguf(ws, gguf_file, merged.id, "Q8_0")


# --- matching ------------------------------------------------------------------------------------


def test_exact_copies_survive_width_case_and_whitespace_and_near_duplicates_are_scored() -> None:
    index = PromptIndex([EXAM, OVERTIME, "Hello there, I feel low", "累了"])
    assert normalise("Ｈｅｌｌｏ  THERE,\u3000i feel\nlow ") == normalise("Hello there, I feel low")
    assert [(h.prompt, h.kind, h.score) for h in index.matches("  " + EXAM.replace("，", "， ") + "\n")] == [
        (0, "exact", 1.0)]
    assert [(h.prompt, h.kind) for h in index.matches("ＨＥＬＬＯ there, I feel low")] == [(2, "exact")]

    reworded = "老师好，" + EXAM.replace("连续三晚", "连着好几晚")  # a greeting before, four characters changed
    [hit] = index.matches(reworded)
    assert (hit.prompt, hit.kind) == (0, "near") and NEAR_THRESHOLD <= hit.score < 1
    embedded = "我想问一下：" + OVERTIME + "另外我和同事的关系也不好，每天都很累。"
    assert [(h.prompt, h.kind) for h in index.matches(embedded)] == [(1, "near")]

    assert index.matches(MOTHER) == [], "another prompt on another topic"
    assert index.matches("下个月就要期末考了，我一点都不担心，已经复习好了，就等着考试。") == [], "a shared opening only"
    # A prompt shorter than an n-gram is found only as a copy.
    assert [(h.prompt, h.kind) for h in index.matches("累了 ")] == [(3, "exact")]
    assert index.matches("我真的累了") == []


def test_the_dataset_flags_of_a_command_are_read_with_their_role() -> None:
    argv = ["swift", "sft", "--dataset", "a.jsonl", "b.jsonl#200", "--val_dataset", "v.jsonl", "--seed", "42",
            "--dataset", "AI-ModelScope/alpaca-gpt4-data-zh"]
    assert dataset_entries(argv) == [("train", "a.jsonl"), ("train", "b.jsonl#200"), ("val", "v.jsonl"),
                                     ("train", "AI-ModelScope/alpaca-gpt4-data-zh")]


# --- through the catalog and the runs -------------------------------------------------------------


def test_an_adapter_merge_gguf_chain_leads_back_to_the_run_and_its_data(ws: Workspace, tmp_path: Path) -> None:
    train = sharegpt(ws.data_dir / "train.jsonl", ["我最近总是睡不好。", EXAM, "工作压力很大。", EXAM,
                                                   "老师好，" + OVERTIME.replace("十点", "十一点")])
    val = sharegpt(ws.runs_dir / "r1" / "val.jsonl", ["没有什么特别的。", MOTHER])
    add_run(ws, "r1", [str(train)], val=["val.jsonl"])  # a relative path is read from the run's folder
    base, adapter, merged, gguf = chain(ws, "r1")
    assert gguf.run_id == "r1" and gguf.parent_id == merged.id

    report = check_contamination(ws, prompt_set(ws, tmp_path), [base.id, adapter.id, merged.id, gguf.id])
    assert report.prompts == 4 and report.contaminated
    base_check, *tuned = report.models
    assert base_check.note == NOT_FINE_TUNED and base_check.runs == () and base_check.run_id is None
    for model in tuned:
        assert model.run_id == "r1" and model.note is None
        assert (model.matched("exact"), model.matched("near")) == (["exam", "mother"], ["overtime"])
        assert (model.exact, model.near, model.problems) == (2, 1, [])
    [run] = tuned[-1].runs
    train_check, val_check = run.datasets
    assert (train_check.role, train_check.path, train_check.records) == ("train", str(train.resolve()), 5)
    exam, overtime = train_check.matches
    assert (exam.prompt_id, exam.kind, exam.score, exam.line, exam.lines) == ("exam", "exact", 1.0, 2, 2)
    assert exam.snippet == EXAM
    assert (overtime.prompt_id, overtime.kind, overtime.line) == ("overtime", "near", 5)
    assert NEAR_THRESHOLD <= overtime.score < 1
    assert (val_check.role, val_check.path) == ("val", str(val.resolve()))
    assert [(m.prompt_id, m.kind, m.line) for m in val_check.matches] == [("mother", "exact", 2)]

    text = "\n".join(contamination_lines(report))
    assert f"{base.id}: {NOT_FINE_TUNED}" in text
    assert f"exam: exact at {train.resolve()}:2 (+1 more line(s))" in text
    assert f"{gguf.id} (run r1): 2 prompt(s) copied exactly and 1 nearly" in text


def test_a_resumed_run_is_checked_with_the_runs_it_continued(ws: Workspace, tmp_path: Path) -> None:
    first = sharegpt(ws.data_dir / "first.jsonl", [BREAKUP])
    second = sharegpt(ws.data_dir / "second.jsonl", ["今天心情还可以。"])
    add_run(ws, "r1", [str(first)])
    add_run(ws, "r2", [str(second)], parent_id="r1")
    _, adapter, _, _ = chain(ws, "r2")
    [model] = check_contamination(ws, prompt_set(ws, tmp_path), [adapter.id]).models
    assert [run.run_id for run in model.runs] == ["r1", "r2"] and model.run_id == "r2"
    assert model.matched("exact") == ["breakup"]


def test_a_missing_file_is_reported_with_its_path_and_a_hub_id_is_skipped(ws: Workspace, tmp_path: Path) -> None:
    gone = ws.data_dir / "deleted.jsonl"
    kept = sharegpt(ws.data_dir / "kept.jsonl", [EXAM])
    add_run(ws, "r1", [str(gone), "AI-ModelScope/alpaca-gpt4-data-zh", str(kept)])
    _, adapter, _, _ = chain(ws, "r1")
    report = check_contamination(ws, prompt_set(ws, tmp_path), [adapter.id])
    [model] = report.models
    missing, hub, read = model.runs[0].datasets
    assert missing.path == str(gone) and missing.problem is not None and str(gone) in missing.problem
    assert "Fix:" in missing.problem and missing.matches == ()
    assert hub.skipped is not None and "hub" in hub.skipped and hub.problem is None
    assert [m.prompt_id for m in read.matches] == ["exam"] and read.records == 1, "the files there are still read"
    assert model.matched("exact") == ["exam"]
    assert model.problems == [missing.problem]
    assert any(str(gone) in line for line in contamination_lines(report))


def test_a_run_known_only_by_its_folder_or_not_at_all(ws: Workspace, tmp_path: Path) -> None:
    set_id = prompt_set(ws, tmp_path)
    _, adapter, _, _ = chain(ws, "r-folder")  # no registry row: its run.json is read
    data = sharegpt(ws.data_dir / "d.jsonl", [MOTHER])
    (ws.runs_dir / "r-folder" / "run.json").write_text(
        json.dumps({"argv": ["swift", "sft", "--dataset", str(data)]}), encoding="utf-8")
    [model] = check_contamination(ws, set_id, [adapter.id]).models
    assert model.matched("exact") == ["mother"]

    (ws.runs_dir / "r-folder" / "run.json").unlink()
    [model] = check_contamination(ws, set_id, [adapter.id]).models
    [run] = model.runs
    assert run.problem is not None and "r-folder" in run.problem and "run.json" in run.problem
    assert model.problems == [run.problem] and model.exact == model.near == 0


# --- recording -----------------------------------------------------------------------------------


def test_a_session_check_is_recorded_and_replaced_when_run_again(ws: Workspace, tmp_path: Path) -> None:
    train = sharegpt(ws.data_dir / "train.jsonl", [EXAM, OVERTIME])
    add_run(ws, "r1", [str(train)])
    base, _, _, gguf = chain(ws, "r1")
    session = create_session(ws, prompt_set(ws, tmp_path), base.id, gguf.id, side_seed=1)
    assert latest_session_check(ws, session.id) is None

    first = record_session_check(ws, session.id)
    assert first.session_id == session.id
    recorded = latest_session_check(ws, session.id)
    assert recorded is not None
    assert (recorded.models, recorded.prompts, recorded.prompt_set_id) == (
        first.models, first.prompts, first.prompt_set_id)
    assert [m.model_id for m in recorded.models] == [base.id, gguf.id]

    sharegpt(train, ["与这些提问无关的一句话。"])  # the file changed since: the new check replaces the old
    second = record_session_check(ws, session.id)
    with registry(ws) as connection:
        rows = connection.execute(
            "SELECT model_id, run_id, exact, near, checked_at FROM contamination_checks WHERE session_id = ? "
            "ORDER BY model_id", (session.id,)).fetchall()
    assert sorted((row["model_id"], row["run_id"], row["exact"], row["near"]) for row in rows) == sorted(
        [(base.id, None, 0, 0), (gguf.id, "r1", 0, 0)])
    assert {row["checked_at"] for row in rows} == {second.checked_at}
    latest = latest_session_check(ws, session.id)
    assert latest is not None and not latest.contaminated and latest.models == second.models


def test_a_session_model_removed_from_the_catalog_is_named_not_raised(ws: Workspace, tmp_path: Path) -> None:
    add_run(ws, "r1", [str(sharegpt(ws.data_dir / "train.jsonl", [EXAM]))])
    base, _, _, gguf = chain(ws, "r1")
    session = create_session(ws, prompt_set(ws, tmp_path), base.id, gguf.id, side_seed=1)
    remove_model(ws, gguf.id)
    report = record_session_check(ws, session.id)
    assert [(m.model_id, m.note) for m in report.models] == [(base.id, NOT_FINE_TUNED), (gguf.id, GONE_FROM_CATALOG)]
    assert not report.contaminated


def test_results_and_their_warnings_name_a_model_trained_on_the_session_prompts(ws: Workspace, tmp_path: Path) -> None:
    train = sharegpt(ws.data_dir / "train.jsonl", [EXAM, OVERTIME])
    add_run(ws, "r1", [str(train)])
    base, _, _, gguf = chain(ws, "r1")
    session = create_session(ws, prompt_set(ws, tmp_path), base.id, gguf.id, side_seed=1)
    assert recorded_warnings(ws, [session.id]) == [
        f"session {session.id}: not checked for contamination yet (`mhbench session show {session.id}` checks it)"]
    report = record_session_check(ws, session.id)
    assert report.contaminated
    (warning,) = recorded_warnings(ws, [session.id])
    assert warning.startswith(f"session {session.id}: {gguf.id} was trained on ") and f": {base.id} " not in warning
    assert recorded_warnings(ws, []) == []


def test_a_turn_item_is_flagged_by_its_whole_conversation_and_the_split_s_train_file_is_clean(
        ws: Workspace, tmp_path: Path) -> None:
    from core.train.datasets.holdout import split_dataset

    # Short closing turns ("嗯，是的。") repeat across conversations: only the whole conversation tells them apart.
    source = tmp_path / "dialogues.jsonl"
    rows = [{"conversations": [{"from": "human", "value": f"{topic}，我不知道该怎么办。"}, {"from": "gpt", "value": "我在听。"},
                               {"from": "human", "value": "嗯，是的。"}, {"from": "gpt", "value": f"关于{topic}，多说一点？"}]}
            for topic in ("考试", "加班", "分手", "父母", "室友", "搬家")]
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    split = split_dataset(ws, source, tmp_path / "split", hold_out=2, seed=1)
    add_run(ws, "on-train", [str(split.train_path)])
    add_run(ws, "on-all", [str(source)])
    clean, dirty = (chain_of(ws, run_id) for run_id in ("on-train", "on-all"))
    set_id = register_prompt_set(ws, split.eval_path).id
    report = check_contamination(ws, set_id, [clean.id, dirty.id])
    eval_ids = sorted(json.loads(line)["id"] for line in split.eval_path.read_text(encoding="utf-8").splitlines())
    assert report.prompts == len(eval_ids) == 4
    on_train, on_all = report.models
    assert (on_train.exact, on_train.near) == (0, 0), "nothing held out is in the train part"
    assert on_all.matched("exact") == eval_ids, "every turn item's conversation is in the whole file"


def chain_of(ws: Workspace, run_id: str) -> ModelEntry:
    """An adapter of the run on a base of its own."""
    base_dir = make_hf_dir(ws.models_dir / f"Tiny-{run_id}")
    register_base(ws, base_dir)
    return register_adapter(ws, make_adapter(ws.runs_dir / run_id / "output" / "checkpoint-4", base_dir))
