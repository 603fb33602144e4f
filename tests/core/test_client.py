"""core.models.client against a real HTTP server on 127.0.0.1 that speaks SSE the way the model servers do.

The server here is a fake *server*, written with asyncio streams: each test's request
names a scenario in its ``model`` field, and the server records the request body and
whether the client hung up, so cancellation is observed from the other end of the socket.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from core.models.client import (
    ChatError,
    ChatRequest,
    GenerationParams,
    StreamStats,
    TextDelta,
    Timeouts,
    chat_url,
    clean_text,
    complete,
    list_models,
    server_message,
    stream_chat,
)
from tests.helpers.fake_openai import STEP, fake_server


def request(model: str, **kwargs: Any) -> ChatRequest:
    messages = kwargs.pop("messages", [{"role": "user", "content": "我最近总是睡不着。"}])
    return ChatRequest(messages=messages, params=kwargs.pop("params", GenerationParams()), model=model, **kwargs)


async def collect(url: str, req: ChatRequest, **kwargs: Any) -> tuple[list[str], StreamStats]:
    deltas: list[str] = []
    stats: list[StreamStats] = []
    async for event in stream_chat(url, req, **kwargs):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            stats.append(event)
    assert len(stats) == 1
    return deltas, stats[0]


async def test_deltas_usage_and_timing() -> None:
    async with fake_server() as server:
        deltas, stats = await collect(server.url, request("usage"))
    assert "".join(deltas) == "你好，我在听。"
    assert stats.tokens == 6 and stats.tokens_source == "usage" and stats.prompt_tokens == 12
    assert stats.finish_reason == "stop"
    assert stats.ttft_s is not None and 2 * STEP * 0.8 <= stats.ttft_s < stats.total_s
    # 4 tokens after the first chunk, over the two gaps between the three text chunks
    assert stats.tokens_per_s is not None and 4 / (2 * STEP * 3) < stats.tokens_per_s < 4 / (2 * STEP * 0.8)


async def test_openai_style_final_usage_chunk() -> None:
    async with fake_server() as server:
        text, stats = await complete(server.url + "/v1", request("openai_usage"))
    assert text == "ab" and stats.tokens == 9 and stats.tokens_source == "usage" and stats.prompt_tokens == 5


async def test_without_usage_counts_chunks() -> None:
    async with fake_server() as server:
        text, stats = await complete(server.url, request("chunks"))
    assert text == "我明白"
    assert stats.tokens == 3 and stats.tokens_source == "chunks" and stats.finish_reason == "stop"
    assert stats.tokens_per_s is not None and stats.tokens_per_s > 0


async def test_stopped_for_length_counts_max_tokens() -> None:
    async with fake_server() as server:
        _, stats = await complete(server.url, request("length", params=GenerationParams(max_tokens=17)))
    assert stats.finish_reason == "length" and stats.tokens == 17 and stats.tokens_source == "length"


async def test_request_body_carries_history_system_and_params() -> None:
    history = [
        {"role": "system", "content": "old system"},
        {"role": "user", "content": "我很焦虑"},
        {"role": "assistant", "content": "能多说一些吗？"},
        {"role": "user", "content": "工作压力很大"},
    ]
    params = GenerationParams(temperature=0.3, top_p=0.9, repetition_penalty=1.1, max_tokens=64, seed=7)
    async with fake_server() as server:
        await complete(
            server.url,
            request("chunks", messages=history, params=params, system="你是一名心理咨询师。"),
            api_key="sk-test",
        )
        await complete(server.url, request("chunks", extra={"repeat_penalty": None, "top_k": 20}))
    body, second = server.requests
    assert body["messages"][0] == {"role": "system", "content": "你是一名心理咨询师。"}
    assert body["messages"][1:] == history[1:]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (0.3, 0.9, 64, 7)
    assert body["repetition_penalty"] == body["repeat_penalty"] == 1.1
    assert "authorization: bearer sk-test" in server.headers[0].lower()
    assert "repeat_penalty" not in second and second["top_k"] == 20 and second["messages"][0]["role"] == "user"


async def test_garbage_lines_are_tolerated_and_text_is_raw() -> None:
    async with fake_server() as server:
        text, stats = await complete(server.url, request("garbage"))
    assert text == "ok\x1b[31mred\x1b[0m"  # raw: the UI cleans
    assert clean_text(text) == "okred"
    assert stats.finish_reason == "stop" and stats.tokens == 2


async def test_http_500_names_the_url_and_the_servers_message() -> None:
    async with fake_server() as server:
        with pytest.raises(ChatError) as caught:
            await complete(server.url, request("error500"))
    message = str(caught.value)
    assert "HTTP 500" in message and "CUDA out of memory. Tried to allocate 2.00 GiB" in message
    assert f"{server.url}/v1/chat/completions" in message and "Traceback" not in message
    assert "\n" not in message and "Fix:" in message


async def test_swift_and_fastapi_error_shapes() -> None:
    async with fake_server() as server:
        with pytest.raises(ChatError, match=r"HTTP 400: `swift400` is not in the model_list"):
            await complete(server.url, request("swift400"))
        with pytest.raises(ChatError, match="HTTP 422: Input should be a valid list"):
            await complete(server.url, request("detail422"))
        with pytest.raises(ChatError, match="failed mid-answer: engine died"):
            await complete(server.url, request("midstream_error"))
    assert server_message(b"plain text\nsecond line") == "plain text"


async def test_connection_refused_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ChatError) as caught:
        await complete(f"http://127.0.0.1:{port}", request("usage"))
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in message
    assert "connection refused" in message.lower() and "start the model's server" in message


async def test_read_timeout_is_a_clear_error() -> None:
    async with fake_server() as server:
        with pytest.raises(ChatError, match=r"sent nothing for 0\.3 s"):
            await complete(server.url, request("stall"), timeout=Timeouts(read=0.3))
        await asyncio.wait_for(server.disconnected.wait(), 2.0)


async def test_connection_cut_mid_answer() -> None:
    async with fake_server() as server:
        with pytest.raises(ChatError, match="broke mid-answer"):
            await complete(server.url, request("cut"))


async def test_aclose_hangs_up_promptly() -> None:
    async with fake_server() as server:
        stream = stream_chat(server.url, request("hang"))
        first = await stream.__anext__()
        assert first == TextDelta("first")
        await stream.aclose()
        await asyncio.wait_for(server.disconnected.wait(), 1.0)


async def test_cancelling_the_task_hangs_up_promptly() -> None:
    got_text = asyncio.Event()

    async def consume(url: str) -> None:
        async for event in stream_chat(url, request("hang")):
            if isinstance(event, TextDelta):
                got_text.set()

    async with fake_server() as server:
        task = asyncio.create_task(consume(server.url))
        await asyncio.wait_for(got_text.wait(), 2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.disconnected.wait(), 1.0)


async def test_shared_client_is_reused_and_left_open() -> None:
    async with fake_server() as server, httpx.AsyncClient(timeout=5.0) as http:
        for _ in range(2):
            text, _ = await complete(server.url, request("chunks"), client=http)
            assert text == "我明白"
        assert not http.is_closed


async def test_list_models_and_urls() -> None:
    async with fake_server() as server:
        assert await list_models(server.url) == ["base", "a"]
    assert chat_url("http://h:1") == chat_url("http://h:1/v1/") == chat_url("http://h:1/v1/chat/completions")
    assert chat_url("http://h:1") == "http://h:1/v1/chat/completions"
