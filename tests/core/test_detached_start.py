"""One launcher for runs, jobs and servers: a start that fails leaves its row failed with the reason.

The supervisor of a run or a job, and a llama.cpp server, are all started with this
Python; pointing ``sys.executable`` at a file that is not there makes each start fail
the way a broken environment would, before anything runs.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.base.db import registry
from core.base.errors import MhbenchError
from core.base.processes import LAUNCH_GRACE, STAMP_FORMAT, ProcessRow, start_detached, utc_now
from core.base.workspace import Workspace
from core.models.jobs import get_job, list_jobs, start_job
from core.models.serving import LlamaCppSpec, list_servers, start_server
from core.profiles import find_profile, load_profiles
from core.train.launch import LaunchRequest, launch, plan_run
from core.train.runs import get_run, list_runs


@pytest.fixture()
def no_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    missing = tmp_path / "no-such-python"
    monkeypatch.setattr(sys, "executable", str(missing))
    return missing


def test_a_run_whose_supervisor_cannot_start_is_failed_with_the_reason(workspace: Workspace) -> None:
    plan = plan_run(workspace, LaunchRequest(profile=find_profile(load_profiles(), "qwen2.5-7b-instruct")),
                    check=False)
    missing = str(Path(sys.executable).parent / "no-such-python")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "executable", missing)
        with pytest.raises(MhbenchError, match=r"cannot start .*no-such-python") as caught:
            launch(workspace, plan)
    assert caught.value.path == plan.run_dir / "supervisor.log" and caught.value.fix
    run = get_run(workspace, plan.run_id)
    assert run.status == "failed" and run.pid is None and run.ended_at is not None
    assert run.diagnosis is not None and run.diagnosis["kind"] == "launch_failed"
    assert "no-such-python" in run.diagnosis["summary"] and run.diagnosis["fix"]
    assert "cannot start" in (plan.run_dir / "supervisor.log").read_text(encoding="utf-8")
    assert [r.status for r in list_runs(workspace)] == ["failed"]  # reconcile leaves it as it is


def test_a_job_whose_supervisor_cannot_start_is_failed_with_the_reason(workspace: Workspace, no_python: Path) -> None:
    with pytest.raises(MhbenchError, match=r"cannot start .*no-such-python") as caught:
        start_job(workspace, "merge", ["true"])
    assert caught.value.path is not None and caught.value.path.name == "supervisor.log"
    (job,) = list_jobs(workspace)
    assert job.status == "failed" and job.pid is None and job.ended_at is not None
    assert job.diagnosis is not None and job.diagnosis["kind"] == "launch_failed"
    assert str(no_python) in job.diagnosis["summary"]


def test_a_server_that_cannot_start_is_failed_with_the_reason_in_its_log(
    workspace: Workspace, no_python: Path, tmp_path: Path
) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(MhbenchError, match=r"cannot start .*no-such-python") as caught:
        start_server(workspace, LlamaCppSpec(gguf), timeout=5)
    assert "gguf" in caught.value.fix
    (server,) = list_servers(workspace)
    assert server.status == "failed" and server.pid is None and server.ended_at is not None
    assert caught.value.path == server.stdout_path
    assert f"cannot start {no_python}" in server.stdout_path.read_text(encoding="utf-8")


def test_the_launcher_records_pid_group_and_start_time(workspace: Workspace, tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    log = job_dir / "out.log"
    process = start_detached(
        workspace, ProcessRow("jobs", "j1"), [sys.executable, "-c", "print('hello from the leader')"],
        cwd=job_dir, log_path=log, env={"PYTHONUNBUFFERED": "1"}, fix="none needed",
        insert={"kind": "merge", "job_dir": str(job_dir), "argv": "[]", "created_at": utc_now()},
    )
    assert process.wait(30) == 0
    with registry(workspace) as connection:
        row = connection.execute("SELECT * FROM jobs WHERE id = 'j1'").fetchone()
    assert row["pid"] == row["pgid"] == process.pid and row["start_time"] is not None
    assert row["status"] == "running"  # the leader records its own end; this one wrote none
    assert "hello from the leader" in log.read_text(encoding="utf-8")


def _abandoned_stamp() -> str:
    return (datetime.now(UTC) - timedelta(seconds=LAUNCH_GRACE + 5)).strftime(STAMP_FORMAT)


def test_a_run_or_job_that_never_got_a_pid_is_settled_once_its_launcher_is_long_gone(workspace: Workspace) -> None:
    fresh, old = utc_now(), _abandoned_stamp()
    with registry(workspace) as connection:
        for run_id, stamp in (("run-new", fresh), ("run-old", old)):
            connection.execute(
                "INSERT INTO runs (id, name, profile, run_dir, output_dir, argv, env, status, created_at) "
                "VALUES (?, ?, 'p', ?, ?, '[]', '{}', 'starting', ?)",
                (run_id, run_id, str(workspace.runs_dir / run_id), str(workspace.runs_dir / run_id / "out"), stamp),
            )
        for job_id, stamp in (("job-new", fresh), ("job-old", old)):
            connection.execute(
                "INSERT INTO jobs (id, kind, job_dir, argv, status, created_at) VALUES (?, 'merge', ?, '[]', "
                "'starting', ?)", (job_id, str(workspace.root / "jobs" / job_id), stamp),
            )
    runs = {run.id: run for run in list_runs(workspace)}
    assert runs["run-new"].status == "starting"  # its launcher may be between the insert and the spawn
    assert runs["run-old"].status == "failed" and runs["run-old"].diagnosis is not None
    assert runs["run-old"].diagnosis["kind"] == "launch_failed" and runs["run-old"].ended_at is not None
    assert get_job(workspace, "job-new").status == "starting"
    old_job = get_job(workspace, "job-old")
    assert old_job.status == "failed" and old_job.diagnosis is not None
    assert old_job.diagnosis["kind"] == "launch_failed" and old_job.ended_at is not None
