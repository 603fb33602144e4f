"""Background jobs that make models: merge (swift export), convert (to GGUF f16) and quantise.

They run detached, like training runs, because a merge of an 8B model takes minutes and
the TUI may quit or lose SSH meanwhile: a small supervisor (``python -m core.models.jobs
JOB_DIR``) leads its own session and process group, runs the tool with output to
``<workspace>/jobs/<id>/stdout.log``, and when the tool ends writes ``exit.json``
(durably, before the registry), registers the result in the model catalog with its
lineage, or explains the failure with :mod:`core.swift.diagnose`. Outputs are written under
the job's folder and moved into ``models/`` only on success, so a half-written GGUF is
never catalogued. Quantisation runs llama-cpp-python's ``llama_model_quantize`` in a
child of the supervisor (``python -m core.models.jobs quantize SRC DST TYPE``), so a crash in
llama.cpp's C code fails the job, not the supervisor.
"""

from __future__ import annotations

from core.models.jobs.control import (
    ACTIVE_STATUSES,
    EXIT_FILE,
    JOB_FILE,
    JOB_KINDS,
    PROGRESS_MAX,
    STDOUT_FILE,
    Job,
    JobKind,
    get_job,
    jobs_dir,
    list_jobs,
    new_job_dir,
    progress_text,
    reconcile,
    start_job,
    stop_job,
    wait_job,
)
from core.models.jobs.pipeline import convert_to_gguf, merge, quantize
from core.models.jobs.supervisor import JobSupervisor, main, quantize_file

__all__ = [
    "ACTIVE_STATUSES",
    "EXIT_FILE",
    "JOB_FILE",
    "JOB_KINDS",
    "PROGRESS_MAX",
    "STDOUT_FILE",
    "Job",
    "JobKind",
    "JobSupervisor",
    "convert_to_gguf",
    "get_job",
    "jobs_dir",
    "list_jobs",
    "main",
    "merge",
    "new_job_dir",
    "progress_text",
    "quantize",
    "quantize_file",
    "reconcile",
    "start_job",
    "stop_job",
    "wait_job",
]
