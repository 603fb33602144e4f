"""Pydantic's findings said in a profile writer's terms, and the value to write instead.

Pydantic speaks of "a valid dictionary or instance of ModelSection"; a newcomer
needs "``model`` must be a table: ``[model]`` then ``id = "…"``", the allowed range
in words, and a line they can paste.
"""

from __future__ import annotations

import contextlib
import json
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined

from core.profiles import schema

EXAMPLES: dict[str, Any] = {
    "name": "my-profile",
    "model.id": "Qwen/Qwen2.5-7B-Instruct",
    "model.template": "qwen2_5",
    "train.dataset": ["data.jsonl"],
    "resources.train_vram_gb": [45, 50],
    "resources.infer_vram_gb": [15, 20],
    "resources.hours_per_epoch": [2, 3],
}
"""A value to show for a key that has no default and no usable value of the user's own."""

NO_EXAMPLE = object()
"""What :func:`example` returns when no value can be vouched for."""


def field_info(key: Sequence[str]) -> FieldInfo | None:
    """The schema field at ``("train", "batch_size")`` or ``("name",)``; None when there is none."""
    model: type[BaseModel] | None = schema.Profile
    info: FieldInfo | None = None
    for part in key:
        if model is None or part not in model.model_fields:
            return None
        info = model.model_fields[part]
        model = schema._known_keys(model).get(part)
    return info


def section_model(name: str) -> type[BaseModel] | None:
    return schema._known_keys(schema.Profile).get(name)


def _plain(annotation: Any) -> Any:
    """``X`` from ``X | None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [arg for arg in get_args(annotation) if arg is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _bounds(info: FieldInfo) -> str:
    words = []
    for item in info.metadata:
        for attribute, word in (("gt", "above"), ("ge", "at least"), ("lt", "below"), ("le", "at most")):
            bound = getattr(item, attribute, None)
            if bound is not None:
                words.append(f"{word} {bound:g}")
    return " and ".join(words)


def allowed(info: FieldInfo) -> str:
    """What the field takes, in words: ``a number above 0 and below 1``."""
    annotation = _plain(info.annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(choice) for choice in get_args(annotation))
    if origin is tuple:
        return 'a list of texts in quotes, such as ["a.jsonl"]'
    if origin is dict:
        return 'a table of flags, such as {lr_scheduler_type = "cosine"}'
    if annotation is schema.Range:
        return "a [low, high] pair such as [45, 50]"
    kind = {bool: "true or false, without quotes", int: "a whole number", float: "a number", str: "text in quotes"}
    words = kind.get(annotation, "a value")
    bounds = _bounds(info)
    return f"{words} {bounds}" if bounds else words


def toml_value(value: Any) -> str:
    """``value`` as TOML writes it, for a line the user can paste."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        items = (f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def described(value: Any) -> str:
    """A value as the user wrote it: ``the text 'eight'``, ``-0.0002``, ``a table``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return f"the list {toml_value(value)}"
    return repr(value)


def _fits(info: FieldInfo, value: Any) -> bool:
    if _plain(info.annotation) is schema.Range and isinstance(value, list | tuple) and len(value) == 2:
        value = {"low": value[0], "high": value[1]}
    try:
        annotation = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(cast(Any, annotation))
        adapter.validate_python(value)
    except (ValidationError, TypeError):
        return False
    return True


def example(key: Sequence[str], value: Any) -> Any:
    """A valid value for ``key``: the user's own, its sign flipped, a list of it, the default, an example."""
    info = field_info(key)
    if info is None:
        return value
    candidates: list[Any] = [value]
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        candidates.append(-value)
    if isinstance(value, str):
        candidates.append([value])
        with contextlib.suppress(ValueError):
            candidates.append(json.loads(value))  # "8" for a number, "true" for a flag
    default = info.default
    if default is not PydanticUndefined and default is not None and not isinstance(default, BaseModel):
        candidates.append(list(default) if isinstance(default, tuple) else default)
    if ".".join(key) in EXAMPLES:
        candidates.append(EXAMPLES[".".join(key)])
    for candidate in candidates:
        if _fits(info, candidate):
            return list(candidate) if isinstance(candidate, tuple) else candidate
    return NO_EXAMPLE


def _bound_problem(kind: str, bound: Any, value: Any) -> str:
    said = {"greater_than": "greater than", "greater_than_equal": "at least", "less_than": "below",
            "less_than_equal": "at most"}[kind]
    if isinstance(value, int | float) and value < 0:
        return f"must be {said} {bound:g}, but {described(value)} is negative."
    return f"must be {said} {bound:g}, not {described(value)}."


def explain(error: ErrorDetails, key: Sequence[str]) -> str:
    """One of pydantic's errors at ``key`` as a sentence about the profile."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    info = field_info(key)
    takes = f" It takes {allowed(info)}." if info is not None else ""
    if kind == "missing":
        return "is missing; a profile must set it."
    if kind in ("model_type", "dict_type", "model_attributes_type") and len(key) == 1:
        return f"must be a table (a [{key[0]}] section), not {described(value)}."
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next(iter(ctx.values()), None)
        return _bound_problem(kind, bound, value) + takes
    if kind in ("int_parsing", "int_type", "int_from_float", "float_parsing", "float_type", "bool_parsing",
                "bool_type", "string_type", "tuple_type", "list_type", "dict_type", "model_type"):
        if info is not None and get_origin(_plain(info.annotation)) is dict and len(error["loc"]) > len(key):
            return f"holds {described(value)} for '{error['loc'][len(key)]}'; each flag takes text, a number or true/false."
        return f"must be {allowed(info) if info is not None else 'another kind of value'}, not {described(value)}."
    if kind == "literal_error":
        return f"must be {allowed(info) if info is not None else ctx.get('expected')}, not {described(value)}."
    if kind == "too_short":
        return "must not be empty." + takes
    if kind == "string_pattern_mismatch":
        if key[-1] == "max_shard_size":
            return f"must be a size such as \"2GB\" (a number, then KB, MB or GB), not {described(value)}."
        if key[-1] == "name":
            return f"must start with a letter or digit and hold only letters, digits, '.', '_' and '-', not {described(value)}."
        return f"does not have the expected form ({ctx.get('pattern')}), {described(value)}."
    if kind == "extra_forbidden":
        return f"has an unknown key '{error['loc'][-1]}'." + takes
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:] + ("" if message.endswith(".") else ".")
