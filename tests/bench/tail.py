"""Cost of tailing ms-swift's ``logging.jsonl`` with ``core.base.tail.JsonlTail``: prints figures, passes nothing.

1. First open: a fresh tail polled to the end of a 1,000,000-line log (target <= 2 s).
2. Per appended line: 2,000 lines appended one at a time to a 1,000-line and to a
   1,000,000-line log, polled after each; the mean cost per line of the poll alone and
   of append+poll, in microseconds, and the ratio big/small (target <= 1.5: the cost
   must not depend on the file's size).
3. Wall-time ratio of an mhbench-launched ``swift sft`` to a direct one: see
   :func:`run_wall_ratio` (needs ``core.train.launch``).

Every figure is the median of ``--rounds`` rounds.

    .venv/bin/python tests/bench/tail.py [--rounds 5] [--appends 2000] [--with-swift]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.base.tail import JsonlTail  # noqa: E402
from core.train.curve import RunCurve  # noqa: E402

SMALL = 1_000
BIG = 1_000_000


def step_line(step: int, max_steps: int) -> str:
    """A 4.x step line as ``swift sft`` writes it on a GPU (numbers, memory included)."""
    return (
        f'{{"loss": {2.0 + 6.0 / (1 + step * 1e-3):.8f}, "grad_norm": 0.3{step % 9973:04d}, '
        f'"learning_rate": {1e-4 * (1 - step / max_steps):.8f}, "token_acc": 0.{step % 99991:05d}, '
        f'"epoch": {step / 3125:.5f}, "global_step/max_steps": "{step}/{max_steps}", '
        f'"elapsed_time": "{step // 3600}h {step // 60 % 60}m {step % 60}s", "remaining_time": "1h 2m 3s", '
        f'"memory(GiB)": 17.52, "train_speed(s/it)": 0.{241180 + step % 1000}}}\n'
    )


def write_log(path: Path, lines: int, max_steps: int) -> None:
    """Write ``lines`` step lines in bulk (batches of 100,000 joined strings)."""
    with path.open("w", encoding="utf-8") as handle:
        for start in range(1, lines + 1, 100_000):
            stop = min(lines, start + 99_999)
            handle.write("".join(step_line(step, max_steps) for step in range(start, stop + 1)))


def first_open(path: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, objects) of one fresh tail polled to the end in one call."""
    tail = JsonlTail(path)
    wall, cpu = time.perf_counter(), time.process_time()
    count = len(tail.poll())
    return time.perf_counter() - wall, time.process_time() - cpu, count


def json_floor(path: Path) -> float:
    """CPU seconds of plain ``json.loads`` of every line, with no tail at all: what this machine allows."""
    lines = path.read_bytes().decode().split("\n")
    lines.pop()
    loads = json.loads
    cpu = time.process_time()
    objects = [loads(line) for line in lines]
    seconds = time.process_time() - cpu
    del objects
    return seconds


def catch_up(path: Path, slice_bytes: int = 8 << 20) -> tuple[float, float, int]:
    """The TUI's way: poll in slices, feeding a RunCurve, so no slice's dicts outlive it."""
    tail, curve = JsonlTail(path), RunCurve()
    wall, cpu = time.perf_counter(), time.process_time()
    while True:
        curve.add_objects(tail.poll(max_bytes=slice_bytes))
        if tail.caught_up:
            break
    return time.perf_counter() - wall, time.process_time() - cpu, len(curve.train_points)


def per_line(path: Path, appends: int, next_step: int, max_steps: int) -> tuple[float, float]:
    """Mean microseconds per appended line: (poll only, append + poll). The tail starts at the end."""
    tail = JsonlTail(path, offset=path.stat().st_size)
    payload = [step_line(step, max_steps).encode() for step in range(next_step, next_step + appends)]
    poll_total = 0.0
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        began = time.perf_counter()
        for data in payload:
            os.write(fd, data)
            t0 = time.perf_counter()
            got = tail.poll()
            poll_total += time.perf_counter() - t0
            if len(got) != 1:
                raise SystemExit(f"expected one object per poll, got {len(got)}")
        both = time.perf_counter() - began
    finally:
        os.close(fd)
    return poll_total / appends * 1e6, both / appends * 1e6


def run_wall_ratio(pairs: int = 3, max_steps: int = 40) -> None:
    """Wall time of a tiny ``swift sft`` launched through mhbench (detached, supervised, followed
    until the registry says it ended) over the same command run directly; pairs alternate."""
    try:
        from core.base.processes import child_environment
        from core.demo import create_demo
        from core.profiles import apply_overrides, find_profile, load_profiles
        from core.train.launch import LaunchRequest, launch, plan_run
        from core.train.runs import get_run
    except ImportError:
        print("wall-time ratio: see tests/bench/tail.py --with-swift (needs core.train.launch)")
        return
    import subprocess

    with tempfile.TemporaryDirectory(prefix="mhbench-wall-") as folder:
        workspace = create_demo(Path(folder) / "ws").workspace
        profile = apply_overrides(
            find_profile(load_profiles(workspace.profiles_dir), "demo-tiny-qwen2"),
            [f"train.max_steps={max_steps}", "train.save_steps=1000", "train.eval_steps=1000"],
        )
        direct_times, mhbench_times = [], []
        for pair in range(pairs):
            plan = plan_run(workspace, LaunchRequest(profile=profile, name=f"wall-{pair}"))
            direct_argv = [part if part != str(plan.output_dir) else str(Path(folder) / f"direct-{pair}")
                           for part in plan.command.argv]
            began = time.perf_counter()
            subprocess.run(direct_argv, env=child_environment(plan.command.env), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            direct_times.append(time.perf_counter() - began)
            began = time.perf_counter()
            record = launch(workspace, plan)
            while get_run(workspace, record.id).active:
                time.sleep(0.2)
            mhbench_times.append(time.perf_counter() - began)
            assert get_run(workspace, record.id).status == "finished"
    direct, through = statistics.median(direct_times), statistics.median(mhbench_times)
    print(f"tiny swift sft ({max_steps} steps), direct : {', '.join(f'{t:.1f}' for t in direct_times)} s")
    print(f"tiny swift sft ({max_steps} steps), mhbench: {', '.join(f'{t:.1f}' for t in mhbench_times)} s")
    ratios = sorted(m / d for m, d in zip(mhbench_times, direct_times, strict=True))
    print(f"wall-time ratio mhbench/direct: {statistics.median(ratios):.3f} median of {pairs} interleaved pairs "
          f"(ratio of medians {through / direct:.3f}; target <= 1.02)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--with-swift", action="store_true", help="also measure the wall-time ratio (needs core.train.launch)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mhbench-tail-") as folder:
        small, big = Path(folder) / "small.jsonl", Path(folder) / "big.jsonl"
        began = time.perf_counter()
        write_log(small, SMALL, 10_000_000)
        write_log(big, BIG, 10_000_000)
        print(
            f"built logs: {SMALL:,} lines ({small.stat().st_size / 1e6:.2f} MB), "
            f"{BIG:,} lines ({big.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - began:.1f} s"
        )

        opens_small = [first_open(small) for _ in range(args.rounds)]
        opens_big = [first_open(big) for _ in range(max(3, args.rounds // 2))]
        assert all(count == BIG for _, _, count in opens_big)
        print(
            f"first open, {SMALL:,} lines: {statistics.median(o[0] for o in opens_small) * 1e3:.1f} ms wall, "
            f"{statistics.median(o[1] for o in opens_small) * 1e3:.1f} ms CPU (median of {len(opens_small)})"
        )
        print(
            f"first open, {BIG:,} lines: {statistics.median(o[0] for o in opens_big):.2f} s wall, "
            f"{statistics.median(o[1] for o in opens_big):.2f} s CPU (median of {len(opens_big)}; "
            f"wall runs {', '.join(f'{o[0]:.2f}' for o in opens_big)}; target <= 2 s)"
        )
        print(
            f"  floor: json.loads of each of the {BIG:,} lines, already in memory, no tail: {json_floor(big):.2f} s CPU"
        )
        catches = [catch_up(big) for _ in range(3)]
        print(
            f"  for reference: catch-up in 8 MiB slices into a RunCurve, {BIG:,} lines: "
            f"{statistics.median(c[0] for c in catches):.2f} s wall, {statistics.median(c[1] for c in catches):.2f} s CPU "
            f"({catches[0][2]:,} points, median of 3)"
        )
        print(f"  this machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

        polls: dict[str, list[float]] = {"small": [], "big": []}
        boths: dict[str, list[float]] = {"small": [], "big": []}
        next_step = {"small": SMALL + 1, "big": BIG + 1}
        for _ in range(args.rounds):
            for name, path in (("small", small), ("big", big)):  # interleaved, so drift hits both alike
                poll_us, both_us = per_line(path, args.appends, next_step[name], 10_000_000)
                next_step[name] += args.appends
                polls[name].append(poll_us)
                boths[name].append(both_us)

        poll_small, poll_big = statistics.median(polls["small"]), statistics.median(polls["big"])
        both_small, both_big = statistics.median(boths["small"]), statistics.median(boths["big"])
        print(
            f"per appended line, poll only   : {SMALL:,}-line log {poll_small:.1f} µs, {BIG:,}-line log {poll_big:.1f} µs"
        )
        print(
            f"per appended line, append+poll : {SMALL:,}-line log {both_small:.1f} µs, {BIG:,}-line log {both_big:.1f} µs"
        )
        print(
            f"ratio big/small: poll only {poll_big / poll_small:.2f}, append+poll {both_big / both_small:.2f} "
            f"(target <= 1.5; medians of {args.rounds} rounds x {args.appends:,} appends)"
        )

    run_wall_ratio()


if __name__ == "__main__":
    main()
