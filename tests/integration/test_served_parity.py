"""Served-model parity: the template a profile gives ``swift deploy`` against the tokenizer's own, with real swift."""

from __future__ import annotations

import pytest

from core.base.db import open_workspace
from core.models import get_model, list_models
from core.models.parity import parity_for_models, record_parity, served_parity_check
from core.models.targets import sync_catalog
from core.swift.dialects import installed_swift_version

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed"),
]


def test_the_profile_template_matches_the_tiny_qwen_chat_template(demo) -> None:
    report = served_parity_check(demo.qwen_dir, "qwen2_5", "qwen2")
    assert report.passed, report.summary()
    assert report.hf_text.startswith("<|im_start|>system\n你是") and report.hf_text.endswith("<|im_start|>assistant\n")
    assert "swift template qwen2_5 renders the same prompt" in report.summary()


def test_a_different_template_is_flagged_where_it_parts(demo) -> None:
    report = served_parity_check(demo.qwen_dir, "llama3", "qwen2")
    assert not report.passed and report.first_difference is not None
    difference = report.first_difference
    assert difference.what == "text" and difference.position == 2  # just past the "<|" both start with
    assert difference.hf.startswith("<|im_start|>system") and difference.gguf.startswith("<|begin_of_text|>")
    assert "vs swift template llama3" in report.summary()


def test_a_catalog_model_is_checked_against_its_profile(demo, tmp_path) -> None:
    import shutil

    from core.base.workspace import Workspace

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    shutil.copytree(demo.workspace.profiles_dir, workspace.profiles_dir, dirs_exist_ok=True)
    sync_catalog(workspace)
    qwen = next(e for e in list_models(workspace, "base") if e.profile == "demo-tiny-qwen2")
    assert parity_for_models(workspace, qwen.id).passed
    record_parity(workspace, qwen.id)
    verdict = get_model(workspace, qwen.id).lineage["parity"]
    assert verdict["passed"] is True and "swift template qwen2_5" in verdict["summary"]
