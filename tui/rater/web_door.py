"""The browser door's server: textual-serve's ``Server`` with the walls a door open to raters needs.

textual-serve starts one Python app (about 40 MB) per websocket, for anyone who opens one.
This server:

- builds the page's addresses (scripts, websocket) from the public URL, so the page works
  behind ``ssh -L`` on another port or a TLS proxy, not only at the address it binds;
- refuses a websocket whose ``Origin`` is not the door's own address (a page on another
  site cannot start apps here, nor can a client that sends no Origin);
- caps the tabs open at once, and tells the extra one why, in Chinese with English below;
- runs each tab as ``exec``, so the tab's parent is this server and the tab can watch it.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import WSMsgType, web
from textual_serve.server import Server, to_int

log = logging.getLogger("textual-serve")

# Shown before any app runs, so it cannot go through the rater mode's catalogue: Chinese first,
# the English below it. One place for both the page and the terminal of a tab refused at the socket.
DOOR_FULL = (
    "评分入口已满：同时打开的页面已达 {limit} 个。请关闭不再使用的标签页，稍后刷新本页再试。",
    "The rating door is full: {limit} tabs are open at once. Close a tab you no longer use, "
    "then reload this page.",
)
# How long a refused tab keeps its socket, so the rater can read why before the page says "ended".
REFUSED_TAB_HOLD_S = 120.0


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` as a browser writes it in ``Origin``: lower case, no default port."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    port = parts.port
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == ""


def machine_names() -> set[str]:
    """Every name and address this machine answers to: what a browser may type to reach a wildcard bind."""
    import psutil

    names = {"localhost", socket.gethostname(), socket.getfqdn()}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.add(address.address.split("%")[0])
    return {name for name in names if name}


def door_origins(host: str, port: int, public_url: str | None) -> frozenset[str]:
    """The Origins a websocket may come from: the public URL's, else the address served.

    A loopback bind also answers to its other loopback names (``localhost``, ``[::1]``), and a
    wildcard bind to this machine's own names and addresses; never to a name anyone can point
    at this machine (a DNS-rebinding page would carry such an Origin).
    """
    if public_url:
        return frozenset({origin_of(public_url)})
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    names: Iterable[str] = (
        ("127.0.0.1", "localhost", "::1") if loopback else machine_names() if is_wildcard(host) else (host,)
    )
    return frozenset(origin_of(f"http://{name if ':' not in name else f'[{name}]'}:{port}") for name in names)


def full_page(limit: int) -> str:
    lines = "".join(f"<p>{html.escape(line.format(limit=limit))}</p>" for line in DOOR_FULL)
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>mhbench</title></head>'
            f'<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">{lines}</body></html>')


class RaterDoor(Server):
    """textual-serve for the rater mode, behind the Origin check and the tab cap."""

    def __init__(self, command: str, *, host: str, port: int, title: str, public_url: str | None,
                 max_tabs: int) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.public_url_given = public_url.rstrip("/") if public_url else None
        self.origins = door_origins(host, port, public_url)
        self.max_tabs = max_tabs
        self.open_tabs = 0

    def page_base(self, request: web.Request) -> str:
        """Where the page's scripts and socket live: the public URL, else the address the browser used."""
        return self.public_url_given or f"http://{request.host}"

    async def handle_index(self, request: web.Request) -> web.Response:
        if self.open_tabs >= self.max_tabs:
            return web.Response(text=full_page(self.max_tabs), content_type="text/html", status=503)
        base = self.page_base(request)
        socket_url = ("wss:" if base.startswith("https:") else "ws:") + base.split(":", 1)[1] + "/ws"
        context: dict[str, Any] = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": socket_url,
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        origin = request.headers.get("Origin")
        if origin is None or origin_of(origin) not in self.origins:
            log.warning("refused a websocket from Origin %r (peer %s): the door answers only %s. If raters reach "
                        "it through ssh -L on another port or a proxy, start it with --public-url.",
                        origin, request.remote, ", ".join(sorted(self.origins)))
            raise web.HTTPForbidden(text="this door answers only its own page\n")
        if self.open_tabs >= self.max_tabs:
            log.warning("refused a tab: %d tabs are open (--max-tabs %d)", self.open_tabs, self.max_tabs)
            return await self.refuse_tab(request)
        self.open_tabs += 1
        try:
            return await super().handle_websocket(request)
        finally:
            self.open_tabs -= 1

    async def refuse_tab(self, request: web.Request) -> web.WebSocketResponse:
        """Say why in the tab's terminal, and keep the socket a while so the page does not cover it."""
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        text = "\r\n\r\n  ".join(line.format(limit=self.max_tabs) for line in DOOR_FULL)
        await websocket.send_bytes(f"\x1b[2J\x1b[H\r\n  {text}\r\n".encode())
        try:
            async with asyncio.timeout(REFUSED_TAB_HOLD_S):
                async for message in websocket:
                    if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                        break
        except TimeoutError:
            pass
        await websocket.close()
        return websocket
