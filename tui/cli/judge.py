"""The ``mhbench judge`` command: an LLM judge rates a session's stored answers, detached, resumable.

Like the rest of :mod:`tui.cli`, nothing heavy loads before the command runs. It starts the job and
returns (``--wait`` follows it to the end and prints the judge's summary); the job shows
in the Models screen's jobs and its log, and a second run resumes where a killed one was.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tui.cli.common import POSITIVE, command_workspace, say


def add_commands(commands: Any) -> None:
    """Add ``judge`` to ``mhbench``'s subparsers."""
    judge = commands.add_parser(
        "judge", help="an LLM judge rates a session's stored answers (rater judge:<model>:<prompt version>)",
        description="Rate every item of SESSION whose two answers are stored with the catalog model or endpoint "
                    "M, through the shared servers, using the versioned Chinese judge prompt (zh-v1) that states "
                    "the rubric and asks for one JSON object. The judge never generates the contestants' answers: "
                    "pre-generate them first (g in the Arena). Replies that do not parse are stored and counted, "
                    "never guessed. Runs detached; running it again resumes (judged items are skipped).")
    judge.add_argument("session", help="session id, name or unique id prefix")
    judge.add_argument("--model", required=True, metavar="M", help="the judge: a catalog model id or an endpoint")
    judge.add_argument("--rubric", choices=("default", "cpsycoun"), help="the rubric (default: the session's)")
    judge.add_argument("--both-orders", action="store_true",
                       help="ask each item a second time with the sides swapped; reports position consistency")
    judge.add_argument("--max-tokens", type=POSITIVE, default=512, metavar="N", help="reply length limit (default 512)")
    judge.add_argument("--constrain", action="store_true",
                       help="ask the server to decode only replies that fit the reply's JSON schema (llama.cpp's "
                            "response_format); a judge of its own name, judge:<model>:zh-v1+schema")
    judge.add_argument("--wait", action="store_true", help="wait for the job to end and print the judge's summary")
    judge.add_argument("--json", action="store_true", help="machine-readable output")
    judge.set_defaults(handler=cmd_judge)


def cmd_judge(args: argparse.Namespace) -> int:
    from core.arena.judge.prompt import judge_name
    from core.arena.judge.runner import answered_cases, missing_answers_fix, start_judge, summary_line
    from core.arena.judge.store import judge_summaries
    from core.arena.sessions import get_session
    from core.models import get_model
    from core.models.jobs import wait_job

    workspace = command_workspace(args)
    session = get_session(workspace, args.session)
    cases, missing = answered_cases(workspace, session)
    if missing and cases:
        say(f"{len(missing)} of {len(cases) + len(missing)} items lack a stored answer and are skipped; "
            f"{missing_answers_fix(session)}")
    job = start_judge(workspace, session.id, args.model, rubric_name=args.rubric, both_orders=args.both_orders,
                      max_tokens=args.max_tokens, constrain=args.constrain)
    judge = judge_name(get_model(workspace, args.model).id, constrained=args.constrain)
    data: dict[str, Any] = {"job": job.id, "judge": judge, "session": session.id, "log": str(job.stdout_path),
                            "items": len(cases), "unanswered": len(missing)}
    if not args.wait:
        if args.json:
            print(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            say(f"judge {judge} started as job {job.id}; progress: {job.stdout_path}")
            print(job.id)
        return 0
    job = wait_job(workspace, job.id)
    summary = next((s for s in judge_summaries(workspace, session.id) if s.judge == judge), None)
    data["status"] = job.status
    if summary is not None:
        rate = summary.consistency.rate
        data.update(asked=summary.asked, parsed=summary.parsed, failed=summary.failed, failures=summary.failures,
                    consistency={"agree": summary.consistency.agree, "pairs": summary.consistency.pairs,
                                 "rate": None if rate != rate else rate})
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(summary_line(summary) if summary else f"job {job.id} {job.status}: nothing judged")
        if summary:
            for reason, count in summary.failures.items():
                print(f"  parse failure ×{count}: {reason}")
        if job.status != "finished":
            say(f"job {job.id} {job.status}: see {job.stdout_path}")
    return 0 if job.status == "finished" else 1

