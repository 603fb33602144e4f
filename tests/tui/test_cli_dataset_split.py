"""``mhbench dataset FILE --hold-out N --out DIR``: the split from the command line, and its refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DEMO_DIALOGUES = Path(__file__).resolve().parents[2] / "core" / "demo" / "data" / "dialogues.jsonl"


def mhbench(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", "--workspace", str(workspace), "dataset", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_split_writes_both_files_and_says_how_to_rate_the_held_out_turns(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    out = tmp_path / "split"
    text = mhbench(workspace, str(DEMO_DIALOGUES), "--hold-out", "5", "--out", str(out), "--seed", "2")
    assert text.returncode == 0, text.stderr
    assert "5 held out" in text.stdout and f"--prompts {out / 'eval-prompts.jsonl'}" in text.stdout
    data = json.loads(mhbench(workspace, str(DEMO_DIALOGUES), "--hold-out-fraction", "0.1", "--out", str(out),
                              "--cuts-per-conversation", "1", "--json").stdout)
    assert data["held_out"] == 7 and data["eval_rows"] == 7 and data["train_path"] == str(out / "train.jsonl")
    assert len((out / "train.jsonl").read_text(encoding="utf-8").splitlines()) == data["train_rows"]


def test_alpaca_rows_and_a_missing_out_are_refused_with_the_fix(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    alpaca = tmp_path / "alpaca.jsonl"
    alpaca.write_text(json.dumps({"instruction": "我睡不着", "input": "", "output": "多久了？"}, ensure_ascii=False)
                      + "\n", encoding="utf-8")
    refused = mhbench(workspace, str(alpaca), "--hold-out", "1", "--out", str(tmp_path / "o"))
    assert refused.returncode != 0 and "alpaca layout" in refused.stderr and "--convert" in refused.stderr
    assert "Traceback" not in refused.stderr
    no_out = mhbench(workspace, str(DEMO_DIALOGUES), "--hold-out", "1")
    assert no_out.returncode != 0 and "--out DIR" in no_out.stderr
