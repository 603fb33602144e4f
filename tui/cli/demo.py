"""`mhbench demo`: the demo workspace; with `--train` and `--compare`, the demo run, then its ready A/B session.

Creating the demo stays fast (seconds): training is a separate, explicit step, because
the real `swift sft` run takes a minute or two on a CPU and a newcomer should see it
happen (in the Train mode, or here on the terminal).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.base.workspace import Workspace


def add_commands(commands: Any) -> None:
    demo = commands.add_parser("demo", help="create the demo workspace (tiny models, data, profiles; no download)")
    demo.add_argument("dir", nargs="?", help="where to create it (default: the workspace)")
    demo.add_argument("--train", action="store_true",
                      help="then run the demo profile's real swift sft (a minute or two on a CPU) and "
                           "create the A/B session base vs fine-tuned")
    demo.add_argument("--compare", action="store_true",
                      help="create the A/B session base vs fine-tuned from the newest finished demo run")
    demo.add_argument("--run", metavar="RUN", help="with --compare: this run instead of the newest")
    demo.add_argument("--pregenerate", action="store_true",
                      help="with --train/--compare: fill every answer in a detached job, so raters never wait")
    demo.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from core.base.workspace import Workspace, resolve
    from core.demo import create_demo

    # The one command that creates a workspace the user names.
    root = Path(args.dir) if args.dir else resolve(args.workspace).root
    if not args.compare or args.dir:
        demo = create_demo(root, progress=lambda message: print(f"mhbench demo: {message}", flush=True))
        root = demo.workspace.root
    if args.train or args.compare:
        return train_and_compare(Workspace(root), args)
    print(f"open it with: mhbench --workspace {root}")
    print("train the demo model and get a base vs fine-tuned A/B session: "
          f"mhbench --workspace {root} demo --train")
    return 0


def train_and_compare(workspace: Workspace, args: argparse.Namespace) -> int:
    from core.demo import DEMO_LEARNER
    from core.demo.learning import eval_losses, train_and_wait
    from core.demo.session import create_demo_session
    from core.train.runs import get_run

    run_ref = args.run
    if args.train:
        print(f"mhbench demo: training {DEMO_LEARNER} with real swift sft (follow it in the Train mode, F3)", flush=True)
        run_ref, wall = train_and_wait(workspace, DEMO_LEARNER)
        run = get_run(workspace, run_ref)
        losses = eval_losses(run.output_dir / "logging.jsonl")
        if len(losses) >= 2:
            print(f"mhbench demo: run {run.id} finished in {wall:.0f} s; eval loss {losses[0]:.2f} → {losses[-1]:.2f}")
    made = create_demo_session(workspace, run_ref, rater=args.rater, pregenerate=args.pregenerate)
    print(f"mhbench demo: session {made.session.id} ({made.session.name}): {made.base_id} vs {made.tuned_id}")
    print(f"rate it: mhbench --workspace {workspace.root}   then F5 (Arena)")
    return 0
