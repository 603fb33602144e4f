"""What ends a model's turn: the stop strings sent with every chat request to it.

A server that stops only at the tokenizer's single ``eos_token`` lets the other
end-of-turn tokens through: a Qwen model served with ``eos_token = <|im_end|>`` may still
write ``<|endoftext|>``, and a Llama-3 one ``<|end_of_text|>`` after ``<|eot_id|>``. The
rater then sees a raw token that tells the model family apart. So a request names every
end-of-turn token of the model's chat template (known by name: ChatML for Qwen, Llama-3),
and, for a model whose folder is here, every token its ``tokenizer_config.json`` and
``generation_config.json`` declare as an end (``eos_token``, ``eos_token_id``).

A GGUF speaks with the tokenizer of the folder it was converted from (its parent chain);
an endpoint's template is known only from its profile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.base.errors import MhbenchError
from core.models import get_model

if TYPE_CHECKING:
    from core.base.workspace import Workspace
    from core.models import ModelEntry

__all__ = ["TEMPLATE_STOPS", "declared_stops", "model_stops", "template_stops"]

TEMPLATE_STOPS: Mapping[str, tuple[str, ...]] = {
    "chatml": ("<|im_end|>", "<|endoftext|>"),
    "llama3": ("<|eot_id|>", "<|end_of_text|>"),
}
"""The end-of-turn tokens of each chat template family."""

_MAX_STOPS = 4
"""OpenAI's API refuses more than four stop strings, and endpoints follow it."""


def template_family(template: str | None) -> str | None:
    """``chatml`` or ``llama3`` for a template name as profiles and swift give it (``qwen2_5``, ``llama3_2``)."""
    name = (template or "").lower().replace("-", "_").replace(".", "_")
    if name.startswith(("qwen", "chatml")):
        return "chatml"
    if name.startswith("llama3") or name.startswith("llama_3"):
        return "llama3"
    return None


def template_stops(template: str | None) -> tuple[str, ...]:
    """The end-of-turn tokens of a chat template known by name; none for a template not known here."""
    family = template_family(template)
    return TEMPLATE_STOPS[family] if family is not None else ()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise MhbenchError(f"cannot read {path.name}: {error}", path=path,
                           fix="repair or remove the file (it comes with the model's tokenizer).") from None
    return data if isinstance(data, dict) else {}


def _token_text(value: object) -> str | None:
    """A token as tokenizer_config writes it: a string, or ``{"content": …}``."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"]) or None
    return None


def _tokens_by_id(folder: Path, config: Mapping[str, Any]) -> dict[int, str]:
    """The added (special) tokens' texts by id: tokenizer_config's ``added_tokens_decoder``, else tokenizer.json's."""
    found: dict[int, str] = {}
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for key, value in decoder.items():
            text = _token_text(value)
            if text is not None and str(key).isdigit():
                found[int(key)] = text
    if not found:
        for token in _read_json(folder / "tokenizer.json").get("added_tokens", []) or []:
            if isinstance(token, dict) and isinstance(token.get("id"), int) and isinstance(token.get("content"), str):
                found[token["id"]] = token["content"]
    return found


def declared_stops(folder: Path) -> tuple[str, ...]:
    """The end tokens a model folder declares: ``eos_token``, and the texts of generation_config's ``eos_token_id``."""
    config = _read_json(folder / "tokenizer_config.json")
    stops: list[str] = []
    eos = _token_text(config.get("eos_token"))
    if eos is not None:
        stops.append(eos)
    ids = _read_json(folder / "generation_config.json").get("eos_token_id")
    id_list = [ids] if isinstance(ids, int) else [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []
    if id_list:
        by_id = _tokens_by_id(folder, config)
        stops.extend(by_id[i] for i in id_list if i in by_id)
    return tuple(dict.fromkeys(stops))


def _folder(workspace: Workspace, entry: ModelEntry) -> Path | None:
    """The Hugging Face folder whose tokenizer speaks for ``entry``: its own, its base's, or its GGUF's source."""
    seen: set[str] = set()
    current: ModelEntry | None = entry
    while current is not None and current.id not in seen:
        seen.add(current.id)
        if current.kind in ("base", "merged") and current.path is not None and current.path.is_dir():
            return current.path
        parent = current.base_id if current.kind == "adapter" else current.parent_id
        if current.kind == "endpoint" or parent is None:
            return None
        try:
            current = get_model(workspace, parent)
        except MhbenchError:
            return None  # the parent was removed from the catalog: the template name still speaks
    return None


def model_stops(workspace: Workspace, entry: ModelEntry, template: str | None = None) -> tuple[str, ...]:
    """Every end-of-turn string for ``entry``: its template's (``template``, else the catalog's), then its folder's."""
    stops = [*template_stops(template or entry.template)]
    folder = _folder(workspace, entry)
    if folder is not None:
        stops.extend(declared_stops(folder))
    unique = tuple(dict.fromkeys(stops))
    return unique[:_MAX_STOPS]
