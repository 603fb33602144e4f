"""Shared local model servers: ``swift deploy`` and llama.cpp's ``llama-server``, detached like runs.

A server is expensive to start (an 8B model loads for minutes) and cheap to share,
so it outlives the TUI that started it and every TUI, rater or CLI on the workspace
reuses it: :func:`find_or_start` returns a live server whose command is the same
(except for the port) instead of loading the model again. The registry row is
claimed inside one ``BEGIN IMMEDIATE`` transaction, so two processes asking at the
same moment get one server; the second waits for the first's to become healthy.

Each server is its own session and process group (``start_new_session``), writes to
``<workspace>/servers/<id>/stdout.log`` and binds 127.0.0.1 only. Its pid is trusted
only together with its start time (see :func:`core.base.processes.process_alive`). Health is
polled over HTTP by whoever waits, so a server started by a TUI that then crashed
is still marked ready by the next process that looks.

``specs`` holds what a server runs (the specs and their exact argv), ``registry`` the
``servers`` table and its records, ``health`` the waiting until a server answers, and
``lifecycle`` claiming, spawning and stopping.
"""

from __future__ import annotations

from core.base.processes import LAUNCH_GRACE
from core.models.serving.health import START_TIMEOUT, Progress, server_diagnosis, wait_ready
from core.models.serving.lifecycle import find_or_start, free_port, memory_warning, start_server, stop_server
from core.models.serving.registry import (
    ACTIVE_STATUSES,
    SERVER_FILE,
    SERVERS_DIR,
    STDOUT_FILE,
    ServerRecord,
    get_server,
    list_servers,
    reconcile_servers,
    servers_dir,
)
from core.models.serving.specs import (
    BUILD_LLAMA_SERVER,
    HOST,
    LLAMA_SERVER_SLOTS,
    Backend,
    FlagValue,
    LlamaCppSpec,
    ServerSpec,
    SwiftDeploySpec,
    argv_key,
    build_argv,
    check_deploy_argv,
    is_llama_server,
    llama_cpp_slots,
    llama_server_binary,
    llama_server_note,
)

__all__ = [
    "ACTIVE_STATUSES",
    "BUILD_LLAMA_SERVER",
    "HOST",
    "LAUNCH_GRACE",
    "LLAMA_SERVER_SLOTS",
    "SERVERS_DIR",
    "SERVER_FILE",
    "START_TIMEOUT",
    "STDOUT_FILE",
    "Backend",
    "FlagValue",
    "LlamaCppSpec",
    "Progress",
    "ServerRecord",
    "ServerSpec",
    "SwiftDeploySpec",
    "argv_key",
    "build_argv",
    "check_deploy_argv",
    "find_or_start",
    "free_port",
    "get_server",
    "is_llama_server",
    "list_servers",
    "llama_cpp_slots",
    "llama_server_binary",
    "llama_server_note",
    "memory_warning",
    "reconcile_servers",
    "server_diagnosis",
    "servers_dir",
    "start_server",
    "stop_server",
    "wait_ready",
]
