"""Waiting for a server to answer: health probes, the port it announced, and why it died if it did.

Health is polled over HTTP by whoever waits (:func:`wait_ready`), so a server started by a
TUI that then crashed is still marked ready by the next process that looks.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from core.base.db import registry
from core.base.errors import MhbenchError
from core.base.processes import launch_abandoned, utc_now
from core.base.tail import last_lines
from core.base.workspace import Workspace
from core.models.serving.registry import ServerRecord, get_server, server_alive, set_status
from core.models.serving.specs import HOST
from core.swift.diagnose import diagnose

if TYPE_CHECKING:
    import httpx  # imported where used: its import pulls in rich, which core must not load

    from core.swift.diagnose import Diagnosis

START_TIMEOUT = 900.0
"""Seconds a server may take to answer: a 14B model on a busy disk loads for minutes."""

Progress = Callable[[str], None]

_SPAWNED: dict[str, subprocess.Popen[bytes]] = {}
"""Servers this process spawned: their exit codes, for a diagnosis when one dies while starting."""


def remember_spawned(server_id: str, process: subprocess.Popen[bytes]) -> None:
    """Keep the server this process spawned, so :func:`wait_ready` can tell its exit code if it dies."""
    _SPAWNED[server_id] = process


def spawned_exit_code(server_id: str) -> int | None:
    """The exit code of a server this process spawned, once it ended; ``None`` if running or not ours."""
    child = _SPAWNED.get(server_id)
    return child.poll() if child is not None else None


_UVICORN_PORT = re.compile(r"Uvicorn running on https?://[^\s:]+:(\d+)")


def _announced_port(record: ServerRecord) -> int | None:
    """The port uvicorn says it bound (swift moves to the next free port when ours was taken meanwhile)."""

    for line in reversed(last_lines(record.stdout_path, 40)):
        match = _UVICORN_PORT.search(line)
        if match:
            return int(match.group(1))
    return None


def _probe(record: ServerRecord, client: httpx.Client) -> dict[str, str] | None:
    """Served names when the server answers healthy, else ``None``."""
    import httpx

    try:
        if client.get(record.health_url).status_code != 200:
            return None
        listing = client.get(record.root_url + "/v1/models")
        if listing.status_code != 200:
            return None
        ids = [str(item["id"]) for item in listing.json().get("data", []) if isinstance(item, dict) and "id" in item]
    except (httpx.HTTPError, ValueError, KeyError, AttributeError):
        return None
    known = dict(record.served_names)
    paths = list(known.values())
    names: dict[str, str] = {}
    for index, name in enumerate(ids):
        # The first listed is the base (or the GGUF); the others are adapters, named as we asked.
        names[name] = known.get(name) or (paths[0] if index == 0 and paths else name)
    return names


FIRST_ANSWER_TIMEOUT = 300.0
"""Seconds the first one-token answer of each served name may take (vLLM compiles its graphs first)."""


def unanswered_name(root_url: str, names: dict[str, str], client: httpx.Client) -> str | None:
    """The first served name whose one-token request fails, with the server's reply; ``None`` when all answer.

    A listing is not an answer: lmdeploy lists adapters in ``/v1/models`` yet fails every request
    to one, so each name is asked once before the server counts as ready.
    """
    import httpx

    for name in names:
        body = {"model": name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "stream": False}
        try:
            reply = client.post(root_url + "/v1/chat/completions", json=body, timeout=FIRST_ANSWER_TIMEOUT)
        except httpx.HTTPError as error:
            return f"'{name}': {type(error).__name__}: {error}"
        if reply.status_code != 200:
            return f"'{name}': HTTP {reply.status_code}: {reply.text[:300]}"
    return None


def server_diagnosis(record: ServerRecord, exit_code: int | None = None) -> Diagnosis:
    """Why a server died, from the end of its log (the training rules fit: OOM, missing files, bad flags)."""

    found = diagnose(exit_code, last_lines(record.stdout_path, 300))
    if "model_type" in found.summary and "Multiple possible types" in found.summary:
        return replace(found, fix="give the model type explicitly (the profile's family, e.g. qwen2 or llama).")
    if found.kind == "unknown":
        return replace(found, fix="read the end of the server's log (the stdout.log named above).")
    return found


def wait_ready(
    workspace: Workspace,
    server_id: str,
    *,
    timeout: float = START_TIMEOUT,
    progress: Progress | None = None,
    interval: float = 0.25,
) -> ServerRecord:
    """Poll the server until it answers healthy, then mark it ready and record its model names.

    A server that dies meanwhile is marked failed and raised with a diagnosis from its log.
    """
    say = progress or (lambda message: None)
    started = time.monotonic()
    last_said = 0.0
    import httpx

    with httpx.Client(timeout=httpx.Timeout(3.0), trust_env=False) as client:
        while True:
            record = get_server(workspace, server_id)
            if record.status == "ready" and server_alive(record):
                # Not probed: llama.cpp answers /v1/models only between generations, and a busy
                # shared server is still a good one.
                return record
            if record.status not in ("starting", "ready"):
                raise MhbenchError(
                    f"server {record.id} is {record.status}, not starting.",
                    path=record.stdout_path,
                    fix="start it again.",
                )
            if record.pid is not None and not server_alive(record):
                code = spawned_exit_code(record.id)
                set_status(workspace, record.id, "failed" if record.status == "starting" else "exited", ended=True)
                found = server_diagnosis(record, code)
                raise MhbenchError(
                    f"the {record.backend} server died while starting: {found.summary}",
                    path=record.stdout_path,
                    fix=found.fix,
                )
            if launch_abandoned(record.pid, record.created_at):
                set_status(workspace, record.id, "failed", ended=True)
                raise MhbenchError(f"server {record.id} was never launched.", fix="start it again.")
            if record.pid is not None:
                port = _announced_port(record)
                if port is not None and port != record.port:
                    with registry(workspace) as connection:
                        connection.execute(
                            "UPDATE servers SET port = ?, base_url = ? WHERE id = ?",
                            (port, f"http://{HOST}:{port}/v1", record.id),
                        )
                    continue
                names = _probe(record, client)
                unanswered = unanswered_name(record.root_url, names, client) if names is not None else None
                if unanswered is not None:
                    # Raised, not marked: whoever started it stops it as a failed start (lifecycle._start).
                    raise MhbenchError(
                        f"server {record.id} lists its models but does not answer {unanswered}",
                        path=record.stdout_path,
                        fix="serve adapters with the vllm or transformers engine (`--backend`), or merge the "
                        "adapter first; the server's log names the error.",
                    )
                if names is not None:
                    with registry(workspace) as connection:
                        connection.execute(
                            "UPDATE servers SET status = 'ready', healthy_at = COALESCE(healthy_at, ?), "
                            "served_names = ? WHERE id = ? AND status IN ('starting', 'ready')",
                            (utc_now(), json.dumps(names, ensure_ascii=False), record.id),
                        )
                    say(f"server {record.id} ready at {record.base_url} after {time.monotonic() - started:.1f} s")
                    return get_server(workspace, record.id)
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise MhbenchError(
                    f"server {record.id} did not answer within {timeout:.0f} s.",
                    path=record.stdout_path,
                    fix="read its log; a large model may need longer (raise the timeout), or stop it and start again.",
                )
            if elapsed - last_said >= 2.0:
                last_said = elapsed

                tail = next((line for line in reversed(last_lines(record.stdout_path, 5)) if line.strip()), "")
                say(
                    f"loading {record.backend} server {record.id}: {elapsed:.0f} s"
                    + (f" · {tail[:120]}" if tail else "")
                )
            time.sleep(interval)
