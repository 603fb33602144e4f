"""Merging on a GPU box (issue 20): a QLoRA checkpoint's saved arguments are not reloaded, no GPU is
taken, and a merge that came out quantised is refused rather than catalogued as bf16."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.models import register_adapter, register_base, register_merged
from core.models.jobs.pipeline import merge_command
from core.swift.dialects import installed_swift_version
from core.swift.flags import installed_flag_specs, validate_argv
from tests.helpers.catalogs import demo_catalog
from tests.helpers.commands import flag_values
from tests.helpers.model_dirs import make_adapter, make_hf_dir


@pytest.fixture()
def catalog(demo, tmp_path: Path) -> Workspace:
    """The demo's profiles in a fresh workspace."""
    return demo_catalog(demo, tmp_path / "ws")


def test_the_merge_names_the_model_and_loads_no_saved_arguments(catalog: Workspace, demo, tmp_path: Path) -> None:
    base = register_base(catalog, "demo-tiny-qwen2")
    adapter = register_adapter(catalog, make_adapter(tmp_path / "a" / "checkpoint-2", demo.qwen_dir))
    argv = merge_command(catalog, adapter, base, catalog.models_dir / "m")
    values = flag_values(argv)
    assert values["load_args"] == ["false"]  # a QLoRA run's args.json would re-quantise the merge
    assert values["device_map"] == ["cpu"]  # no GPU taken from a server or a run
    assert values["model"] == [str(base.path)]
    assert (values["model_type"], values["template"], values["torch_dtype"]) == (["qwen2"], ["qwen2_5"], ["float32"])
    assert "quant_method" not in values
    if installed_swift_version() is not None:
        assert validate_argv(argv[2:], installed_flag_specs(command="export")) == []


def test_a_quantised_merge_is_refused_by_the_catalogue(catalog: Workspace, tmp_path: Path) -> None:
    folder = make_hf_dir(tmp_path / "merged")
    config = {"model_type": "llama", "quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(MhbenchError, match="quantised") as caught:
        register_merged(catalog, folder)
    assert "load_args" in caught.value.fix
