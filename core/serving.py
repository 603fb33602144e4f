"""Shared local model servers: ``swift deploy`` and llama.cpp's server, detached like runs.

A server is expensive to start (an 8B model loads for minutes) and cheap to share,
so it outlives the TUI that started it and every TUI, rater or CLI on the workspace
reuses it: :func:`find_or_start` returns a live server whose command is the same
(except for the port) instead of loading the model again. The registry row is
claimed inside one ``BEGIN IMMEDIATE`` transaction, so two processes asking at the
same moment get one server; the second waits for the first's to become healthy.

Each server is its own session and process group (``start_new_session``), writes to
``<workspace>/servers/<id>/stdout.log`` and binds 127.0.0.1 only. Its pid is trusted
only together with its start time (see :func:`core.runs.process_alive`). Health is
polled over HTTP by whoever waits, so a server started by a TUI that then crashed
is still marked ready by the next process that looks.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.db import find_row, registry, write_transaction
from core.errors import MhbenchError
from core.processes import (
    child_environment,
    group_alive,
    process_alive,
    process_start_time,
    signal_group,
    utc_now,
    write_json_atomic,
)
from core.workspace import Workspace

if TYPE_CHECKING:
    import httpx  # imported where used: its import pulls in rich, which core must not load

    from core.diagnose import Diagnosis
    from core.gpu import GpuReport
    from core.swift import FlagSpec

HOST = "127.0.0.1"
SERVERS_DIR = "servers"
STDOUT_FILE = "stdout.log"
SERVER_FILE = "server.json"
ACTIVE_STATUSES = frozenset({"starting", "ready", "stopping"})
START_TIMEOUT = 900.0
"""Seconds a server may take to answer: a 14B model on a busy disk loads for minutes."""
LAUNCH_GRACE = 60.0
"""A row still without a pid after this long lost its launcher (killed between insert and spawn)."""

Backend = Literal["swift", "llama_cpp"]
Progress = Callable[[str], None]
FlagValue = str | int | float | bool


# --- specs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwiftDeploySpec:
    """``swift deploy`` of a base model, with any number of LoRA adapters served beside it by name."""

    model_path: Path | str
    adapters: Mapping[str, Path | str] = field(default_factory=dict)
    """served name → checkpoint directory; each is a model name in ``/v1/models``."""
    template: str | None = None
    model_type: str | None = None
    """Needed where swift cannot tell (a Qwen2 config matches ``qwen2`` and ``qwen2_gte``)."""
    infer_backend: str = "transformers"
    served_model_name: str | None = None
    """The base model's name in requests; swift's default is the model folder's name."""
    extra: Mapping[str, FlagValue | Sequence[str]] = field(default_factory=dict)
    """More ``swift deploy`` flags, checked against the installed swift before launch."""

    backend: Backend = field(default="swift", init=False)

    @property
    def label(self) -> str:
        return self.served_model_name or Path(self.model_path).name


@dataclass(frozen=True)
class LlamaCppSpec:
    """``python -m llama_cpp.server`` over one GGUF file."""

    gguf_path: Path | str
    n_gpu_layers: int = 0
    """Layers offloaded to the GPU; -1 for all (a CUDA build only)."""
    n_ctx: int = 4096
    chat_format: str | None = None
    """``None``: the chat template stored in the GGUF."""
    served_model_name: str | None = None
    """``--model_alias``; llama.cpp's default is the GGUF path. Any name is answered by the one model."""
    n_threads: int | None = None
    """Generation threads; ``None``: llama.cpp's default, half the CPUs."""

    backend: Backend = field(default="llama_cpp", init=False)

    @property
    def label(self) -> str:
        return self.served_model_name or Path(self.gguf_path).stem


ServerSpec = SwiftDeploySpec | LlamaCppSpec


def _flag_value(value: FlagValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _require(path: Path, what: str, fix: str) -> Path:
    resolved = path.expanduser().resolve()
    if not resolved.exists():
        raise MhbenchError(f"{what} does not exist.", path=resolved, fix=fix)
    return resolved


def _is_hub_id(location: Path | str) -> bool:
    """``Qwen/Qwen2.5-7B-Instruct``: a hub id that swift downloads, not a folder here."""
    return (
        isinstance(location, str)
        and re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", location) is not None
        and not Path(location).exists()
    )


def _check_adapter_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise MhbenchError(
            f"adapter name '{name}' cannot be a served model name.",
            fix="use letters, digits, '.', '_' and '-' only, starting with a letter or digit.",
        )


def build_argv(spec: ServerSpec, port: int) -> list[str]:
    """The exact command for ``spec`` on ``port``; paths absolute, so two processes build the same argv."""
    if isinstance(spec, LlamaCppSpec):
        gguf = _require(
            Path(spec.gguf_path), "the GGUF file", "convert the model first (Models screen), or fix the path."
        )
        argv = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--host",
            HOST,
            "--port",
            str(port),
            "--n_gpu_layers",
            str(spec.n_gpu_layers),
            "--n_ctx",
            str(spec.n_ctx),
        ]
        if spec.chat_format:
            argv += ["--chat_format", spec.chat_format]
        if spec.served_model_name:
            argv += ["--model_alias", spec.served_model_name]
        if spec.n_threads is not None:
            argv += ["--n_threads", str(spec.n_threads)]
        # By default a second request cuts the stream in progress short (and ends it with [DONE]
        # as if complete); a shared server must queue requests instead.
        argv += ["--interrupt_requests", "false"]
        return argv
    model = spec.model_path if _is_hub_id(spec.model_path) else _require(
        Path(spec.model_path), "the model directory", "fix the model path, or download the model first."
    )
    flags: dict[str, FlagValue | Sequence[str]] = {"model": str(model)}
    if spec.model_type:
        flags["model_type"] = spec.model_type
    if spec.template:
        flags["template"] = spec.template
    if spec.adapters:
        pairs = []
        for name, checkpoint in spec.adapters.items():
            _check_adapter_name(name)
            path = _require(
                Path(checkpoint), f"adapter '{name}'", "pick a checkpoint that exists (see the run's checkpoints)."
            )
            pairs.append(f"{name}={path}")
        flags["adapters"] = pairs
    flags["infer_backend"] = spec.infer_backend
    if spec.served_model_name:
        flags["served_model_name"] = spec.served_model_name
    flags.update(spec.extra)
    flags.update({"host": HOST, "port": str(port)})  # never overridable: loopback only, our port
    argv = ["swift", "deploy"]
    for name, value in flags.items():
        argv.append(f"--{name}")
        if isinstance(value, str | int | float | bool):
            argv.append(_flag_value(value))
        else:
            argv.extend(str(item) for item in value)
    return argv


def argv_key(argv: Sequence[str]) -> str:
    """The identity of a server's command: its argv without the port's value."""
    parts = list(argv)
    kept: list[str] = []
    skip = False
    for part in parts:
        if skip:
            skip = False
            continue
        if part == "--port":
            skip = True
            continue
        kept.append(part)
    return json.dumps(kept)


# --- checking swift deploy's flags ---------------------------------------------------------------


def check_deploy_argv(argv: Sequence[str], specs: Mapping[str, FlagSpec] | None = None) -> None:
    """Fail in a second, not after model loading, when the installed swift would reject a flag."""
    from core.swift import installed_flag_specs, installed_swift_version, validate_argv

    if specs is None:
        specs = installed_flag_specs(command="deploy")
    problems = validate_argv(list(argv[2:]), specs)
    if problems:
        raise MhbenchError(
            f"ms-swift {installed_swift_version()} would reject this deploy command: " + " ".join(problems),
            fix="correct the deploy flag (the model's deploy settings or extra flags).",
        )


# --- the registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerRecord:
    """One row of the ``servers`` table."""

    id: str
    backend: str
    model_ids: tuple[str, ...]
    host: str
    port: int
    base_url: str
    """``http://127.0.0.1:PORT/v1``: what an OpenAI client takes."""
    argv: tuple[str, ...]
    server_dir: Path
    status: str
    pid: int | None
    pgid: int | None
    start_time: float | None
    served_names: Mapping[str, str]
    """Served model name → the weights it answers with (model folder, adapter checkpoint or GGUF)."""
    created_at: str
    healthy_at: str | None
    ended_at: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @property
    def stdout_path(self) -> Path:
        return self.server_dir / STDOUT_FILE

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def health_url(self) -> str:
        # llama.cpp's server has no /health; its /v1/models answers once the model is loaded.
        return self.root_url + ("/health" if self.backend == "swift" else "/v1/models")

    def model_name(self, path: Path | str | None = None) -> str:
        """The model name to request: the one serving ``path`` (an adapter checkpoint, say), else the base's."""
        if not self.served_names:
            raise MhbenchError(f"server {self.id} lists no model yet.", fix="wait until it is ready.")
        if path is not None:
            wanted = str(Path(path).expanduser().resolve())
            for name, source in self.served_names.items():
                if source == wanted:
                    return name
            raise MhbenchError(f"server {self.id} does not serve {wanted}.", fix="start a server for it.")
        return next(iter(self.served_names))

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ServerRecord:
        return cls(
            id=row["id"],
            backend=row["backend"],
            model_ids=tuple(json.loads(row["model_ids"])),
            host=row["host"],
            port=row["port"],
            base_url=row["base_url"],
            argv=tuple(json.loads(row["argv"])),
            server_dir=Path(row["server_dir"]),
            status=row["status"],
            pid=row["pid"],
            pgid=row["pgid"],
            start_time=row["start_time"],
            served_names=json.loads(row["served_names"] or "{}"),
            created_at=row["created_at"],
            healthy_at=row["healthy_at"],
            ended_at=row["ended_at"],
        )


def servers_dir(workspace: Workspace) -> Path:
    return workspace.root / SERVERS_DIR


def _alive(record: ServerRecord) -> bool:
    return process_alive(record.pid, record.start_time) or (record.pid is not None and group_alive(record.pgid))


def _age_s(stamp: str) -> float:
    try:
        then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - then).total_seconds()


def reconcile_servers(workspace: Workspace, connection: sqlite3.Connection | None = None) -> None:
    """Settle servers whose processes are gone: stopped when a stop was asked, else exited (or failed at start)."""
    if connection is None:
        with registry(workspace) as own:
            reconcile_servers(workspace, own)
        return
    for row in connection.execute("SELECT * FROM servers WHERE status IN ('starting', 'ready', 'stopping')").fetchall():
        record = ServerRecord.from_row(row)
        if record.pid is None:
            if _age_s(record.created_at) < LAUNCH_GRACE:
                continue
            status = "failed"
        elif _alive(record):
            continue
        else:
            status = {"stopping": "stopped", "starting": "failed"}.get(record.status, "exited")
        connection.execute(
            "UPDATE servers SET status = ?, ended_at = COALESCE(ended_at, ?) WHERE id = ? AND status = ?",
            (status, utc_now(), record.id, record.status),
        )


def list_servers(workspace: Workspace, *, active_only: bool = False) -> list[ServerRecord]:
    """Every server, newest first, with dead ones settled."""
    workspace.ensure()
    with registry(workspace) as connection:
        reconcile_servers(workspace, connection)
        where = " WHERE status IN ('starting', 'ready', 'stopping')" if active_only else ""
        rows = connection.execute(f"SELECT * FROM servers{where} ORDER BY created_at DESC, id DESC").fetchall()
    return [ServerRecord.from_row(row) for row in rows]


def get_server(workspace: Workspace, ref: str) -> ServerRecord:
    """A server by id or a unique prefix of it."""
    with registry(workspace) as connection:
        row = find_row(connection, "servers", ref, noun="server", listing="`mhbench serve --list`")
    return ServerRecord.from_row(row)


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


def _served_names(spec: ServerSpec) -> dict[str, str]:
    """What the server will list in ``/v1/models``, before it can be asked (confirmed once healthy)."""
    if isinstance(spec, LlamaCppSpec):
        path = str(Path(spec.gguf_path).expanduser().resolve())
        return {spec.served_model_name or path: path}
    base = str(spec.model_path) if _is_hub_id(spec.model_path) else str(Path(spec.model_path).expanduser().resolve())
    names = {spec.served_model_name or Path(base).name: base}
    names.update({name: str(Path(path).expanduser().resolve()) for name, path in spec.adapters.items()})
    return names


_CHILDREN: dict[str, subprocess.Popen[bytes]] = {}
"""Servers this process spawned: their exit codes, for a diagnosis when one dies while starting."""


def _claim(
    workspace: Workspace, spec: ServerSpec, model_ids: Sequence[str], *, reuse: bool
) -> tuple[ServerRecord, bool]:
    """Find a live server with the same command, or register a new one: ``(record, started_here)``."""
    workspace.ensure()
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
                json.dumps(_served_names(spec), ensure_ascii=False),
                utc_now(),
            ),
        )
    return get_server(workspace, server_id), True


def _spawn(workspace: Workspace, record: ServerRecord) -> ServerRecord:
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
    env = child_environment({"PYTHONUNBUFFERED": "1"})
    with record.stdout_path.open("ab") as log:
        try:
            process = subprocess.Popen(
                list(record.argv),
                cwd=record.server_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                close_fds=True,
            )
        except OSError as error:
            log.write(f"mhbench: cannot start {record.argv[0]}: {error}\n".encode())
            _set_status(workspace, record.id, "failed", ended=True)
            fix = (
                "install the training extra (`pip install -e '.[train]'`)."
                if record.backend == "swift"
                else "install the gguf extra (`pip install -e '.[gguf]'`)."
            )
            raise MhbenchError(f"cannot start {record.argv[0]}: {error.strerror or error}.", fix=fix) from None
    _CHILDREN[record.id] = process
    with registry(workspace) as connection:
        connection.execute(
            "UPDATE servers SET pid = ?, pgid = ?, start_time = ? WHERE id = ?",
            (process.pid, process.pid, process_start_time(process.pid), record.id),
        )
    # Reap it when it ends, so a long-lived TUI keeps no zombie; a short-lived CLI exits first
    # and the server passes to init, running on.
    threading.Thread(target=process.wait, name=f"reap-{record.id}", daemon=True).start()
    return get_server(workspace, record.id)


def _set_status(workspace: Workspace, server_id: str, status: str, *, ended: bool = False) -> None:
    with registry(workspace) as connection:
        connection.execute(
            "UPDATE servers SET status = ?, ended_at = CASE WHEN ? THEN COALESCE(ended_at, ?) ELSE ended_at END "
            "WHERE id = ?",
            (status, ended, utc_now(), server_id),
        )


_UVICORN_PORT = re.compile(r"Uvicorn running on https?://[^\s:]+:(\d+)")


def _announced_port(record: ServerRecord) -> int | None:
    """The port uvicorn says it bound (swift moves to the next free port when ours was taken meanwhile)."""
    from core.logtail import last_lines

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


def server_diagnosis(record: ServerRecord, exit_code: int | None = None) -> Diagnosis:
    """Why a server died, from the end of its log (the training rules fit: OOM, missing files, bad flags)."""
    from core.diagnose import diagnose
    from core.logtail import last_lines

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
            if record.status == "ready" and _alive(record):
                # Not probed: llama.cpp answers /v1/models only between generations, and a busy
                # shared server is still a good one.
                return record
            if record.status not in ("starting", "ready"):
                raise MhbenchError(
                    f"server {record.id} is {record.status}, not starting.",
                    path=record.stdout_path,
                    fix="start it again.",
                )
            if record.pid is not None and not _alive(record):
                child = _CHILDREN.get(record.id)
                code = child.poll() if child is not None else None
                _set_status(workspace, record.id, "failed" if record.status == "starting" else "exited", ended=True)
                found = server_diagnosis(record, code)
                raise MhbenchError(
                    f"the {record.backend} server died while starting: {found.summary}",
                    path=record.stdout_path,
                    fix=found.fix,
                )
            if record.pid is None and _age_s(record.created_at) > LAUNCH_GRACE:
                _set_status(workspace, record.id, "failed", ended=True)
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
                from core.logtail import last_lines

                tail = next((line for line in reversed(last_lines(record.stdout_path, 5)) if line.strip()), "")
                say(
                    f"loading {record.backend} server {record.id}: {elapsed:.0f} s"
                    + (f" · {tail[:120]}" if tail else "")
                )
            time.sleep(interval)


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
    try:
        _spawn(workspace, record)
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
    _set_status(workspace, record.id, "stopping")
    if signal_group(record.pid, record.start_time, record.pgid, signal.SIGTERM):
        say(f"sent SIGTERM to server {record.id}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and group_alive(record.pgid):
        time.sleep(0.1)
    if group_alive(record.pgid):
        say(f"server {record.id} still running after {timeout:.0f} s: killing its process group")
        signal_group(record.pid, record.start_time, record.pgid, signal.SIGKILL)
        while group_alive(record.pgid):
            time.sleep(0.05)
    _set_status(workspace, record.id, final_status, ended=True)


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
    expected_gb: float, gpu_report: GpuReport | None = None, *, gpu_indices: Sequence[int] | None = None
) -> str | None:
    """A warning when loading ``expected_gb`` would not fit the free memory of the GPUs, else ``None``.

    Asked before loading, because an out-of-memory failure costs the whole load time and may
    push another rater's server out. Without a GPU nothing is said: the model loads into RAM.
    """
    if expected_gb <= 0:
        return None
    if gpu_report is None:
        from core.gpu import sample_gpus

        gpu_report = sample_gpus()
    gpus = [gpu for gpu in gpu_report.gpus if gpu_indices is None or gpu.index in gpu_indices]
    if not gpus:
        return None
    free = sum(gpu.free_gb for gpu in gpus)
    if expected_gb <= free:
        return None
    where = ", ".join(f"GPU{gpu.index} {gpu.free_gb:.1f} GB" for gpu in gpus)
    return (
        f"this model needs about {expected_gb:.1f} GB of GPU memory but only {free:.1f} GB is free ({where}): "
        "stop a server or a run first, or serve a quantised GGUF."
    )
