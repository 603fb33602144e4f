"""``mhbench session new|list|show``: N-model sessions from the command line, scriptable, with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from core.base.db import open_workspace
from core.base.workspace import Workspace
from core.models import register_endpoint
from tests.helpers.commands import mhbench


def _workspace(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "ws"
    workspace = open_workspace(Workspace(root))
    models = [register_endpoint(workspace, f"model-{n}", f"http://127.0.0.1:9/v{n}").id for n in range(3)]
    return root, models


def test_a_new_adaptive_session_lists_and_shows_its_progress(tmp_path: Path) -> None:
    from core.arena.controller import ArenaController

    root, models = _workspace(tmp_path)
    made = mhbench("--rater", "op", "session", "new", "--models", ",".join(models), "--schedule", "adaptive",
                   "--name", "三模型", "--rubric", "cpsycoun", "--side-seed", "5", "--json", workspace=root)
    assert made.returncode == 0, made.stderr
    session = json.loads(made.stdout)
    assert session["models"] == models and session["schedule"] == "adaptive" and session["rubric"] == "cpsycoun"
    assert session["name"] == "三模型" and session["side_seed"] == 5 and session["created_by"] == "op"
    # Recorded at creation: endpoints were not fine-tuned here, so nothing is contaminated.
    assert session["contamination"]["contaminated"] is False
    assert [m["model"] for m in session["contamination"]["models"]] == models
    classic = mhbench("session", "new", "--models", f"{models[0]},{models[1]}", workspace=root)
    assert classic.returncode == 0, classic.stderr
    classic_id = classic.stdout.strip()
    assert "round-robin session of 2 models on 49 prompts" in classic.stderr

    controller = ArenaController.open(Workspace(root), session["id"], "r1")  # r1 is drawn a first item
    controller.close()
    listed = mhbench("session", "list", "--json", workspace=root)
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows[session["id"]]["items"] == 49 * 3 and rows[classic_id]["items"] == 49
    assert rows[classic_id]["models"] == models[:2] and rows[classic_id]["schedule"] == "round-robin"

    shown = mhbench("session", "show", session["id"][:12], "--json", workspace=root)
    assert shown.returncode == 0, shown.stderr
    progress = json.loads(shown.stdout)
    assert progress["comparisons"] == 147 and progress["items"] == 1 and progress["prompts"] == 49
    assert progress["raters"] == [{"rater": "r1", "rated": 0, "of": 147, "drawn": 1, "judge": False}]
    assert len(progress["pairs"]) == 3 and sum(pair["items"] for pair in progress["pairs"]) == 1
    text = mhbench("session", "show", "三模型", workspace=root)
    assert text.returncode == 0, text.stderr
    assert "adaptive, 3 models, 49 prompts" in text.stdout and f"{models[0]} vs {models[1]}" in text.stdout
    assert "r1" in text.stdout
    assert progress["contamination"]["contaminated"] is False
    assert "contamination (the session's prompts in its models' training data):" in text.stdout
    assert "not fine-tuned here" in text.stdout


def test_an_unknown_model_or_session_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    root, models = _workspace(tmp_path)
    typo = mhbench("session", "new", "--models", f"{models[0]},model-11,{models[2]}", workspace=root)
    assert typo.returncode == 2
    (line,) = typo.stderr.strip().splitlines()
    assert "no model 'model-11'" in line and "Did you mean" in line and "mhbench models" in line
    one = mhbench("session", "new", "--models", models[0], workspace=root)
    assert one.returncode == 2 and "2 to 16" in one.stderr
    missing = mhbench("session", "show", "nope", workspace=root)
    assert missing.returncode == 2 and "no session 'nope'" in missing.stderr
    empty = mhbench("session", "list", workspace=root)
    assert empty.returncode == 0 and "no sessions yet" in empty.stdout


def _prompt_sets(root: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(root / "mhbench.db") as connection:
        return [row[0] for row in connection.execute("SELECT id FROM prompt_sets")]


def test_a_refused_session_new_registers_nothing(tmp_path: Path, capsys) -> None:
    from tui.cli import main

    root, models = _workspace(tmp_path)
    refusals = {
        "unknown model": ["--models", f"{models[0]},model-11"],
        "the same model twice": ["--models", f"{models[0]},{models[0]}"],
        "seventeen models": ["--models", ",".join([models[0]] * 17)],
    }
    for case, flags in refusals.items():
        assert main(["--workspace", str(root), "session", "new", *flags]) == 2, case
        assert "mhbench: error:" in capsys.readouterr().err, case
        assert _prompt_sets(root) == [], case
    assert main(["--workspace", str(root), "session", "new", "--models", f"{models[0]},{models[1]}"]) == 0
    assert len(_prompt_sets(root)) == 1


def test_an_unknown_session_is_called_unknown_by_results_and_rate(tmp_path: Path, capsys) -> None:
    """"No current rating has session" would suggest it exists; a session no one rated yet is told apart."""
    from tui.cli import main

    root, models = _workspace(tmp_path)
    assert main(["--workspace", str(root), "session", "new", "--models", f"{models[0]},{models[1]}",
                 "--name", "unrated"]) == 0
    capsys.readouterr()
    for argv in (["results", "--session", "nope"], ["rate", "--rater", "r1", "--session", "nope"],
                 ["export", "ratings", "--session", "nope"]):
        assert main(["--workspace", str(root), *argv]) == 2, argv
        (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
        assert line.startswith("mhbench: error: no session 'nope'.") and "mhbench session list" in line, (argv, line)
    assert main(["--workspace", str(root), "results", "--session", "unrated"]) == 2
    assert "session 'unrated' (" in capsys.readouterr().err


def test_show_lists_the_broken_answers_raters_reported(tmp_path: Path) -> None:
    from core.arena.reports import report_answer

    root, models = _workspace(tmp_path)
    made = mhbench("session", "new", "--models", f"{models[0]},{models[1]}", "--rubric", "default-crisis-only",
                   "--json", workspace=root)
    assert made.returncode == 0, made.stderr
    session = json.loads(made.stdout)
    assert session["rubric"] == "default-crisis-only"
    quiet = mhbench("session", "show", session["id"], workspace=root)
    assert quiet.returncode == 0 and "reported answers: none" in quiet.stdout
    report_answer(Workspace(root), session_id=session["id"], item_position=3, turn=1, rater="r1", side="right",
                  reason="other", note="全是乱码\x1b[31m red")
    text = mhbench("session", "show", session["id"], workspace=root)
    assert text.returncode == 0, text.stderr
    assert "item 3" in text.stdout and "B other: 全是乱码" in text.stdout and "rater r1" in text.stdout
    assert "\x1b" not in text.stdout  # a rater's note reaches the operator's terminal without its escapes
    shown = json.loads(mhbench("session", "show", session["id"], "--json", workspace=root).stdout)
    assert [(r["item_position"], r["side"], r["reason"], r["rater"]) for r in shown["reports"]] == [
        (3, "right", "other", "r1")]


def test_the_reveal_policy_is_chosen_on_new_and_shown_by_list_and_show(tmp_path: Path) -> None:
    from core.arena.sessions import REVEAL_POLICIES
    from tui.cli.session import REVEALS

    assert REVEALS == REVEAL_POLICIES  # the parser's choices are the core's policies
    root, models = _workspace(tmp_path)
    pair = f"{models[0]},{models[1]}"
    default = mhbench("session", "new", "--models", pair, "--json", workspace=root)
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout)["reveal"] == "end"
    per_item = mhbench("session", "new", "--models", pair, "--reveal", "item", "--name", "per-item", workspace=root)
    assert per_item.returncode == 0, per_item.stderr
    assert "recur" in per_item.stderr  # the warning: recurring answers identify the models
    never = mhbench("session", "new", "--models", pair, "--reveal", "never", "--json", workspace=root)
    assert json.loads(never.stdout)["reveal"] == "never" and json.loads(never.stdout)["warnings"] == []
    wrong = mhbench("session", "new", "--models", pair, "--reveal", "later", workspace=root)
    assert wrong.returncode == 2 and "later" in wrong.stderr

    listed = mhbench("session", "list", "--json", workspace=root)
    assert sorted(row["reveal"] for row in json.loads(listed.stdout)) == ["end", "item", "never"]
    table = mhbench("session", "list", workspace=root)
    assert "reveal" in table.stdout.splitlines()[0]
    assert any("per-item" in line and " item " in line for line in table.stdout.splitlines())
    shown = mhbench("session", "show", "per-item", workspace=root)
    assert shown.returncode == 0 and "blind, reveal item" in shown.stdout
    assert json.loads(mhbench("session", "show", "per-item", "--json", workspace=root).stdout)["reveal"] == "item"
