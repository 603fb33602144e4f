"""The Models screen's text panes: a model's lineage and facts, and the jobs and servers at work.

Pure rendering from what the screen's worker read (no queries here), so the screen
keeps only the widgets, the worker and the actions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from core.models.catalog import format_size

if TYPE_CHECKING:
    from core.models import ModelEntry
    from core.models.jobs import Job
    from core.models.serving import ServerRecord

JOB_STYLE = {"starting": "green", "running": "green", "stopping": "yellow", "finished": "cyan",
             "stopped": "yellow", "failed": "red", "lost": "red"}
KIND_STYLE = {"base": "", "adapter": "magenta", "merged": "cyan", "gguf": "green", "endpoint": "yellow"}

ID_WIDTH = 24


def short_id(model_id: str, width: int = ID_WIDTH) -> str:
    """Long ids keep their start and their end (the quant, the step), which tell them apart."""
    if len(model_id) <= width:
        return model_id
    head = (width - 1) // 2
    return model_id[:head] + "…" + model_id[-(width - 1 - head):]


def lineage_chain(entry: ModelEntry, entries: Sequence[ModelEntry]) -> list[ModelEntry]:
    """The models ``entry`` came from, oldest first, ending with ``entry``; a cycle in the records stops it."""
    by_id = {e.id: e for e in entries}
    chain: list[ModelEntry] = []
    current: ModelEntry | None = entry
    while current is not None and current not in chain:
        chain.insert(0, current)
        current = by_id.get(current.parent_id or "") or (by_id.get(current.base_id or "")
                                                         if current.kind == "adapter" else None)
    return chain


def model_detail(entry: ModelEntry, entries: Sequence[ModelEntry], server: ServerRecord | None) -> Text:
    """The selected model: id and kind, where it lies, its lineage, what it was made from, parity, its server."""
    text = Text()
    text.append(entry.id, style="bold")
    text.append(f"  {entry.kind}", style=KIND_STYLE.get(entry.kind, ""))
    text.append(f"\n{entry.location}\n", style="dim")
    text.append("lineage: ", style="dim")
    text.append(" → ".join(e.id for e in lineage_chain(entry, entries)) + "\n")
    for label, value in (
        ("run", entry.run_id), ("checkpoint", Path(entry.checkpoint).name if entry.checkpoint else None),
        ("adapter sha256", entry.adapter_sha256[:16] + "…" if entry.adapter_sha256 else None),
        ("quant", entry.quant), ("converter", entry.converter_version), ("profile", entry.profile),
        ("template", entry.template), ("size", format_size(entry.size_bytes) if entry.size_bytes else None),
    ):
        if value:
            text.append(f"{label}: ", style="dim")
            text.append(f"{value}\n")
    parity = entry.lineage.get("parity")
    if isinstance(parity, dict):
        # The stored summary names the check itself ("parity: the template …"): say it once.
        summary = str(parity.get("summary", "")).removeprefix("parity: ").removeprefix("parity ")
        text.append("parity: ", style="dim")
        text.append(summary + "\n", style="green" if parity.get("passed") else "red")
    if server is not None:
        text.append("server: ", style="dim")
        text.append(f"{server.status} at {server.base_url} ({server.backend}, {server.id})\n")
    return text


def activity(jobs: Sequence[Job], servers: Sequence[ServerRecord], progress: Mapping[str, str]) -> Text:
    """The running jobs with their progress, the last three finished ones, and the servers that are up."""
    text = Text()
    active = [job for job in jobs if job.active]
    recent = [job for job in jobs if not job.active][:3]
    for job in [*active, *recent]:
        text.append(f"{job.kind} ", style="bold")
        text.append(f"{job.status}", style=JOB_STYLE.get(job.status, ""))
        if job.active:
            text.append(": " + progress.get(job.id, "starting")[:120])
        elif job.status == "failed" and job.diagnosis:
            text.append(f": {job.diagnosis.get('summary')} Fix: {job.diagnosis.get('fix')}", style="red")
        elif job.result_model_id:
            text.append(f" → {job.result_model_id}")
        text.append("\n")
    up = [s for s in servers if s.active]
    if up:
        text.append(f"{len(up)} server(s) up: " + ", ".join(f"{s.id} ({s.status})" for s in up))
    return text or Text("no jobs yet", style="dim")
