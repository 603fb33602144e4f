"""Websockets to a real ``mhbench web`` as any client (or attacker) would open them, and the tabs they start.

aiohttp's client sends whatever ``Origin`` it is given (a browser sends its page's), so a probe can
come "from another site" without a browser. The door's tabs are its children that run the rater app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import psutil


def socket_url(door_url: str) -> str:
    return door_url.rstrip("/") + "/ws?width=100&height=30"


async def refused_status(session: aiohttp.ClientSession, door_url: str, origin: str | None) -> int | None:
    """The HTTP status that refused the websocket, or ``None`` when it opened (then it is closed again)."""
    try:
        async with session.ws_connect(socket_url(door_url), origin=origin):
            return None
    except aiohttp.WSServerHandshakeError as error:
        return error.status


# An app's first screen is several kilobytes of escapes and text, whatever language it speaks.
FIRST_SCREEN_BYTES = 2000


async def received_text(socket: aiohttp.ClientWebSocketResponse, needle: str | None = None,
                        timeout: float = 60.0) -> str:
    """What the tab drew until ``needle`` arrived (without one: until a first screen's worth)."""
    seen = ""
    async with asyncio.timeout(timeout):
        while (needle not in seen) if needle is not None else len(seen.encode()) < FIRST_SCREEN_BYTES:
            message = await socket.receive()
            if message.type == aiohttp.WSMsgType.BINARY:
                seen += message.data.decode("utf-8", "replace")
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                raise AssertionError(f"the socket closed before {needle!r}; it drew: {seen[-2000:]!r}")
    return seen


def tab_processes(server_pid: int) -> list[psutil.Process]:
    """The door's tabs: its children that run the rater app (not zombies)."""
    try:
        children = psutil.Process(server_pid).children()
    except psutil.NoSuchProcess:
        return []
    return [child for child in children if alive(child) and any("rater" in part for part in child.cmdline())]


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
