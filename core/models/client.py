"""The one streaming chat client: OpenAI-compatible ``/v1/chat/completions`` with ``stream: true``.

Every model mhbench talks to (``swift deploy``, llama.cpp's server, a remote
endpoint) is reached through :func:`stream_chat`, so the arena, the chat pane and
the benchmarks measure the same thing the same way. It yields the raw text deltas
as they arrive (the UI passes them through :func:`clean_text` before display, while
the stored response keeps what the model said) and, last, one :class:`StreamStats`.

What the two local servers accept, read from their installed code and checked live:

* both ignore body fields they do not know, so the request carries the repetition
  penalty under both names: ``repetition_penalty`` (swift, vLLM) and
  ``repeat_penalty`` (llama-cpp-python); both take ``seed``;
* swift puts a cumulative ``usage`` in every chunk; llama-cpp-python sends none
  (``stream_options`` is ignored), so its tokens are counted from the stream;
* errors come as ``{"message": ...}`` (swift), ``{"error": {"message": ...}}``
  (llama.cpp, OpenAI) or ``{"detail": ...}`` (FastAPI validation).

Closing the generator (``aclose()``) or cancelling the task that iterates it closes
the HTTP response at once, which both servers notice and stop generating.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from core.base.errors import MhbenchError
from core.base.text import strip_control

if TYPE_CHECKING:
    # httpx is imported where it is used: its import pulls in rich (for its CLI), which core must not load.
    import httpx

__all__ = [
    "DEFAULT_TIMEOUT",
    "ChatError",
    "ChatRequest",
    "GenerationParams",
    "StreamEvent",
    "StreamStats",
    "TextDelta",
    "Timeouts",
    "chat_url",
    "clean_text",
    "complete",
    "list_models",
    "stream_chat",
]


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed for each phase of a request."""

    connect: float = 10.0
    read: float = 300.0
    """The longest silence between two chunks: a shared server queues requests, so a request
    may wait for a whole answer or two before its first token."""
    write: float = 30.0
    pool: float = 10.0


DEFAULT_TIMEOUT = Timeouts()

MESSAGE_MAX = 300

Message = Mapping[str, str]


class ChatError(MhbenchError):
    """A chat request that failed: the URL, what the server or the network said, and the fix."""


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings, the same for every model of a comparison."""

    temperature: float = 0.7
    top_p: float = 0.8
    repetition_penalty: float = 1.05
    max_tokens: int = 512
    seed: int | None = 1234
    """Fixed so a response can be generated again; ``None``: the server's choice."""

    def body(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "repetition_penalty": self.repetition_penalty,
            "repeat_penalty": self.repetition_penalty,
        }
        if self.seed is not None:
            fields["seed"] = self.seed
        return fields


@dataclass(frozen=True)
class ChatRequest:
    """One chat turn to generate: the history so far (ending with the user's turn) and how to sample."""

    messages: Sequence[Message]
    params: GenerationParams
    model: str
    """The served model name (an adapter's name on a swift server serving several)."""
    system: str | None = None
    """Prepended as the system message; replaces one the history already starts with."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Merged into the body last; a ``None`` value removes a field (e.g. ``repeat_penalty`` for a strict server)."""

    def payload(self) -> dict[str, Any]:
        messages = [dict(message) for message in self.messages]
        if self.system is not None:
            if messages and messages[0].get("role") == "system":
                messages = messages[1:]
            messages.insert(0, {"role": "system", "content": self.system})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            **self.params.body(),
        }
        for key, value in self.extra.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body


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


def clean_text(text: str) -> str:
    """Model output made safe for a terminal: control and escape sequences removed, text kept verbatim."""
    return strip_control(text)


def _v1_url(base_url: str, path: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        base = base[: -len("/chat/completions")]
    if not base.endswith("/v1"):
        base += "/v1"
    return base + path


def chat_url(base_url: str) -> str:
    """``http://host:port``, ``…/v1`` or the full endpoint: all name the same chat endpoint."""
    return _v1_url(base_url, "/chat/completions")


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


def _one_line(text: str) -> str:
    line = next((part.strip() for part in strip_control(text).splitlines() if part.strip()), "")
    return line if len(line) <= MESSAGE_MAX else line[: MESSAGE_MAX - 1] + "…"


def server_message(body: bytes | str) -> str:
    """The error message in a server's error body, whichever shape it has, on one line."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return _one_line(text) or "(empty body)"
    candidates: list[Any] = []
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            candidates.append(error.get("message"))
        candidates += [error, data.get("message"), data.get("detail")]
    for candidate in candidates:
        if isinstance(candidate, list) and candidate:  # FastAPI: [{"loc": ..., "msg": ...}]
            first = candidate[0]
            candidate = first.get("msg") if isinstance(first, dict) else first
        if isinstance(candidate, str) and candidate.strip():
            return _one_line(candidate)
    return _one_line(text)


def _http_fix(status: int) -> str:
    if status in (401, 403):
        return "check the endpoint's API key."
    if status == 404:
        return "check the URL: give the server's base URL (http://host:port or …/v1)."
    if status in (400, 422):
        return "check the model name and the generation parameters the server accepts."
    if status == 503:
        return "the server is still loading or overloaded: wait and retry."
    return "read the server's log (Models screen → servers)."


def _os_reason(error: BaseException) -> str:
    """The operating system's reason under httpx's wrapper ("All connection attempts failed")."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno).lower()
        current = current.__cause__ or current.__context__
    return _one_line(str(error)).lower() or "cannot connect"


def _limits(timeout: float | Timeouts | httpx.Timeout) -> httpx.Timeout:
    import httpx

    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, Timeouts):
        return httpx.Timeout(connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool)
    return httpx.Timeout(timeout)


def _transport_error(url: str, error: httpx.HTTPError, timeout: httpx.Timeout) -> ChatError:
    import httpx

    if isinstance(error, httpx.ConnectTimeout):
        return ChatError(
            f"{url}: no connection within {timeout.connect or 0:g} s.",
            fix="check the host and port, and that the server is running.",
        )
    if isinstance(error, httpx.ConnectError):
        return ChatError(
            f"{url}: cannot connect ({_os_reason(error)}).",
            fix="start the model's server (Models screen) or correct the endpoint URL.",
        )
    if isinstance(error, httpx.ReadTimeout):
        return ChatError(
            f"{url}: the server sent nothing for {timeout.read or 0:g} s.",
            fix="the server is stuck or overloaded: check its log, or raise the read timeout.",
        )
    if isinstance(error, httpx.TimeoutException):
        return ChatError(f"{url}: timed out ({type(error).__name__}).", fix="check the server and the network.")
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        return ChatError(
            f"{url}: the connection broke mid-answer ({_one_line(str(error)) or type(error).__name__}).",
            fix="the server stopped or crashed: check that it runs and read its log.",
        )
    return ChatError(f"{url}: {type(error).__name__}: {_one_line(str(error))}.", fix="check the server and the URL.")


class _Tally:
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


async def _events(url: str, response: httpx.Response, tally: _Tally) -> AsyncGenerator[StreamEvent, None]:
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


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Built once: a new one per client costs ~17 ms of the event loop (loading the CA bundle)."""
    import httpx

    return httpx.create_ssl_context()


def _client(url: str, timeout: httpx.Timeout) -> httpx.AsyncClient:
    import httpx

    # Proxy settings from the environment must never catch a local server.
    return httpx.AsyncClient(timeout=timeout, trust_env=not _loopback(url), verify=_ssl_context())


async def stream_chat(
    base_url: str,
    request: ChatRequest,
    *,
    api_key: str | None = None,
    timeout: float | Timeouts | httpx.Timeout = DEFAULT_TIMEOUT,
    client: httpx.AsyncClient | None = None,
) -> AsyncGenerator[StreamEvent, None]:
    """Stream one answer: :class:`TextDelta` events, then one :class:`StreamStats`.

    Every failure (refused connection, HTTP error, silence past the read timeout, a
    connection cut mid-answer) raises :class:`ChatError` naming the URL and the fix.
    ``client``: a shared ``httpx.AsyncClient`` to reuse connections; by default one per call.
    """
    import httpx

    url = chat_url(base_url)
    limits = _limits(timeout)
    headers = {"Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    http = client or _client(url, limits)
    try:
        tally = _Tally(time.perf_counter(), request.params.max_tokens)
        try:
            async with http.stream("POST", url, json=request.payload(), headers=headers, timeout=limits) as response:
                if response.status_code >= 400:
                    body = await response.aread()
                    raise ChatError(
                        f"{url} answered HTTP {response.status_code}: {server_message(body)}",
                        fix=_http_fix(response.status_code),
                    )
                async with aclosing(_events(url, response, tally)) as events:
                    async for event in events:
                        yield event
        except httpx.HTTPError as error:
            raise _transport_error(url, error, limits) from None
    finally:
        if client is None:
            await http.aclose()


async def complete(
    base_url: str,
    request: ChatRequest,
    *,
    api_key: str | None = None,
    timeout: float | Timeouts | httpx.Timeout = DEFAULT_TIMEOUT,
    client: httpx.AsyncClient | None = None,
) -> tuple[str, StreamStats]:
    """The whole answer (raw) and its stats."""
    parts: list[str] = []
    stats: StreamStats | None = None
    async for event in stream_chat(base_url, request, api_key=api_key, timeout=timeout, client=client):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            stats = event
    assert stats is not None  # stream_chat always ends with its stats
    return "".join(parts), stats


async def list_models(
    base_url: str, *, api_key: str | None = None, timeout: float | Timeouts | httpx.Timeout = 10.0
) -> list[str]:
    """The model names an endpoint serves (``GET /v1/models``)."""
    url = _v1_url(base_url, "/models")
    import httpx

    limits = _limits(timeout)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with _client(url, limits) as http:
        try:
            response = await http.get(url, headers=headers)
        except httpx.HTTPError as error:
            raise _transport_error(url, error, limits) from None
        if response.status_code >= 400:
            raise ChatError(
                f"{url} answered HTTP {response.status_code}: {server_message(response.content)}",
                fix=_http_fix(response.status_code),
            )
        try:
            data = response.json().get("data", [])
        except (ValueError, AttributeError):
            raise ChatError(f"{url} did not answer with a model list.", fix="check the URL.") from None
    return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
