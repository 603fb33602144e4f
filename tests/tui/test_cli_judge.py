"""``mhbench judge`` refusing to generate answers, ``mhbench results --calibration`` and ``--include-judges``."""

from __future__ import annotations

import json
from pathlib import Path

from core.arena.prompts import register_prompt_set
from core.arena.sessions import create_session
from core.base.db import open_workspace
from core.base.workspace import Workspace
from core.models import register_endpoint
from tests.helpers.judge_world import JUDGE, build_rated
from tui.cli import main


def test_judge_refuses_a_session_without_stored_answers(tmp_path: Path, capsys) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    a = register_endpoint(workspace, "a", "http://127.0.0.1:9/a").id
    b = register_endpoint(workspace, "b", "http://127.0.0.1:9/b").id
    session = create_session(workspace, register_prompt_set(workspace).id, a, b)
    assert main(["--workspace", str(workspace.root), "judge", session.id, "--model", a]) == 2
    err = capsys.readouterr().err
    assert "no item with both answers stored" in err and "pre-generate" in err and "never generates" in err
    assert main(["--workspace", str(workspace.root), "judge", session.id, "--model", "nope"]) == 2
    assert "no model 'nope'" in capsys.readouterr().err


def test_results_calibration_and_include_judges(tmp_path: Path, capsys) -> None:
    workspace, session_id, _inputs = build_rated(tmp_path / "ws")
    root = str(workspace.root)
    assert main(["--workspace", root, "results", "--calibration", "--session", session_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (judge,) = data["judges"]
    assert judge["judge"] == JUDGE and data["humans"] == ["h1", "h2"]
    per = {h["human"]: h for h in judge["preference"]["per_human"]}
    assert per["h1"]["judge"]["exact"] == 1.0 and judge["preference"]["judge_human"]["within_one"] is None
    assert main(["--workspace", root, "results", "--calibration"]) == 0
    assert "human–human" in capsys.readouterr().out
    assert main(["--workspace", root, "results", "--rounds", "20", "--json"]) == 0
    humans = json.loads(capsys.readouterr().out)
    assert humans["ratings"] == 24 and humans["include_judges"] is False and "verdict" in humans["stopping"]
    assert main(["--workspace", root, "results", "--rounds", "20", "--include-judges"]) == 0
    assert "36 current ratings, LLM judges included" in capsys.readouterr().out
    out = tmp_path / "battles.jsonl"
    assert main(["--workspace", root, "export", "battles", "--out", str(out)]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 24
    assert main(["--workspace", root, "export", "battles", "--out", str(out), "--include-judges"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 36
