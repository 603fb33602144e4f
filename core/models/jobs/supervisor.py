"""The job's supervisor (``python -m core.models.jobs JOB_DIR``) and its quantising child (``... quantize SRC DST TYPE``).

The supervisor runs the tool, records how it ended, and catalogues what it made; see :mod:`core.models.jobs`.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from core.base.db import registry
from core.base.errors import MhbenchError
from core.base.processes import ChildSupervisor, utc_now, write_json_atomic
from core.base.tail import last_lines
from core.base.workspace import Workspace
from core.models import register_gguf, register_merged
from core.models.gguf import llama_ftype
from core.models.jobs.control import EXIT_FILE, JOB_FILE, STDOUT_FILE, record_end
from core.swift.diagnose import diagnose

if TYPE_CHECKING:
    import psutil

# --- the supervisor ------------------------------------------------------------------------------


class JobSupervisor(ChildSupervisor):
    """Runs the tool, then records how it ended and catalogues what it made."""

    spec_file = JOB_FILE

    def __init__(self, job_dir: Path) -> None:
        super().__init__(job_dir)
        self.job_dir = job_dir
        self.workspace = Workspace(Path(self.spec["workspace"]))

    def stop_targets(self, root: psutil.Process) -> list[psutil.Process]:
        """The tool's tree, less what it started detached in a session of its own: a shared model server that a
        pre-generate or judge job started serves the raters too, and outlives the job that started it."""
        import psutil

        try:
            session = os.getsid(root.pid)
        except OSError:
            return [root]
        targets = []
        for process in [*root.children(recursive=True), root]:
            try:
                if os.getsid(process.pid) == session:
                    targets.append(process)
            except (OSError, psutil.Error):
                continue
        return targets

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
                             f"catalogued: {error}", "fix": "run `mhbench models --add PATH` with the output's path to register it.",
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
            record_end(connection, self.spec["id"], outcome)
        return 0


def _diagnose(log: Path, code: int, signal_name: str | None) -> dict[str, Any]:
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


# --- the quantising child, and the entry point ----------------------------------------------------


def quantize_file(source: Path, destination: Path, quant: str) -> None:
    """Quantise in this process (the job's child): llama.cpp prints one line per tensor."""
    import ctypes

    import llama_cpp


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
        print("usage: python -m core.models.jobs JOB_DIR | python -m core.models.jobs quantize SRC DST TYPE", file=sys.stderr)
        return 2
    return JobSupervisor(Path(argv[0])).run()
