"""What each export kind holds: its columns, and how a preference reads as a winner and as ``won``.

See :mod:`core.results.export` for what each column means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from core.arena.rubric import PREFERENCE_LABELS

ExportKind = Literal["ratings", "comparisons", "battles"]
ExportFormat = Literal["csv", "jsonl"]
EXPORT_KINDS: tuple[ExportKind, ...] = get_args(ExportKind)
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)

SCORE_COLUMNS: tuple[str, ...] = ("empathy", "professionalism", "comprehensiveness", "authenticity", "safety")
"""Every dimension of both rubrics, one column each; the rubric's safety answer goes to ``safety``."""

RATING_COLUMNS: tuple[str, ...] = (
    "rating_id", "session_id", "session_name", "item", "item_kind", "prompt_id", "prompt", "prompt_tags", "crisis", "turn",
    "rater", "rubric", "side", "position", "model_id", "model_kind", "base_model", "run_id", "checkpoint",
    "adapter_sha256", "quant", "converter_version", "profile", "response_id", "response", "response_generation",
    "vendor_flags", "defects", "finish_reason", "ttft_s", "tokens", "tokens_per_s", *SCORE_COLUMNS, "preference", "won",
    "comment", "temperature", "top_p", "repetition_penalty", "max_tokens", "seed", "system_prompt", "blind",
    "version", "shown_at_utc", "submitted_at_utc", "seconds_spent", "source",
)
COMPARISON_COLUMNS: tuple[str, ...] = (
    "rating_id", "session_id", "item", "item_kind", "prompt_id", "turn", "rater", "left_model", "right_model", "preference",
    "winner_model", "rubric", "submitted_at_utc", "seconds_spent", "source",
)
BATTLE_COLUMNS: tuple[str, ...] = (
    "question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "turn", "anony",
    "language", "tstamp", "item_kind", "source",
)
COLUMNS: Mapping[ExportKind, tuple[str, ...]] = {
    "ratings": RATING_COLUMNS, "comparisons": COMPARISON_COLUMNS, "battles": BATTLE_COLUMNS,
}

BATTLE_WINNERS: Mapping[str, str] = {
    "left": "model_a", "right": "model_b", "tie": "tie", "both_bad": "tie (bothbad)",
}
"""The rater's preference as Chatbot Arena's ``winner`` (``model_a`` is the left model)."""
WON: Mapping[str, tuple[float, float]] = {
    "left": (1, 0), "right": (0, 1), "tie": (0.5, 0.5), "both_bad": (0.5, 0.5),
}
"""``won`` of the (left, right) side for each preference."""
PREFERENCE_TEXT: Mapping[str, str] = {str(key): label for key, label in PREFERENCE_LABELS.items()}
"""The rater's preference as the ratings and comparisons exports write it: the rubric's label."""
