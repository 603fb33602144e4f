"""Profiles: the shipped TOML files, one-line errors, workspace overrides and ``--set`` overrides."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from pydantic import BaseModel

import core.profiles.schema as profiles_module
from core.base.errors import MhbenchError
from core.profiles import (
    SHIPPED_PROFILES_DIR,
    Profile,
    ProfileEntry,
    Range,
    apply_overrides,
    find_profile,
    load_profiles,
)

SHIPPED = {
    "qwen2.5-7b-instruct",
    "llama3.1-8b-instruct",
    "llama3-chinese-8b-instruct-v2",
    "llama2-7b-dolly-qlora",
}

MINIMAL = """\
[model]
id = "org/tiny"
template = "qwen2_5"

[train]
dataset = ["data.jsonl"]
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _entry(entries: list[ProfileEntry], name: str) -> ProfileEntry:
    matches = [entry for entry in entries if entry.name == name]
    assert len(matches) == 1, f"expected one entry named {name!r}, got {[e.name for e in entries]}"
    return matches[0]


def _error_of(tmp_path: Path, name: str, text: str) -> tuple[Path, str]:
    """Write one workspace profile, load, and return its path and its one error message."""
    path = _write(tmp_path, name, text)
    entry = _entry(load_profiles(workspace_profiles=tmp_path), name)
    assert not entry.ok
    assert entry.profile is None
    assert isinstance(entry.error, MhbenchError)
    message = str(entry.error)
    assert "\n" not in message, f"error is not one line: {message!r}"
    assert str(path) in message
    return path, message


@pytest.fixture(scope="module")
def shipped() -> dict[str, Profile]:
    entries = load_profiles()
    return {entry.name: find_profile(entries, entry.name) for entry in entries}


# --- shipped profiles ---------------------------------------------------------------------


def test_shipped_profiles_load_without_error() -> None:
    entries = load_profiles()
    assert {entry.name for entry in entries} == SHIPPED
    for entry in entries:
        assert entry.ok, f"{entry.name}: {entry.error}"
        assert entry.error is None
        assert entry.origin == "shipped"
        assert entry.path.parent == SHIPPED_PROFILES_DIR
        assert entry.profile is not None and entry.profile.name == entry.name == entry.path.stem


def test_qwen_values(shipped: dict[str, Profile]) -> None:
    p = shipped["qwen2.5-7b-instruct"]
    assert p.model.id == "Qwen/Qwen2.5-7B-Instruct"
    assert p.model.template == "qwen2_5"
    assert p.model.family == "qwen2_5"
    assert p.model.licence == "Apache-2.0"
    assert p.model.gated is False
    assert p.lora.tuner == "lora"
    assert (p.lora.rank, p.lora.alpha, p.lora.dropout) == (8, 32, 0.1)
    assert p.lora.target_modules == ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    assert len(p.lora.target_modules) == 7
    assert p.train.batch_size == 8
    assert p.train.grad_accum == 4
    assert p.train.learning_rate == pytest.approx(2e-4)
    assert p.train.max_length == 3072
    assert p.train.packing is True
    assert p.train.save_steps == 200
    assert p.train.save_total_limit == 3
    assert p.train.logging_steps == 20
    assert p.resources.train_vram_gb == Range(low=45, high=50)
    assert p.resources.infer_vram_gb == Range(low=15, high=20)
    assert p.resources.hours_per_epoch == Range(low=2, high=3)
    assert str(p.resources.train_vram_gb) == "45–50"
    assert p.deploy.infer_backend == "lmdeploy"
    assert p.deploy.session_len == 4096
    assert p.deploy.served_model_name == "qwen2.5-7b-sft"
    assert p.export.max_shard_size == "2GB"
    assert p.title == "Qwen2.5-7B-Instruct"


def test_llama31_values(shipped: dict[str, Profile]) -> None:
    p = shipped["llama3.1-8b-instruct"]
    assert p.train.batch_size == 6
    assert p.train.grad_accum == 6
    assert p.resources.train_vram_gb == Range(low=55, high=60)
    assert p.resources.infer_vram_gb == Range(low=18, high=22)
    assert p.model.gated is True
    assert p.model.family == "llama3_1"


def test_llama3_chinese_values(shipped: dict[str, Profile]) -> None:
    p = shipped["llama3-chinese-8b-instruct-v2"]
    assert p.model.default_system == "You are a helpful assistant. 你是一个乐于助人的助手。"
    assert p.model.gguf_id == "hfl/llama-3-chinese-8b-instruct-v2-gguf"
    assert p.model.context_length == 8192
    assert p.model.family == "llama3_chinese"


def test_llama2_qlora_values(shipped: dict[str, Profile]) -> None:
    p = shipped["llama2-7b-dolly-qlora"]
    assert p.lora.tuner == "qlora"
    assert p.lora.quant_bits == 4
    assert p.lora.rank == 16
    assert p.lora.target_modules == ("q_proj", "v_proj")
    assert p.train.batch_size == 3
    assert p.train.dataset_format == "dolly"


# --- one-line errors ----------------------------------------------------------------------


def test_typo_key_in_section_is_one_line_with_did_you_mean(tmp_path: Path) -> None:
    _, message = _error_of(tmp_path, "typo", MINIMAL + "learnig_rate = 1e-4\n")
    assert "train.learnig_rate" in message
    assert "Did you mean 'learning_rate'" in message


def test_typo_key_at_top_level_is_one_line_with_did_you_mean(tmp_path: Path) -> None:
    _, message = _error_of(tmp_path, "top", 'descripton = "x"\n' + MINIMAL)
    assert "key 'descripton'" in message
    assert "Did you mean 'description'" in message


def test_typo_section_name(tmp_path: Path) -> None:
    _, message = _error_of(tmp_path, "section", MINIMAL + "[deploi]\nsession_len = 1024\n")
    assert "key 'deploi'" in message
    assert "Did you mean 'deploy'" in message


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    _, message = _error_of(tmp_path, "wrongtype", MINIMAL + 'batch_size = "eight"\n')
    assert "train.batch_size" in message
    assert "'eight'" in message


def test_negative_learning_rate_names_the_key(tmp_path: Path) -> None:
    _, message = _error_of(tmp_path, "negative", MINIMAL + "learning_rate = -1e-4\n")
    assert "train.learning_rate" in message
    assert "greater than 0" in message


def test_inverted_range_is_an_error(tmp_path: Path) -> None:
    _, message = _error_of(tmp_path, "badrange", MINIMAL + "[resources]\ntrain_vram_gb = [50, 45]\n")
    assert "resources.train_vram_gb" in message
    assert "below low" in message


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    text = '[model]\nid = "org/tiny"\ntemplate = "qwen2_5\n[train]\n'
    _, message = _error_of(tmp_path, "syntax", text)
    assert "not valid TOML" in message
    assert "line 3" in message


def test_name_that_differs_from_the_file_is_an_error(tmp_path: Path) -> None:
    _, message = _error_of(tmp_path, "filename", 'name = "othername"\n' + MINIMAL)
    assert "key 'name'" in message
    assert "othername" in message


def test_bad_file_does_not_hide_the_others(tmp_path: Path) -> None:
    _write(tmp_path, "broken", "this is = = not toml")
    _write(tmp_path, "fine", MINIMAL)
    entries = load_profiles(workspace_profiles=tmp_path)
    assert not _entry(entries, "broken").ok
    assert _entry(entries, "fine").ok
    assert all(_entry(entries, name).ok for name in SHIPPED)


# --- workspace profiles -------------------------------------------------------------------


def test_workspace_profile_is_added(tmp_path: Path) -> None:
    _write(tmp_path, "my-tiny", MINIMAL)
    entries = load_profiles(workspace_profiles=tmp_path)
    assert {entry.name for entry in entries} == {*SHIPPED, "my-tiny"}
    entry = _entry(entries, "my-tiny")
    assert entry.ok and entry.origin == "workspace"
    assert entry.profile is not None
    assert entry.profile.name == "my-tiny"
    assert entry.profile.model.id == "org/tiny"
    # Shipped entries sort first.
    assert entries[-1].name == "my-tiny"


def test_missing_workspace_dir_is_fine(tmp_path: Path) -> None:
    entries = load_profiles(workspace_profiles=tmp_path / "does-not-exist")
    assert {entry.name for entry in entries} == SHIPPED


def test_workspace_profile_overrides_shipped_one(tmp_path: Path) -> None:
    text = (SHIPPED_PROFILES_DIR / "qwen2.5-7b-instruct.toml").read_text(encoding="utf-8")
    assert "batch_size = 8\n" in text
    _write(tmp_path, "qwen2.5-7b-instruct", text.replace("batch_size = 8\n", "batch_size = 2\n"))
    entries = load_profiles(workspace_profiles=tmp_path)
    entry = _entry(entries, "qwen2.5-7b-instruct")
    assert entry.origin == "workspace"
    assert entry.path == tmp_path / "qwen2.5-7b-instruct.toml"
    assert entry.profile is not None and entry.profile.train.batch_size == 2
    assert find_profile(entries, "qwen2.5-7b-instruct").train.batch_size == 2


def test_extends_inherits_everything_else(tmp_path: Path, shipped: dict[str, Profile]) -> None:
    _write(tmp_path, "qwen-2ep", 'extends = "qwen2.5-7b-instruct"\n\n[train]\nepochs = 2\n')
    entries = load_profiles(workspace_profiles=tmp_path)
    child = find_profile(entries, "qwen-2ep")
    parent = shipped["qwen2.5-7b-instruct"]
    assert child.name == "qwen-2ep"
    assert child.extends == "qwen2.5-7b-instruct"
    assert child.train.epochs == 2
    assert parent.train.epochs == 1
    assert child.train == parent.train.model_copy(update={"epochs": 2.0})
    assert child.model == parent.model
    assert child.lora == parent.lora
    assert child.resources == parent.resources
    assert child.deploy == parent.deploy
    assert child.export == parent.export
    assert child.description == parent.description
    # The parent's own entry is untouched.
    assert find_profile(entries, "qwen2.5-7b-instruct") == parent


def test_extends_chain(tmp_path: Path) -> None:
    _write(tmp_path, "base", MINIMAL + "batch_size = 4\n")
    _write(tmp_path, "middle", 'extends = "base"\n[train]\nepochs = 3\n')
    _write(tmp_path, "leaf", 'extends = "middle"\n[lora]\nrank = 64\n')
    leaf = find_profile(load_profiles(workspace_profiles=tmp_path), "leaf")
    assert (leaf.train.batch_size, leaf.train.epochs, leaf.lora.rank) == (4, 3, 64)
    assert leaf.model.id == "org/tiny"


def test_extends_unknown_profile_suggests_a_name(tmp_path: Path) -> None:
    _, message = _error_of(tmp_path, "child", 'extends = "qwen2.5-7b-instrukt"\n[train]\nepochs = 2\n')
    assert "key 'extends'" in message
    assert "qwen2.5-7b-instrukt" in message
    assert "Did you mean 'qwen2.5-7b-instruct'" in message


def test_extends_loop_is_an_error_not_a_recursion(tmp_path: Path) -> None:
    _write(tmp_path, "loop-a", 'extends = "loop-b"\n')
    _write(tmp_path, "loop-b", 'extends = "loop-a"\n')
    _write(tmp_path, "loop-self", 'extends = "loop-self"\n')
    entries = load_profiles(workspace_profiles=tmp_path)  # must not raise RecursionError
    for name in ("loop-a", "loop-b", "loop-self"):
        entry = _entry(entries, name)
        assert not entry.ok
        assert entry.error is not None
        message = str(entry.error)
        assert "loop" in message and "\n" not in message
        assert entry.error.key == "extends"
        assert entry.error.path is not None and entry.error.path.parent == tmp_path
    assert all(_entry(entries, name).ok for name in SHIPPED)


def test_extends_broken_parent_reports_parent_error(tmp_path: Path) -> None:
    _write(tmp_path, "parent", "not = = toml")
    _write(tmp_path, "child", 'extends = "parent"\n')
    entry = _entry(load_profiles(workspace_profiles=tmp_path), "child")
    assert not entry.ok
    assert "parent.toml" in str(entry.error)


def test_extends_with_a_non_string_value_is_an_entry_error(tmp_path: Path) -> None:
    _write(tmp_path, "listy", 'extends = ["qwen2.5-7b-instruct"]\n')
    entry = _entry(load_profiles(workspace_profiles=tmp_path), "listy")
    assert not entry.ok
    assert "extends" in str(entry.error)


def test_find_profile_unknown_name_suggests(tmp_path: Path) -> None:
    with pytest.raises(MhbenchError, match=r"Did you mean 'qwen2\.5-7b-instruct'"):
        find_profile(load_profiles(), "qwen2.5-7b-instrct")


def test_find_profile_raises_the_entry_error(tmp_path: Path) -> None:
    _write(tmp_path, "typo", MINIMAL + "learnig_rate = 1e-4\n")
    with pytest.raises(MhbenchError, match=r"train\.learnig_rate"):
        find_profile(load_profiles(workspace_profiles=tmp_path), "typo")


# --- --set overrides ----------------------------------------------------------------------


def test_dotted_override(shipped: dict[str, Profile]) -> None:
    base = shipped["qwen2.5-7b-instruct"]
    changed = apply_overrides(base, ["train.epochs=2", "lora.rank=16"])
    assert changed.train.epochs == 2
    assert changed.lora.rank == 16
    assert base.train.epochs == 1 and base.lora.rank == 8  # the original is unchanged
    assert changed.train.model_copy(update={"epochs": 1.0}) == base.train
    assert changed.model == base.model


def test_bare_unambiguous_override(shipped: dict[str, Profile]) -> None:
    changed = apply_overrides(shipped["qwen2.5-7b-instruct"], ["learning_rate=1e-4", "dropout=0.2"])
    assert changed.train.learning_rate == pytest.approx(1e-4)
    assert changed.lora.dropout == pytest.approx(0.2)


def test_override_values_are_read_as_toml(shipped: dict[str, Profile]) -> None:
    changed = apply_overrides(
        shipped["qwen2.5-7b-instruct"],
        [
            "train.dataset=my.jsonl",
            "packing=false",
            'train.extra_args={lr_scheduler_type = "cosine"}',
            "resources.train_vram_gb=[40, 44]",
        ],
    )
    assert changed.train.dataset == ("my.jsonl",)
    assert changed.train.packing is False
    assert changed.train.extra_args == {"lr_scheduler_type": "cosine"}
    assert changed.resources.train_vram_gb == Range(low=40, high=44)


def test_single_string_for_other_tuple_fields(shipped: dict[str, Profile]) -> None:
    changed = apply_overrides(shipped["qwen2.5-7b-instruct"], ["train.val_dataset=val.jsonl"])
    assert changed.train.val_dataset == ("val.jsonl",)


def test_unknown_bare_override_suggests(shipped: dict[str, Profile]) -> None:
    with pytest.raises(MhbenchError) as info:
        apply_overrides(shipped["qwen2.5-7b-instruct"], ["lerning_rate=1e-4"])
    message = str(info.value)
    assert "lerning_rate" in message
    assert "Did you mean 'train.learning_rate'" in message
    assert "\n" not in message


def test_unknown_dotted_override(shipped: dict[str, Profile]) -> None:
    with pytest.raises(MhbenchError, match=r"train\.nope.*unknown key"):
        apply_overrides(shipped["qwen2.5-7b-instruct"], ["train.nope=1"])
    with pytest.raises(MhbenchError, match="Did you mean 'train'"):
        apply_overrides(shipped["qwen2.5-7b-instruct"], ["trian.epochs=2"])


def test_ambiguous_bare_override(shipped: dict[str, Profile], monkeypatch: pytest.MonkeyPatch) -> None:
    """No two shipped sections share a key today; add one that does to reach the ambiguous branch."""

    class OtherSection(BaseModel):
        epochs: int = 1

    real = profiles_module._known_keys

    def with_clash(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
        keys = real(model)
        if model is Profile:
            keys["other"] = OtherSection
        return keys

    monkeypatch.setattr(profiles_module, "_known_keys", with_clash)
    with pytest.raises(MhbenchError) as info:
        apply_overrides(shipped["qwen2.5-7b-instruct"], ["epochs=2"])
    message = str(info.value)
    assert "ambiguous" in message
    assert "train.epochs" in message and "other.epochs" in message


def test_override_without_equals(shipped: dict[str, Profile]) -> None:
    with pytest.raises(MhbenchError, match="no '='"):
        apply_overrides(shipped["qwen2.5-7b-instruct"], ["epochs"])


def test_override_with_invalid_value(shipped: dict[str, Profile]) -> None:
    with pytest.raises(MhbenchError) as info:
        apply_overrides(shipped["qwen2.5-7b-instruct"], ["train.learning_rate=-1"])
    assert info.value.key == "train.learning_rate"
    assert "greater than 0" in str(info.value)
    with pytest.raises(MhbenchError, match=r"train\.batch_size"):
        apply_overrides(shipped["qwen2.5-7b-instruct"], ["batch_size=eight"])


# --- documentation ------------------------------------------------------------------------


def _profile_models() -> list[type[BaseModel]]:
    return [
        obj
        for _, obj in inspect.getmembers(profiles_module, inspect.isclass)
        if issubclass(obj, BaseModel) and obj is not BaseModel and obj.__module__ == profiles_module.__name__
    ]


def test_every_field_has_a_docstring() -> None:
    models = _profile_models()
    assert {m.__name__ for m in models} >= {
        "Range",
        "ModelSection",
        "LoraSection",
        "TrainSection",
        "ResourcesSection",
        "DeploySection",
        "ExportSection",
        "Profile",
    }
    undocumented = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert undocumented == []
