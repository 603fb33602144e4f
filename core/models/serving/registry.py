"""The ``servers`` table: one :class:`ServerRecord` a row, listed, looked up and settled.

A row whose processes are gone is settled by whoever looks next (:func:`reconcile_servers`),
so a server started by a TUI that then crashed is never shown as running.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.base.db import find_row, registry
from core.base.errors import MhbenchError
from core.base.processes import group_alive, launch_abandoned, process_alive, utc_now
from core.base.workspace import Workspace
from core.models.serving.specs import is_llama_server

SERVERS_DIR = "servers"
STDOUT_FILE = "stdout.log"
SERVER_FILE = "server.json"
ACTIVE_STATUSES = frozenset({"starting", "ready", "stopping"})


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
        # llama_cpp.server has no /health; its /v1/models answers once the model is loaded.
        return self.root_url + ("/v1/models" if self.backend == "llama_cpp" and not is_llama_server(self.argv)
                                else "/health")

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


def server_alive(record: ServerRecord) -> bool:
    """Whether the server's leader (the very process started) or anything of its group still runs."""
    return process_alive(record.pid, record.start_time) or (record.pid is not None and group_alive(record.pgid))


def reconcile_servers(workspace: Workspace, connection: sqlite3.Connection | None = None) -> None:
    """Settle servers whose processes are gone: stopped when a stop was asked, else exited (or failed at start)."""
    if connection is None:
        with registry(workspace) as own:
            reconcile_servers(workspace, own)
        return
    for row in connection.execute("SELECT * FROM servers WHERE status IN ('starting', 'ready', 'stopping')").fetchall():
        record = ServerRecord.from_row(row)
        if record.pid is None:
            if not launch_abandoned(record.pid, record.created_at):
                continue
            status = "failed"
        elif server_alive(record):
            continue
        else:
            status = {"stopping": "stopped", "starting": "failed"}.get(record.status, "exited")
        connection.execute(
            "UPDATE servers SET status = ?, ended_at = COALESCE(ended_at, ?) WHERE id = ? AND status = ?",
            (status, utc_now(), record.id, record.status),
        )


def list_servers(workspace: Workspace, *, active_only: bool = False) -> list[ServerRecord]:
    """Every server, newest first, with dead ones settled."""
    workspace.make_folders()
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


def set_status(workspace: Workspace, server_id: str, status: str, *, ended: bool = False) -> None:
    """Set a server's status; ``ended`` also stamps when it ended (once)."""
    with registry(workspace) as connection:
        connection.execute(
            "UPDATE servers SET status = ?, ended_at = CASE WHEN ? THEN COALESCE(ended_at, ?) ELSE ended_at END "
            "WHERE id = ?",
            (status, ended, utc_now(), server_id),
        )
