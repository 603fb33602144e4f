"""Reading one streamed answer: server-sent events to text deltas, and how fast they came.

An OpenAI-compatible stream is ``data: {json}`` lines ending with ``data: [DONE]``;
anything else (blank separators, ``: ping`` comments, torn lines) is passed over. swift
puts a cumulative ``usage`` in every chunk; llama-cpp-python sends none (it ignores
``stream_options``), so its tokens are counted from the stream. :class:`StreamTally`
measures time to first token and decoding speed the same way for both.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from core.models.chat_errors import ChatError, server_message

if TYPE_CHECKING:
    import httpx

__all__ = ["FINISH_WORDS", "StreamEvent", "StreamStats", "StreamTally", "TextDelta", "read_events", "speed_summary"]


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer, raw as the model wrote it."""

    text: str


@dataclass(frozen=True)
class StreamStats:
    """How one answer streamed; always the last event."""

    ttft_s: float | None
    """Request sent → first text; ``None`` when no text came."""
    tokens: int
    tokens_per_s: float | None
    """Decoding speed: the tokens after the first chunk over the time after it (prompt processing excluded)."""
    finish_reason: str | None
    """``stop``, ``length``, or ``None`` when the stream ended without saying (cut short)."""
    total_s: float
    tokens_source: Literal["usage", "length", "chunks"] = "chunks"
    """Where ``tokens`` came from: the server's ``usage``; ``max_tokens`` because it stopped for length;
    or a count of the text chunks (one token each on llama.cpp, fewer than tokens where a character spans several)."""
    prompt_tokens: int | None = None


StreamEvent = TextDelta | StreamStats

FINISH_WORDS = {"stop": "done", "length": "hit max tokens", None: "cut short"}


def speed_summary(tokens: int | None, ttft_s: float | None, tokens_per_s: float | None,
                  finish_reason: str | None = "", separator: str = " · ") -> str:
    """Tokens, time to first token, decoding speed (and why it stopped) in one line, for every screen."""
    parts = [f"{tokens if tokens is not None else '?'} tokens",
             f"first after {ttft_s * 1000:.0f} ms" if ttft_s is not None else "first after –",
             f"{tokens_per_s:.1f} tok/s" if tokens_per_s else "– tok/s"]
    if finish_reason != "":
        parts.append(FINISH_WORDS.get(finish_reason, finish_reason or "cut short"))
    return separator.join(parts)


class StreamTally:
    """Timing and token counts of one stream."""

    def __init__(self, started: float, max_tokens: int) -> None:
        self.started = started
        self.max_tokens = max_tokens
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.chunks = 0
        self.usage_tokens: int | None = None
        self.usage_at_first: int | None = None
        self.prompt_tokens: int | None = None
        self.finish_reason: str | None = None

    def text(self, at: float) -> None:
        self.chunks += 1
        if self.first_at is None:
            self.first_at = at
            self.usage_at_first = self.usage_tokens
        self.last_at = at

    def usage(self, usage: Mapping[str, Any]) -> None:
        completion = usage.get("completion_tokens")
        if isinstance(completion, int):
            self.usage_tokens = completion
        prompt = usage.get("prompt_tokens")
        if isinstance(prompt, int):
            self.prompt_tokens = prompt

    def stats(self, ended: float) -> StreamStats:
        source: Literal["usage", "length", "chunks"]
        if self.usage_tokens is not None:
            tokens, source, at_first = self.usage_tokens, "usage", self.usage_at_first or 1
        elif self.finish_reason == "length" and self.chunks:
            tokens, source, at_first = self.max_tokens, "length", 1
        else:
            tokens, source, at_first = self.chunks, "chunks", 1
        ttft = self.first_at - self.started if self.first_at is not None else None
        rate: float | None = None
        if self.first_at is not None and self.last_at is not None:
            span = self.last_at - self.first_at
            if tokens > at_first and span > 0:
                rate = (tokens - at_first) / span
            elif tokens and ended > self.started:
                rate = tokens / (ended - self.started)
        return StreamStats(ttft, tokens, rate, self.finish_reason, ended - self.started, source, self.prompt_tokens)


def _chunk(url: str, data: str) -> Mapping[str, Any] | None:
    try:
        obj = json.loads(data)
    except ValueError:
        return None  # a torn or foreign line: tolerated, the next one may be fine
    if not isinstance(obj, dict):
        return None
    if "error" in obj and not obj.get("choices"):
        raise ChatError(
            f"{url}: the server failed mid-answer: {server_message(json.dumps(obj))}",
            fix="read the server's log (Models screen → servers).",
        )
    return obj


async def read_events(url: str, response: httpx.Response, tally: StreamTally) -> AsyncGenerator[StreamEvent, None]:
    """The :class:`TextDelta` s of a streaming response as they arrive, then its :class:`StreamStats`."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, ": ping" comments, event:/id: fields, garbage
        data = line[5:].strip()
        if data == "[DONE]":
            break
        chunk = _chunk(url, data)
        if chunk is None:
            continue
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            tally.usage(usage)
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            continue
        choice = choices[0]
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str) and content:
            tally.text(time.perf_counter())
            yield TextDelta(content)
        if choice.get("finish_reason"):
            tally.finish_reason = str(choice["finish_reason"])
    yield tally.stats(time.perf_counter())
