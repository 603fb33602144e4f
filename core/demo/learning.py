"""Does the demo fine-tune learn? Its eval-loss drop and ROUGE-L of base and fine-tuned answers.

The demo base models are random: they babble. The demo run's LoRA must make them answer
the held-out demo prompts (the prompt set's openings that have a reference answer; none of
them is in the training dialogues) in the style of the counselling dialogues. This module
measures that the same way every time: greedy decoding, so the figures are deterministic.
torch, transformers and peft are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.arena.prompts import read_prompt_file
from core.base.errors import MhbenchError
from core.base.workspace import Workspace
from core.demo import read_jsonl
from core.models.client import Message
from core.profiles import find_profile, load_profiles
from core.stats import rouge_l
from core.train.launch import LaunchRequest, launch, plan_run
from core.train.runs import get_run

# The system prompt the demo dialogues open with most often: the fine-tuned model saw it.
DEMO_SYSTEM = "你是一位温暖、专业的心理咨询师，擅长倾听与共情，用平和、尊重的语气回应来访者，不做诊断，也不提供用药建议。"
ANSWER_TOKENS = 128


@dataclass(frozen=True)
class HeldOutPrompt:
    """A demo prompt with its reference answer, never seen in training."""

    id: str
    prompt: str
    reference: str
    history: tuple[Message, ...] = ()
    """A turn item's conversation up to the client's turn ``prompt`` (cut from a held-out dialogue)."""

    def messages(self) -> list[Message]:
        return list(self.history) or [{"role": "user", "content": self.prompt}]


@dataclass(frozen=True)
class Answers:
    """One model's greedy answers to the held-out prompts, and their ROUGE-L."""

    texts: tuple[str, ...]
    rouge: tuple[float, ...]

    @property
    def mean_rouge(self) -> float:
        return sum(self.rouge) / len(self.rouge) if self.rouge else 0.0


@dataclass(frozen=True)
class LearningReport:
    """What the demo run learned: eval losses, and base against fine-tuned answers."""

    wall_seconds: float
    eval_losses: tuple[float, ...]
    base: Answers
    tuned: Answers
    prompts: tuple[HeldOutPrompt, ...]

    @property
    def eval_loss_drop(self) -> float:
        """Fall of the eval loss from the first evaluation to the last, as a share of the first."""
        if len(self.eval_losses) < 2 or self.eval_losses[0] <= 0:
            return 0.0
        return (self.eval_losses[0] - self.eval_losses[-1]) / self.eval_losses[0]

    @property
    def rouge_ratio(self) -> float:
        """Fine-tuned mean ROUGE-L over the base's; infinite when the base never matches a word."""
        if self.base.mean_rouge == 0:
            return float("inf") if self.tuned.mean_rouge > 0 else 0.0
        return self.tuned.mean_rouge / self.base.mean_rouge

    def summary_line(self) -> str:
        return (f"demo learning: wall s {self.wall_seconds:.1f}, eval loss drop {self.eval_loss_drop:.3f}, "
                f"rouge-l ratio {self.rouge_ratio:.2f}")


def held_out_prompts(path: Path) -> tuple[HeldOutPrompt, ...]:
    """The prompts of a prompt file that carry a reference answer."""

    return tuple(
        HeldOutPrompt(str(record["id"]), str(record["prompt"]), str(record["reference"]))
        for record in read_jsonl(path)
        if record.get("reference")
    )


def held_out_turns(path: Path) -> tuple[HeldOutPrompt, ...]:
    """The turn items of a held-out split's ``eval-prompts.jsonl`` (:mod:`core.train.datasets.holdout`)."""
    return tuple(HeldOutPrompt(prompt.id, prompt.text, prompt.reference, tuple(prompt.messages()))
                 for prompt in read_prompt_file(path) if prompt.reference)


def eval_losses(logging_jsonl: Path) -> tuple[float, ...]:
    """Every ``eval_loss`` of a run's ``logging.jsonl``, in order (the final summary line skipped)."""
    if not logging_jsonl.is_file():
        raise MhbenchError("the run wrote no logging.jsonl.", path=logging_jsonl, fix="see the run's stdout.log.")
    losses: list[float] = []
    for line in logging_jsonl.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a partial last line of a run still writing
        if isinstance(record, dict) and isinstance(record.get("eval_loss"), int | float):
            losses.append(float(record["eval_loss"]))
    return tuple(losses)


def generate_answers(
    model_dir: Path, prompts: Sequence[HeldOutPrompt], *, adapter: Path | None = None, max_new_tokens: int = ANSWER_TOKENS
) -> Answers:
    """Greedy answers of the model (with the LoRA ``adapter`` on it, if given), scored against the references."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer


    torch.manual_seed(0)
    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        # Merged in memory: the same weights `swift export --merge_lora` writes, and a faster loop.
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model.eval()
    # All prompts in one left-padded batch: the same greedy answers, a fraction of the loop.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    rendered = [
        tokenizer.apply_chat_template(
            [{"role": "system", "content": DEMO_SYSTEM}, *item.messages()],
            tokenize=False, add_generation_prompt=True)
        for item in prompts
    ]
    batch = tokenizer(rendered, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, repetition_penalty=1.05,
                                pad_token_id=tokenizer.pad_token_id)
    start = batch["input_ids"].shape[1]
    texts = [tokenizer.decode(row[start:], skip_special_tokens=True).strip() for row in output]
    return Answers(tuple(texts), tuple(rouge_l(text, item.reference) for text, item in zip(texts, prompts, strict=True)))


def measure_run(model_dir: Path, adapter: Path, logging_jsonl: Path, prompts_file: Path, wall_seconds: float) -> LearningReport:
    """The learning report of a finished demo run."""
    prompts = held_out_prompts(prompts_file)
    base = generate_answers(model_dir, prompts)
    tuned = generate_answers(model_dir, prompts, adapter=adapter)
    return LearningReport(wall_seconds, eval_losses(logging_jsonl), base, tuned, prompts)


def train_and_wait(workspace: Workspace, profile_name: str, *, timeout: float = 900.0, name: str | None = None,
                   dataset: tuple[str, ...] = ()) -> tuple[str, float]:
    """Launch the demo profile's real ``swift sft`` run detached (on ``dataset`` instead of the profile's, if
    given), wait for it; its run id and wall time."""

    profile = find_profile(load_profiles(workspace.profiles_dir), profile_name)
    started = time.monotonic()
    record = launch(workspace, plan_run(workspace, LaunchRequest(profile=profile, name=name, dataset=dataset)))
    while get_run(workspace, record.id).active:
        if time.monotonic() - started > timeout:
            raise MhbenchError(f"the demo run {record.id} is still going after {timeout:.0f} s.",
                               fix=f"see {record.run_dir / 'stdout.log'}; stop it with `mhbench stop {record.id}`.")
        time.sleep(1.0)
    wall = time.monotonic() - started
    finished = get_run(workspace, record.id)
    if finished.status != "finished":
        diagnosis = finished.diagnosis or {}
        raise MhbenchError(f"the demo run {record.id} ended {finished.status}: {diagnosis.get('summary', 'see its log')}.",
                           path=record.run_dir / "stdout.log", fix=str(diagnosis.get("fix", "read the log's last lines.")))
    return record.id, wall
