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
* how each streams its answer is read in :mod:`core.models.chat_stream`, and how each
  reports an error in :mod:`core.models.chat_errors`.

Closing the generator (``aclose()``) or cancelling the task that iterates it closes
the HTTP connection at once. llama-server notices and stops that slot's generation, which
frees it for the next request (``tests/integration/test_llama_server.py``);
``python -m llama_cpp.server`` does not, and generates the abandoned answer to its end.
Callers iterate it under ``contextlib.aclosing``, so that an exception in their own code
(a pane that is gone) closes the connection then, not when the generator is collected.
"""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.base.text import clean_answer
from core.models.chat_errors import ChatError, http_fix, server_message, transport_error
from core.models.chat_stream import (
    StreamEvent,
    StreamStats,
    StreamTally,
    TextDelta,
    read_events,
    speed_summary,
)

if TYPE_CHECKING:
    # httpx is imported where it is used: its import pulls in rich (for its CLI), which core must not load.
    import httpx

__all__ = [
    "DEFAULT_TIMEOUT",
    "ChatError",
    "ChatRequest",
    "GenerationParams",
    "Message",
    "StreamEvent",
    "StreamStats",
    "TextDelta",
    "Timeouts",
    "chat_url",
    "clean_text",
    "complete",
    "list_models",
    "server_message",
    "speed_summary",
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

Message = Mapping[str, str]


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
    stop: Sequence[str] = ()
    """Where the answer ends: the model's end-of-turn tokens (a server may stop only at its one ``eos_token``)."""
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
        if self.stop:
            body["stop"] = list(self.stop)
        for key, value in self.extra.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body


def clean_text(text: str) -> str:
    """Model output made safe for a terminal: control and escape sequences and chat-template tokens removed."""
    return clean_answer(text)


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


def _limits(timeout: float | Timeouts | httpx.Timeout) -> httpx.Timeout:
    import httpx

    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, Timeouts):
        return httpx.Timeout(connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool)
    return httpx.Timeout(timeout)


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
        tally = StreamTally(time.perf_counter(), request.params.max_tokens)
        try:
            async with http.stream("POST", url, json=request.payload(), headers=headers, timeout=limits) as response:
                if response.status_code >= 400:
                    body = await response.aread()
                    raise ChatError(
                        f"{url} answered HTTP {response.status_code}: {server_message(body)}",
                        fix=http_fix(response.status_code),
                    )
                async with aclosing(read_events(url, response, tally)) as events:
                    async for event in events:
                        yield event
        except httpx.HTTPError as error:
            raise transport_error(url, error, limits) from None
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
    async with aclosing(stream_chat(base_url, request, api_key=api_key, timeout=timeout, client=client)) as events:
        async for event in events:
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
            raise transport_error(url, error, limits) from None
        if response.status_code >= 400:
            raise ChatError(
                f"{url} answered HTTP {response.status_code}: {server_message(response.content)}",
                fix=http_fix(response.status_code),
            )
        try:
            data = response.json().get("data", [])
        except (ValueError, AttributeError):
            raise ChatError(f"{url} did not answer with a model list.", fix="check the URL.") from None
    return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
