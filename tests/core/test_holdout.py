"""A held-out split of the demo's training dialogues: whole conversations apart, copies counted once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.arena.prompts import read_prompt_file
from core.base.db import open_workspace, registry
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.train.datasets import to_swift_messages
from core.train.datasets.holdout import conversation_key, cut_points, split_dataset, train_files
from core.train.datasets.reading import scan_dataset

DEMO_DIALOGUES = Path(__file__).resolve().parents[2] / "core" / "demo" / "data" / "dialogues.jsonl"


def keys_of(path: Path) -> list[str]:
    scan = scan_dataset(path)
    return [conversation_key(to_swift_messages(record, scan.format)["messages"]) for _, record in scan.good]


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return open_workspace(Workspace(tmp_path / "ws"))


def with_copies(tmp_path: Path) -> Path:
    """The demo dialogues, and copies of three: one verbatim, one re-spaced, one with another system prompt."""
    lines = DEMO_DIALOGUES.read_text(encoding="utf-8").splitlines()
    respaced = json.loads(lines[1])
    respaced["conversations"] = [{**turn, "value": " " + turn["value"].replace("，", "， ")}
                                 for turn in respaced["conversations"]]
    other_system = json.loads(lines[2])
    other_system["conversations"][0] = {"from": "system", "value": "你是一位咨询师。"}
    path = tmp_path / "dialogues.jsonl"
    copies = [lines[0], json.dumps(respaced, ensure_ascii=False), json.dumps(other_system, ensure_ascii=False)]
    path.write_text("\n".join([*lines, *copies]) + "\n", encoding="utf-8")
    return path


def test_no_conversation_is_on_both_sides_and_copies_count_once(ws: Workspace, tmp_path: Path) -> None:
    source = with_copies(tmp_path)
    distinct = set(keys_of(DEMO_DIALOGUES))
    assert set(keys_of(source)) == distinct, "the three copies are the same conversations"
    copied = {key for key in keys_of(source) if keys_of(source).count(key) > 1}
    copies_held_out = 0
    for seed in range(6):  # some seed holds out a copied conversation; none puts a copy on the other side
        split = split_dataset(ws, source, tmp_path / f"split{seed}", hold_out=20, seed=seed, cuts=2)
        assert (split.conversations, split.duplicates, split.held_out) == (len(distinct), 3, 20)
        train = set(keys_of(split.train_path))
        rows = [json.loads(line) for line in split.eval_path.read_text(encoding="utf-8").splitlines()]
        held = {row["conversation"] for row in rows}
        assert len(held) == 20 and not held & train and held | train == distinct
        copies_held_out += len(held & copied)
        assert split.train_rows == len(keys_of(split.train_path)) == len(keys_of(source)) - sum(
            keys_of(source).count(key) for key in held)
    assert copies_held_out, "the seeds hold out a copied conversation, so copies are put to the test"
    assert scan_dataset(split.train_path).format == "sharegpt", "the train file keeps the input's layout"
    # The eval file is a prompt set of turn items: each ends with a client turn and has the real next turn.
    prompts = read_prompt_file(split.eval_path)
    assert len(prompts) == split.eval_rows and {p.kind for p in prompts} == {"turn"}
    assert all(p.history[-1].role == "user" and p.reference for p in prompts)
    by_key = {}
    scan = scan_dataset(source)
    for _, record in scan.good:
        messages = [m for m in to_swift_messages(record, scan.format)["messages"] if m["role"] != "system"]
        by_key.setdefault(conversation_key(messages), messages)
    for row, prompt in zip(rows, prompts, strict=True):
        whole = by_key[row["conversation"]]
        cut = len(prompt.history)
        assert [{"role": t.role, "content": t.content} for t in prompt.history] == whole[:cut]
        assert prompt.reference == whole[cut]["content"]
    # Recorded: the launch form offers the train file, the contamination check knows each item's conversation.
    assert (split.id, split.train_path) in train_files(ws)
    with registry(ws) as connection:
        recorded = dict(connection.execute("SELECT prompt_id, conversation FROM dataset_split_items WHERE split_id = ?",
                                           (split.id,)).fetchall())
    assert recorded == {row["id"]: row["conversation"] for row in rows}


def test_cuts_spread_over_the_conversation_and_a_fraction_works(ws: Workspace, tmp_path: Path) -> None:
    turns = [{"role": "user" if n % 2 == 0 else "assistant", "content": str(n)} for n in range(10)]
    assert cut_points(turns, 9) == [0, 2, 4, 6, 8]
    assert cut_points(turns, 3) == [0, 4, 8] and cut_points(turns, 1) == [8]
    split = split_dataset(ws, DEMO_DIALOGUES, tmp_path / "frac", fraction=0.1, seed=3)
    assert split.held_out == round(0.1 * split.conversations)


@pytest.mark.parametrize(("rows", "options", "message", "fix"), [
    ([{"instruction": "我睡不着", "input": "", "output": "多久了？"}], {"hold_out": 1}, "alpaca layout", "--convert"),
    ([{"instruction": "我睡不着", "context": "", "response": "多久了？"}], {"hold_out": 1}, "dolly layout", "--convert"),
    (None, {"hold_out": 69}, "cannot hold out 69 of 69", "between 1 and 68"),
    (None, {"hold_out": 2, "fraction": 0.1}, "exactly one of", "--hold-out-fraction"),
], ids=["alpaca", "dolly", "all-held-out", "both-counts"])
def test_what_cannot_be_split_is_refused_with_the_fix(ws: Workspace, tmp_path: Path, rows: list[dict[str, str]] | None,
                                                      options: dict[str, float], message: str, fix: str) -> None:
    source = DEMO_DIALOGUES
    if rows is not None:
        source = tmp_path / "single.jsonl"
        source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows * 3), encoding="utf-8")
    with pytest.raises(MhbenchError) as caught:
        split_dataset(ws, source, tmp_path / "out", **options)  # type: ignore[arg-type]
    assert message in str(caught.value) and fix in str(caught.value)
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_an_invalid_line_is_named_before_anything_is_written(ws: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "broken.jsonl"
    lines = DEMO_DIALOGUES.read_text(encoding="utf-8").splitlines()[:4]
    source.write_text("\n".join([*lines[:2], '{"conversations": [{"from": "gpt", "value": "你好"}]}', *lines[2:]]) + "\n",
                      encoding="utf-8")
    with pytest.raises(MhbenchError) as caught:
        split_dataset(ws, source, tmp_path / "out", hold_out=1)
    assert caught.value.path == source and caught.value.line == 3
    assert not (tmp_path / "out").exists()
