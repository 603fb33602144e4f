"""Pre-generation one request at a time against full batches, through the wave job's own code.

Builds (once) the benchmark-sized GGUF of ``tests/bench/stream.py`` (about 140 M parameters, f16),
registers it twice under two names (two servers, as two models of a session), makes a session of
the two on ``--prompts`` prompts, and generates its answers in waves under a budget that fits one
server at a time: first with one request per server (the old pre-generation), then with each
server's queue kept full (:func:`core.models.waves.concurrency_of`, or ``--concurrency``). Each
mode runs ``--runs`` times, alternating, the stored answers deleted in between; the time counted
is each wave's generation (its servers' start and stop are the same in both modes and left out).

With ``python -m llama_cpp.server`` a server answers one request at a time, so full batches
cannot be faster there (R about 1); llama.cpp's own ``llama-server`` with parallel slots (``-np``)
decodes several streams in one batch. Figures, no pass/fail. The last line is exactly
``pregenerate: batched/sequential time ratio R, waves W``.

    .venv/bin/python tests/bench/pregenerate.py [--prompts 8] [--tokens 48] [--runs 2] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import shutil
import statistics
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.arena import pregenerate as job  # noqa: E402
from core.arena.prompts import register_prompt_set  # noqa: E402
from core.arena.sessions import create_session  # noqa: E402
from core.base.db import open_workspace, registry  # noqa: E402
from core.base.workspace import Workspace  # noqa: E402
from core.models import register_gguf  # noqa: E402
from core.models.client import GenerationParams  # noqa: E402
from core.models.serving import list_servers, stop_server  # noqa: E402
from core.models.waves import concurrency_of, unit_spec  # noqa: E402
from tests.bench.stream import build_model  # noqa: E402

PROMPTS = ["最近工作压力很大，晚上总是睡不着。", "我和父母总是吵架，不知道怎么沟通。", "朋友都不理我了，我觉得很孤单。",
           "考试快到了，我一看书就心慌。", "分手以后我一直走不出来。", "我总觉得自己什么都做不好。",
           "孩子不愿意上学，我很焦虑。", "换了新工作，总担心被同事排挤。", "夜里常常醒来，再也睡不着。",
           "我不知道该不该辞职。", "家里人总拿我和别人比较。", "最近对什么都提不起兴趣。"]


def wave_seconds(lines: list[str]) -> float:
    """The generation time of every wave, from the job's ``wave k/W: N generated in S s`` lines."""
    return sum(float(match.group(1)) for line in lines
               if (match := re.search(r"generated in ([0-9.]+) s$", line)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, help="requests per server in the batched mode (default: the "
                                                         "engine's, concurrency_of)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mhbench-bench-stream"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    gguf, _ = build_model(args.workdir)
    shutil.rmtree(args.workdir / "ws-pregenerate", ignore_errors=True)  # a fresh catalog and session each time
    workspace = open_workspace(Workspace(args.workdir / "ws-pregenerate"))
    models = [register_gguf(workspace, gguf).id]
    twin = args.workdir / "bench-llama-140m-f16-twin.gguf"
    if not twin.exists():
        twin.hardlink_to(gguf)
    models.append(register_gguf(workspace, twin).id)
    prompt_file = args.workdir / "pregenerate-prompts.jsonl"
    prompt_file.write_text("".join(json.dumps({"id": f"p{n:02d}", "prompt": text}, ensure_ascii=False) + "\n"
                                   for n, text in enumerate((PROMPTS * 4)[: args.prompts])), encoding="utf-8")
    session = create_session(workspace, register_prompt_set(workspace, prompt_file).id, *models,
                             schedule="adaptive", params=GenerationParams(max_tokens=args.tokens))
    one_server = max(job.plan_generation(workspace, session.id, 1e6).waves.estimates.values()) * 1.5
    plan = job.plan_generation(workspace, session.id, one_server)
    waves = len(plan.waves.waves)
    engines = concurrency_of(unit_spec(workspace, plan.waves.waves[0].units[0]))
    print(f"{multiprocessing.cpu_count()} CPUs; {len(models)} models × {args.prompts} prompts × {args.tokens} "
          f"tokens; {waves} waves under {one_server:.2f} GB; batched: {args.concurrency or engines} request(s) per "
          f"server (the engine's own: {engines}); {args.runs} runs each, alternating")

    times: dict[str, list[float]] = {"sequential": [], "batched": []}
    try:
        for _ in range(args.runs):
            for mode in ("sequential", "batched"):
                with registry(workspace) as connection:
                    connection.execute("DELETE FROM responses")
                lines: list[str] = []
                fresh = replace(plan, tasks=tuple(job.generation_tasks(workspace, session)))
                per_server = 1 if mode == "sequential" else args.concurrency
                made = asyncio.run(job.run_plan(workspace, fresh, lines.append, requests_per_server=per_server))
                times[mode].append(wave_seconds(lines))
                print(f"  {mode:<10} {made} answers, waves' generation {times[mode][-1]:6.1f} s")
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
    ratio = statistics.median(times["batched"]) / statistics.median(times["sequential"])
    print(f"pregenerate: batched/sequential time ratio {ratio:.2f}, waves {waves}")


if __name__ == "__main__":
    main()
