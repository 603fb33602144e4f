"""Starting, sharing and stopping servers: claim a registry row, spawn the command, stop its group.

The row is claimed inside one ``BEGIN IMMEDIATE`` transaction (:func:`_claim`), so two
processes asking for the same command at once get one server; the second waits for the
first's to become healthy (:func:`core.models.serving.health.wait_ready`).
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import socket
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.base.db import write_transaction
from core.base.errors import MhbenchError
from core.base.gpu import sample_gpus
from core.base.processes import (
    ProcessRow,
    await_group_exit,
    signal_group,
    start_detached,
    utc_now,
    write_json_atomic,
)
from core.base.workspace import Workspace
from core.models.serving.health import START_TIMEOUT, Progress, remember_spawned, wait_ready
from core.models.serving.memory import gpus_that_fit
from core.models.serving.registry import (
    SERVER_FILE,
    ServerRecord,
    get_server,
    reconcile_servers,
    servers_dir,
    set_status,
)
from core.models.serving.specs import (
    BUILD_LLAMA_SERVER,
    HOST,
    LlamaCppSpec,
    ServerSpec,
    SwiftDeploySpec,
    argv_key,
    build_argv,
    check_deploy_argv,
    expected_served_names,
    is_llama_server,
    llama_server_note,
    server_env,
)

if TYPE_CHECKING:
    from core.base.gpu import GpuReport


# --- starting ------------------------------------------------------------------------------------


def free_port(avoid: Sequence[int] = ()) -> int:
    """A port free on 127.0.0.1 now (the kernel picks it); ``avoid``: ports promised to starting servers."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
    raise MhbenchError("found no free port on 127.0.0.1.", fix="stop some servers and try again.")


def _new_id(label: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:40] or "server"
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


def _claim(
    workspace: Workspace, spec: ServerSpec, model_ids: Sequence[str], *, reuse: bool
) -> tuple[ServerRecord, bool]:
    """Find a live server with the same command, or register a new one: ``(record, started_here)``."""
    workspace.make_folders()
    with write_transaction(workspace) as connection:
        reconcile_servers(workspace, connection)
        active = [
            ServerRecord.from_row(row)
            for row in connection.execute(
                "SELECT * FROM servers WHERE status IN ('starting', 'ready') ORDER BY created_at"
            ).fetchall()
        ]
        key = argv_key(build_argv(spec, 0))
        if reuse:
            for record in active:
                if argv_key(record.argv) == key:
                    merged = [*record.model_ids, *(id_ for id_ in model_ids if id_ not in record.model_ids)]
                    if len(merged) > len(record.model_ids):
                        connection.execute(
                            "UPDATE servers SET model_ids = ? WHERE id = ?", (json.dumps(merged), record.id)
                        )
                        record = replace(record, model_ids=tuple(merged))
                    return record, False
        port = free_port([record.port for record in active])
        argv = build_argv(spec, port)
        server_id = _new_id(f"{spec.backend}-{spec.label}")
        server_dir = servers_dir(workspace) / server_id
        connection.execute(
            """INSERT INTO servers (id, backend, model_ids, host, port, base_url, argv, server_dir, status,
                                    served_names, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'starting', ?, ?)""",
            (
                server_id,
                spec.backend,
                json.dumps(list(model_ids)),
                HOST,
                port,
                f"http://{HOST}:{port}/v1",
                json.dumps(argv),
                str(server_dir),
                json.dumps(expected_served_names(spec), ensure_ascii=False),
                utc_now(),
            ),
        )
    return get_server(workspace, server_id), True


def _spawn(workspace: Workspace, record: ServerRecord, spec: ServerSpec) -> ServerRecord:
    record.server_dir.mkdir(parents=True, exist_ok=False)
    write_json_atomic(
        record.server_dir / SERVER_FILE,
        {
            "id": record.id,
            "workspace": str(workspace.root),
            "backend": record.backend,
            "argv": list(record.argv),
            "port": record.port,
            "created_at": record.created_at,
        },
    )
    if record.backend == "swift":
        fix = "install the training extra (`pip install -e '.[train]'`)."
    elif is_llama_server(record.argv):
        fix = f"build llama-server again (`{BUILD_LLAMA_SERVER}`)."
    else:
        fix = "install the gguf extra (`pip install -e '.[gguf]'`)."
    # The server stays `starting` until it answers (see health.wait_ready); its log holds a failed start's reason.
    process = start_detached(
        workspace, ProcessRow("servers", record.id, running_status=None, reason_column=None), record.argv,
        cwd=record.server_dir, log_path=record.stdout_path, env=server_env(spec), fix=fix,
    )
    remember_spawned(record.id, process)
    return get_server(workspace, record.id)


def _start(
    workspace: Workspace,
    spec: ServerSpec,
    *,
    reuse: bool,
    model_ids: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
    progress: Progress | None = None,
    check: bool = True,
) -> ServerRecord:
    if check and isinstance(spec, SwiftDeploySpec):
        check_deploy_argv(build_argv(spec, 0))
    record, started_here = _claim(workspace, spec, model_ids, reuse=reuse)
    say = progress or (lambda message: None)
    if not started_here:
        say(f"reusing server {record.id} ({record.status}) at {record.base_url}")
        return wait_ready(workspace, record.id, timeout=timeout, progress=progress)
    say(f"starting {spec.backend} server {record.id} on port {record.port}")
    note = llama_server_note() if isinstance(spec, LlamaCppSpec) else None
    if note is not None:
        say(note)
    try:
        _spawn(workspace, record, spec)
        return wait_ready(workspace, record.id, timeout=timeout, progress=progress)
    except BaseException:
        # Ours and not ready: never leave a half-started model holding memory.
        current = get_server(workspace, record.id)
        if current.active:
            _terminate(workspace, current, timeout=10.0, final_status="failed")
        raise


def start_server(
    workspace: Workspace,
    spec: ServerSpec,
    *,
    model_ids: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
    progress: Progress | None = None,
    check: bool = True,
) -> ServerRecord:
    """Start a new server for ``spec`` and wait until it answers; ``model_ids``: catalog ids it serves."""
    return _start(workspace, spec, reuse=False, model_ids=model_ids, timeout=timeout, progress=progress, check=check)


def find_or_start(workspace: Workspace, spec: ServerSpec, **options: Any) -> ServerRecord:
    """A live server with the same command (any port), whoever started it; else a new one. Waits until ready.

    Takes :func:`start_server`'s options.
    """
    return _start(workspace, spec, reuse=True, **options)


# --- stopping ------------------------------------------------------------------------------------


def _terminate(
    workspace: Workspace,
    record: ServerRecord,
    *,
    timeout: float,
    progress: Progress | None = None,
    final_status: str = "stopped",
) -> None:
    say = progress or (lambda message: None)
    set_status(workspace, record.id, "stopping")
    if signal_group(record.pid, record.start_time, record.pgid, signal.SIGTERM):
        say(f"sent SIGTERM to server {record.id}")
    await_group_exit(record.pid, record.start_time, record.pgid, timeout,
                     lambda: say(f"server {record.id} still running after {timeout:.0f} s: killing its process group"))
    set_status(workspace, record.id, final_status, ended=True)


def stop_server(
    workspace: Workspace, ref: str, *, timeout: float = 30.0, progress: Progress | None = None
) -> ServerRecord:
    """SIGTERM the server's process group, wait, then SIGKILL what is left; the memory is free on return."""
    record = get_server(workspace, ref)
    if not record.active:
        raise MhbenchError(f"server {record.id} is not running (it is {record.status}).", fix="nothing to stop.")
    _terminate(workspace, record, timeout=timeout, progress=progress)
    return get_server(workspace, record.id)


# --- memory ----------------------------------------------------------------------------------------


def memory_warning(
    expected_gb: float, gpu_report: GpuReport | None = None, *, gpu_indices: Sequence[int] | None = None,
    tensor_parallel: int = 1,
) -> str | None:
    """A warning when ``expected_gb`` would not fit the free memory of ``tensor_parallel`` GPUs, else ``None``.

    Asked before loading, because an out-of-memory failure costs the whole load time and may
    push another rater's server out. Each GPU must hold its part by itself: free memory on two
    GPUs does not add up for a model on one. Without a GPU nothing is said: the model loads into RAM.
    """
    if expected_gb <= 0:
        return None
    if gpu_report is None:
        gpu_report = sample_gpus()
    gpus = [gpu for gpu in gpu_report.gpus if gpu_indices is None or gpu.index in gpu_indices]
    if not gpus or gpus_that_fit(expected_gb, gpu_report, tensor_parallel=tensor_parallel,
                                 gpu_indices=gpu_indices) is not None:
        return None
    best = max(gpu.free_gb for gpu in gpus)
    where = ", ".join(f"GPU{gpu.index} {gpu.free_gb:.1f} GB" for gpu in gpus)
    on = "one GPU" if tensor_parallel == 1 else f"each of {tensor_parallel} GPUs ({expected_gb / tensor_parallel:.1f} GB each)"
    return (
        f"this model needs about {expected_gb:.1f} GB of GPU memory on {on} but only {best:.1f} GB is free "
        f"on the freest ({where}): stop a server or a run first, or serve a quantised GGUF."
    )
