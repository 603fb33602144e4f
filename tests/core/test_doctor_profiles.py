"""``mhbench doctor`` on a GPU box (issue 20): per seed profile, whether this box runs it and what is missing."""

from __future__ import annotations

import pytest

from core.base.gpu import GpuReport, GpuSample
from core.doctor import check_profile, check_seed_profiles, report_text
from core.profiles import Profile, load_profiles

GB = 10**9


def box(*totals_gb: int) -> GpuReport:
    return GpuReport(tuple(GpuSample(i, "NVIDIA H100", memory_used=0, memory_total=total * GB)
                           for i, total in enumerate(totals_gb)), driver="570.86.15")


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return {entry.name: entry.profile for entry in load_profiles() if entry.profile is not None}


def test_an_h100_with_everything_runs_the_qwen_profile(profiles: dict[str, Profile], monkeypatch) -> None:
    monkeypatch.setattr("core.doctor._installed", lambda module: True)
    check = check_profile(profiles["qwen2.5-7b-instruct"], box(80), cuda_torch=True, flash_attn=True)
    assert (check.status, check.detail) == ("ok", "can train and serve on this box")


def test_what_is_missing_is_named_with_its_fix(profiles: dict[str, Profile], monkeypatch) -> None:
    monkeypatch.setattr("core.doctor._installed", lambda module: False)
    qwen = check_profile(profiles["qwen2.5-7b-instruct"], box(80), cuda_torch=True, flash_attn=False)
    assert qwen.status == "warn"  # it still runs: sdpa with packing off, and the transformers engine
    assert "sdpa and packing off" in qwen.detail and "lmdeploy is not installed" in qwen.detail
    assert "-c constraints.txt" in qwen.fix
    qlora = check_profile(profiles["llama2-7b-dolly-qlora"], box(24), cuda_torch=True, flash_attn=True)
    assert qlora.status == "missing" and "bitsandbytes" in qlora.detail
    small = check_profile(profiles["llama3.1-8b-instruct"], box(24), cuda_torch=False, flash_attn=True)
    assert small.status == "missing"
    assert "not a CUDA build" in small.detail and "training needs about 60 GB, the largest GPU has 24 GB" in small.detail
    for check in (qwen, qlora, small):
        assert check.fix and check.disables


def test_one_line_per_seed_profile_on_a_gpu_box_and_none_without(monkeypatch) -> None:
    monkeypatch.setattr("core.doctor.flash_attn_importable", lambda: False)
    lines = check_seed_profiles(box(80), cuda_torch=True)
    assert {check.name for check in lines} == {
        "profile qwen2.5-7b-instruct", "profile llama3.1-8b-instruct", "profile llama3-chinese-8b-instruct-v2",
        "profile llama2-7b-dolly-qlora"}
    assert "profile qwen2.5-7b-instruct" in report_text(lines)
    assert check_seed_profiles(GpuReport((), problem="no driver"), cuda_torch=False) == []
