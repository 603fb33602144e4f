"""Ratings survive a killed process and concurrent raters: real processes on one SQLite file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.arena.prompts import register_prompt_set
from core.arena.sessions import create_session
from core.base.db import registry
from core.base.workspace import Workspace
from core.models import register_endpoint

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# Submits ratings for (rater, item) pairs from START on, printing each id once submit has returned.
SUBMITTER = r"""
import sys
from pathlib import Path
from core.arena.ratings import RatingInput, RatingStore
from core.base.workspace import Workspace

root, session, a, b, rater, start, count = sys.argv[1:8]
items = 49
with RatingStore(Workspace(Path(root))) as store:
    for n in range(int(start), int(start) + int(count)):
        rating = store.submit(RatingInput(
            session_id=session, item_position=n % items, turn=1 + n // items, rater=rater, rubric="default",
            left_model=a, right_model=b, left_scores={"empathy": 1 + n % 5, "professionalism": 3, "safe": 1},
            right_scores={"empathy": 2, "professionalism": 1 + n % 5, "safe": 1}, preference="left", comment=f"n={n}"))
        print(n, rating.id, flush=True)
"""


def _session(workspace: Workspace) -> tuple[str, str, str]:
    a = register_endpoint(workspace, "a", "http://127.0.0.1:9/v1").id
    b = register_endpoint(workspace, "b", "http://127.0.0.1:9/v2").id
    return create_session(workspace, register_prompt_set(workspace).id, a, b).id, a, b


def _spawn(workspace: Workspace, session: str, a: str, b: str, rater: str, start: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SUBMITTER, str(workspace.root), session, a, b, rater, str(start), str(count)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


# Enough submits that several kills land mid-run even on an idle machine, where one process
# starts in ~0.15 s and submits 1,000 ratings in ~0.25 s.
KILL_RUN_TOTAL = 3000


def test_every_acknowledged_rating_survives_kill_9(workspace: Workspace) -> None:
    session, a, b = _session(workspace)
    rng = random.Random(20261122)
    acknowledged: dict[int, int] = {}
    next_n, kills = 0, 0
    while next_n < KILL_RUN_TOTAL:
        process = _spawn(workspace, session, a, b, "crash", next_n, KILL_RUN_TOTAL - next_n)
        time.sleep(rng.uniform(0.1, 0.3))  # start-up is ~0.15 s
        process.send_signal(signal.SIGKILL)
        out, _ = process.communicate()
        kills += process.returncode == -signal.SIGKILL
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2:  # a line cut by the kill is not an acknowledgement
                acknowledged[int(parts[0])] = int(parts[1])
        # Resume after the last acknowledged submit; one in flight may have landed unacknowledged.
        with registry(workspace) as connection:
            stored = connection.execute("SELECT COUNT(*) FROM ratings WHERE rater = 'crash'").fetchone()[0]
        next_n = max(max(acknowledged, default=-1) + 1, stored)
    assert kills >= 2, "the process was never killed mid-run; lengthen the run"
    with registry(workspace) as connection:
        rows = {row["id"]: row for row in connection.execute("SELECT * FROM ratings WHERE rater = 'crash'")}
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
    assert integrity == "ok"
    missing = [n for n, rating_id in acknowledged.items() if rating_id not in rows]
    assert not missing, f"acknowledged but lost: {missing[:10]}"
    assert len(rows) == KILL_RUN_TOTAL and all(row["comment"] == f"n={n}" for n, rid in acknowledged.items()
                                     for row in [rows[rid]])


def test_four_raters_at_once_lose_nothing_and_never_see_a_lock_error(workspace: Workspace) -> None:
    session, a, b = _session(workspace)
    processes = [_spawn(workspace, session, a, b, f"r{i}", 0, 150) for i in range(4)]
    results = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert "locked" not in err and len(out.splitlines()) == 150
    with registry(workspace) as connection:
        counts = dict(connection.execute(
            "SELECT rater, COUNT(*) FROM ratings WHERE current = 1 GROUP BY rater").fetchall())
        duplicates = connection.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM ratings WHERE current = 1 "
            "GROUP BY session_id, item_position, turn, rater HAVING COUNT(*) > 1)").fetchone()[0]
    assert counts == {f"r{i}": 150 for i in range(4)} and duplicates == 0
