"""Exports drop terminal control sequences and bidi controls from every text cell, in CSV and JSONL alike.

Model output is untrusted, and an export is read in terminals (``cat``, ``less``, ``jq``) and
editors: an ESC sequence can recolour, move the cursor or plant an OSC 8 hyperlink; a bidi
override makes ``\u202egnp.exe`` show as ``exe.png``. Tabs, newlines and carriage returns stay.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from core.arena.prompts import register_prompt_set
from core.arena.ratings import RatingInput, RatingStore
from core.arena.sessions import create_session, opening_messages, session_items, store_response
from core.base.db import open_workspace
from core.base.workspace import Workspace
from core.models import register_endpoint
from core.models.client import StreamStats
from core.results.export import clean_text, export, spreadsheet_safe

# Hostile text and what an export must hold for it (JSONL; CSV adds the formula apostrophe).
CLEANED = {
    "\x1b[31m红色\x1b[0m 与 \x1b[1;4m粗体\x1b[m": "红色 与 粗体",
    "看\x1b]8;;http://evil.example/\x1b\\这里\x1b]8;;\x1b\\吧": "看这里吧",
    "\x1b]0;pwned\x07标题 \x1b]2;x\x9c完": "标题 完",
    "前\x1bP1$r0m\x1b\\后 \x90q\x9c尾": "前后 尾",
    "清屏\x1b[2J\x1b[H\x1bc\x1b(B了": "清屏了",
    "\u202egnp.exe": "gnp.exe",
    "a\u202ab\u202bc\u202cd\u202de\u2066f\u2067g\u2068h\u2069i": "abcdefghi",
    "标记\u200e左\u200f右\u061c阿": "标记左右阿",
    "c1\x9b2J\x85次\x80行\x9a": "c1次行",
    "nul\x00 bell\x07 bs\x08 vt\x0b ff\x0c del\x7f esc\x1b": "nul bell bs vt ff del esc",
    "第一行\n第二行\t制表\r\n第三行\r只有回车": "第一行\n第二行\t制表\r\n第三行\r只有回车",
    "\x1b[0m=HYPERLINK(\"http://x\",\"y\")": "=HYPERLINK(\"http://x\",\"y\")",
    "\u200e+1+1": "+1+1",
    "心理咨询 [bold]ok[/]": "心理咨询 [bold]ok[/]",
}
HOSTILE = list(CLEANED)
FORBIDDEN = {chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"} | {chr(c) for c in range(0x7F, 0xA0)} | set(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
PROMPTS = [f"提问{i} \x1b[1m我\u202e很\x00难过\x1b]8;;http://evil.example/\x1b\\点\x1b]8;;\x1b\\" for i in range(len(HOSTILE))]
SYSTEM = "\x1b]8;;http://evil.example/\x1b\\你是\u202e咨询师\x1b]8;;\x1b\\"
RATER = "r\x1b[8m1\u2066"
SESSION_NAME = "会话\u202e\x1b[2J名"


def formula_guarded(text: str) -> str:
    return "'" + text if text.lstrip()[:1] in ("=", "+", "-", "@") or text[:1] in ("\t", "\r") else text


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict[int, str]]:
    root = tmp_path_factory.mktemp("control")
    workspace = open_workspace(Workspace(root / "ws"))
    prompts = root / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": text}, ensure_ascii=False) + "\n"
                               for i, text in enumerate(PROMPTS)), "utf-8")
    left = register_endpoint(workspace, "left-chat", "http://127.0.0.1:9/a").id
    right = register_endpoint(workspace, "right-chat", "http://127.0.0.1:9/b").id
    session = create_session(workspace, register_prompt_set(workspace, prompts).id, left, right,
                             system_prompt=SYSTEM, name=SESSION_NAME, side_seed=3)
    texts: dict[int, str] = {}
    with RatingStore(workspace) as store:
        for position, item in enumerate(session_items(workspace, session.id)):
            ids = []
            for offset, model in enumerate((item.left_model, item.right_model)):
                text = HOSTILE[(position + offset) % len(HOSTILE)]
                response = store_response(workspace, session, model, opening_messages(item), text,
                                          StreamStats(0.25, 10, 40.0, "stop", 0.25))
                texts[response.id] = text
                ids.append(response.id)
            store.submit(RatingInput(
                session.id, item.position, RATER, "default", item.left_model, item.right_model,
                {"empathy": 4, "professionalism": 3, "safe": 1}, {"empathy": 2, "professionalism": 2, "safe": 1},
                "left", comment=HOSTILE[position], left_response_id=ids[0], right_response_id=ids[1],
                crisis=item.crisis))
    return workspace, texts


def strings(value: Any) -> list[str]:
    """Every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (key, *strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def export_and_read(workspace: Workspace, what: str, format: str, out: Path) -> list[dict[str, Any]]:
    """Export ``what`` to ``out`` and read it back with the csv or json module; checks the row count."""
    count = export(workspace, what, out, format=format)  # type: ignore[arg-type]
    if format == "csv":
        with out.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    else:
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    assert len(rows) == count == (2 if what == "ratings" else 1) * len(HOSTILE)
    return rows


def test_clean_text_removes_sequences_and_keeps_line_breaks() -> None:
    for text, cleaned in CLEANED.items():
        assert clean_text(text) == cleaned, text
        assert clean_text(cleaned) == cleaned
        assert spreadsheet_safe(text) == formula_guarded(cleaned), text
    assert clean_text("\x1b]8;;http://evil.example/ 无终止\n下一行") == "\n下一行"  # an open OSC ends at the line
    assert clean_text("\x1b]8;;http://evil.example/ 无终止\r\n下一行") == "\r\n下一行"


@pytest.mark.parametrize("what", ["ratings", "comparisons", "battles"])
@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_no_exported_cell_keeps_a_control_character(hostile: tuple[Workspace, dict[int, str]], tmp_path: Path,
                                                    what: str, format: str) -> None:
    out = tmp_path / f"{what}.{format}"
    rows = export_and_read(hostile[0], what, format, out)
    cells = [s for row in rows for s in strings(row)]
    if format == "csv" and what == "battles":  # the conversations are JSON text in their cells
        cells += [s for row in rows for column in ("conversation_a", "conversation_b")
                  for s in strings(json.loads(row[column]))]
    assert [cell for cell in cells if FORBIDDEN & set(cell)] == []
    assert "evil.example" not in out.read_text(encoding="utf-8-sig")  # no OSC 8 link target survives
    assert {row.get("rater", row.get("judge")) for row in rows} == {"r1"}
    if format == "csv":
        assert not any(cell[:1] in ("\t", "\r") or cell.lstrip()[:1] in ("=", "+", "-", "@")
                       for row in rows for cell in row.values())


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_ratings_hold_the_cleaned_text(hostile: tuple[Workspace, dict[int, str]], tmp_path: Path,
                                       format: str) -> None:
    workspace, texts = hostile
    rows = export_and_read(workspace, "ratings", format, tmp_path / f"ratings.{format}")
    view = formula_guarded if format == "csv" else str
    for row in rows:
        assert row["response"] == view(CLEANED[texts[int(row["response_id"])]])
        assert row["prompt"] == f"提问{row['prompt_id'][1:]} 我很难过点"
        assert row["system_prompt"] == "你是咨询师" and row["session_name"] == "会话名"
    assert {row["comment"] for row in rows} == {view(cleaned) for cleaned in CLEANED.values()}
    kept = next(row["response"] for row in rows if "第一行" in row["response"])
    assert kept == "第一行\n第二行\t制表\r\n第三行\r只有回车"  # newlines, tab and CR survive the round trip


@pytest.mark.parametrize("format", ["csv", "jsonl"])
def test_battle_conversations_hold_the_cleaned_text(hostile: tuple[Workspace, dict[int, str]], tmp_path: Path,
                                                    format: str) -> None:
    answers = set()
    for row in export_and_read(hostile[0], "battles", format, tmp_path / f"battles.{format}"):
        for column in ("conversation_a", "conversation_b"):
            conversation = json.loads(row[column]) if format == "csv" else row[column]
            system, user, assistant = conversation
            assert system == {"role": "system", "content": "你是咨询师"}
            assert user["content"].endswith(" 我很难过点") and assistant["role"] == "assistant"
            answers.add(assistant["content"])
    assert answers == set(CLEANED.values())
