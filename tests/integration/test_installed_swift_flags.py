"""The argv of every shipped profile against the installed ms-swift: its flag table and its own argument parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.profiles import Profile
from core.swift.dialects import DIALECT_4, build_sft_command, dialect_for, installed_swift_version
from core.swift.flags import FlagSpec, installed_flag_specs, validate_argv
from tests.helpers.shipped_profiles import CHINESE_SYSTEM, LLAMA2_QLORA, LLAMA3_CHINESE, QWEN, SHIPPED, shipped_profiles


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return shipped_profiles()


# --- the installed ms-swift -----------------------------------------------------------------


@pytest.fixture(scope="module")
def installed_specs() -> dict[str, FlagSpec]:
    if installed_swift_version() is None:
        pytest.skip("ms-swift is not installed")
    return installed_flag_specs(cache=False)


@pytest.fixture(scope="module")
def swift_parser() -> Any:
    if installed_swift_version() is None:
        pytest.skip("ms-swift is not installed")
    from swift.arguments import SftArguments
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    with _patch_get_type_hints():
        return HfArgumentParser([SftArguments])


@pytest.mark.integration
def test_installed_flag_specs(installed_specs: dict[str, FlagSpec]) -> None:
    for name in ("tuner_type", "lora_rank", "dataset", "output_dir"):
        assert name in installed_specs
    assert installed_specs["lora_rank"].kind == "int"
    assert installed_specs["dataset"].kind == "list"
    assert installed_specs["torch_dtype"].kind == "choice"
    assert "bfloat16" in installed_specs["torch_dtype"].choices
    assert "train_type" not in installed_specs  # renamed in 4.x


@pytest.mark.integration
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_argv_is_accepted_by_installed_swift(
    profiles: dict[str, Profile], installed_specs: dict[str, FlagSpec], swift_parser: Any, name: str
) -> None:
    dialect = dialect_for(installed_swift_version())
    assert dialect is DIALECT_4
    argv = build_sft_command(profiles[name], dialect=dialect, output_dir="out").argv
    assert validate_argv(argv, installed_specs) == []
    namespace, unknown = swift_parser.parse_known_args(list(argv[2:]))
    assert unknown == []
    profile = profiles[name]
    assert namespace.tuner_type == "lora"
    assert namespace.lora_rank == profile.lora.rank
    assert namespace.lora_alpha == profile.lora.alpha
    assert namespace.target_modules == list(profile.lora.target_modules)
    assert namespace.per_device_train_batch_size == profile.train.batch_size
    assert namespace.learning_rate == pytest.approx(profile.train.learning_rate)
    assert namespace.output_dir == "out"
    assert namespace.add_version is False
    assert namespace.callbacks == ["graceful_exit"]
    if name == QWEN:
        assert namespace.lora_rank == 8
        assert namespace.model_type == "qwen2"
        assert namespace.template == "qwen2_5"
    if name == LLAMA3_CHINESE:
        assert namespace.model_type == "llama"  # swift cannot infer it from the architecture
        assert namespace.system == CHINESE_SYSTEM
    if name == LLAMA2_QLORA:
        assert namespace.quant_method == "bnb"
        assert str(namespace.quant_bits) == "4"
        assert namespace.bnb_4bit_use_double_quant is True


@pytest.mark.integration
def test_typo_flag_is_caught_by_both(
    profiles: dict[str, Profile], installed_specs: dict[str, FlagSpec], swift_parser: Any
) -> None:
    argv = [*build_sft_command(profiles[QWEN], dialect=DIALECT_4, output_dir="out").argv, "--lora_rnak", "8"]
    _, unknown = swift_parser.parse_known_args(argv[2:])
    assert unknown != []
    assert "--lora_rnak" in unknown
    problems = validate_argv(argv, installed_specs)
    assert len(problems) == 1
    assert "--lora_rnak" in problems[0] and "Did you mean 'lora_rank'" in problems[0]


@pytest.mark.integration
def test_pep604_optional_fields_keep_their_type(installed_specs: dict[str, FlagSpec]) -> None:
    assert installed_specs["save_total_limit"].kind == "int"
    assert validate_argv(["--save_total_limit", "three"], installed_specs) != []


@pytest.mark.integration
def test_the_installed_swift_cannot_infer_the_type_of_a_llama_by_its_architecture() -> None:
    """Why the 4.x dialect names llama3_chinese's type: the architecture alone is ambiguous in the installed swift."""
    model_meta = pytest.importorskip("swift.model.model_meta")
    if not hasattr(model_meta, "get_matched_model_types"):
        pytest.skip("not ms-swift 4.x")
    assert len(model_meta.get_matched_model_types(["LlamaForCausalLM"])) > 1
    assert model_meta.get_matched_model_meta("ChineseAlpacaGroup/llama-3-chinese-8b-instruct-v2") is None


# --- the GPU box's argv (issue 20), through swift's own argument parsers --------------------------


def parser_of(class_name: str) -> Any:
    if installed_swift_version() is None:
        pytest.skip("ms-swift is not installed")
    import swift.arguments
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    with _patch_get_type_hints():
        return HfArgumentParser([getattr(swift.arguments, class_name)])


@pytest.mark.integration
def test_the_gpu_box_sft_variants_parse(profiles: dict[str, Profile], swift_parser: Any, tmp_path: Path) -> None:
    from core.base.workspace import Workspace
    from core.train.launch import LaunchRequest, plan_nodes, plan_run

    workspace = Workspace(tmp_path / "ws")
    qwen = profiles[QWEN]
    variants = {
        "no flash-attn": plan_run(workspace, LaunchRequest(profile=qwen, flash_attn=False), check=False, dry_run=True),
        "qlora zero3": plan_run(workspace, LaunchRequest(profile=profiles[LLAMA2_QLORA], deepspeed="zero3",
                                                         cuda_visible_devices="0,1", nproc_per_node=2),
                                check=False, dry_run=True),
        "two nodes": plan_nodes(workspace, LaunchRequest(profile=qwen, nnodes=2, master_addr="10.0.0.1",
                                                         nproc_per_node=8, flash_attn=True), check=False)[1],
    }
    for label, plan in variants.items():
        namespace, unknown = swift_parser.parse_known_args(list(plan.command.argv[2:]))
        assert unknown == [], label
        if label == "no flash-attn":
            assert namespace.attn_impl == "sdpa" and namespace.packing is False
        if label == "qlora zero3":
            assert namespace.bnb_4bit_quant_storage == "bfloat16" and namespace.deepspeed == "zero3"
        if label == "two nodes":
            assert namespace.save_on_each_node is True


@pytest.mark.integration
def test_the_merge_and_the_engine_servers_parse(demo: Any, tmp_path: Path) -> None:
    import shutil

    from core.base.db import open_workspace
    from core.base.gpu import GpuReport, GpuSample
    from core.base.workspace import Workspace
    from core.models import register_adapter, register_base
    from core.models.jobs.pipeline import merge_command
    from core.models.serving import build_argv
    from core.models.targets import ServeOptions, server_spec
    from tests.helpers.model_dirs import make_adapter

    workspace = open_workspace(Workspace(tmp_path / "ws"))
    shutil.copytree(demo.workspace.profiles_dir, workspace.profiles_dir, dirs_exist_ok=True)
    base = register_base(workspace, "demo-tiny-qwen2")
    adapter = register_adapter(workspace, make_adapter(tmp_path / "a" / "checkpoint-2", demo.qwen_dir))
    export, unknown = parser_of("ExportArguments").parse_known_args(
        merge_command(workspace, adapter, base, tmp_path / "m")[2:])
    assert unknown == [] and export.load_args is False and export.device_map == "cpu"
    deploy = parser_of("DeployArguments")
    report = GpuReport((GpuSample(0, "H100", memory_used=10 * 10**9, memory_total=80 * 10**9, uuid="GPU-1"),))
    for backend in ("transformers", "vllm"):
        spec = server_spec(workspace, [adapter], ServeOptions(infer_backend=backend), engine_installed=False,
                           gpu_report=report)
        parsed, unknown = deploy.parse_known_args(build_argv(spec, 8000)[2:])
        assert unknown == [], backend
        if backend == "transformers":
            assert parsed.max_batch_size > 1
        else:
            assert parsed.vllm_max_lora_rank >= 8 and 0 < parsed.vllm_gpu_memory_utilization < 0.9
