"""The command a GGUF is served with: llama.cpp's llama-server where it was built, else llama_cpp.server, and what
each command tells (its slots, its health URL). No server is started."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.models.serving import (
    BUILD_LLAMA_SERVER,
    LLAMA_SERVER_SLOTS,
    LlamaCppSpec,
    ServerRecord,
    SwiftDeploySpec,
    build_argv,
    is_llama_server,
    llama_cpp_slots,
    llama_server_binary,
    llama_server_note,
)
from core.models.serving.specs import LLAMA_SERVER_ENV


@pytest.fixture()
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    return path


@pytest.fixture()
def built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where scripts/build-llama-server.sh would have put the binary (only its path matters here)."""
    binary = tmp_path / "bin" / "llama-server"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o755)
    monkeypatch.setenv(LLAMA_SERVER_ENV, str(binary))
    return binary


def flags(argv: list[str], start: int) -> dict[str, str | None]:
    """``--flag value`` pairs and lone ``--switch`` es of an argv from ``start`` on."""
    found: dict[str, str | None] = {}
    rest = argv[start:]
    for index, part in enumerate(rest):
        if part.startswith("--"):
            following = rest[index + 1] if index + 1 < len(rest) else None
            found[part] = None if following is None or following.startswith("--") else following
    return found


def test_llama_server_gets_slots_a_context_per_slot_the_gguf_template_and_loopback(built: Path, gguf: Path) -> None:
    assert llama_server_binary() == built and llama_server_note() is None
    argv = build_argv(LlamaCppSpec(gguf, n_gpu_layers=-1, n_ctx=2048, parallel=3, n_threads=4), 8001)
    assert argv[0] == str(built) and is_llama_server(argv)
    assert flags(argv, 1) == {
        "--model": str(gguf.resolve()),
        "--host": "127.0.0.1",
        "--port": "8001",
        "--n-gpu-layers": "all",
        "--ctx-size": "6144",  # 3 slots of 2048
        "--parallel": "3",
        "--flash-attn": "auto",
        "--no-webui": None,
        "--jinja": None,
        "--reasoning-format": "none",
        "--alias": str(gguf.resolve()),  # the name llama_cpp.server answers to
        "--threads": "4",
    }
    assert llama_cpp_slots(argv) == 3
    assert llama_cpp_slots(build_argv(LlamaCppSpec(gguf), 1)) == LLAMA_SERVER_SLOTS
    named = build_argv(LlamaCppSpec(gguf, chat_format="llama-3", served_model_name="m-q8"), 1)
    assert named[named.index("--chat-template") + 1] == "llama3" and "--no-jinja" in named and "--jinja" not in named
    assert named[named.index("--alias") + 1] == "m-q8"


def test_without_llama_server_llama_cpp_server_serves_and_the_note_names_the_fix(
    monkeypatch: pytest.MonkeyPatch, gguf: Path
) -> None:
    monkeypatch.setenv(LLAMA_SERVER_ENV, "")
    assert llama_server_binary() is None
    note = llama_server_note()
    assert note is not None and BUILD_LLAMA_SERVER in note and "\n" not in note
    argv = build_argv(LlamaCppSpec(gguf, parallel=4), 8001)
    assert argv[:3] == [sys.executable, "-m", "llama_cpp.server"] and not is_llama_server(argv)
    assert argv[argv.index("--interrupt_requests") + 1] == "false"
    assert llama_cpp_slots(argv) == 1  # one stream at a time, whatever the spec asked


def test_a_missing_binary_named_in_the_environment_falls_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(LLAMA_SERVER_ENV, str(tmp_path / "nowhere" / "llama-server"))
    assert llama_server_binary() is None and llama_server_note() is not None


def test_slots_are_unknown_for_swift_and_health_follows_the_command(built: Path, gguf: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    assert llama_cpp_slots(build_argv(SwiftDeploySpec(model), 1)) is None

    def record(argv: list[str], backend: str) -> ServerRecord:
        return ServerRecord("s", backend, (), "127.0.0.1", 9, "http://127.0.0.1:9/v1", tuple(argv), tmp_path, "ready",
                            None, None, None, {}, "", None, None)

    assert record(build_argv(LlamaCppSpec(gguf), 9), "llama_cpp").health_url == "http://127.0.0.1:9/health"
    fallback = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    assert record(fallback, "llama_cpp").health_url == "http://127.0.0.1:9/v1/models"
    assert record(["swift", "deploy"], "swift").health_url == "http://127.0.0.1:9/health"
