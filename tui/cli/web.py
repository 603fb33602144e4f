"""``mhbench web``: the rater mode in a browser, through textual-serve.

textual-serve runs one command per browser tab (per websocket): here
``python -m tui.rater --workspace DIR --browser``, whose first screen asks for the
rater's token. The server binds 127.0.0.1 unless told otherwise; any other address
needs ``--public``, and the traffic is plain HTTP unless a TLS proxy is put in front.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import shlex
import socket
import sys
from typing import Any

from core.base.errors import MhbenchError
from tui.cli.common import PORT, opened_workspace, say


def add_commands(commands: Any) -> None:
    web = commands.add_parser("web", help="serve the rater mode to browsers (textual-serve; 127.0.0.1 by default)")
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: reach it by ssh -L)")
    web.add_argument("--port", type=PORT, default=8765, help="port (default 8765)")
    web.add_argument("--public", action="store_true", help="allow a non-loopback --host (plain HTTP: use TLS)")
    web.set_defaults(handler=cmd_web, starts_app=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tab_command(workspace: str) -> str:
    """The command textual-serve runs for each tab: this interpreter, this code, the rater app only."""
    return shlex.join([sys.executable, "-m", "tui.rater", "--workspace", workspace, "--browser"])


def cmd_web(args: argparse.Namespace) -> int:
    workspace = opened_workspace(args)
    if not is_loopback(args.host) and not args.public:
        raise MhbenchError(f"--host {args.host} is not a loopback address: anyone who can reach it gets the token "
                           "page, over plain HTTP.",
                           fix="keep 127.0.0.1 and use `ssh -L 8765:127.0.0.1:8765 user@gpu-box`, or add --public.")
    check_port_free(args.host, args.port)
    try:
        from textual_serve.server import Server
    except ImportError:
        raise MhbenchError("textual-serve is not installed.", fix="pip install textual-serve (see README).") from None
    if not is_loopback(args.host):
        say(f"WARNING: serving on {args.host}: the traffic (tokens, prompts and answers) is plain HTTP "
            "unless you put this behind TLS (a reverse proxy).")
    say(f"rater door on http://{args.host}:{args.port} (workspace {workspace.root}); Ctrl+C stops it. "
        "Raters need a token: `mhbench raters add NAME`.")
    try:
        Server(tab_command(str(workspace.root)), host=args.host, port=args.port, title="mhbench rater").serve()
    except OSError as error:  # taken between the check and the bind
        raise port_error(args.host, args.port, error) from None
    return 0


def check_port_free(host: str, port: int) -> None:
    """Bind ``host:port`` as the server will (address reuse on, as aiohttp does) and let it go again.

    A port that is taken, or a host that is not this machine's, is named before anything starts.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        raise port_error(host, port, error) from None


def port_error(host: str, port: int, error: OSError) -> MhbenchError:
    if error.errno == errno.EADDRINUSE:
        return MhbenchError(f"port {port} on {host} is already in use.",
                            fix=f"choose another with --port N, or stop what listens there "
                                f"(`ss -ltnp 'sport = :{port}'` names it).")
    if error.errno == errno.EACCES:
        return MhbenchError(f"port {port} on {host} needs privileges to bind.", fix="choose a port above 1023 with --port N.")
    return MhbenchError(f"cannot listen on {host}:{port}: {error.strerror or error}.",
                        fix="check --host: it must be an address of this machine (127.0.0.1 by default).")

