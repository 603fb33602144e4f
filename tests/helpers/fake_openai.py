"""A fake OpenAI-compatible server on 127.0.0.1 that speaks SSE the way the model servers do.

Each request names a scenario in its ``model`` field, and the server records the request body and
whether the client hung up, so cancellation is observed from the other end of the socket.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
STEP = 0.05


def chunk(content: str | None = None, *, finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    obj: dict[str, Any] = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        obj["usage"] = usage
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def json_response(status: int, reason: str, body: object) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + data


class FakeServer:
    """One scenario per request, chosen by the request's ``model``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[str] = []
        self.disconnected = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.headers.append(head.decode())
            match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
            raw = await reader.readexactly(int(match.group(1))) if match else b"{}"
            body = json.loads(raw) if head.startswith(b"POST") else {"model": "models"}
            self.requests.append(body)
            await getattr(self, "scenario_" + body["model"])(reader, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnected.set()
        finally:
            writer.close()

    async def send(self, writer: asyncio.StreamWriter, *parts: bytes, pause: float = STEP) -> None:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(pause)

    async def scenario_usage(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # swift: a cumulative usage in every chunk
        await self.send(writer, SSE_HEAD, pause=2 * STEP)
        await self.send(
            writer,
            chunk("你好", usage={"prompt_tokens": 12, "completion_tokens": 2}),
            chunk("，我在", usage={"prompt_tokens": 12, "completion_tokens": 4}),
            chunk("听。", usage={"prompt_tokens": 12, "completion_tokens": 6}),
            chunk("", finish="stop", usage={"prompt_tokens": 12, "completion_tokens": 6}),
            b"data: [DONE]\n\n",
        )

    async def scenario_openai_usage(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # OpenAI / vLLM with include_usage: one final chunk with no choices
        final = {
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 9},
        }
        await self.send(
            writer,
            SSE_HEAD,
            chunk("a"),
            chunk("b", finish="stop"),
            b"data: " + json.dumps(final).encode() + b"\n\n",
            b"data: [DONE]\n\n",
        )

    async def scenario_chunks(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # llama.cpp: a role chunk, one token per chunk, no usage, an empty delta with the finish reason
        role = b'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]}\n\n'
        await self.send(writer, SSE_HEAD, role, chunk("我"), chunk("明"), chunk("白"), chunk(finish="stop"))
        await self.send(writer, b"data: [DONE]\n\n")

    async def scenario_length(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.send(writer, SSE_HEAD, chunk("x"), chunk("y"), chunk(finish="length"), b"data: [DONE]\n\n")

    async def scenario_garbage(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.send(
            writer,
            SSE_HEAD,
            b": ping - 2025-01-01 00:00:00\r\n\r\n",
            b"event: message\nid: 7\nretry: 100\n",
            b"data: {not json\n\n",
            b"data: [1, 2, 3]\n\n",
            b'data: {"choices": []}\n\n',
            b'data: {"choices": [{"delta": null}]}\n\n',
            b"what is this line\n",
            b'data:{"choices":[{"delta":{"content":"ok"}}]}\r\n\r\n',  # no space after the colon, CRLF
            chunk("\x1b[31mred\x1b[0m"),
            b"\n\n\n",
            chunk(finish="stop"),
            b"data: [DONE]\n\n",
            chunk("after done, never read"),
        )

    async def scenario_error500(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = {
            "error": {
                "message": "CUDA out of memory. Tried to allocate 2.00 GiB\nTraceback ...",
                "type": "internal_server_error",
            }
        }
        writer.write(json_response(500, "Internal Server Error", body))

    async def scenario_swift400(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            json_response(
                400, "Bad Request", {"message": "`swift400` is not in the model_list: `['tq']`.", "object": "error"}
            )
        )

    async def scenario_detail422(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = {"detail": [{"loc": ["body", "messages"], "msg": "Input should be a valid list", "type": "list_type"}]}
        writer.write(json_response(422, "Unprocessable Entity", body))

    async def scenario_midstream_error(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.send(writer, SSE_HEAD, chunk("partial"), b'data: {"error": {"message": "engine died"}}\n\n')

    async def scenario_hang(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.send(writer, SSE_HEAD, chunk("first"))
        # Keep generating until the client hangs up, as a model server would.
        for _ in range(400):
            if reader.at_eof():
                break
            try:
                data = await asyncio.wait_for(reader.read(1), timeout=STEP)
            except TimeoutError:
                writer.write(chunk("more"))
                await writer.drain()
                continue
            if not data:
                break
        self.disconnected.set()

    async def scenario_stall(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.send(writer, SSE_HEAD)
        await reader.read()  # until the client gives up
        self.disconnected.set()

    async def scenario_cut(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A chunked body that stops mid-way: the server process died.
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        piece = chunk("half")
        await self.send(writer, head, f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        writer.transport.abort()

    async def scenario_models(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json_response(200, "OK", {"object": "list", "data": [{"id": "base"}, {"id": "a"}]}))


@asynccontextmanager
async def fake_server(kind: type[FakeServer] = FakeServer) -> AsyncIterator[FakeServer]:
    """A ``kind`` of fake server listening on a free port of 127.0.0.1 until the block ends."""
    fake = kind()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    try:
        yield fake
    finally:
        server.close()
