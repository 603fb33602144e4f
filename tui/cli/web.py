"""``mhbench web``: the rater mode in a browser, through textual-serve.

textual-serve runs one command per browser tab (per websocket): here the installed
``tui/rater/__main__.py`` by its absolute path (never the current directory's ``tui``),
whose first screen asks for the rater's token. The server binds 127.0.0.1 unless told
otherwise; any other address needs ``--public``, and the traffic is plain HTTP unless a
TLS proxy is put in front. ``--public-url`` is the address raters type (an ``ssh -L``
port, the proxy's https URL): the page is built from it and only it may open a tab.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import shlex
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.base.errors import MhbenchError
from tui.cli.common import PORT, opened_workspace, say, whole_number


def add_commands(commands: Any) -> None:
    web = commands.add_parser("web", help="serve the rater mode to browsers (textual-serve; 127.0.0.1 by default)")
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: reach it by ssh -L)")
    web.add_argument("--port", type=PORT, default=8765, help="port (default 8765)")
    web.add_argument("--public", action="store_true", help="allow a non-loopback --host (plain HTTP: use TLS)")
    web.add_argument("--public-url", metavar="URL", type=public_url,
                     help="the address raters open, e.g. https://rate.example.org or http://127.0.0.1:9999 "
                          "(behind a TLS proxy or ssh -L on another port); only pages from it may open a tab")
    web.add_argument("--lang", choices=("zh", "en"), default=None,
                     help="the tabs' language before a rater logs in (default zh; a rater's own choice wins)")
    web.add_argument("--max-tabs", type=whole_number(1, 1000), default=12, metavar="N",
                     help="tabs open at once, each one app (about 40 MB); the next is told to wait (default 12)")
    web.set_defaults(handler=cmd_web, starts_app=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_url(text: str) -> str:
    """An argparse ``type``: an http(s) URL with a host, no query; kept without its trailing slash."""
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' has a port that is not a number") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"'{text}' is not an http(s) address like https://rate.example.org "
                                         "or http://127.0.0.1:9999")
    return text.rstrip("/")


def tab_command(workspace: str, language: str | None = None) -> str:
    """The command textual-serve runs for each tab: this interpreter, this code, the rater app only.

    The rater app runs by its absolute path with ``-P``, so neither the server's current
    directory nor the script's folder comes first on ``sys.path``: a ``tui/`` folder where the
    operator stands is never run. ``exec`` makes the tab the server's own child, which it watches
    (``--door-pid``) so that it ends when the server dies. ``language`` is the tabs' default
    until a rater logs in (a rater's own remembered choice wins).
    """
    import tui.rater.__main__ as rater_main

    entry = str(Path(rater_main.__file__).resolve())
    lang = ["--lang", language] if language else []
    return "exec " + shlex.join([sys.executable, "-P", entry, "--workspace", workspace, "--browser",
                                 "--door-pid", str(os.getpid()), *lang])


def cmd_web(args: argparse.Namespace) -> int:
    workspace = opened_workspace(args)
    if not is_loopback(args.host) and not args.public:
        raise MhbenchError(f"--host {args.host} is not a loopback address: anyone who can reach it gets the token "
                           "page, over plain HTTP.",
                           fix="keep 127.0.0.1 and use `ssh -L 8765:127.0.0.1:8765 user@gpu-box`, or add --public.")
    check_port_free(args.host, args.port)
    try:
        from tui.rater.web_door import RaterDoor
    except ImportError:
        raise MhbenchError("textual-serve is not installed.", fix="pip install textual-serve (see README).") from None
    if not is_loopback(args.host):
        say(f"WARNING: serving on {args.host}: the traffic (tokens, prompts and answers) is plain HTTP "
            "unless you put this behind TLS (a reverse proxy).")
    door = RaterDoor(tab_command(str(workspace.root), args.lang), host=args.host, port=args.port, title="mhbench rater",
                     public_url=args.public_url, max_tabs=args.max_tabs)
    where = f" for raters at {args.public_url}" if args.public_url else ""
    say(f"rater door on http://{args.host}:{args.port}{where} (workspace {workspace.root}); at most "
        f"{args.max_tabs} tabs; Ctrl+C stops it. Raters need a token: `mhbench raters add NAME`.")
    try:
        door.serve()
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

