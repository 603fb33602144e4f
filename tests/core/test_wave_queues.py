"""A wave's queues: every task submitted at once, each server kept at its engine's concurrency, every row counted."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping

from core.arena.generation import GenerationTask
from core.arena.pregenerate import run_tasks
from core.models.targets import ChatTarget


def test_each_server_is_kept_at_its_concurrency_and_every_stored_row_is_counted() -> None:
    in_flight: Counter[str] = Counter()
    most: Counter[str] = Counter()
    lines: list[str] = []

    def task(label: str, *models: str) -> GenerationTask:
        async def run(targets: Mapping[str, ChatTarget]) -> int:
            in_flight.update(models)
            for model in models:
                most[model] = max(most[model], in_flight[model])
            await asyncio.sleep(0.01)
            in_flight.subtract(models)
            return 1

        return GenerationTask(label, models, run)

    tasks = [task(f"a{n}", "batched") for n in range(12)] + [task(f"b{n}", "single") for n in range(4)]
    tasks += [task(f"dialogue{n}", "batched", "single") for n in range(3)]
    limits = {"batched": asyncio.Semaphore(4), "single": asyncio.Semaphore(1)}

    async def wave() -> tuple[int, int]:
        return await run_tasks(tasks, {}, limits, "wave 1/1", lines.append)

    made, failed = asyncio.run(wave())
    assert (made, failed) == (19, 0) and most == Counter({"batched": 4, "single": 1})
    assert lines[-1].startswith("wave 1/1: 19 generated in ")
    assert sum("done ·" in line for line in lines) == 19 and "wave 1/1: 19/19 done" in lines[-2]


def test_a_failed_task_is_logged_and_counted_and_the_others_go_on() -> None:
    async def fine(targets: Mapping[str, ChatTarget]) -> int:
        await asyncio.sleep(0)
        return 1

    async def broken(targets: Mapping[str, ChatTarget]) -> int:
        raise ConnectionError("the server closed the stream")

    tasks = [GenerationTask("[1/3] p1 → m", ("m",), fine), GenerationTask("[2/3] p2 → m", ("m",), broken),
             GenerationTask("[3/3] p3 → m", ("m",), fine)]
    lines: list[str] = []

    async def wave() -> tuple[int, int]:
        return await run_tasks(tasks, {}, {"m": asyncio.Semaphore(1)}, "wave 2/2", lines.append)

    assert asyncio.run(wave()) == (2, 1)
    assert "wave 2/2: failed · [2/3] p2 → m: the server closed the stream" in lines
    assert lines[-1].startswith("wave 2/2: 2 generated in ") and lines[-1].endswith(", 1 failed")
