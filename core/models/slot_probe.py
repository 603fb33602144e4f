"""Does a server free a cancelled stream's slot? First-token times on an idle server and right after a cancel.

A stream cancelled after its first tokens (as Esc, leaving an item or a closed tab cancels the
answer worker) should cost the next request nothing: llama-server stops the slot when the
connection closes, ``llama_cpp.server`` generates the abandoned answer to its end first. The GPU
smoke test, the stream bench and the cancel test all measure it with these two functions.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from core.models.chat_errors import ChatError
from core.models.client import ChatRequest, TextDelta, complete, stream_chat

STARTED_PIECES = 4
"""Text pieces the long stream must have sent before it is cancelled: it is generating, not queued."""


async def first_token_s(base_url: str, request: ChatRequest, *, api_key: str | None = None) -> float:
    """Seconds from sending ``request`` to its first text."""
    stats = (await complete(base_url, request, api_key=api_key))[1]
    if stats.ttft_s is None:
        raise ChatError(f"{base_url} answered no text.", fix="read the server's log (Models screen → servers).")
    return stats.ttft_s


async def cancel_once_generating(base_url: str, long_request: ChatRequest, *, api_key: str | None = None) -> None:
    """Stream ``long_request`` until it generates, then cancel the task that streams it, as Esc does."""
    generating = asyncio.Event()

    async def answer_worker() -> None:
        pieces = 0
        async with aclosing(stream_chat(base_url, long_request, api_key=api_key)) as events:
            async for event in events:
                pieces += isinstance(event, TextDelta)
                if pieces >= STARTED_PIECES:
                    generating.set()
        generating.set()  # it ended on its own: too short to tell anything, but never hang

    worker = asyncio.create_task(answer_worker())
    await generating.wait()
    worker.cancel()
    outcomes = await asyncio.gather(worker, return_exceptions=True)
    if isinstance(outcomes[0], ChatError):
        raise outcomes[0]


async def first_token_after_cancel_s(
    base_url: str, long_request: ChatRequest, short_request: ChatRequest, *, api_key: str | None = None
) -> float:
    """``long_request`` cancelled once it generates, then at once ``short_request``: its first-token time."""
    await cancel_once_generating(base_url, long_request, api_key=api_key)
    return await first_token_s(base_url, short_request, api_key=api_key)
