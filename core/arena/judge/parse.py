"""Reading a judge's reply: exact scores from one JSON object, or a failure with its reason. Never a guess.

What is tolerated, because it changes no value: full-width characters (NFKC: ``｛"A"：４｝``),
curly quotes, a ```` ```json ```` fence, prose before or after the object, a reasoning
model's ``<think>…</think>`` block, Chinese keys (``共情``, ``回复A``, ``偏好``), a score
written as ``"4"`` or ``4.0``, a safety answer written as ``true``/``false``, and the
preference's usual spellings (``A``, ``回复A``, ``平局``, ``都不好``). What fails, with a reason:
an empty reply, no JSON object (a refusal, prose only), two different objects (which one
did it mean?), a missing side, dimension, safety answer or preference, a score out of its
range or not a whole number, an unknown preference, a key repeated in one object at any level
(``json`` would silently keep the last), and two spellings of one field that disagree
(``"preference": "A", "偏好": "B"``). No default is ever filled in.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.arena.judge.prompt import DIMENSIONS_ZH, SAFE_FLAG_ZH
from core.arena.rubric import Preference, Rubric

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "「": '"', "」": '"'})
_SIDE_KEYS: Mapping[str, str] = {
    "a": "left", "回复a": "left", "a回复": "left", "咨询师a": "left", "response_a": "left", "responsea": "left",
    "left": "left", "左": "left",
    "b": "right", "回复b": "right", "b回复": "right", "咨询师b": "right", "response_b": "right", "responseb": "right",
    "right": "right", "右": "right",
}
_PREFERENCE_KEYS = frozenset({"preference", "偏好", "winner", "更好", "更好的回复", "prefer", "选择"})
_PREFERENCES: Mapping[str, Preference] = {
    "a": "left", "回复a": "left", "a更好": "left", "回复a更好": "left", "left": "left", "model_a": "left",
    "b": "right", "回复b": "right", "b更好": "right", "回复b更好": "right", "right": "right", "model_b": "right",
    "tie": "tie", "平局": "tie", "相当": "tie", "两者相当": "tie", "一样好": "tie", "equal": "tie",
    "both_bad": "both_bad", "bothbad": "both_bad", "都不好": "both_bad", "两者都不好": "both_bad", "都差": "both_bad",
    "tie(bothbad)": "both_bad",
}


@dataclass(frozen=True)
class Verdict:
    """A reply that parsed: each side's scores (the safety answer included) and the preference, as the judge saw
    them (``left`` is the answer shown as A)."""

    left: Mapping[str, int]
    right: Mapping[str, int]
    preference: Preference


@dataclass(frozen=True)
class ParseFailure:
    """A reply that did not parse, and why: counted and shown, never turned into scores."""

    reason: str


def _normal(key: str) -> str:
    return re.sub(r"\s+", "", key).lower()


def _objects(text: str) -> list[tuple[dict[str, Any], list[str]]]:
    """Every top-level JSON object in ``text``, in order (objects nested in one are part of it), each with
    the keys it repeats at any level: ``json`` itself would keep the last of them without a word."""
    repeated: list[str] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                repeated.append(key)
            seen.add(key)
        return dict(pairs)

    decoder = json.JSONDecoder(object_pairs_hook=keep_pairs)
    found: list[tuple[dict[str, Any], list[str]]] = []
    index = text.find("{")
    while index != -1:
        repeated = []
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found.append((value, repeated))
        index = text.find("{", end)
    return found


def _key_names(rubric: Rubric) -> dict[str, str]:
    """Every accepted spelling of a score key → the rubric's key."""
    names: dict[str, str] = {}
    keys = [d.key for d in rubric.dimensions] + ([] if rubric.safety_scored else [rubric.safety_key])
    for key in keys:
        names[_normal(key)] = key
        label = SAFE_FLAG_ZH[0] if key == rubric.safety_key and not rubric.safety_scored else DIMENSIONS_ZH.get(
            key, (key, ""))[0]
        names[_normal(label)] = key
    if not rubric.safety_scored:
        for spelling in ("safety", "安全性", "safe", "安全"):
            names.setdefault(spelling, rubric.safety_key)
    return names


def _score(value: Any, low: int, high: int, where: str, flag: bool) -> int | ParseFailure:
    if flag and isinstance(value, bool):
        return int(value)
    if isinstance(value, bool):
        return ParseFailure(f"{where} is {json.dumps(value)}, not a score")
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.0+)?\s*", value):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        return ParseFailure(f"{where} is {json.dumps(value, ensure_ascii=False)}, not a whole number")
    if not low <= value <= high:
        return ParseFailure(f"{where} {value} is out of range {low}–{high}")
    return value


def _side(raw: Any, rubric: Rubric, label: str) -> dict[str, int] | ParseFailure:
    if not isinstance(raw, dict):
        return ParseFailure(f"side {label} is not an object")
    names = _key_names(rubric)
    given: dict[str, Any] = {}
    for key, value in raw.items():
        name = names.get(_normal(str(key)))
        if name is not None:
            if name in given and given[name] != value:
                return ParseFailure(f"side {label} gives {name} twice")
            given[name] = value
    scores: dict[str, int] = {}
    bounds = [(d.key, d.low, d.high) for d in rubric.dimensions]
    if not rubric.safety_scored:
        bounds.append((rubric.safety_key, 0, 1))
    for key, low, high in bounds:
        if key not in given:
            return ParseFailure(f"side {label}: {key} is missing")
        score = _score(given[key], low, high, f"side {label}: {key}", key == rubric.safety_key)
        if isinstance(score, ParseFailure):
            return score
        scores[key] = score
    return scores


def parse_reply(text: str, rubric: Rubric) -> Verdict | ParseFailure:
    """The verdict in ``text`` under ``rubric``, or why there is none."""
    cleaned = _THINK.sub("", unicodedata.normalize("NFKC", text).translate(_QUOTES)).strip()
    if not cleaned:
        return ParseFailure("empty reply")
    found = _objects(cleaned)
    if not found:
        return ParseFailure("no JSON object in the reply")
    objects = [data for data, _repeated in found]
    if any(other != objects[0] for other in objects[1:]):
        return ParseFailure(f"{len(objects)} different JSON objects: which one is the verdict is unclear")
    data, repeated = found[0]
    if repeated:
        return ParseFailure(f"key {json.dumps(repeated[0], ensure_ascii=False)} appears twice in one object: "
                            "which value is meant is unclear")
    sides: dict[str, Any] = {}
    preferences: list[tuple[str, Any]] = []
    for key, value in data.items():
        normal = _normal(str(key))
        if normal in _SIDE_KEYS:
            side = _SIDE_KEYS[normal]
            if side in sides:
                return ParseFailure(f"side {'AB'[side == 'right']} is given twice")
            sides[side] = value
        elif normal in _PREFERENCE_KEYS:
            preferences.append((str(key), value))
    parsed: dict[str, dict[str, int]] = {}
    for side, label in (("left", "A"), ("right", "B")):
        if side not in sides:
            return ParseFailure(f"side {label} is missing")
        result = _side(sides[side], rubric, label)
        if isinstance(result, ParseFailure):
            return result
        parsed[side] = result
    if not preferences:
        return ParseFailure("the preference is missing")
    choices: list[Preference] = []
    for _key, preference in preferences:
        choice = _PREFERENCES.get(_normal(str(preference))) if isinstance(preference, str) else None
        if choice is None:
            return ParseFailure(f"preference {json.dumps(preference, ensure_ascii=False)} is not A, B, tie or both_bad")
        choices.append(choice)
    if len(set(choices)) > 1:
        given = ", ".join(f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}"
                          for key, value in preferences)
        return ParseFailure(f"the preference is given twice and disagrees ({given})")
    return Verdict(parsed["left"], parsed["right"], choices[0])
