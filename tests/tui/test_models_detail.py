"""The Models screen's panes without a running app: the detail text, the activity text and the job-log tail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.models.jobs import Job
from tests.helpers.catalog_entries import entry
from tui.models.detail import activity, lineage_chain, model_detail, short_id
from tui.models.screen import ModelsScreen


def job(job_id: str, job_dir: Path, status: str = "running", **more: Any) -> Job:
    fields: dict[str, Any] = dict(
        kind="convert", source_id="merged-1", target_path=None, argv=(), pid=None, pgid=None, start_time=None,
        exit_code=None, result_model_id=None, diagnosis=None, created_at="", ended_at=None,
    )
    fields.update(more)
    return Job(id=job_id, job_dir=job_dir, status=status, **fields)


def test_short_id_keeps_both_ends() -> None:
    assert short_id("qwen") == "qwen"
    long = "qwen2.5-0.5b-instruct-lora-step-0189-Q4_K_M"
    short = short_id(long)
    assert len(short) == 24 and short.startswith("qwen2.5-0.5") and short.endswith("0189-Q4_K_M")


def test_lineage_follows_parents_to_the_base_and_stops_at_a_cycle() -> None:
    base = entry("base", "base")
    adapter = entry("adapter-1", "adapter", base="base")
    merged = entry("merged-1", "merged", parent="adapter-1", base="base")
    gguf = entry("gguf-q4", "gguf", parent="merged-1", base="base", quant="Q4_K_M", size_bytes=3 << 20)
    entries = [gguf, merged, adapter, base]
    assert [e.id for e in lineage_chain(gguf, entries)] == ["base", "adapter-1", "merged-1", "gguf-q4"]
    text = model_detail(gguf, entries, None).plain
    assert "lineage: base → adapter-1 → merged-1 → gguf-q4" in text
    assert "quant: Q4_K_M" in text and "size: " in text and "server:" not in text
    loop_a, loop_b = entry("a", "merged", parent="b"), entry("b", "merged", parent="a")
    assert [e.id for e in lineage_chain(loop_a, [loop_a, loop_b])] == ["b", "a"]


def test_activity_lists_running_then_recent_jobs(tmp_path: Path) -> None:
    running = job("j2", tmp_path)
    failed = job("j1", tmp_path, "failed", diagnosis={"summary": "disk full.", "fix": "free space."})
    text = activity([running, failed], [], {"j2": "Writing: 40%"}).plain
    assert text.splitlines() == ["convert running: Writing: 40%", "convert failed: disk full. Fix: free space."]
    assert activity([], [], {}).plain == "no jobs yet"


def test_job_log_is_tailed_incrementally_and_reset_on_another_job(tmp_path: Path) -> None:
    first, second = tmp_path / "j1", tmp_path / "j2"
    first.mkdir()
    second.mkdir()
    screen = ModelsScreen()
    screen.jobs = [job("j1", first, source_id="m")]
    screen.selected_id = "m"
    assert screen.read_job_log() == ("j1", [], True)  # no log written yet
    log = first / "stdout.log"
    log.write_bytes(b"loading\n\x1b[32m 10%\r 50%\r100%\x1b[0m\nwrit")
    assert screen.read_job_log() == ("j1", ["loading", "100%"], False)
    with log.open("ab") as handle:
        handle.write(b"ing done\n")
    assert screen.read_job_log() == ("j1", ["writing done"], False)
    (second / "stdout.log").write_text("other\n")
    screen.jobs = [job("j2", second, source_id="m"), *screen.jobs]
    assert screen.read_job_log() == ("j2", ["other"], True)
