"""The argv of every shipped profile against the installed ms-swift: its flag table and its own argument parser."""

from __future__ import annotations

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
