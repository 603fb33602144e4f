"""``swift sft`` argv per ms-swift dialect, and the flag check against the installed swift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from core.base.errors import MhbenchError
from core.profiles import Profile, apply_overrides, find_profile, load_profiles
from core.swift.dialects import DIALECT_3, DIALECT_4, build_sft_command, dialect_for, installed_swift_version
from core.swift.flags import FlagSpec, check_command, validate_argv
from tests.helpers.shipped_profiles import (
    CHINESE_SYSTEM,
    LLAMA2_QLORA,
    LLAMA3_CHINESE,
    LLAMA31,
    QWEN,
    SHIPPED,
    shipped_profiles,
)

SEVEN_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

QWEN_4X = (
    "swift", "sft",
    "--model", "Qwen/Qwen2.5-7B-Instruct",
    "--model_type", "qwen2",
    "--template", "qwen2_5",
    "--tuner_type", "lora",
    "--lora_rank", "8",
    "--lora_alpha", "32",
    "--lora_dropout", "0.1",
    "--target_modules", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    "--dataset", "CodyWhy/mh-sharegpt-20250820",
    "--torch_dtype", "bfloat16",
    "--per_device_train_batch_size", "8",
    "--per_device_eval_batch_size", "8",
    "--gradient_accumulation_steps", "4",
    "--learning_rate", "0.0002",
    "--num_train_epochs", "1",
    "--warmup_ratio", "0.1",
    "--max_length", "3072",
    "--gradient_checkpointing", "true",
    "--packing", "true",
    "--attn_impl", "flash_attn",
    "--save_steps", "200",
    "--save_total_limit", "3",
    "--logging_steps", "20",
    "--eval_steps", "200",
    "--seed", "42",
    "--output_dir", "out",
    "--add_version", "false",
    "--callbacks", "graceful_exit",
)  # fmt: skip

QWEN_3X = (
    "swift", "sft",
    "--model", "Qwen/Qwen2.5-7B-Instruct",
    "--model_type", "qwen2_5",
    "--template", "qwen2_5",
    "--train_type", "lora",
    "--lora_rank", "8",
    "--lora_alpha", "32",
    "--lora_dropout", "0.1",
    "--target_modules", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    "--dataset", "CodyWhy/mh-sharegpt-20250820",
    "--torch_dtype", "bfloat16",
    "--per_device_train_batch_size", "8",
    "--per_device_eval_batch_size", "8",
    "--gradient_accumulation_steps", "4",
    "--learning_rate", "0.0002",
    "--num_train_epochs", "1",
    "--warmup_ratio", "0.1",
    "--max_length", "3072",
    "--gradient_checkpointing", "true",
    "--packing", "true",
    "--attn_impl", "flash_attn",
    "--save_steps", "200",
    "--save_total_limit", "3",
    "--logging_steps", "20",
    "--eval_steps", "200",
    "--seed", "42",
    "--output_dir", "out",
    "--add_version", "false",
)  # fmt: skip


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return shipped_profiles()


def flag_values(argv: Sequence[str]) -> dict[str, list[str]]:
    """``--flag v1 v2`` → ``{"flag": ["v1", "v2"]}``; asserts no flag appears twice."""
    values: dict[str, list[str]] = {}
    current: str | None = None
    for part in argv[2:]:
        if part.startswith("--"):
            current = part[2:]
            assert current not in values, f"--{current} appears twice"
            values[current] = []
        else:
            assert current is not None
            values[current].append(part)
    return values


# --- golden argv ---------------------------------------------------------------------------


def test_qwen_4x_exact_argv(profiles: dict[str, Profile]) -> None:
    command = build_sft_command(profiles[QWEN], dialect=DIALECT_4, output_dir="out")
    assert command.argv == QWEN_4X
    assert command.argv[-2:] == ("--callbacks", "graceful_exit")
    assert command.dialect is DIALECT_4
    assert command.notes == ()
    assert command.env == {}


def test_qwen_3x_exact_argv(profiles: dict[str, Profile]) -> None:
    command = build_sft_command(profiles[QWEN], dialect=DIALECT_3, output_dir="out")
    assert command.argv == QWEN_3X
    assert "--callbacks" not in command.argv
    assert "--tuner_type" not in command.argv
    assert command.notes == ()


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("dialect", [DIALECT_3, DIALECT_4], ids=["3.x", "4.x"])
def test_every_shipped_profile_builds(profiles: dict[str, Profile], name: str, dialect: Any) -> None:
    command = build_sft_command(profiles[name], dialect=dialect, output_dir="out")
    values = flag_values(command.argv)  # also: no flag twice
    assert command.argv[:2] == ("swift", "sft")
    assert values[dialect.tuner_flag[2:]] == ["lora"]
    other_tuner = "train_type" if dialect.major == 4 else "tuner_type"
    assert other_tuner not in values
    assert values["output_dir"] == ["out"]
    assert values["add_version"] == ["false"]
    assert ("callbacks" in values) is (dialect.major == 4)
    assert command.flags() == list(values)
    assert command.shell().startswith("swift sft --model ")


def test_llama31_dialects(profiles: dict[str, Profile]) -> None:
    four = build_sft_command(profiles[LLAMA31], dialect=DIALECT_4, output_dir="out")
    v4 = flag_values(four.argv)
    assert v4["model"] == ["LLM-Research/Meta-Llama-3.1-8B-Instruct"]
    assert v4["model_type"] == ["llama"]
    assert v4["template"] == ["llama3_2"]
    assert v4["per_device_train_batch_size"] == ["6"]
    assert v4["gradient_accumulation_steps"] == ["6"]
    assert any("llama3" in note and "llama3_2" in note for note in four.notes), four.notes

    three = build_sft_command(profiles[LLAMA31], dialect=DIALECT_3, output_dir="out")
    v3 = flag_values(three.argv)
    assert v3["model_type"] == ["llama3_1"]
    assert v3["template"] == ["llama3_2"]
    assert v3["train_type"] == ["lora"]


@pytest.mark.parametrize("dialect", [DIALECT_3, DIALECT_4], ids=["3.x", "4.x"])
def test_llama3_chinese_names_its_type_where_swift_cannot_infer_it(profiles: dict[str, Profile],
                                                                    dialect: Any) -> None:
    command = build_sft_command(profiles[LLAMA3_CHINESE], dialect=dialect, output_dir="out")
    values = flag_values(command.argv)
    assert values["model"] == ["ChineseAlpacaGroup/llama-3-chinese-8b-instruct-v2"]
    assert values["template"] == ["llama3"]
    assert values["system"] == [CHINESE_SYSTEM]
    assert values["target_modules"] == SEVEN_TARGETS
    if dialect is DIALECT_4:
        # swift 4.x matches LlamaForCausalLM to four types and refuses to guess: the type is named.
        assert values["model_type"] == ["llama"]
    else:
        assert "model_type" not in values
        assert any("not registered" in note for note in command.notes), command.notes
        assert any(dialect.label in note for note in command.notes)


@pytest.mark.parametrize("dialect", [DIALECT_3, DIALECT_4], ids=["3.x", "4.x"])
def test_llama2_qlora_flags(profiles: dict[str, Profile], dialect: Any) -> None:
    command = build_sft_command(profiles[LLAMA2_QLORA], dialect=dialect, output_dir="out")
    values = flag_values(command.argv)
    assert values["model"] == ["modelscope/Llama-2-7b-ms"]
    assert values["model_type"] == ["llama"]
    assert values["template"] == ["llama"]
    assert values[dialect.tuner_flag[2:]] == ["lora"]
    assert values["quant_method"] == ["bnb"]
    assert values["quant_bits"] == ["4"]
    assert values["bnb_4bit_compute_dtype"] == ["bfloat16"]
    assert values["bnb_4bit_quant_type"] == ["nf4"]
    assert values["bnb_4bit_use_double_quant"] == ["true"]
    assert values["lora_rank"] == ["16"]
    assert values["target_modules"] == ["q_proj", "v_proj"]
    assert values["per_device_train_batch_size"] == ["3"]
    assert values["dataset"] == ["databricks/databricks-dolly-15k"]
    assert "packing" not in values and "attn_impl" not in values
    # QLoRA flags sit between the tuner flag and the LoRA flags.
    argv = list(command.argv)
    assert argv.index(dialect.tuner_flag) < argv.index("--quant_method") < argv.index("--lora_rank")


def test_hub_and_optional_flags(profiles: dict[str, Profile]) -> None:
    changed = apply_overrides(
        profiles[QWEN],
        [
            "model.hub=huggingface",
            "train.max_steps=10",
            'train.val_dataset=["val.jsonl"]',
            "train.split_dataset_ratio=0.1",
        ],
    )
    values = flag_values(build_sft_command(changed, dialect=DIALECT_4).argv)
    assert values["use_hf"] == ["true"]
    assert values["max_steps"] == ["10"]
    assert values["val_dataset"] == ["val.jsonl"]
    assert "split_dataset_ratio" not in values  # val_dataset wins
    assert values["output_dir"] == ["output"]  # the default


# --- dialects ------------------------------------------------------------------------------


def test_dialect_for() -> None:
    assert dialect_for("3.12.1") is DIALECT_3
    assert dialect_for("4.6.0") is DIALECT_4
    assert dialect_for(None) is DIALECT_4
    assert dialect_for("2.6.1") is DIALECT_3
    assert dialect_for("5.0.0.dev0") is DIALECT_4
    assert DIALECT_3.tuner_flag == "--train_type" and DIALECT_4.tuner_flag == "--tuner_type"
    assert DIALECT_4.label == "ms-swift 4.x"


# --- validate_argv with a hand-made spec -----------------------------------------------------

SPECS = {
    spec.name: spec
    for spec in (
        FlagSpec("model", "str"),
        FlagSpec("lora_rank", "int"),
        FlagSpec("learning_rate", "float"),
        FlagSpec("packing", "bool"),
        FlagSpec("torch_dtype", "choice", ("bfloat16", "float16", "float32")),
        FlagSpec("dataset", "list"),
        FlagSpec("eval_steps", "any"),
    )
}


def test_validate_argv_accepts_good_argv() -> None:
    argv = [
        "swift", "sft", "--model", "m", "--lora_rank", "8", "--learning_rate", "1e-4", "--packing", "true",
        "--torch_dtype", "bfloat16", "--dataset", "a", "b", "--eval_steps", "0.5",
    ]  # fmt: skip
    assert validate_argv(argv, SPECS) == []
    assert validate_argv(argv[2:], SPECS) == []  # without the "swift sft" prefix


def test_validate_argv_unknown_flag_did_you_mean() -> None:
    problems = validate_argv(["swift", "sft", "--lora_rnak", "8"], SPECS)
    assert problems == ["unknown flag --lora_rnak. Did you mean 'lora_rank'?"]


def test_validate_argv_bad_bool() -> None:
    problems = validate_argv(["swift", "sft", "--packing", "maybe"], SPECS)
    assert len(problems) == 1
    assert "--packing" in problems[0] and "'maybe'" in problems[0] and "true or false" in problems[0]


def test_validate_argv_bad_int_and_float() -> None:
    problems = validate_argv(["swift", "sft", "--lora_rank", "8.5", "--learning_rate", "fast"], SPECS)
    assert len(problems) == 2
    assert "--lora_rank" in problems[0] and "whole number" in problems[0]
    assert "--learning_rate" in problems[1] and "not a number" in problems[1]


def test_validate_argv_bad_choice() -> None:
    problems = validate_argv(["swift", "sft", "--torch_dtype", "bfloat61"], SPECS)
    assert len(problems) == 1
    assert "--torch_dtype" in problems[0]
    assert "not one of bfloat16, float16, float32" in problems[0]
    assert "Did you mean 'bfloat16'" in problems[0]


def test_validate_argv_flag_given_twice() -> None:
    problems = validate_argv(["swift", "sft", "--lora_rank", "8", "--lora_rank", "16"], SPECS)
    assert problems == ["--lora_rank is given twice."]


def test_validate_argv_value_counts() -> None:
    problems = validate_argv(["swift", "sft", "--lora_rank", "8", "16", "--dataset"], SPECS)
    assert "--lora_rank: takes one value, got 2." in problems
    assert "--dataset: needs at least one value." in problems
    assert validate_argv(["stray", "--model", "m"], SPECS) == ["'stray' stands before any flag."]


def test_check_command_raises_one_error() -> None:
    entries = load_profiles()
    command = build_sft_command(find_profile(entries, QWEN), dialect=dialect_for(installed_swift_version()))
    specs = {name: FlagSpec(name, "list") for name in command.flags()}
    check_command(command, specs)  # every flag known: no error
    del specs["lora_rank"]
    with pytest.raises(MhbenchError, match="unknown flag --lora_rank"):
        check_command(command, specs)


# --- overrides through extra= ---------------------------------------------------------------


def test_extra_overrides_win_and_keep_one_flag(profiles: dict[str, Profile]) -> None:
    base = build_sft_command(profiles[QWEN], dialect=DIALECT_4, output_dir="out")
    command = build_sft_command(
        profiles[QWEN],
        dialect=DIALECT_4,
        output_dir="out",
        extra={"learning_rate": 1e-5, "packing": False, "lora_rank": 32, "lr_scheduler_type": "cosine"},
    )
    argv = list(command.argv)
    assert argv.count("--learning_rate") == 1
    assert argv.count("--packing") == 1
    assert argv.count("--lora_rank") == 1
    values = flag_values(argv)
    assert values["learning_rate"] == ["1e-05"]
    assert values["packing"] == ["false"]
    assert values["lora_rank"] == ["32"]
    assert values["lr_scheduler_type"] == ["cosine"]
    # An override keeps the flag's place; a new flag goes at the end.
    assert argv.index("--learning_rate") == list(base.argv).index("--learning_rate")
    assert argv[-2:] == ["--lr_scheduler_type", "cosine"]
    assert len(argv) == len(base.argv) + 2


def test_profile_extra_args_are_passed_and_extra_beats_them(profiles: dict[str, Profile]) -> None:
    profile = apply_overrides(profiles[QWEN], ['train.extra_args={lr_scheduler_type = "cosine", weight_decay = 0.1}'])
    values = flag_values(build_sft_command(profile, dialect=DIALECT_4).argv)
    assert values["lr_scheduler_type"] == ["cosine"]
    assert values["weight_decay"] == ["0.1"]
    values = flag_values(build_sft_command(profile, dialect=DIALECT_4, extra={"lr_scheduler_type": "linear"}).argv)
    assert values["lr_scheduler_type"] == ["linear"]
