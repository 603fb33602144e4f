"""``mhbench train --dry-run`` checks every shipped profile's flags against the installed ms-swift."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.swift.dialects import installed_swift_version
from tests.helpers.commands import mhbench


@pytest.mark.integration
@pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed")
def test_dry_run_checked_for_every_profile(tmp_path: Path) -> None:
    for name in ("qwen2.5-7b-instruct", "llama3.1-8b-instruct", "llama3-chinese-8b-instruct-v2", "llama2-7b-dolly-qlora"):
        result = mhbench("train", name, "--dry-run", "--set", "train.epochs=2", workspace=tmp_path / "ws")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1].startswith("swift sft --model ")
        assert "--num_train_epochs 2" in result.stdout
    typo = mhbench("train", "qwen2.5-7b-instruct", "--dry-run", "--set", "train.extra_args={lr_scheduler_typ='cosine'}", workspace=tmp_path / "ws")
    assert typo.returncode == 2
    assert "unknown flag --lr_scheduler_typ" in typo.stderr and "lr_scheduler_type" in typo.stderr
