"""The demo workspace: tiny models, counselling data and profiles, made offline in seconds.

A newcomer can try every screen on a CPU with it. Nothing is downloaded: the
models get random weights and a tokenizer trained here on the bundled dialogues.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.base.db import open_workspace
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.demo.tinymodels import build_learning_qwen2, build_tiny_llama3, build_tiny_qwen2

DATA_DIR = Path(__file__).resolve().parent / "data"
DIALOGUES_FILE = DATA_DIR / "dialogues.jsonl"
PROMPTS_FILE = DATA_DIR / "prompts.jsonl"

DEMO_QWEN = "demo-tiny-qwen2"
DEMO_LLAMA = "demo-tiny-llama3"
DEMO_LEARNER = "demo-learning-qwen2"
"""The demo profile whose run visibly learns (sorted first, so the launch form offers it first)."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoWorkspace:
    """What ``create_demo`` made, and how long it took."""

    workspace: Workspace
    qwen_dir: Path
    llama_dir: Path
    learner_dir: Path
    dataset: Path
    prompts: Path
    seconds: float


def read_jsonl(path: Path) -> list[dict[str, object]]:
    """Read a JSONL file; a broken line is an error naming the file and the line."""
    records: list[dict[str, object]] = []
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise MhbenchError(f"not valid JSON: {error.msg}.", path=path, line=number, fix="repair or remove the line.") from None
            if not isinstance(record, dict):
                raise MhbenchError("a line must be a JSON object.", path=path, line=number, fix="wrap the line in {...}.")
            records.append(record)
    return records


def training_corpus() -> list[str]:
    """Every text of the bundled dialogues and prompts, for training the tokenizers."""
    texts: list[str] = []
    for record in read_jsonl(DIALOGUES_FILE):
        for turn in record["conversations"]:  # type: ignore[attr-defined]
            texts.append(str(turn["value"]))
    for record in read_jsonl(PROMPTS_FILE):
        texts.append(str(record["prompt"]))
        if "reference" in record:
            texts.append(str(record["reference"]))
    # A little English so the tokenizers know Latin script, as real users mix it in.
    texts += [
        "I feel anxious and I cannot sleep.",
        "You are a helpful assistant. 你是一个乐于助人的助手。",
        "Thank you for telling me. How long has this been going on?",
    ]
    return texts


# The learning demo (see core/demo/learning.py for how that is measured):
# a byte-level vocabulary of ~320 pieces, so that most of a Chinese character is predictable
# from its first byte; LoRA of rank 64 on every linear layer and on the embedding; a high
# learning rate for a short run; an evaluation before the first step, so the curve starts
# at the base's loss. The two tiny demos stay the quick ones the other screens and tests use.
_LEARNING_LORA = """rank = 64
alpha = 128
dropout = 0.05
target_modules = ["all-linear", "all-embedding", "lm_head"]"""
DEMO_MAX_LENGTH = 1024
_LEARNING_TRAIN = f"""split_dataset_ratio = 0.1
batch_size = 4
grad_accum = 1
learning_rate = 5e-3
epochs = 14
max_length = {DEMO_MAX_LENGTH}
gradient_checkpointing = false
dtype = "fp32"
save_steps = 210
save_total_limit = 2
logging_steps = 1
eval_steps = 42
extra_args = {{eval_on_start = true}}"""
_QUICK_LORA = """rank = 8
alpha = 32
dropout = 0.05
target_modules = ["all-linear"]"""
# The quick demos train at the same length: tiny-llama3's SentencePiece spends up to 620 tokens on the longest
# dialogue, and at 512 swift would delete four of them (with a warning before every launch).
_QUICK_TRAIN = f"""split_dataset_ratio = 0.1
batch_size = 2
grad_accum = 1
learning_rate = 1e-3
epochs = 1
max_length = {DEMO_MAX_LENGTH}
gradient_checkpointing = false
dtype = "fp32"
save_steps = 10
save_total_limit = 2
logging_steps = 1
eval_steps = 10"""


QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
_CHATML_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


def chatml_token_count(tokenizer: Any, turns: list[dict[str, str]]) -> int:
    """Tokens of one sharegpt dialogue as the Qwen2.5 template renders it (its system prompt when none is given).

    ``tokenizer`` is a ``tokenizers.Tokenizer``: the check before a launch renders with
    transformers, this counts the same ids without importing it.
    """
    rendered = "" if turns and turns[0]["from"] == "system" else f"<|im_start|>system\n{QWEN_DEFAULT_SYSTEM}<|im_end|>\n"
    for turn in turns:
        rendered += f"<|im_start|>{_CHATML_ROLES[turn['from']]}\n{turn['value']}<|im_end|>\n"
    return len(tokenizer.encode(rendered, add_special_tokens=False).ids)


def write_learning_dataset(dataset: Path, learner_dir: Path, destination: Path) -> int:
    """The dialogues that fit the learning demo's ``max_length``; returns how many were left out.

    Its 320-piece vocabulary spends about three tokens on a Chinese character, so the five
    longest dialogues (7–9 turns) run past 1024 tokens. swift would delete them at the start
    of every run, with a warning on the demo's own happy path; the run trains on the same
    dialogues when they are left out here.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(learner_dir / "tokenizer.json"))
    kept: list[str] = []
    left_out = 0
    for line in dataset.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        turns = json.loads(line)["conversations"]
        if chatml_token_count(tokenizer, turns) <= DEMO_MAX_LENGTH:
            kept.append(line)
        else:
            left_out += 1
    destination.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return left_out


def _profile_text(
    name: str, title: str, model_dir: Path, family: str, template: str, dataset: Path, *, learns: bool = False
) -> str:
    if learns:
        description = "Tiny offline model that learns the counselling style in a short CPU run; its base babbles."
        note = "Random base weights: the base answers noise; after the demo run the adapter answers like a counsellor."
    else:
        description = "Tiny offline model for trying every screen; its answers are noise."
        note = "Random weights, one short epoch: the loss falls, the text stays gibberish."
    return f"""# Demo profile made by `mhbench demo`: a tiny random model, trained on a CPU in a minute or two.
name = "{name}"
display_name = "{title}"
description = "{description}"
notes = ["{note}"]

[model]
id = {json.dumps(str(model_dir))}
hub = "local"
family = "{family}"
template = "{template}"
context_length = 2048
licence = "Apache-2.0"

[lora]
tuner = "lora"
{_LEARNING_LORA if learns else _QUICK_LORA}

[train]
dataset = [{json.dumps(str(dataset))}]
dataset_format = "sharegpt"
{_LEARNING_TRAIN if learns else _QUICK_TRAIN}

[resources]
train_vram_gb = [0, 1]
infer_vram_gb = [0, 1]
reference_gpu = "CPU"

[deploy]
infer_backend = "transformers"
session_len = 2048
served_model_name = "{name}"
"""


def create_demo(root: Path, progress: Progress | None = None) -> DemoWorkspace:
    """Create (or complete) the demo workspace at ``root``. Safe to run again."""

    say = progress or (lambda message: None)
    started = time.perf_counter()
    workspace = open_workspace(Workspace(Path(root).resolve()))

    say("copying the counselling dialogues and the prompt set")
    dataset = workspace.data_dir / "counselling-sharegpt.jsonl"
    prompts = workspace.data_dir / "prompts.jsonl"
    shutil.copyfile(DIALOGUES_FILE, dataset)
    shutil.copyfile(PROMPTS_FILE, prompts)

    corpus = training_corpus()
    qwen_dir = workspace.models_dir / "tiny-qwen2"
    llama_dir = workspace.models_dir / "tiny-llama3"
    learner_dir = workspace.models_dir / "learning-qwen2"
    if not (qwen_dir / "model.safetensors").is_file():
        say("training a byte-level BPE tokenizer and making tiny-qwen2 (Qwen2 architecture)")
        build_tiny_qwen2(qwen_dir, corpus)
    if not (llama_dir / "model.safetensors").is_file():
        say("training a SentencePiece tokenizer and making tiny-llama3 (Llama architecture)")
        build_tiny_llama3(llama_dir, corpus)
    if not (learner_dir / "model.safetensors").is_file():
        say("training a 320-piece byte-level BPE and making learning-qwen2 (Qwen2 architecture, the one that learns)")
        build_learning_qwen2(learner_dir, corpus)

    learning_dataset = workspace.data_dir / f"counselling-sharegpt-{DEMO_MAX_LENGTH}.jsonl"
    left_out = write_learning_dataset(dataset, learner_dir, learning_dataset)
    say(f"{learning_dataset.name}: the dialogues that fit learning-qwen2's max_length ({left_out} longer left out)")

    say("writing the demo profiles")
    (workspace.profiles_dir / f"{DEMO_QWEN}.toml").write_text(
        _profile_text(DEMO_QWEN, "Demo: tiny Qwen2 (ChatML)", qwen_dir, "qwen2_5", "qwen2_5", dataset), encoding="utf-8"
    )
    (workspace.profiles_dir / f"{DEMO_LLAMA}.toml").write_text(
        _profile_text(DEMO_LLAMA, "Demo: tiny Llama-3 (SentencePiece)", llama_dir, "llama3", "llama3", dataset), encoding="utf-8"
    )
    (workspace.profiles_dir / f"{DEMO_LEARNER}.toml").write_text(
        _profile_text(DEMO_LEARNER, "Demo: Qwen2 that learns (ChatML)", learner_dir, "qwen2_5", "qwen2_5",
                      learning_dataset, learns=True),
        encoding="utf-8",
    )
    seconds = time.perf_counter() - started
    say(f"demo workspace ready in {seconds:.1f} s: {workspace.root}")
    return DemoWorkspace(workspace, qwen_dir, llama_dir, learner_dir, dataset, prompts, seconds)
