"""``mhbench queue``: runs that start one after another when their GPUs are free, with steps after each.

Like the rest of :mod:`tui.cli`, nothing heavy loads before a command runs. :func:`wake_runner`
is the check :func:`tui.cli.main` makes before every command: a queue with work and no
runner (the runner was killed, the box rebooted) gets one again.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from tui.cli.common import POSITIVE, opened_workspace, say

if TYPE_CHECKING:
    from core.train.run_queue import QueueEntry


def add_commands(commands: Any) -> None:
    """Add ``queue`` (add, list, remove, move, pause, resume) to ``mhbench``'s subparsers."""
    queue = commands.add_parser(
        "queue", help="queue training runs to run one after another, with merge/GGUF/quantise/session steps after",
        description="A detached runner starts each queued run when the GPUs it needs are free, goes on after a "
                    "failure, and survives the TUI's exit; any mhbench command restarts it when it is gone.")
    queue.set_defaults(handler=cmd_queue)
    actions = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="queue one run per profile, in the order given")
    add.add_argument("profiles", nargs="+", metavar="PROFILE", help="profile names (see `mhbench profiles`)")
    add.add_argument("--dataset", action="append", default=[], metavar="PATH", help="dataset file or hub id (repeatable)")
    add.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a profile value for every queued run (repeatable)")
    add.add_argument("--gpus", metavar="IDS", help="CUDA_VISIBLE_DEVICES for the runs (default: every GPU)")
    add.add_argument("--name", help="the run's name (one profile only)")
    add.add_argument("--then", metavar="STEPS",
                     help="steps after each run: merge,gguf,quantise:Q4_K_M,session:NAME,generate")
    add.add_argument("--json", action="store_true", help="print the new entries as JSON")
    listing = actions.add_parser("list", help="the queue: at work, waiting (in order), ended")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    remove = actions.add_parser("remove", help="take a waiting or ended entry out of the queue")
    remove.add_argument("entry", metavar="ID")
    move = actions.add_parser("move", help="reorder: put a waiting entry at another place")
    move.add_argument("entry", metavar="ID")
    where = move.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", type=POSITIVE, metavar="N", help="its new place among the waiting (1 = next)")
    where.add_argument("--up", action="store_true", help="one place earlier")
    where.add_argument("--down", action="store_true", help="one place later")
    actions.add_parser("pause", help="start no new run (what is at work goes on)")
    actions.add_parser("resume", help="start queued runs again")


def cmd_queue(args: argparse.Namespace) -> int:
    from core.train import run_queue

    workspace = opened_workspace(args)
    action = args.queue_command
    if action == "add":
        from core.queue.enqueue import queue_runs

        entries, runner = queue_runs(workspace, args.profiles, datasets=args.dataset, overrides=args.overrides,
                                     gpus=args.gpus, then=args.then, name=args.name)
        if args.json:
            print(json.dumps([entry.as_json() for entry in entries], ensure_ascii=False, indent=2))
        else:
            for entry in entries:
                print(f"{entry.id}\t{entry.profile}")
        if run_queue.is_paused(workspace):
            say("the queue is paused: `mhbench queue resume` starts it.")
        elif runner:
            say(f"queue runner {runner} started detached; follow it with `mhbench queue list` or the Train mode (F3).")
        return 0
    if action == "list":
        return show_queue(args, run_queue.list_entries(workspace), run_queue.is_paused(workspace),
                          run_queue.runner_alive(workspace))
    if action == "remove":
        entry = run_queue.remove_entry(workspace, args.entry)
        print(f"removed {entry.id} ({entry.label})")
        return 0
    if action == "move":
        if args.to is not None:
            waiting = run_queue.move_entry(workspace, args.entry, args.to)
        else:
            waiting = run_queue.shift_entry(workspace, args.entry, -1 if args.up else 1)
        for place, entry in enumerate(waiting, 1):
            print(f"{place}. {entry.id}\t{entry.label}")
        return 0
    run_queue.set_paused(workspace, action == "pause")
    if action == "pause":
        print("queue paused: no new run starts; what is at work goes on.")
    else:
        runner = run_queue.ensure_runner(workspace)
        print("queue resumed" + (f": runner {runner} started." if runner else "."))
    return 0


def show_queue(args: argparse.Namespace, entries: list[QueueEntry], paused: bool, runner: bool) -> int:
    if args.json:
        print(json.dumps({"paused": paused, "runner_alive": runner, "entries": [e.as_json() for e in entries]},
                         ensure_ascii=False, indent=2))
        return 0
    state = "paused" if paused else "running" if runner else "idle"
    print(f"queue: {state}")
    if not entries:
        print("nothing queued: `mhbench queue add PROFILE…` queues runs.")
        return 0
    print(f"{'id':>4}  {'run':<30} state")
    for entry in entries:
        print(f"{entry.id:>4}  {entry.label:<30} {entry.state_text()}")
        if entry.steps:
            print(f"{'':>4}  then {','.join(entry.steps)}")
    return 0


def wake_runner(args: argparse.Namespace) -> None:
    """Start a queue runner when work waits and none is alive; quiet and cheap when there is no queue."""
    from core.base.errors import MhbenchError
    from core.base.workspace import chosen
    from core.train.run_queue import ensure_runner

    workspace, _ = chosen(getattr(args, "workspace", None))
    try:
        started = ensure_runner(workspace)
    except (MhbenchError, OSError):
        return  # the command itself says what is wrong with the workspace
    if started:
        say(f"the queue had work and no runner: started runner {started} (`mhbench queue list`).")
