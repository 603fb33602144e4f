"""Template parity: does the GGUF build the same prompt, token for token, as the model was tuned on?

A fine-tuned model answers well only to the prompt format it was trained with. The HF
folder's tokenizer is what swift trained with; the GGUF carries its own copy of the
chat template (``tokenizer.chat_template``) and its own tokenizer, which llama.cpp's
server uses instead. A converter that drops, edits or mis-tokenises either one gives a
served model that quietly underperforms in the arena. This check renders one
multi-turn conversation both ways — with ``apply_chat_template`` on the HF side, and on
the GGUF side exactly as llama-cpp-python's server does (its ``Jinja2ChatFormatter``,
the GGUF's template, bos/eos tokens from the GGUF, then ``tokenize(special=True)``) —
and reports the first place where the text or the token ids part.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.base.errors import MhbenchError
from core.base.processes import child_environment, utc_now
from core.models import ancestry, get_model
from core.models.register import note_in_lineage
from core.models.targets import profile_of, swift_names

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.models import ModelEntry

SNIPPET = 24
"""Characters (or tokens) of context shown on each side of a difference."""

DEFAULT_CONVERSATION: tuple[Mapping[str, str], ...] = (
    {"role": "system", "content": "你是一名温和、专业的心理咨询师。"},
    {"role": "user", "content": "最近工作压力很大，晚上总是睡不着。"},
    {"role": "assistant", "content": "听起来你最近承受了很多。能说说是什么让你最有压力吗？"},
    {"role": "user", "content": "Deadlines, mostly. 我怕做不完会被批评。"},
)
"""A short counselling exchange with a system prompt, two user turns, Chinese and English."""


@dataclass(frozen=True)
class Difference:
    """Where the two renderings first part."""

    what: Literal["text", "tokens"]
    position: int
    """Character offset (text) or token index (tokens)."""
    hf: str
    """The HF side from a little before the position."""
    gguf: str
    """The other side (the GGUF, or swift's template) from the same place."""
    against: str = "GGUF"

    def describe(self) -> str:
        unit = "character" if self.what == "text" else "token"
        return f"{self.what} differ at {unit} {self.position}: HF {self.hf!r} vs {self.against} {self.gguf!r}"


@dataclass(frozen=True)
class ParityReport:
    """The two renderings of one conversation and their first difference."""

    hf_dir: Path
    gguf_path: Path
    hf_text: str
    gguf_text: str
    hf_ids: tuple[int, ...]
    gguf_ids: tuple[int, ...]
    first_difference: Difference | None
    against: str = "GGUF"
    """What the HF rendering was compared with: ``GGUF``, or ``swift template NAME`` for a served model."""

    @property
    def text_match(self) -> bool:
        return self.hf_text == self.gguf_text

    @property
    def ids_match(self) -> bool:
        return self.hf_ids == self.gguf_ids

    @property
    def passed(self) -> bool:
        return self.text_match and self.ids_match

    def summary(self) -> str:
        if self.passed:
            return (f"parity: the {self.against} renders the same prompt "
                    f"({len(self.hf_text)} characters, {len(self.hf_ids)} tokens).")
        assert self.first_difference is not None
        return f"parity FAILED: {self.first_difference.describe()}"


def first_text_difference(a: str, b: str) -> int | None:
    """Index of the first differing character, ``len`` of the shorter when one is a prefix; ``None`` if equal."""
    if a == b:
        return None
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def _window(text: str, position: int) -> str:
    start = max(0, position - SNIPPET // 3)
    return text[start : position + SNIPPET]


def _hf_render(hf_dir: Path, conversation: Sequence[Mapping[str, str]], add_generation_prompt: bool) -> tuple[str, list[int], Any]:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(hf_dir), local_files_only=True)
    except (OSError, ValueError) as error:
        raise MhbenchError(f"cannot load the HF tokenizer: {error}", path=hf_dir,
                           fix="give a model folder with tokenizer files (the merged or base model).") from None
    if not getattr(tokenizer, "chat_template", None):
        raise MhbenchError("the HF tokenizer has no chat template.", path=hf_dir,
                           fix="add chat_template to tokenizer_config.json (or chat_template.jinja).")
    messages = [dict(turn) for turn in conversation]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    encoded: Any = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt)
    if hasattr(encoded, "keys"):  # transformers 5 returns a BatchEncoding
        encoded = encoded["input_ids"]
    return str(text), [int(token) for token in encoded], tokenizer


def _gguf_render(
    gguf_path: Path, conversation: Sequence[Mapping[str, str]], add_generation_prompt: bool
) -> tuple[str, list[int], Any]:
    """Render and tokenise as llama-cpp-python's server would, with only the vocabulary loaded."""
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    try:
        llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as error:
        raise MhbenchError(f"llama.cpp cannot load the GGUF: {error}", path=gguf_path,
                           fix="convert the model again; check the file is complete.") from None
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        llm.close()
        raise MhbenchError("the GGUF has no chat template (tokenizer.chat_template).", path=gguf_path,
                           fix="convert from a model folder whose tokenizer has a chat template.")

    def token_text(token: int) -> str:
        return "" if token < 0 else llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    formatter = Jinja2ChatFormatter(
        template=template, eos_token=token_text(llm.token_eos()), bos_token=token_text(llm.token_bos()),
        add_generation_prompt=add_generation_prompt,
    )
    text = formatter(messages=[dict(turn) for turn in conversation]).prompt  # type: ignore[misc]
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    return str(text), [int(token) for token in ids], llm


def compare_renderings(
    hf_text: str,
    hf_ids: Sequence[int],
    other_text: str,
    other_ids: Sequence[int],
    hf_pieces: Callable[[Sequence[int]], Sequence[str]],
    other_pieces: Callable[[Sequence[int]], Sequence[str]],
    against: str = "GGUF",
) -> Difference | None:
    """The first difference: in the text, else in the token ids (shown with their pieces)."""
    at = first_text_difference(hf_text, other_text)
    if at is not None:
        return Difference("text", at, _window(hf_text, at), _window(other_text, at), against)
    if list(hf_ids) == list(other_ids):
        return None
    index = next((i for i, (x, y) in enumerate(zip(hf_ids, other_ids, strict=False)) if x != y),
                 min(len(hf_ids), len(other_ids)))
    start, stop = max(0, index - 2), index + 6
    hf_window, other_window = list(hf_ids[start:stop]), list(other_ids[start:stop])
    return Difference(
        "tokens", index,
        " ".join(f"{t}:{p}" for t, p in zip(hf_window, hf_pieces(hf_window), strict=False)),
        " ".join(f"{t}:{p!r}" for t, p in zip(other_window, other_pieces(other_window), strict=False)),
        against,
    )


def parity_check(
    hf_dir: str | os.PathLike[str],
    gguf_path: str | os.PathLike[str],
    conversation: Sequence[Mapping[str, str]] = DEFAULT_CONVERSATION,
    *,
    add_generation_prompt: bool = True,
) -> ParityReport:
    """Render ``conversation`` with the HF tokenizer and with the GGUF; compare text, then token ids."""
    hf_folder, gguf_file = Path(hf_dir), Path(gguf_path)
    if not gguf_file.is_file():
        raise MhbenchError("no such GGUF file.", path=gguf_file, fix="check the path (see `mhbench models`).")
    hf_text, hf_ids, tokenizer = _hf_render(hf_folder, conversation, add_generation_prompt)
    gguf_text, gguf_ids, llm = _gguf_render(gguf_file, conversation, add_generation_prompt)
    try:
        difference = compare_renderings(
            hf_text, hf_ids, gguf_text, gguf_ids, tokenizer.convert_ids_to_tokens,
            lambda ids: [llm.detokenize([t], special=True).decode("utf-8", errors="replace") for t in ids],
        )
    finally:
        llm.close()
    return ParityReport(hf_folder, gguf_file, hf_text, gguf_text, tuple(hf_ids), tuple(gguf_ids), difference)


_SWIFT_RENDER_SCRIPT = r"""
import json, sys
from swift.model import get_processor
from swift.template import get_template
model_dir, template_type, model_type, messages = sys.argv[1], sys.argv[2], sys.argv[3] or None, json.loads(sys.argv[4])
processor = get_processor(model_dir, model_type=model_type, download_model=False)
template = get_template(processor, template_type=template_type)
template.set_mode("transformers")
ids = template.encode({"messages": messages})["input_ids"]
json.dump({"ids": ids, "text": processor.decode(ids)}, sys.stdout)
"""


def _swift_render(
    model_dir: Path, template: str, model_type: str | None, conversation: Sequence[Mapping[str, str]]
) -> tuple[str, list[int]]:
    """What ``swift deploy --template TEMPLATE`` feeds the model, from a child (swift's import costs seconds)."""
    import json
    import subprocess
    import sys


    done = subprocess.run(
        [sys.executable, "-c", _SWIFT_RENDER_SCRIPT, str(model_dir), template, model_type or "",
         json.dumps([dict(turn) for turn in conversation], ensure_ascii=False)],
        capture_output=True, text=True, timeout=600,
        env=child_environment({"PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}),
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise MhbenchError(f"swift could not render template '{template}': {tail}", path=model_dir,
                           fix="check the profile's template and model type (`mhbench doctor` checks swift).")
    result = json.loads(done.stdout)
    return str(result["text"]), [int(token) for token in result["ids"]]


def served_parity_check(
    hf_dir: str | os.PathLike[str],
    template: str,
    model_type: str | None = None,
    conversation: Sequence[Mapping[str, str]] = DEFAULT_CONVERSATION,
) -> ParityReport:
    """Does ``swift deploy --template TEMPLATE`` build the prompt the tokenizer's own chat template builds?"""
    folder = Path(hf_dir)
    hf_text, hf_ids, tokenizer = _hf_render(folder, conversation, True)
    _, swift_ids = _swift_render(folder, template, model_type, conversation)
    # Both texts through the same decoder: a decoded text and a rendered one differ in spacing alone.
    hf_text = str(tokenizer.decode(hf_ids))
    swift_text = str(tokenizer.decode(swift_ids))
    against = f"swift template {template}"
    difference = compare_renderings(hf_text, hf_ids, swift_text, swift_ids, tokenizer.convert_ids_to_tokens,
                                    tokenizer.convert_ids_to_tokens, against)
    return ParityReport(folder, folder, hf_text, swift_text, tuple(hf_ids), tuple(swift_ids), difference, against)


def _hf_folder(workspace: Workspace, entry: ModelEntry) -> Path:
    """The HF folder whose tokenizer speaks for ``entry``: its own, or its base's for an adapter."""

    if entry.kind == "adapter" and entry.base_id:
        entry = get_model(workspace, entry.base_id)
    if entry.kind not in ("base", "merged") or entry.path is None:
        raise MhbenchError(
            f"{entry.id} ({entry.kind}) has no Hugging Face folder here to compare with.",
            fix="name a merged or base model that is on disk.",
        )
    return entry.path


def parity_for_models(workspace: Workspace, ref_a: str, ref_b: str | None = None) -> ParityReport:
    """Parity of two catalog models, one of them a GGUF.

    Without ``ref_b``: a GGUF against its source model, or an HF model against the
    template its profile gives ``swift deploy``.
    """

    entry_a = get_model(workspace, ref_a)
    entry_b = get_model(workspace, ref_b) if ref_b else None
    if entry_b is None and entry_a.kind in ("base", "merged", "adapter"):
        # A model served by swift deploy: its profile's template against the tokenizer's own.

        model_type, template = swift_names(profile_of(workspace, entry_a.profile))
        if template is None:
            raise MhbenchError(f"{entry_a.id} has no profile naming its template.",
                               fix="register it from a profile, or name a GGUF to compare with.")
        return served_parity_check(_hf_folder(workspace, entry_a), template, model_type)
    if entry_b is None:
        if entry_a.kind != "gguf":
            raise MhbenchError(f"{entry_a.id} is not a GGUF.", fix="name a GGUF, or give both models.")
        sources = [entry for entry in ancestry(workspace, entry_a.id) if entry.kind in ("base", "merged")]
        if not sources:
            raise MhbenchError(f"the lineage of {entry_a.id} names no source model.", fix="give the source model too.")
        entry_b = sources[-1]
    ggufs = [entry for entry in (entry_a, entry_b) if entry.kind == "gguf"]
    if len(ggufs) != 1:
        raise MhbenchError("parity compares one GGUF with one Hugging Face model.", fix="name one of each.")
    gguf = ggufs[0]
    other = entry_b if gguf is entry_a else entry_a
    assert gguf.path is not None
    return parity_check(_hf_folder(workspace, other), gguf.path)


def record_parity(workspace: Workspace, model_ref: str, other_ref: str | None = None) -> ParityReport:
    """:func:`parity_for_models`, with the verdict kept in the model's lineage, where the arena looks before use."""

    report = parity_for_models(workspace, model_ref, other_ref)
    note_in_lineage(workspace, model_ref, "parity", {
        "passed": report.passed, "summary": report.summary(), "source": str(report.hf_dir), "checked_at": utc_now(),
    })
    return report
