"""Simulated-client sessions: case files validated by line, transcripts made turn by turn, resumed, ended.

The candidates and the client are a fake OpenAI server (tests/helpers/dialogue_world.py) reached as
catalog endpoints; the real servers of the demo's tiny models are in tests/integration.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from core.arena.cases import demo_case_file, read_case_file, register_case_set
from core.arena.pregenerate import generation_tasks
from core.arena.prompts import get_prompt_set
from core.arena.sessions import get_session
from core.arena.transcripts import (
    CLIENT_STOP,
    RESOLVED,
    client_ending,
    client_prompt,
    session_transcripts,
    stored_transcript,
    transcript_tasks,
    turn_seed,
)
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from tests.helpers.commands import cli
from tests.helpers.dialogue_world import (
    CANDIDATES,
    DialogueServer,
    dialogue_session,
    generated_dialogues,
    run_tasks,
    write_cases,
)
from tests.helpers.fake_openai import fake_server

GOOD = {"id": "c1", "title": "t", "background": "b", "problem": "p", "manner": "m", "opening": "我最近睡不好。"}


def _write(path: Path, *rows: object) -> Path:
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)
                              for row in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("row", "problem", "fix"), [
    ({**GOOD, "opening": ""}, "no 'opening'", "opening"),
    ({**GOOD, "backgound": "x"}, "Did you mean 'background'", "a case has"),
    ({**GOOD, "risk": "攒药"}, "go together", "risk_after_turn"),
    ({**GOOD, "risk": "攒药", "risk_after_turn": 1}, "'risk_after_turn' is 1", "2 or later"),
    ({**GOOD, "tags": "危机"}, "list of strings", "tags"),
    ("{not json", "not valid JSON", "one JSON object"),
    ('["c1"]', "not a JSON object", "opening"),
])
def test_a_bad_case_names_its_file_line_and_fix(tmp_path: Path, row: object, problem: str, fix: str) -> None:
    path = _write(tmp_path / "cases.jsonl", GOOD | {"id": "c0"}, row)
    with pytest.raises(MhbenchError) as caught:
        read_case_file(path)
    assert caught.value.path == path and caught.value.line == 2
    assert problem in caught.value.problem and fix in (caught.value.fix or "")


def test_a_repeated_case_id_names_the_first_line(tmp_path: Path) -> None:
    with pytest.raises(MhbenchError, match="already used on line 1"):
        read_case_file(_write(tmp_path / "cases.jsonl", GOOD, GOOD))


def test_the_demo_cases_and_their_late_risks(tmp_path: Path) -> None:
    cases = read_case_file(demo_case_file())
    assert len(cases) >= 12 and len({case.id for case in cases}) == len(cases)
    late = [case for case in cases if case.risk is not None]
    assert len(late) >= 2 and all(case.risk_after_turn and case.risk_after_turn >= 2 for case in late)
    for case in late:
        # The risk is the client's to let show from its turn on, never before.
        assert case.risk not in client_prompt(case, case.risk_after_turn - 1)  # type: ignore[operator]
        assert case.risk in client_prompt(case, case.risk_after_turn)  # type: ignore[arg-type]
    workspace_root = tmp_path / "ws"
    from core.base.db import open_workspace

    workspace = open_workspace(Workspace(workspace_root))
    prompts = get_prompt_set(workspace, register_case_set(workspace).id).prompts
    assert {p.kind for p in prompts} == {"dialogue"}
    assert [p.text for p in prompts] == [case.opening for case in cases]
    assert not any(p.crisis for p in prompts), "the late risks do not show in the openings"
    assert prompts[6].case["risk_after_turn"] == cases[6].risk_after_turn


def test_the_client_ending_phrases() -> None:
    assert client_ending(f"好多了，谢谢你。{RESOLVED}") == ("好多了，谢谢你。", "resolved")
    assert client_ending(f"今天先这样吧{CLIENT_STOP}") == ("今天先这样吧", "client_stop")
    assert client_ending("嗯，我再想想。") == ("嗯，我再想想。", None)
    assert turn_seed(1234, 3) == turn_seed(1234, 3) != turn_seed(1234, 4)


def test_three_turns_for_two_candidates_and_three_cases(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> None:
        async with fake_server(DialogueServer) as server:
            workspace, session = dialogue_session(tmp_path, server.url, turns=3,
                                                  cases=write_cases(tmp_path / "three.jsonl", 3))
            tasks = transcript_tasks(workspace, session)
            assert len(tasks) == 6 and all(set(task.models) == {task.label.split(" × ")[1], "client_m"}
                                           for task in tasks)
            assert await run_tasks(workspace, tasks) == 6 * 5, "per transcript: 3 counsellor and 2 client turns"
            assert await run_tasks(workspace, transcript_tasks(workspace, session)) == 0, "nothing made twice"
            transcripts = session_transcripts(workspace, session)
            assert len(transcripts) == 6
            for transcript in transcripts:
                assert transcript.ended == "turns" and transcript.counsellor_turns == 3
                assert [turn.role for turn in transcript.turns] == ["client", "counsellor"] * 3
                assert all("<|" not in turn.text for turn in transcript.turns), "special tokens stripped"
            by_case: dict[str, list[str]] = {}
            for transcript in transcripts:
                by_case.setdefault(transcript.case_id, []).append(transcript.turns[2].text)
                assert transcript.turns[0].text == get_prompt_set(workspace, session.prompt_set_id).prompts[
                    int(transcript.case_id[1:]) - 1].text, "the opening is the case's"
                # Each candidate's client answers that candidate: its second line quotes their first answer.
                assert transcript.turns[1].text in transcript.turns[2].text
            assert all(len(set(lines)) == 2 for lines in by_case.values()), "client turns are never shared"
            out = json.loads(cli(capsys, workspace, "session", "show", session.id, "--json"))
            assert out["client"] == "client_m" and out["turns"] == 3
            assert sorted((t["case"], t["model"], t["turns"], t["ended"]) for t in out["transcripts"]) == sorted(
                (case, model, 3, "turns") for case in ("c01", "c02", "c03") for model in CANDIDATES)

    asyncio.run(scenario())


def test_a_transcript_cancelled_mid_way_resumes_with_its_earlier_turns(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fake_server(DialogueServer) as server:
            server.slow = 0.2
            workspace, session = dialogue_session(tmp_path, server.url, turns=4,
                                                  cases=write_cases(tmp_path / "one.jsonl", 1))
            task = transcript_tasks(workspace, session)[0]
            running = asyncio.create_task(run_tasks(workspace, [task]))
            case = read_case_file(tmp_path / "one.jsonl")[0]
            model = task.label.split(" × ")[1]
            while (stored_transcript(workspace, session, case, model) is None
                   or stored_transcript(workspace, session, case, model).counsellor_turns < 2):  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            before = stored_transcript(workspace, session, case, model)
            assert before is not None and before.state == "running" and 2 <= before.counsellor_turns < 4
            server.slow = 0
            await run_tasks(workspace, transcript_tasks(workspace, session)[:1])
            after = stored_transcript(workspace, session, case, model)
            assert after is not None and after.ended == "turns" and after.counsellor_turns == 4
            assert after.turns[:len(before.turns)] == before.turns
            assert [turn.seed for turn in after.turns[1:]] == [turn_seed(session.seed, p) for p in range(1, 8)]

    asyncio.run(scenario())


def test_the_client_ends_when_its_concern_is_resolved(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fake_server(DialogueServer) as server:
            server.resolve_at = 2
            workspace, session = dialogue_session(tmp_path, server.url, turns=5,
                                                  cases=write_cases(tmp_path / "one.jsonl", 1))
            await run_tasks(workspace, transcript_tasks(workspace, session))
            ended = {t.ended for t in session_transcripts(workspace, session)}
            assert ended == {"resolved"}
            assert all(t.counsellor_turns == 2 and t.turns[-1].role == "client"
                       and RESOLVED not in t.turns[-1].text for t in session_transcripts(workspace, session))

    asyncio.run(scenario())


def test_a_failed_request_ends_the_transcript_with_its_error_and_a_rerun_goes_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with fake_server(DialogueServer) as server:
            workspace, session = dialogue_session(tmp_path, "http://127.0.0.1:9", turns=2,
                                                  cases=write_cases(tmp_path / "one.jsonl", 1))
            await run_tasks(workspace, transcript_tasks(workspace, session))
            failed = session_transcripts(workspace, session)
            assert all((t.ended or "").startswith("error: ") and t.counsellor_turns == 0 for t in failed)
            from core.base.db import write_transaction

            with write_transaction(workspace) as connection:
                connection.execute("UPDATE models SET url = ? WHERE kind = 'endpoint'", (server.url,))
            await run_tasks(workspace, transcript_tasks(workspace, session))
            assert {t.ended for t in session_transcripts(workspace, session)} == {"turns"}

    asyncio.run(scenario())


def test_the_judge_rates_whole_transcripts_in_both_orders(tmp_path: Path) -> None:
    from core.arena.judge.runner import run_judge
    from core.arena.ratings import current_ratings
    from core.arena.transcripts import get_transcript
    from core.base.db import registry

    async def scenario() -> None:
        async with fake_server(DialogueServer) as server:
            workspace, session = dialogue_session(tmp_path, server.url, turns=2,
                                                  cases=write_cases(tmp_path / "two.jsonl", 2))
            await run_tasks(workspace, transcript_tasks(workspace, session))
            summary = await run_judge(workspace, session.id, "judge", both_orders=True, say=lambda text: None)
            assert summary.judge == "judge:judge:zh-dialogue-v1"
            asked = [r for r in server.requests if r["model"] == "judge"]
            assert len(asked) == 4, "two items, both orders"
            user = asked[0]["messages"][1]["content"]
            assert "【对话A】" in user and "咨询师：cand_" in user and "来访者：" in user
            ratings = current_ratings(workspace, session_id=session.id)
            assert len(ratings) == 2 and all(r.left_response_id is None for r in ratings)
            with registry(workspace) as connection:
                shown = connection.execute("SELECT left_transcript_id, right_transcript_id, left_model, right_model "
                                           "FROM ratings").fetchall()
            for row in shown:
                assert [get_transcript(workspace, row[side]).model_id for side in (0, 1)] == [row[2], row[3]]

    asyncio.run(scenario())


def test_rated_dialogues_reach_results_and_every_export(tmp_path: Path) -> None:
    from core.arena.controller import ArenaController
    from core.results.compute import compute_results
    from core.results.export.writer import export_all

    workspace, session = asyncio.run(generated_dialogues(tmp_path, cases=2, turns=2))
    controller = ArenaController.open(workspace, session.id, "r1")
    for _ in range(2):
        item = controller.item
        assert controller.show_transcripts(item, *controller.load_transcripts()) and controller.ready
        for key in "43s54sa":
            controller.press(key)
        controller.submit()
        controller.advance()
    results = compute_results(workspace, session=session.id)
    assert results.ratings == 2 and set(results.models) == set(CANDIDATES)
    written = export_all(workspace, session=session.id)
    assert all(path.exists() for path, _ in written) and any(rows >= 2 for _, rows in written)


def test_session_new_makes_a_dialogue_session_and_refuses_half_of_one(
        workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    from core.models import register_endpoint
    from tui.cli import main

    for name in (*CANDIDATES, "client_m"):
        register_endpoint(workspace, name, "http://127.0.0.1:9/v1")
    base = ["--workspace", str(workspace.root), "session", "new", "--models", ",".join(CANDIDATES)]
    for extra, said in ((["--cases", "demo"], "needs a client model"),
                        (["--cases", "demo", "--client", "client_m", "--prompts", "demo"], "pick one"),
                        (["--client", "client_m"], "--client is for dialogue sessions")):
        assert main([*base, *extra]) != 0
        assert said in capsys.readouterr().err
    out = json.loads(cli(capsys, workspace, "session", "new", "--models", ",".join(CANDIDATES), "--cases", "demo",
                         "--client", "client_m", "--turns", "3", "--json"))
    assert (out["client"], out["turns"], out["client_prompt"]) == ("client_m", 3, "zh-v1")
    prompts = get_prompt_set(workspace, out["prompt_set"]).prompts
    assert len(prompts) == 12 and {p.kind for p in prompts} == {"dialogue"}
    # `session generate` (and --pregenerate) fill a dialogue session with its transcripts: one task per
    # (case, candidate), each needing the candidate and the client served together.
    tasks = generation_tasks(workspace, get_session(workspace, out["id"]))
    assert len(tasks) == 12 * len(CANDIDATES)
    assert {task.models for task in tasks} == {(name, "client_m") for name in CANDIDATES}
