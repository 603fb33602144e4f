"""What a simulated-client transcript costs over asking the same server directly.

The demo's tiny Llama is made into two real GGUF files (f16 and its Q8_0, by the real converter
and quantiser) and served by real llama.cpp servers (``core.models.targets.connect_models``).
Each round, per candidate and case, a 4-turn transcript is made by its
:class:`~core.arena.generation.GenerationTask` (``core.arena.transcripts``: the Q8_0 model plays
the client; every turn stored in SQLite as it is made, crisis detection on each client turn); then
the very same requests (the same histories, system prompts, parameters and per-turn seeds, in the
same order, on the same servers) are sent again straight through ``core.models.client.stream_chat``
with nothing around them. Each round has a new session seed, so no transcript is reused; the
order within a round alternates (transcript first, then direct; next round direct first, replaying
the previous round's requests) so that neither side always meets a warm prompt cache.

    .venv/bin/python tests/bench/dialogues.py [--rounds 3] [--cases 2] [--max-tokens 48] [--workdir DIR]

The last line is ``dialogues: transcript/direct time ratio R`` (target <= 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.arena.cases import Case, register_case_set  # noqa: E402
from core.arena.prompts import get_prompt_set  # noqa: E402
from core.arena.sessions import Session, create_session  # noqa: E402
from core.arena.transcripts import (  # noqa: E402
    CURRENT_CLIENT_PROMPT,
    Transcript,
    case_of,
    client_messages,
    client_prompt,
    counsellor_messages,
    stored_transcript,
    transcript_tasks,
)
from core.base.workspace import Workspace  # noqa: E402
from core.models.client import ChatRequest, GenerationParams, Message, stream_chat  # noqa: E402
from core.models.targets import ChatTarget, connect_models  # noqa: E402
from tests.helpers.ggufs import two_ggufs  # noqa: E402

TURNS = 4


def requests_of(session: Session, case: Case, transcript: Transcript,
                targets: dict[str, ChatTarget]) -> list[tuple[ChatTarget, ChatRequest]]:
    """Every request the transcript made, rebuilt from its stored turns, in order."""
    assert session.client_model is not None
    made = []
    for turn in transcript.turns[1:]:
        before = transcript.turns[:turn.position]
        params = replace(session.params, seed=turn.seed)
        target = targets[transcript.model_id if turn.role == "counsellor" else session.client_model]
        messages: list[Message] = counsellor_messages(before) if turn.role == "counsellor" else client_messages(before)
        system = session.system_prompt if turn.role == "counsellor" else client_prompt(case, turn.position // 2 + 1)
        made.append((target, ChatRequest(messages, params, target.model, system=system, stop=target.stop)))
    return made


async def direct(requests: list[tuple[ChatTarget, ChatRequest]]) -> float:
    started = time.perf_counter()
    for target, request in requests:
        async for _ in stream_chat(target.base_url, request, api_key=target.api_key):
            pass
    return time.perf_counter() - started


async def measure(workspace: Workspace, models: tuple[str, str], client: str, rounds: int, case_count: int,
                  max_tokens: int) -> None:
    cases_set = register_case_set(workspace)
    targets = {t.model_id: t for t in await asyncio.to_thread(connect_models, workspace, list(dict.fromkeys([*models, client])))}
    prompts = {p.id: p for p in get_prompt_set(workspace, cases_set.id).prompts[:case_count]}
    totals = {model: [0.0, 0.0, 0] for model in models}
    last: dict[tuple[str, str], list[tuple[ChatTarget, ChatRequest]]] = {}
    for index in range(rounds):
        session = create_session(workspace, cases_set.id, *models, params=GenerationParams(
            max_tokens=max_tokens, seed=1000 + index), client_model=client, turns=TURNS,
            client_prompt_version=CURRENT_CLIENT_PROMPT, side_seed=index)
        for task in transcript_tasks(workspace, session):
            case_id, model = task.label.removeprefix("case ").split(" × ")
            if case_id not in prompts:
                continue
            case = case_of(prompts[case_id])
            # Odd rounds replay the previous round's requests first, so the transcript is not always the one
            # that meets a cold server.
            replayed = last.get((model, case_id)) if index % 2 == 1 else None
            direct_s = await direct(replayed) if replayed else 0.0
            started = time.perf_counter()
            await task.run(targets)
            transcript_s = time.perf_counter() - started
            transcript = stored_transcript(workspace, session, case, model)
            assert transcript is not None
            requests = requests_of(session, case, transcript, targets)
            if not replayed:
                direct_s = await direct(requests)
            last[(model, case_id)] = requests
            totals[model][0] += transcript_s
            totals[model][1] += direct_s
            totals[model][2] += 1
            print(f"round {index + 1} {task.label}: {transcript.counsellor_turns} turns ({len(requests)} generations, "
                  f"ended {transcript.ended}) transcript {transcript_s:.2f} s, direct {direct_s:.2f} s"
                  f"{' (previous round replayed first)' if replayed else ''}", flush=True)
    for model, (transcript_s, direct_s, count) in totals.items():
        print(f"{model}: a {TURNS}-turn transcript {transcript_s / count:.2f} s on average, the same single answers "
              f"directly {direct_s / count:.2f} s ({count} transcripts)")
    transcript_total = sum(t[0] for t in totals.values())
    direct_total = sum(t[1] for t in totals.values())
    print(f"dialogues: transcript/direct time ratio {transcript_total / direct_total:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    from core.models.serving import list_servers, stop_server

    root = args.workdir or Path(tempfile.mkdtemp(prefix="mhbench-dialogues-"))
    print(f"workspace: {root / 'ws'} (making the two GGUF files: minutes on a small box)", flush=True)
    workspace, f16, q8 = two_ggufs(root / "ws")
    try:
        asyncio.run(measure(workspace, (f16, q8), q8, args.rounds, args.cases, args.max_tokens))
    finally:
        for server in list_servers(workspace, active_only=True):
            stop_server(workspace, server.id, timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
