"""``mhbench session new|list|show|generate``: arena sessions from the command line, the same as the Arena's new-session form.

Like the rest of :mod:`tui.cli`, nothing heavy loads before a command runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from tui.cli.common import POSITIVE, SEED, opened_workspace, real_number, say

if TYPE_CHECKING:
    from core.arena.contamination import ContaminationReport
    from core.arena.progress import SessionProgress
    from core.arena.reports import AnswerReport
    from core.arena.sessions import Session
    from core.arena.transcripts import Transcript

SCHEDULES = ("round-robin", "adaptive")
RUBRICS = ("default", "default-crisis-only", "cpsycoun")
REVEALS = ("end", "item", "never")
"""The reveal policies of :data:`core.arena.sessions.REVEAL_POLICIES`, named here so ``--help`` imports no core."""


def add_commands(commands: Any) -> None:
    """Add ``session`` (with ``new``, ``list``, ``show`` and ``generate``) to ``mhbench``'s subparsers."""
    session = commands.add_parser(
        "session", help="create, list and show arena sessions (2 to 16 models, round-robin or adaptive pairs)",
        description="Sessions are rated in the Arena (F5): `mhbench --rater r1` opens it at your first unrated item.")
    session.set_defaults(handler=cmd_session)
    actions = session.add_subparsers(dest="session_command", metavar="ACTION", required=True)
    new = actions.add_parser("new", help="create a session of 2 to 16 catalog models")
    new.add_argument("--models", required=True, metavar="M1,M2,...",
                     help="catalog ids or names, comma-separated (see `mhbench models`)")
    new.add_argument("--prompts", metavar="demo|FILE",
                     help="the demo prompt set (the default), or a JSONL/CSV file with id, prompt[, reference][, tags]")
    new.add_argument("--cases", metavar="demo|FILE",
                     help="a dialogue session instead: the demo case set, or a JSONL case file (id, title, "
                          "background, problem, manner, opening[, tags][, risk, risk_after_turn]); needs --client")
    new.add_argument("--client", metavar="MODEL", help="the catalog model or endpoint that plays the cases' clients")
    new.add_argument("--turns", type=POSITIVE, default=4,
                     help="counsellor turns per transcript of a dialogue session (default 4; the client may end "
                          "earlier)")
    new.add_argument("--schedule", choices=SCHEDULES, default="round-robin",
                     help="round-robin: every (prompt, pair) in balanced rounds; adaptive: each rater's next pair "
                          "is the most informative one for the ranking (default round-robin)")
    new.add_argument("--rubric", choices=RUBRICS, default="default", help="default (safety asked on every item), default-crisis-only (safety asked on crisis items "
                          "only) or cpsycoun (default default)")
    new.add_argument("--name", help="session name (default: the models)")
    new.add_argument("--system", metavar="TEXT", help="system prompt (default: none)")
    new.add_argument("--max-tokens", type=POSITIVE, default=512, help="answer length (default 512)")
    new.add_argument("--seed", type=SEED, default=1234, help="generation seed (default 1234)")
    new.add_argument("--side-seed", type=SEED, help="seed of the pair and side draws (default: random, recorded)")
    new.add_argument("--open", action="store_true", help="show the model names (default: blind)")
    new.add_argument("--reveal", choices=REVEALS, default="end",
                     help="when a rater of a blind session sees the names: end (once they have rated every item, "
                          "the default), item (after each submit: the same answers recur, so raters soon "
                          "recognise the models) or never (the operator sees them in Results)")
    new.add_argument("--pregenerate", action="store_true",
                     help="also start `mhbench session generate` for it: a detached job that generates every answer "
                          "the session can show, in waves that fit the memory")
    new.add_argument("--json", action="store_true", help="machine-readable output")
    listing = actions.add_parser("list", help="the sessions, newest first, with each rater's progress")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = actions.add_parser("show", help="one session: its models and schedule, progress per rater and per pair, "
                                           "and the broken answers raters reported")
    show.add_argument("session", metavar="S", help="session id, name or unique id prefix")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    generating = actions.add_parser(
        "generate", help="generate every answer (or transcript) the session still owes, detached and resumable, "
                         "with servers started in waves that fit the memory budget",
        description="Plans which model servers run together so that their expected memory fits the budget (the "
                    "GPUs' free memory less 10 %%, on a CPU box the available host memory, or --memory-budget), "
                    "then a detached job starts each wave's servers, keeps each one's queue full, stops the "
                    "servers it started and starts the next wave. Servers already running are reused and left "
                    "running; what is stored is skipped, so running it again resumes a stopped or killed job.")
    generating.add_argument("session", metavar="S", help="session id, name or unique id prefix")
    generating.add_argument("--memory-budget", type=real_number(0.0, above_low=True), metavar="GB",
                            help="the GB one wave's servers may take together (default: measured, see above)")
    generating.add_argument("--dry-run", action="store_true", help="print the plan (waves, estimates) and start nothing")
    generating.add_argument("--wait", action="store_true", help="wait for the job to end; exit 1 unless it finished")
    generating.add_argument("--json", action="store_true", help="machine-readable output")
    for subparser in actions.choices.values():
        subparser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def cmd_session(args: argparse.Namespace) -> int:
    workspace = opened_workspace(args)
    if args.session_command == "new":
        return _new(args, workspace)
    if args.session_command == "list":
        return _list(args, workspace)
    if args.session_command == "generate":
        return _generate(args, workspace)
    return _show(args, workspace)


def _new(args: argparse.Namespace, workspace: Any) -> int:
    from dataclasses import replace

    from core.arena.contamination import contamination_lines, record_session_check
    from core.arena.prompts import register_prompt_set
    from core.arena.sessions import (
        DEFAULT_PARAMS,
        ITEM_REVEAL_WARNING,
        check_reveal,
        checked_session_models,
        create_session,
        parity_warnings,
    )
    from core.base.errors import MhbenchError
    from core.models.targets import sync_catalog

    models = [ref.strip() for ref in args.models.split(",") if ref.strip()]
    if len(models) < 2:
        raise MhbenchError(f"--models names {len(models)} model(s).", fix="list 2 to 16 models: --models A,B,C.")
    sync_catalog(workspace)
    # Every refusal comes before the prompt set is registered: a refused command registers nothing.
    checked_session_models(workspace, models, schedule=args.schedule, rubric=args.rubric)
    check_reveal(args.reveal)
    dialogue = dialogue_setup(args, workspace)
    if dialogue:
        from core.arena.cases import register_case_set

        prompt_set = register_case_set(workspace, args.cases)
    else:
        prompt_set = register_prompt_set(workspace, args.prompts or "demo")
    params = replace(DEFAULT_PARAMS, max_tokens=args.max_tokens, seed=args.seed)
    session = create_session(workspace, prompt_set.id, *models, schedule=args.schedule, system_prompt=args.system,
                             params=params, rubric=args.rubric, blind=not args.open, reveal=args.reveal,
                             side_seed=args.side_seed, created_by=args.rater, name=args.name, **dialogue)
    contamination = record_session_check(workspace, session.id)
    job = None
    if args.pregenerate:
        from core.arena.pregenerate import start_pregeneration

        job = start_pregeneration(workspace, session.id).id
    warnings = parity_warnings(workspace, session.models)
    if session.blind and session.reveal == "item":
        warnings.append(ITEM_REVEAL_WARNING)
    if args.json:
        print(json.dumps({**session_dict(session), "pregenerate_job": job, "warnings": warnings,
                          "contamination": contamination_dict(contamination)}, ensure_ascii=False, indent=2))
        return 0
    print(session.id)
    for warning in warnings:
        say(f"warning: {warning}")
    if contamination.contaminated:
        say("warning: a model was trained on this session's prompts; its scores here are suspect:")
        for line in contamination_lines(contamination):
            say(f"  {line}")
    say(f"{session.schedule} session of {len(session.models)} models on {len(prompt_set.prompts)} "
        f"prompts{f'; pre-generating (job {job})' if job else ''}. Rate it in the Arena: `mhbench --rater NAME` (F5).")
    return 0


def _generate(args: argparse.Namespace, workspace: Any) -> int:
    from core.arena.pregenerate import plan_generation, start_pregeneration
    from core.models.jobs import wait_job

    # Planned here first, so that a model that cannot fit is refused before a job starts.
    plan = plan_generation(workspace, args.session, args.memory_budget)
    data: dict[str, Any] = plan.as_json()
    if args.dry_run:
        print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else "\n".join(plan.lines()))
        return 0
    for line in plan.lines():
        say(line)
    job = start_pregeneration(workspace, plan.session.id, args.memory_budget)
    data.update(job=job.id, log=str(job.stdout_path))
    if args.wait:
        job = wait_job(workspace, job.id)
        data["status"] = job.status
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(job.id)
        say(f"job {job.id} {job.status}: {job.progress_text()}; log {job.stdout_path}")
    return 0 if not args.wait or job.status == "finished" else 1
def dialogue_setup(args: argparse.Namespace, workspace: Any) -> dict[str, Any]:
    """A dialogue session's client model, turns and client prompt version; empty for a prompt set's session."""
    from core.base.errors import MhbenchError

    if args.cases is None:
        if args.client is not None:
            raise MhbenchError("--client is for dialogue sessions.", fix="give --cases demo|FILE too, or drop --client.")
        return {}
    if args.prompts is not None:
        raise MhbenchError("--prompts and --cases both given.", fix="a session is either prompts or cases: pick one.")
    if args.client is None:
        raise MhbenchError("a dialogue session needs a client model.",
                           fix="add --client MODEL (any catalog model or endpoint, see `mhbench models`).")
    from core.arena.transcripts import CURRENT_CLIENT_PROMPT
    from core.models import get_model

    return {"client_model": get_model(workspace, args.client).id, "turns": args.turns,
            "client_prompt_version": CURRENT_CLIENT_PROMPT}


def _list(args: argparse.Namespace, workspace: Any) -> int:
    from core.arena.sessions import list_sessions, session_summary

    sessions = list_sessions(workspace)
    summaries = [(session, session_summary(workspace, session)) for session in sessions]
    if args.json:
        print(json.dumps([{**session_dict(session), "items": summary["items"], "raters": summary["raters"]}
                          for session, summary in summaries], ensure_ascii=False, indent=2))
        return 0
    if not sessions:
        print("no sessions yet: `mhbench session new --models A,B[,C...]`, or the Arena (F5).")
        return 0
    print(f"{'session':<16} {'schedule':<11} {'reveal':<6} {'models':>6} {'items':>6}  {'created':<16}  "
          "name · progress")
    for session, summary in summaries:
        done = ", ".join(f"{rater} {n}" for rater, n in summary["raters"].items()) or "not rated"
        print(f"{session.id:<16} {session.schedule:<11} {reveal_word(session):<6} {len(session.models):>6} "
              f"{summary['items']:>6}  "
              f"{session.created_at[:16]:<16}  {session.name} · {done}")
    return 0


def _show(args: argparse.Namespace, workspace: Any) -> int:
    from core.arena.contamination import contamination_lines, latest_session_check, record_session_check
    from core.arena.progress import session_progress
    from core.arena.reports import session_reports
    from core.arena.sessions import get_session
    from core.arena.transcripts import session_transcripts

    session = get_session(workspace, args.session)
    progress = session_progress(workspace, session)
    reports = session_reports(workspace, session.id)
    # A session made before the check existed is checked (and recorded) the first time it is shown.
    contamination = latest_session_check(workspace, session.id) or record_session_check(workspace, session.id)
    transcripts = session_transcripts(workspace, session)
    if args.json:
        print(json.dumps({**progress_dict(progress), "reports": [asdict(report) for report in reports],
                          "contamination": contamination_dict(contamination),
                          "transcripts": [transcript_dict(t) for t in transcripts]}, ensure_ascii=False, indent=2))
    else:
        print(progress_text(progress))
        print(reports_text(reports))
        print("\ncontamination (the session's prompts in its models' training data):")
        print("\n".join(f"  {line}" for line in contamination_lines(contamination)))
        if session.client_model is not None:
            print(transcripts_text(session, transcripts))
    return 0


def transcript_dict(transcript: Transcript) -> dict[str, Any]:
    """One transcript as JSON: its case and candidate, the counsellor turns made and why it ended."""
    return {"id": transcript.id, "case": transcript.case_id, "model": transcript.model_id,
            "client": transcript.client_model, "client_prompt": transcript.client_prompt_version,
            "turns": transcript.counsellor_turns, "of": transcript.max_turns, "state": transcript.state,
            "ended": transcript.ended, "crisis": transcript.crisis}


def transcripts_text(session: Session, transcripts: Sequence[Transcript]) -> str:
    lines = ["", f"transcripts (client {session.client_model}, prompt {session.client_prompt_version}, "
                 f"{session.turns} turns): {len(transcripts)} started"]
    lines += [f"  {t.case_id:<8} {t.model_id:<24} {t.counsellor_turns}/{t.max_turns} turns  "
              f"{t.ended or 'running'}{'  crisis' if t.crisis else ''}" for t in transcripts]
    return "\n".join(lines)


def contamination_dict(report: ContaminationReport) -> dict[str, Any]:
    """The check as JSON: whether any model was trained on the prompts, and each model's matches."""
    return {"contaminated": report.contaminated, "checked_at": report.checked_at,
            "models": [{"model": model.model_id, "runs": [run.run_id for run in model.runs], "exact": model.exact,
                        "near": model.near, "prompts": sorted(set(model.matched("exact") + model.matched("near"))),
                        "note": model.note, "problems": model.problems} for model in report.models]}


def reports_text(reports: Sequence[AnswerReport]) -> str:
    """The broken answers raters reported, for the operator to look at (and regenerate in the Arena, r)."""
    from core.base.text import strip_control

    if not reports:
        return "\nreported answers: none"
    lines = ["", "reported answers (item: side, reason; the item is set aside for that rater):"]
    # The note is a rater's free text: control sequences stripped before it reaches the terminal.
    lines += [f"  item {report.item_position:<4} {strip_control(report.describe())}  {report.created_at[:16]}"
              for report in reports]
    return "\n".join(lines)


def session_dict(session: Session) -> dict[str, Any]:
    return {"id": session.id, "name": session.name, "models": list(session.models), "schedule": session.schedule,
            "prompt_set": session.prompt_set_id, "rubric": session.rubric, "blind": session.blind,
            "reveal": session.reveal, "side_seed": session.side_seed, "created_by": session.created_by, "created_at": session.created_at,
            "client": session.client_model, "turns": session.turns, "client_prompt": session.client_prompt_version}


def reveal_word(session: Session) -> str:
    """When raters see the names: the policy of a blind session; ``open`` when names are always shown."""
    return session.reveal if session.blind else "open"


def progress_dict(progress: SessionProgress) -> dict[str, Any]:
    return {**session_dict(progress.session), "prompts": progress.prompts, "items": progress.items,
            "comparisons": progress.capacity,
            "raters": [{"rater": r.rater, "rated": r.rated, "of": r.of, "drawn": r.drawn, "judge": r.judge}
                       for r in progress.raters],
            "pairs": [{"models": [p.first, p.second], "items": p.items, "ratings": p.ratings,
                       "wins": [p.first_wins, p.second_wins], "ties": p.ties} for p in progress.pairs]}


def progress_text(progress: SessionProgress) -> str:
    session = progress.session
    lines = [f"{session.id}  {session.name}",
             f"  {session.schedule}, {len(session.models)} models, {progress.prompts} prompts, rubric {session.rubric}"
             f"{f', blind, reveal {session.reveal}' if session.blind else ', open'}; {progress.items} items drawn of {progress.capacity} "
             f"(prompt, pair) comparisons",
             "  models: " + ", ".join(session.models), "", "raters (rated / to rate):"]
    lines += [f"  {r.rater:<20} {r.rated:>5} / {r.of:<5}{'  judge' if r.judge else ''}" for r in progress.raters] \
        or ["  none yet"]
    width = max(len(f"{p.first} vs {p.second}") for p in progress.pairs)
    lines += ["", "pairs (items drawn, human ratings, first's wins - second's wins, ties):"]
    lines += [f"  {f'{p.first} vs {p.second}':<{width}}  items {p.items:>4}  ratings {p.ratings:>4}  "
              f"{p.first_wins:>3}-{p.second_wins:<3} ties {p.ties}" for p in progress.pairs]
    return "\n".join(line.rstrip() for line in lines)

