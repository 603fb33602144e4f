"""Running a judge over a session: ``python -m core.arena.judge.runner WORKSPACE SESSION MODEL [...]``.

Runs as a detached job (:func:`start_judge`), like pre-generation: the judge model's
server is found or started through the shared servers, and each item whose two answers
are **stored** is asked once (twice with ``--both-orders``, the second time with the sides
swapped). The judge never generates the contestants' answers: items without both stored
answers are skipped and counted (pre-generate them first: ``g`` in the Arena, or
:mod:`core.arena.pregenerate`). Each judgement is stored as it comes; a parsed shown-order
one is also a rating through :class:`~core.arena.ratings.RatingStore`. Items already asked
are skipped, so a killed job resumes where it was. Progress is one line per judgement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.arena.judge.parse import ParseFailure, Verdict, parse_reply
from core.arena.judge.prompt import CURRENT_VERSION, JudgePrompt, build_prompt, judge_name, reply_schema
from core.arena.judge.store import (
    Judgement,
    JudgeSummary,
    Orientation,
    judge_summaries,
    judged,
    link_rating,
    record,
    unlinked,
)
from core.arena.judge.transcript_prompt import CURRENT_TRANSCRIPT_VERSION, build_transcript_prompt
from core.arena.ratings import RatingInput, RatingStore
from core.arena.rubric import Rubric, get_rubric
from core.arena.sessions import get_session, opening_messages, session_items, shown_response
from core.arena.transcripts import Transcript, item_transcripts
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models import ModelEntry, get_model
from core.models.client import ChatRequest, GenerationParams, complete
from core.models.jobs import new_job_dir, start_job
from core.models.targets import connect_models
from core.models.waves import memory_budget, plan_for

if TYPE_CHECKING:
    from core.arena.sessions import Item, Response, Session
    from core.models.jobs import Job

JUDGE_MAX_TOKENS = 512


def judge_params(max_tokens: int = JUDGE_MAX_TOKENS) -> GenerationParams:
    """Greedy and seeded: the same judge asked the same thing answers the same."""
    return GenerationParams(temperature=0.0, top_p=1.0, repetition_penalty=1.0, max_tokens=max_tokens, seed=0)


@dataclass(frozen=True)
class Case:
    """One item with both its stored answers (a dialogue item: both its complete transcripts): what the judge rates."""

    item: Item
    left: Response | Transcript
    right: Response | Transcript


def answered_cases(workspace: Workspace, session: Session) -> tuple[list[Case], list[Item]]:
    """The items whose two answers are stored, and those that are not (never generated here)."""

    cases, missing = [], []
    for item in session_items(workspace, session.id):
        left: Response | Transcript | None
        right: Response | Transcript | None
        if session.client_model is not None:
            left, right = item_transcripts(workspace, session, item)
        else:
            messages = opening_messages(item)
            # The version the item is rated on (its first rating's), like every rater after the first.
            left = shown_response(workspace, session, item.position, item.left_model, messages, rater="")
            right = shown_response(workspace, session, item.position, item.right_model, messages, rater="")
        if left is None or right is None:
            missing.append(item)
        else:
            cases.append(Case(item, left, right))
    return cases, missing


def judge_prompt(rubric: Rubric, item: Item, left: Response | Transcript, right: Response | Transcript) -> JudgePrompt:
    """The prompt for the item's kind: two answers to an opening line or to a turn item's whole history
    (:data:`~core.arena.judge.prompt.PROMPT_VERSIONS`), or two whole transcripts (their own versions)."""
    if isinstance(left, Transcript) and isinstance(right, Transcript):
        return build_transcript_prompt(rubric, left, right)
    assert not isinstance(left, Transcript) and not isinstance(right, Transcript)
    return build_prompt(rubric, opening_messages(item), left.text, right.text, kind=item.kind)


def _ids(side: Response | Transcript) -> tuple[int | None, int | None]:
    """(response id, transcript id) of what a side showed."""
    return (None, side.id) if isinstance(side, Transcript) else (side.id, None)


def missing_answers_fix(session: Session) -> str:
    if session.client_model is not None:
        return (f"generate the transcripts first: `mhbench session generate {session.id}`; a transcript still "
                "running or ended by an error is not judged, and the judge never generates one itself.")
    return (f"pre-generate the answers first: `g` in the Arena on session {session.id}, or "
            f"`python -m core.arena.pregenerate WORKSPACE {session.id}`; the judge never generates them itself.")


def _submit(store: RatingStore, session: Session, case: Case, judge: str, rubric: str,
            left: dict[str, int], right: dict[str, int], preference: str, seconds: float | None) -> int:
    rating = store.submit(RatingInput(
        session_id=session.id, item_position=case.item.position, rater=judge, rubric=rubric,
        left_model=case.item.left_model, right_model=case.item.right_model, left_scores=left, right_scores=right,
        preference=preference, comment="", left_response_id=_ids(case.left)[0], right_response_id=_ids(case.right)[0],
        left_transcript_id=_ids(case.left)[1], right_transcript_id=_ids(case.right)[1],
        seconds_spent=seconds, crisis=case.item.crisis or any(isinstance(side, Transcript) and side.crisis
                                                               for side in (case.left, case.right))))
    return rating.id


async def run_judge(
    workspace: Workspace,
    session_ref: str,
    model_ref: str,
    *,
    rubric_name: str | None = None,
    both_orders: bool = False,
    max_tokens: int = JUDGE_MAX_TOKENS,
    constrain: bool = False,
    say: Callable[[str], None] = lambda text: print(text, flush=True),
) -> JudgeSummary:
    """Judge what is not judged yet; returns the judge's summary over the whole session.

    ``constrain``: ask the server to decode only replies that fit :func:`reply_schema`
    (``response_format``; llama.cpp's server honours it), a judge of its own name.
    """

    session = get_session(workspace, session_ref)
    rubric = get_rubric(rubric_name or session.rubric)
    model = get_model(workspace, model_ref)
    if constrain:
        check_constrain(model)
    model_id = model.id
    version = CURRENT_TRANSCRIPT_VERSION if session.client_model is not None else CURRENT_VERSION
    judge = judge_name(model_id, version, constrained=constrain)
    extra = {"response_format": {"type": "json_object", "schema": reply_schema(rubric)}} if constrain else {}
    cases, missing = answered_cases(workspace, session)
    if not cases:
        raise MhbenchError(f"session {session.id} has no item with both answers stored.",
                           fix=missing_answers_fix(session))
    if missing:
        say(f"mhbench: {len(missing)} item(s) lack a stored answer and are skipped; {missing_answers_fix(session)}")
    orders: tuple[Orientation, ...] = ("shown", "swapped") if both_orders else ("shown",)
    done = judged(workspace, session.id, judge, rubric.name)
    by_position = {case.item.position: case for case in cases}
    with RatingStore(workspace) as store:
        for row in unlinked(workspace, session.id, judge, rubric.name):
            case = by_position.get(int(row["item_position"]))
            if case is not None:  # a kill between the judgement and its rating: store the rating now
                rating_id = _submit(store, session, case, judge, rubric.name, json.loads(row["left_scores"]),
                                    json.loads(row["right_scores"]), str(row["preference"]), row["seconds"])
                link_rating(workspace, int(row["id"]), rating_id)
        todo = [(case, order) for case in cases for order in orders if (case.item.position, order) not in done]
        say(f"mhbench: judge {judge}, rubric {rubric.name}: {len(todo)} to ask, "
            f"{len(cases) * len(orders) - len(todo)} already asked")
        if todo:
            # The judge's one server is a one-wave plan: a judge model that cannot fit the GPUs' free
            # memory is refused here, before a load that would fail or push a rater's server out.
            await asyncio.to_thread(lambda: plan_for(workspace, [[model_id]], memory_budget()))
            target = (await asyncio.to_thread(connect_models, workspace, [model_id],
                                              progress=lambda text: say(f"mhbench: {text}")))[0]
        for index, (case, order) in enumerate(todo, 1):
            shown = (case.left, case.right) if order == "shown" else (case.right, case.left)
            prompt = judge_prompt(rubric, case.item, shown[0], shown[1])
            started = time.monotonic()
            request = ChatRequest(list(prompt.messages), judge_params(max_tokens), target.model, extra=extra)
            reply, stats = await complete(target.base_url, request, api_key=target.api_key)
            seconds = round(time.monotonic() - started, 3)
            outcome = reply_outcome(reply, rubric, stats.finish_reason, max_tokens)
            judgement_id = record(workspace, Judgement(
                session.id, case.item.position, judge, model_id, prompt.version, rubric.name, order,
                _ids(shown[0])[0], _ids(shown[1])[0], prompt.messages, reply, outcome, seconds, stats.finish_reason,
                _ids(shown[0])[1], _ids(shown[1])[1]))
            if isinstance(outcome, Verdict) and order == "shown":
                rating_id = _submit(store, session, case, judge, rubric.name, dict(outcome.left), dict(outcome.right),
                                    outcome.preference, seconds)
                link_rating(workspace, judgement_id, rating_id)
            verdict = "parsed" if isinstance(outcome, Verdict) else f"parse failure: {outcome.reason}"
            say(f"[{index}/{len(todo)}] {case.item.prompt_id} {order}: {verdict}")
    summary = next((s for s in judge_summaries(workspace, session.id) if s.judge == judge),
                   JudgeSummary(judge, 0, 0))
    say(summary_line(summary))
    return summary


def reply_outcome(reply: str, rubric: Rubric, finish_reason: str | None, max_tokens: int) -> Verdict | ParseFailure:
    """The parsed reply; a reply that failed because the server cut it at the token limit says so, since a cut
    reply is the judge's budget, not the judge's mistake."""
    outcome = parse_reply(reply, rubric)
    if isinstance(outcome, ParseFailure) and finish_reason == "length":
        return ParseFailure(f"cut at the token limit ({max_tokens} tokens) before the reply was whole; "
                            f"raise --max-tokens")
    return outcome


def summary_line(summary: JudgeSummary) -> str:
    c = summary.consistency
    consistency = (f"{100 * c.rate:.0f}% ({c.agree}/{c.pairs} items parsed in both orders)" if c.pairs
                   else "– (0 items parsed in both orders)")
    return (f"done: {summary.judge}: {summary.asked} asked, {summary.parsed} parsed, {summary.failed} parse "
            f"failures; position consistency {consistency}")


def check_constrain(model: ModelEntry) -> None:
    """Refuse ``--constrain`` where the serving engine would ignore the schema: the judge would be named
    ``…+schema`` while its replies were decoded freely."""
    if model.kind != "gguf":
        served_by = "a URL endpoint, whose engine mhbench cannot ask" if model.kind == "endpoint" else "swift deploy"
        raise MhbenchError(
            f"--constrain needs a server that enforces the reply's JSON schema; {model.id} is served by {served_by}, "
            "which ignores response_format, so the replies would not be constrained.",
            fix="judge without --constrain, or judge with a GGUF model (llama.cpp enforces the schema): "
                "convert one in Models (g).")


def start_judge(workspace: Workspace, session_ref: str, model_ref: str, *, rubric_name: str | None = None,
                both_orders: bool = False, max_tokens: int = JUDGE_MAX_TOKENS, constrain: bool = False) -> Job:
    """Check what can be judged, then start the detached job; it shows in the Models screen's jobs."""

    session = get_session(workspace, session_ref)
    rubric = get_rubric(rubric_name or session.rubric)
    model = get_model(workspace, model_ref)
    if constrain:
        check_constrain(model)
    model_id = model.id
    cases, _missing = answered_cases(workspace, session)
    if not cases:
        raise MhbenchError(f"session {session.id} has no item with both answers stored.",
                           fix=missing_answers_fix(session))
    argv = [sys.executable, "-m", "core.arena.judge.runner", str(workspace.root), session.id, model_id,
            "--rubric", rubric.name, "--max-tokens", str(max_tokens)] + (["--both-orders"] if both_orders else []) \
        + (["--constrain"] if constrain else [])
    job = new_job_dir(workspace, "judge", f"{session.id}-{model_id}")
    return start_job(workspace, "judge", argv, source_id=session.id, job=job, env={"PYTHONUNBUFFERED": "1"})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.arena.judge.runner")
    parser.add_argument("workspace")
    parser.add_argument("session")
    parser.add_argument("model")
    parser.add_argument("--rubric")
    parser.add_argument("--both-orders", action="store_true")
    parser.add_argument("--max-tokens", type=int, default=JUDGE_MAX_TOKENS)
    parser.add_argument("--constrain", action="store_true")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run_judge(Workspace(Path(args.workspace)), args.session, args.model, rubric_name=args.rubric,
                              both_orders=args.both_orders, max_tokens=args.max_tokens, constrain=args.constrain))
    except MhbenchError as error:
        print(f"mhbench: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
