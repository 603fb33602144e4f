"""Token lengths of the samples as the model's own chat template renders them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.base.errors import MhbenchError
from core.train.datasets.layouts import Progress


def _nearest_rank(ordered: Sequence[int], percent: float) -> int:
    """Nearest-rank percentile: always a real sample length, monotone in ``percent``."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class LengthStats:
    """Token lengths of the samples, as the chat template renders them for training."""

    count: int
    min: int
    p50: int
    p90: int
    p99: int
    max: int
    mean: float
    over_max_length: int
    """Samples longer than ``max_length``; swift deletes them by default (``truncation_strategy='delete'``)."""
    over_share: float
    """``over_max_length / count``, 0 when there are no samples."""
    max_length: int
    lengths: tuple[int, ...] = field(default=(), repr=False, compare=False)
    """Every sample's length in file order, kept for the histogram."""

    @classmethod
    def from_lengths(cls, lengths: Sequence[int], max_length: int) -> LengthStats:
        if not lengths:
            return cls(0, 0, 0, 0, 0, 0, 0.0, 0, 0.0, max_length, ())
        ordered = sorted(lengths)
        over = sum(1 for length in ordered if length > max_length)
        return cls(
            count=len(ordered),
            min=ordered[0],
            p50=_nearest_rank(ordered, 50),
            p90=_nearest_rank(ordered, 90),
            p99=_nearest_rank(ordered, 99),
            max=ordered[-1],
            mean=sum(ordered) / len(ordered),
            over_max_length=over,
            over_share=over / len(ordered),
            max_length=max_length,
            lengths=tuple(lengths),
        )

    def histogram(self, bins: int = 10) -> list[tuple[int, int]]:
        """Equal-width bins from 0 to the longest sample: ``(upper_bound, count)``, bounds inclusive."""
        if not self.lengths or bins < 1:
            return []
        width = max(1, math.ceil(self.max / bins))
        counts = [0] * bins
        for length in self.lengths:
            counts[min(bins - 1, max(0, math.ceil(length / width) - 1))] += 1
        return [(width * (index + 1), count) for index, count in enumerate(counts)]

    def chart(self, bins: int = 8, width: int = 30) -> list[str]:
        """The histogram as text bars for a terminal; bins past ``max_length`` are marked ``!``."""
        rows = self.histogram(bins)
        if not rows:
            return []
        top = max(count for _, count in rows) or 1
        label = len(str(rows[-1][0]))
        lines = []
        width_of_bin = rows[0][0]
        for bound, count in rows:
            mark = "!" if bound - width_of_bin >= self.max_length else " "  # the whole bin is too long
            bar = "█" * round(count / top * width)
            lines.append(f"≤{bound:>{label}}{mark}{bar} {count}")
        return lines

    def line(self) -> str:
        return (
            f"tokens: min {self.min}, p50 {self.p50}, p90 {self.p90}, p99 {self.p99}, max {self.max}, mean {self.mean:.0f}; "
            f"{self.over_max_length} of {self.count} ({self.over_share:.1%}) longer than max_length {self.max_length}"
        )


def _input_ids(encoded: Any) -> list[Any]:
    """``input_ids`` from what ``apply_chat_template(tokenize=True)`` returned (a list, or a dict in transformers 5)."""
    if isinstance(encoded, Mapping) or hasattr(encoded, "keys"):
        return list(encoded["input_ids"])
    return list(encoded)


def token_lengths(
    records_as_messages: Iterable[Mapping[str, Any] | Sequence[Mapping[str, Any]]],
    tokenizer_dir: Path,
    max_length: int,
    *,
    progress: Progress | None = None,
    batch_size: int = 64,
) -> LengthStats:
    """Token count of each sample as the model's own chat template renders it (offline, local tokenizer).

    Each item is ``{"messages": [...]}`` (what ``to_swift_messages`` returns) or the list itself.
    The tokenizer's template may add a default system prompt, as swift's does.
    """
    from transformers import AutoTokenizer

    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    except (OSError, ValueError) as error:
        raise MhbenchError(
            f"has no usable tokenizer: {error}".rstrip(".") + ".",
            path=tokenizer_dir,
            fix="point the profile's model.id at a local model folder with tokenizer files.",
        ) from None
    if not getattr(tokenizer, "chat_template", None):
        raise MhbenchError(
            "the tokenizer has no chat template, so lengths cannot be measured as trained.",
            path=tokenizer_dir,
            fix="use a model folder whose tokenizer_config.json (or chat_template.jinja) has a chat template.",
        )
    conversations = [
        list(item["messages"]) if isinstance(item, Mapping) else list(item) for item in records_as_messages
    ]
    lengths: list[int] = []
    for start in range(0, len(conversations), batch_size):
        batch = conversations[start : start + batch_size]
        try:
            encoded = tokenizer.apply_chat_template(batch, tokenize=True)
        except Exception as error:  # jinja raises its own errors on samples the template refuses
            raise MhbenchError(
                f"the chat template refused a sample in {start + 1}–{start + len(batch)}: {error}",
                path=tokenizer_dir,
                fix="check those samples' roles against the template.",
            ) from None
        lengths += [len(ids) for ids in _input_ids(encoded)]
        if progress is not None:
            progress(f"tokenized {len(lengths)} of {len(conversations)} samples")
    return LengthStats.from_lengths(lengths, max_length)

