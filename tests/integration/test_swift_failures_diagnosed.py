"""Real ``swift sft`` failures on the tiny demo model, and what the diagnosis says about each."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.swift.diagnose import Diagnosis, diagnose
from tests.helpers.diagnosis import check

# --- real ms-swift failures -------------------------------------------------------------------------------


def _swift_installed() -> bool:
    from core.swift.dialects import installed_swift_version

    return installed_swift_version() is not None


needs_swift = pytest.mark.skipif(not _swift_installed(), reason="ms-swift is not installed")
COMMON = [
    "--model_type", "qwen2", "--template", "qwen2_5", "--check_model", "false", "--tuner_type", "lora",
    "--add_version", "false", "--max_steps", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.demo import training_corpus
    from core.demo.tinymodels import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny") / "m", training_corpus())


def run_swift(tmp_path: Path, *args: str) -> tuple[int, list[str], float]:
    """Run ``swift sft`` as a run does: output to a file, offline; return (code, lines, seconds)."""
    swift = Path(sys.executable).parent / "swift"
    log = tmp_path / "stdout.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    started = time.monotonic()
    with log.open("wb") as out:
        code = subprocess.run(
            [str(swift), "sft", *args, *COMMON, "--output_dir", str(tmp_path / "out")],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
            env=env,
            timeout=300,
        ).returncode
    seconds = time.monotonic() - started
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return code, lines, seconds


def report(name: str, result: Diagnosis, seconds: float) -> None:
    print(f"\n[{name}] {seconds:.1f}s kind={result.kind}\n  summary: {result.summary}\n  evidence: {result.evidence}")


@pytest.mark.integration
@needs_swift
def test_real_swift_unknown_flag(tmp_path: Path, tiny_model: Path) -> None:
    # swift checks for unknown flags after its argument dataclasses' __post_init__ (model and
    # dataset given), before it reads the dataset: a missing dataset file is not reached.
    args = ["--model", str(tiny_model), "--dataset", "/nonexistent/data.jsonl", "--lora_rnak", "8"]
    code, lines, seconds = run_swift(tmp_path, *args)
    result = diagnose(code, lines)
    report("unknown flag", result, seconds)
    assert code != 0
    check(result, "unknown_flag", "--lora_rnak")
    assert result.evidence == "ValueError: remaining_argv: ['--lora_rnak', '8']"


@pytest.mark.integration
@needs_swift
def test_real_swift_missing_model_directory(tmp_path: Path) -> None:
    # swift resolves the model while parsing its arguments, before it looks at unknown flags
    code, lines, seconds = run_swift(tmp_path, "--model", "/nonexistent/model", "--lora_rnak", "8")
    result = diagnose(code, lines)
    report("missing model", result, seconds)
    check(result, "model_not_found", "/nonexistent/model")


@pytest.mark.integration
@needs_swift
def test_real_swift_missing_dataset(tmp_path: Path, tiny_model: Path) -> None:
    code, lines, seconds = run_swift(tmp_path, "--model", str(tiny_model), "--dataset", "/nonexistent/data.jsonl")
    result = diagnose(code, lines)
    report("missing dataset", result, seconds)
    assert code != 0
    check(result, "dataset_not_found", "/nonexistent/data.jsonl")


@pytest.mark.integration
@needs_swift
def test_real_swift_malformed_dataset(tmp_path: Path, tiny_model: Path) -> None:
    data = tmp_path / "broken.jsonl"
    data.write_text(
        '{"messages": [{"role": "user", "content": "最近睡不好"}, {"role": "assistant", "content": "能多说说吗？"}]}\n'
        '{"messages": [{"role": "user", "content": "broken\n',
        encoding="utf-8",
    )
    code, lines, seconds = run_swift(tmp_path, "--model", str(tiny_model), "--dataset", str(data))
    result = diagnose(code, lines)
    report("malformed dataset", result, seconds)
    assert code != 0
    check(result, "dataset_malformed", str(data))
