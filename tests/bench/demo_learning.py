"""Does the demo fine-tune learn? The demo run's wall time, its eval-loss drop, base vs fine-tuned ROUGE-L.

Creates a fresh demo workspace, runs the real `swift sft` of the `demo-learning-qwen2` profile
exactly as `mhbench demo --train` does (detached supervisor, the profile's own settings),
then answers the held-out demo prompts (those with a reference; none is in the training
dialogues) greedily with the random base and with the base plus the run's adapter, and
scores both with ROUGE-L on jieba words, as the Results screen does.

    .venv/bin/python tests/bench/demo_learning.py [--keep DIR] [--show N]

The last line is `demo learning: wall s W, eval loss drop D, rouge-l ratio R`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "MODELSCOPE_OFFLINE"):
    os.environ.setdefault(_name, "1")


def main() -> int:
    from core.demo import DEMO_LEARNER, create_demo
    from core.demo.learning import measure_run, train_and_wait
    from core.train.runs import get_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="make the demo workspace here and keep it")
    parser.add_argument("--show", type=int, default=3, metavar="N", help="print N answer pairs")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mhbench-demo-learning-")) / "ws"
    demo = create_demo(root)
    print(f"demo workspace: {demo.workspace.root} (made in {demo.seconds:.1f} s)")
    run_id, wall = train_and_wait(demo.workspace, DEMO_LEARNER)
    run = get_run(demo.workspace, run_id)
    report = measure_run(demo.learner_dir, Path(str(run.last_checkpoint)), run.output_dir / "logging.jsonl",
                         demo.prompts, wall)
    print(f"run {run_id}: real swift sft of {DEMO_LEARNER}, wall {wall:.1f} s, last checkpoint {run.last_checkpoint}")
    print("eval loss by evaluation: " + " → ".join(f"{loss:.3f}" for loss in report.eval_losses))
    print(f"eval loss: first {report.eval_losses[0]:.3f}, last {report.eval_losses[-1]:.3f}, "
          f"drop {report.eval_loss_drop:.1%} of the first")
    print(f"{'held-out prompt':<16}{'ROUGE-L base':>14}{'ROUGE-L tuned':>15}")
    for item, base, tuned in zip(report.prompts, report.base.rouge, report.tuned.rouge, strict=True):
        print(f"{item.id:<16}{base:>14.3f}{tuned:>15.3f}")
    print(f"{'mean':<16}{report.base.mean_rouge:>14.3f}{report.tuned.mean_rouge:>15.3f}")
    for item, base, tuned in list(zip(report.prompts, report.base.texts, report.tuned.texts, strict=True))[: args.show]:
        print(f"\n[{item.id}] {item.prompt}\n  base : {base[:120]!r}\n  tuned: {tuned[:120]!r}")
    print(report.summary_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
