"""Background jobs that make models: merge (swift export), convert (to GGUF f16) and quantise.

They run detached, like training runs, because a merge of an 8B model takes minutes and
the TUI may quit or lose SSH meanwhile: a small supervisor (``python -m core.jobs
JOB_DIR``) leads its own session and process group, runs the tool with output to
``<workspace>/jobs/<id>/stdout.log``, and when the tool ends writes ``exit.json``
(durably, before the registry), registers the result in the model catalog with its
lineage, or explains the failure with :mod:`core.diagnose`. Outputs are written under
the job's folder and moved into ``models/`` only on success, so a half-written GGUF is
never catalogued. Quantisation runs llama-cpp-python's ``llama_model_quantize`` in a
child of the supervisor (``python -m core.jobs quantize SRC DST TYPE``), so a crash in
llama.cpp's C code fails the job, not the supervisor.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from core.db import find_row, registry
from core.errors import MhbenchError
from core.processes import (
    ChildSupervisor,
    child_environment,
    group_alive,
    process_alive,
    process_start_time,
    utc_now,
    write_json_atomic,
)
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.models import ModelEntry

JobKind = Literal["merge", "convert", "quantize", "pregenerate"]
JOB_KINDS: tuple[JobKind, ...] = ("merge", "convert", "quantize", "pregenerate")
ACTIVE_STATUSES = frozenset({"starting", "running", "stopping"})
JOB_FILE = "job.json"
EXIT_FILE = "exit.json"
STDOUT_FILE = "stdout.log"
PROGRESS_MAX = 160


def jobs_dir(workspace: Workspace) -> Path:
    return workspace.root / "jobs"


@dataclass(frozen=True)
class Job:
    """One row of the ``jobs`` table."""

    id: str
    kind: str
    source_id: str | None
    target_path: Path | None
    job_dir: Path
    argv: tuple[str, ...]
    status: str
    pid: int | None
    pgid: int | None
    start_time: float | None
    exit_code: int | None
    result_model_id: str | None
    diagnosis: Mapping[str, Any] | None
    created_at: str
    ended_at: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def stdout_path(self) -> Path:
        return self.job_dir / STDOUT_FILE

    def progress_text(self) -> str:
        """The newest line of the tool's output (a progress bar's last state), for a status column."""
        return progress_text(self)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        return cls(
            id=row["id"], kind=row["kind"], source_id=row["source_id"],
            target_path=Path(row["target_path"]) if row["target_path"] else None, job_dir=Path(row["job_dir"]),
            argv=tuple(json.loads(row["argv"])), status=row["status"], pid=row["pid"], pgid=row["pgid"],
            start_time=row["start_time"], exit_code=row["exit_code"], result_model_id=row["result_model_id"],
            diagnosis=json.loads(row["diagnosis"]) if row["diagnosis"] else None, created_at=row["created_at"],
            ended_at=row["ended_at"],
        )


def progress_text(job: Job) -> str:
    from core.logtail import last_lines

    for line in reversed(last_lines(job.stdout_path, 20)):
        line = line.strip()
        if line:
            line = re.sub(r"^(?:INFO|WARNING):[\w.-]+:", "", line).strip()
            return line if len(line) <= PROGRESS_MAX else line[: PROGRESS_MAX - 1] + "…"
    return "starting" if job.active else job.status


# --- starting ------------------------------------------------------------------------------------


def new_job_dir(workspace: Workspace, kind: str, label: str) -> tuple[str, Path]:
    """A fresh job id (``<stamp>-<kind>-<label>``) and its folder, created empty."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:48] or "model"
    base = f"{stamp}-{kind}-{slug}"
    candidate, n = base, 1
    root = jobs_dir(workspace)
    root.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            (root / candidate).mkdir()
            return candidate, root / candidate
        except FileExistsError:
            n += 1
            candidate = f"{base}-{n}"


def start_job(
    workspace: Workspace,
    kind: JobKind,
    argv: Sequence[str],
    *,
    source_id: str | None = None,
    target_path: Path | None = None,
    result: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    job: tuple[str, Path] | None = None,
    notes: Sequence[str] = (),
) -> Job:
    """Start the supervisor detached and register the job; returns at once.

    ``result`` says how to catalogue the output on success (see :func:`_register_result`);
    ``job`` is an id and folder from :func:`new_job_dir` that the caller already filled.
    """
    workspace.ensure()
    job_id, job_dir = job or new_job_dir(workspace, kind, Path(str(target_path or kind)).stem)
    spec: dict[str, Any] = {
        "id": job_id, "kind": kind, "workspace": str(workspace.root), "argv": list(argv), "env": dict(env or {}),
        "source_id": source_id, "target_path": str(target_path) if target_path else None,
        "result": dict(result) if result else None, "notes": list(notes), "created_at": utc_now(),
    }
    write_json_atomic(job_dir / JOB_FILE, spec)
    with registry(workspace) as connection:
        connection.execute(
            "INSERT INTO jobs (id, kind, source_id, target_path, job_dir, argv, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'starting', ?)",
            (job_id, kind, source_id, spec["target_path"], str(job_dir), json.dumps(spec["argv"]), spec["created_at"]),
        )
    with (job_dir / "supervisor.log").open("ab") as supervisor_log:
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "core.jobs", str(job_dir)], cwd=job_dir, stdin=subprocess.DEVNULL,
                stdout=supervisor_log, stderr=subprocess.STDOUT, start_new_session=True,
                env=child_environment(spec["env"]), close_fds=True,
            )
        except OSError as error:
            with registry(workspace) as connection:
                connection.execute("UPDATE jobs SET status = 'failed', ended_at = ? WHERE id = ?", (utc_now(), job_id))
            raise MhbenchError(f"cannot start the job supervisor: {error.strerror or error}.", path=job_dir,
                               fix="check the Python environment (`mhbench doctor`).") from None
    with registry(workspace) as connection:
        connection.execute(
            "UPDATE jobs SET pid = ?, pgid = ?, start_time = ?, "
            "status = CASE WHEN status = 'starting' THEN 'running' ELSE status END WHERE id = ?",
            (process.pid, process.pid, process_start_time(process.pid), job_id),
        )
    threading.Thread(target=process.wait, name=f"reap-{job_id}", daemon=True).start()
    return get_job(workspace, job_id)


# --- reading and controlling ---------------------------------------------------------------------


def reconcile(workspace: Workspace, connection: sqlite3.Connection) -> None:
    """Settle jobs whose supervisor is gone without recording an end (killed, host rebooted)."""
    for row in connection.execute("SELECT * FROM jobs WHERE status IN ('starting', 'running', 'stopping')").fetchall():
        job = Job.from_row(row)
        if job.pid is None or process_alive(job.pid, job.start_time) or group_alive(job.pgid):
            continue
        exit_file = job.job_dir / EXIT_FILE
        if exit_file.is_file():
            outcome = json.loads(exit_file.read_text(encoding="utf-8"))
        else:
            outcome = {"status": "stopped" if job.status == "stopping" else "lost", "exit_code": None,
                       "result_model_id": None, "diagnosis": None if job.status == "stopping" else {
                           "kind": "lost", "summary": "the job's supervisor vanished without recording an exit.",
                           "fix": "start the job again."}}
        _record_end(connection, job.id, outcome)


def _record_end(connection: sqlite3.Connection, job_id: str, outcome: Mapping[str, Any]) -> None:
    diagnosis = outcome.get("diagnosis")
    connection.execute(
        "UPDATE jobs SET status = ?, exit_code = ?, result_model_id = ?, diagnosis = ?, "
        "ended_at = COALESCE(ended_at, ?) WHERE id = ?",
        (outcome["status"], outcome.get("exit_code"), outcome.get("result_model_id"),
         json.dumps(diagnosis, ensure_ascii=False) if diagnosis else None, outcome.get("ended_at") or utc_now(), job_id),
    )


def list_jobs(workspace: Workspace, kind: JobKind | None = None) -> list[Job]:
    """Every job, newest first, with dead supervisors settled."""
    if not workspace.db_path.is_file():
        return []
    with registry(workspace) as connection:
        reconcile(workspace, connection)
        if kind is None:
            rows = connection.execute("SELECT * FROM jobs ORDER BY created_at DESC, id DESC").fetchall()
        else:
            rows = connection.execute(
                "SELECT * FROM jobs WHERE kind = ? ORDER BY created_at DESC, id DESC", (kind,)
            ).fetchall()
    return [Job.from_row(row) for row in rows]


def get_job(workspace: Workspace, ref: str) -> Job:
    """A job by id or unique id prefix."""
    with registry(workspace) as connection:
        reconcile(workspace, connection)
        row = find_row(connection, "jobs", ref, noun="job", listing="the Models screen's jobs")
    return Job.from_row(row)


def wait_job(workspace: Workspace, ref: str, timeout: float | None = None, *, interval: float = 0.25) -> Job:
    """Wait until the job ends or ``timeout`` seconds pass; returns the job either way (check ``active``)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    job = get_job(workspace, ref)
    while job.active and (deadline is None or time.monotonic() < deadline):
        time.sleep(interval)
        job = get_job(workspace, job.id)
    return job


def stop_job(workspace: Workspace, ref: str, *, timeout: float = 30.0) -> Job:
    """SIGTERM to the supervisor (it stops the tool and cleans up), then SIGKILL to what is left of the group."""
    job = get_job(workspace, ref)
    if not job.active:
        raise MhbenchError(f"job {job.id} is not running (it is {job.status}).", fix="nothing to stop.")
    with registry(workspace) as connection:
        connection.execute("UPDATE jobs SET status = 'stopping' WHERE id = ? AND status IN ('starting', 'running')",
                           (job.id,))
    if job.pid is not None and process_alive(job.pid, job.start_time):
        os.kill(job.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and group_alive(job.pgid):
        time.sleep(0.1)
    if group_alive(job.pgid) and job.pgid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pgid, signal.SIGKILL)
        while group_alive(job.pgid):
            time.sleep(0.1)
    return get_job(workspace, job.id)


# --- the supervisor ------------------------------------------------------------------------------


class JobSupervisor(ChildSupervisor):
    """Runs the tool, then records how it ended and catalogues what it made."""

    spec_file = JOB_FILE

    def __init__(self, job_dir: Path) -> None:
        super().__init__(job_dir)
        self.job_dir = job_dir
        self.workspace = Workspace(Path(self.spec["workspace"]))

    def run(self) -> int:
        self.install_signal_handlers()
        with registry(self.workspace) as connection:
            connection.execute("UPDATE jobs SET status = 'running' WHERE id = ? AND status = 'starting'",
                               (self.spec["id"],))
        with (self.job_dir / STDOUT_FILE).open("ab") as log:
            for note in self.spec.get("notes") or []:
                log.write(f"mhbench: {note}\n".encode())
            log.flush()
            child = self.spawn(log)
            if child is None:
                return self.finish(127)
            code = child.wait()
        return self.finish(code)

    def finish(self, code: int) -> int:
        with registry(self.workspace) as connection:
            row = connection.execute("SELECT status FROM jobs WHERE id = ?", (self.spec["id"],)).fetchone()
        stopped = self.stop_signal is not None or (row is not None and row["status"] == "stopping")
        signal_name = signal.Signals(-code).name if code < 0 else None
        result_id: str | None = None
        diagnosis: dict[str, Any] | None = None
        if stopped:
            status = "stopped"
        elif code == 0:
            try:
                result_id = _register_result(self.workspace, self.spec.get("result"))
                status = "finished"
            except Exception as error:  # anything: the job must still record its end
                status = "failed"
                diagnosis = {"kind": "register_failed", "summary": f"the tool succeeded but its output could not be "
                             f"catalogued: {error}", "fix": "run `mhbench models --discover` to register it.",
                             "evidence": None, "tail": []}
        else:
            status = "failed"
            diagnosis = _diagnose(self.job_dir / STDOUT_FILE, code, signal_name)
        if status != "finished":
            _clean_up(self.workspace, self.spec)
        outcome = {"status": status, "exit_code": code, "signal": signal_name or self.stop_signal,
                   "result_model_id": result_id, "diagnosis": diagnosis, "ended_at": utc_now()}
        write_json_atomic(self.job_dir / EXIT_FILE, outcome)
        with registry(self.workspace) as connection:
            _record_end(connection, self.spec["id"], outcome)
        return 0


def _diagnose(log: Path, code: int, signal_name: str | None) -> dict[str, Any]:
    from core.diagnose import diagnose
    from core.logtail import last_lines

    result = diagnose(code, last_lines(log, 300), signal_name=signal_name)
    return {"kind": result.kind, "summary": result.summary, "fix": result.fix, "evidence": result.evidence,
            "tail": list(result.tail)}


def _clean_up(workspace: Workspace, spec: Mapping[str, Any]) -> None:
    """Remove what a failed or stopped job half-wrote: its partial file, or a merge's unfinished folder."""
    result = spec.get("result") or {}
    partial = result.get("partial")
    if partial and Path(partial).exists():
        Path(partial).unlink()
    target = spec.get("target_path")
    if spec.get("kind") == "merge" and target:
        folder = Path(target)
        if folder.is_dir() and workspace.models_dir.resolve() in folder.resolve().parents:
            shutil.rmtree(folder, ignore_errors=True)


def _register_result(workspace: Workspace, result: Mapping[str, Any] | None) -> str | None:
    """Catalogue the job's output: move a partial file into place, then register it with its lineage."""
    from core.models import register_gguf, register_merged

    if not result:
        return None
    path = Path(result["path"])
    if result.get("partial"):
        shutil.move(result["partial"], path)  # a rename, unless models/ is another filesystem
    lineage = dict(result.get("lineage") or {})
    if result["kind"] == "merged":
        entry = register_merged(workspace, path, result.get("parent_id"), name=result.get("name"), lineage=lineage)
    else:
        entry = register_gguf(workspace, path, result.get("parent_id"), result.get("quant"),
                              result.get("converter_version"), name=result.get("name"), lineage=lineage)
    return entry.id


# --- the pipeline: merge, convert, quantise ------------------------------------------------------


def _taken_names(workspace: Workspace) -> frozenset[str]:
    """Names in use: catalogue ids, folders and files in models/, and outputs of jobs still running."""
    from core.models import list_models

    names = {entry.id for entry in list_models(workspace)}
    if workspace.models_dir.is_dir():
        names |= {path.name for path in workspace.models_dir.iterdir()}
        names |= {path.stem for path in workspace.models_dir.glob("*.gguf")}
    for job in list_jobs(workspace):
        if job.active and job.target_path is not None:
            names |= {job.target_path.name, job.target_path.stem}
    return frozenset(names)


def _output_name(workspace: Workspace, wanted: str, explicit: bool) -> str:
    from core.models import slugify

    slug = slugify(wanted)
    taken = _taken_names(workspace)
    if slug not in taken:
        return slug
    if explicit:
        raise MhbenchError(f"the name '{slug}' is already used in models/.", path=workspace.models_dir,
                           fix="choose another name, or remove the old model (`mhbench models rm`).")
    n = 2
    while f"{slug}-{n}" in taken:
        n += 1
    return f"{slug}-{n}"


def _adapter_for(workspace: Workspace, ref: str) -> ModelEntry:
    """An adapter by catalogue ref, checkpoint folder, or run (its newest checkpoint); registered if new."""
    from core.models import get_model, register_adapter
    from core.runs import checkpoints_on_disk, get_run

    try:
        entry = get_model(workspace, ref)
    except MhbenchError as miss:
        path = Path(ref).expanduser()
        if path.is_dir():
            return register_adapter(workspace, path)
        try:
            run = get_run(workspace, ref)
        except MhbenchError:
            raise miss from None
        found = checkpoints_on_disk(run.output_dir)
        if not found:
            raise MhbenchError(f"run {run.id} saved no checkpoint.", path=run.output_dir,
                               fix="train longer (save_steps) or pick another run.") from None
        return register_adapter(workspace, found[-1][1], run.id)
    if entry.kind != "adapter" or entry.path is None:
        raise MhbenchError(f"{entry.id} is a {entry.kind} model, not a LoRA checkpoint.",
                           fix="merge an adapter (`mhbench models --kind adapter` lists them).")
    return entry


def _export_settings(workspace: Workspace, profile_name: str | None) -> list[str]:
    """The profile's ``[export]`` settings as swift flags; swift's defaults when the profile is gone."""
    if not profile_name:
        return []
    try:
        from core.profiles import find_profile, load_profiles

        export = find_profile(load_profiles(workspace.profiles_dir), profile_name).export
    except MhbenchError:
        return []
    return ["--max_shard_size", export.max_shard_size.replace(" ", ""),
            "--safe_serialization", "true" if export.format == "safetensors" else "false"]


def merge(workspace: Workspace, checkpoint_ref: str, *, name: str | None = None, check: bool = True) -> Job:
    """Merge a LoRA checkpoint into its base: ``swift export --merge_lora`` into ``models/<name>``."""
    from core.models import get_model
    from core.swift import installed_flag_specs, installed_swift_version, validate_argv

    adapter = _adapter_for(workspace, checkpoint_ref)
    assert adapter.path is not None
    if not adapter.path.is_dir():
        raise MhbenchError("the checkpoint folder is gone.", path=adapter.path, fix="pick another checkpoint.")
    base = get_model(workspace, adapter.base_id) if adapter.base_id else None
    wanted = name or f"{base.id if base else adapter.id}-merged"
    output_name = _output_name(workspace, wanted, explicit=name is not None)
    target = workspace.models_dir / output_name
    argv = ["swift", "export", "--adapters", str(adapter.path), "--merge_lora", "true", "--output_dir", str(target),
            *_export_settings(workspace, adapter.profile)]
    if check:
        problems = validate_argv(argv[2:], installed_flag_specs(command="export"))
        if problems:
            raise MhbenchError(f"ms-swift {installed_swift_version()} would reject this export: " + " ".join(problems),
                               fix="upgrade mhbench for this swift version.")
    result = {
        "kind": "merged", "path": str(target), "partial": None, "name": output_name, "parent_id": adapter.id,
        "lineage": {"tool": "swift export", "swift": installed_swift_version(), "adapter": adapter.id,
                    "checkpoint": str(adapter.path), "adapter_sha256": adapter.adapter_sha256,
                    "base": adapter.base_id},
    }
    return start_job(workspace, "merge", argv, source_id=adapter.id, target_path=target, result=result,
                     env={"PYTHONUNBUFFERED": "1"}, job=new_job_dir(workspace, "merge", output_name))


def convert_to_gguf(workspace: Workspace, model_ref: str, *, name: str | None = None, fix_tokenizer: bool = True) -> Job:
    """Convert a base or merged HF folder to an f16 GGUF in ``models/<name>.gguf``.

    ``fix_tokenizer`` lets the converter see what the folder's tokenizer really does (see
    :mod:`core.models.gguf`); turn it off only to reproduce the converter's own output.
    """
    from core.models import get_model
    from core.models.gguf import converter_executable, converter_version, prepare_converter_input

    entry = get_model(workspace, model_ref)
    if entry.kind not in ("base", "merged") or entry.path is None:
        fix = ("merge it first (`mhbench merge " + entry.id + "`)." if entry.kind == "adapter"
               else "convert a base or merged model folder.")
        raise MhbenchError(f"{entry.id} is a {entry.kind} model; only a Hugging Face folder converts to GGUF.", fix=fix)
    if not (entry.path / "config.json").is_file():
        raise MhbenchError("the model folder is gone or incomplete (no config.json).", path=entry.path,
                           fix="run discovery again, or remove the entry.")
    executable = converter_executable()
    output_name = _output_name(workspace, name or f"{entry.id}-f16", explicit=name is not None)
    target = workspace.models_dir / f"{output_name}.gguf"
    job_id, job_dir = new_job_dir(workspace, "convert", output_name)
    base = get_model(workspace, entry.base_id) if entry.base_id else None
    source = (prepare_converter_input(entry.path, base.path if base else None, job_dir / "input")
              if fix_tokenizer else None)
    model_dir = source.model_dir if source else entry.path
    fixes = source.fixes if source else ()
    partial = job_dir / f"{output_name}.gguf.partial"
    argv = [executable, str(model_dir), "--outfile", str(partial), "--outtype", "f16", "--model-name", entry.name]
    version = converter_version()
    result = {
        "kind": "gguf", "path": str(target), "partial": str(partial), "name": output_name, "parent_id": entry.id,
        "quant": "F16", "converter_version": version,
        "lineage": {"tool": version, "outtype": "f16", "source": entry.id, "tokenizer_fixes": list(fixes)},
    }
    notes = [f"tokenizer fix: {fix}" for fix in fixes]
    return start_job(workspace, "convert", argv, source_id=entry.id, target_path=target, result=result,
                     env={"PYTHONUNBUFFERED": "1"}, job=(job_id, job_dir), notes=notes)


def quantize(workspace: Workspace, gguf_ref: str, quant: str, *, name: str | None = None) -> Job:
    """Quantise an f16 (or bf16/f32) GGUF to ``quant`` with llama.cpp's quantiser, in ``models/<name>.gguf``."""
    import importlib.util
    from importlib import metadata

    from core.models import get_model
    from core.models.gguf import FLOAT_TYPES, gguf_quant, normalise_quant

    quant = normalise_quant(quant)
    if importlib.util.find_spec("llama_cpp") is None:
        raise MhbenchError("llama-cpp-python is not installed.", fix="install the gguf extra: `pip install -e '.[gguf]'`.")
    entry = get_model(workspace, gguf_ref)
    if entry.kind != "gguf" or entry.path is None or not entry.path.is_file():
        raise MhbenchError(f"{entry.id} is not a GGUF file on disk.", fix="convert the model first (`mhbench convert`).")
    source_quant = (entry.quant or gguf_quant(entry.path) or "").upper()
    if source_quant not in FLOAT_TYPES:
        raise MhbenchError(f"{entry.id} is already quantised ({source_quant or 'unknown type'}).",
                           fix="quantise from the f16 GGUF: quantising twice loses quality twice.")
    stem = re.sub(r"-(?:f16|bf16|f32)$", "", entry.id)
    output_name = _output_name(workspace, name or f"{stem}-{quant.lower()}", explicit=name is not None)
    target = workspace.models_dir / f"{output_name}.gguf"
    job_id, job_dir = new_job_dir(workspace, "quantize", output_name)
    partial = job_dir / f"{output_name}.gguf.partial"
    argv = [sys.executable, "-m", "core.jobs", "quantize", str(entry.path), str(partial), quant]
    tool = f"llama-cpp-python {metadata.version('llama_cpp_python')}"
    result = {
        "kind": "gguf", "path": str(target), "partial": str(partial), "name": output_name, "parent_id": entry.id,
        "quant": quant, "converter_version": entry.converter_version,
        "lineage": {"tool": f"{tool} llama_model_quantize", "quant": quant, "source": entry.id,
                    "source_quant": source_quant},
    }
    return start_job(workspace, "quantize", argv, source_id=entry.id, target_path=target, result=result,
                     env={"PYTHONUNBUFFERED": "1"}, job=(job_id, job_dir))


def quantize_file(source: Path, destination: Path, quant: str) -> None:
    """Quantise in this process (the job's child): llama.cpp prints one line per tensor."""
    import ctypes

    import llama_cpp

    from core.models.gguf import llama_ftype

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_ftype(quant)
    params.nthread = max(1, os.cpu_count() or 1)
    code = llama_cpp.llama_model_quantize(
        str(source).encode(), str(destination).encode(), cast(Any, ctypes.byref(params))
    )
    if code != 0:
        raise MhbenchError(f"llama_model_quantize failed with code {code}.", path=source,
                           fix="check the source GGUF loads (`mhbench models`), and that the disk has room.")


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "quantize":
        try:
            quantize_file(Path(argv[1]), Path(argv[2]), argv[3])
        except MhbenchError as error:
            print(f"mhbench: {error}", file=sys.stderr)
            return 1
        print(f"mhbench: quantised to {argv[3]}: {argv[2]}", flush=True)
        return 0
    if len(argv) != 1:
        print("usage: python -m core.jobs JOB_DIR | python -m core.jobs quantize SRC DST TYPE", file=sys.stderr)
        return 2
    return JobSupervisor(Path(argv[0])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
