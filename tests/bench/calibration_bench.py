"""Cost of the Judges tab: ``compute_calibration`` on a workspace of many ratings. Prints figures, passes nothing.

A session of 4,000 items rated by three humans and one LLM judge (16,000 current
ratings, 4,000 judgements with both orders), written straight into the database. The
Results screen recomputes the calibration in a thread whenever the ratings change, so it
should stay well under a second or two.

    .venv/bin/python tests/bench/calibration_bench.py [--items 4000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.base.db import open_workspace, write_transaction  # noqa: E402
from core.base.processes import utc_now  # noqa: E402
from core.base.workspace import Workspace  # noqa: E402
from core.results import compute_calibration, compute_results  # noqa: E402

RATERS = ("h1", "h2", "h3", "judge:m-judge:zh-v1")
PREFERENCES = ("left", "right", "tie", "both_bad")


def build(root: Path, items: int, seed: int = 0) -> Workspace:
    workspace = open_workspace(Workspace(root))
    rng = random.Random(seed)
    stamp = utc_now()
    with write_transaction(workspace) as connection:
        connection.execute("INSERT INTO prompt_sets VALUES ('p', 'bench', 'bench', 'sha', ?)", (stamp,))
        connection.execute("INSERT INTO sessions (id, name, prompt_set_id, model_a, model_b, params, params_key, seed, "
                           "side_seed, rubric, created_at) VALUES ('s', 's', 'p', 'a', 'b', '{}', 'k', 0, 0, "
                           "'default', ?)", (stamp,))
        ratings, judgements = [], []
        for position in range(items):
            truth = [rng.randint(1, 5) for _ in range(4)]
            preference = rng.choice(PREFERENCES)
            for rater in RATERS:
                noisy = [min(5, max(1, t + rng.choice((-1, 0, 0, 1)))) for t in truth]
                left = json.dumps({"empathy": noisy[0], "professionalism": noisy[1], "safe": 1})
                right = json.dumps({"empathy": noisy[2], "professionalism": noisy[3], "safe": 1})
                chosen = preference if rng.random() < 0.6 else rng.choice(PREFERENCES)
                ratings.append(("s", position, rater, "default", "a", "b", None, None, left,
                                right, chosen, stamp))
            for orientation in ("shown", "swapped"):
                judgements.append(("s", position, RATERS[-1], "m-judge", "zh-v1", "default", orientation, "[]", "{}",
                                   1, rng.choice(PREFERENCES), stamp))
        connection.executemany(
            "INSERT INTO ratings (session_id, item_position, rater, rubric, left_model, right_model, "
            "left_response_id, right_response_id, left_scores, right_scores, preference, submitted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ratings)
        connection.executemany(
            "INSERT INTO judgements (session_id, item_position, judge, judge_model, prompt_version, rubric, "
            "orientation, prompt, reply, parsed, preference, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            judgements)
    return workspace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workspace = build(Path(folder) / "ws", args.items)
        times = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            calibration = compute_calibration(workspace)
            times.append(time.perf_counter() - started)
        (judge,) = calibration.judges
        started = time.perf_counter()
        compute_results(workspace, rounds=1000)
        results_s = time.perf_counter() - started
        print(f"{args.items * len(RATERS)} ratings, {2 * args.items} judgements: judge–human α (empathy) "
              f"{judge.dimensions[0].judge_human.alpha:.3f}, human–human {judge.dimensions[0].human_human.alpha:.3f}, "
              f"consistency {judge.summary.consistency.rate:.2f}")
        print(f"calibration: compute_calibration median {statistics.median(times) * 1000:.0f} ms; "
              f"compute_results (humans only, 1000 rounds) {results_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
