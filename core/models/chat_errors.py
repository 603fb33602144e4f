"""What a failed chat request says: the URL, the server's own message on one line, and what to do.

Servers phrase errors differently: ``{"message": ...}`` (swift), ``{"error": {"message": ...}}``
(llama.cpp, OpenAI) or ``{"detail": ...}`` (FastAPI validation); :func:`server_message`
reads all three. httpx's transport errors are mapped to one :class:`ChatError` each,
with the operating system's reason rather than httpx's wrapper.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from core.base.errors import MhbenchError
from core.base.text import strip_control

if TYPE_CHECKING:
    import httpx

__all__ = ["MESSAGE_MAX", "ChatError", "http_fix", "one_line", "server_message", "transport_error"]

MESSAGE_MAX = 300


class ChatError(MhbenchError):
    """A chat request that failed: the URL, what the server or the network said, and the fix."""


def one_line(text: str) -> str:
    """The first non-blank line of untrusted text, stripped of controls and cut to :data:`MESSAGE_MAX`."""
    line = next((part.strip() for part in strip_control(text).splitlines() if part.strip()), "")
    return line if len(line) <= MESSAGE_MAX else line[: MESSAGE_MAX - 1] + "…"


def server_message(body: bytes | str) -> str:
    """The error message in a server's error body, whichever shape it has, on one line."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return one_line(text) or "(empty body)"
    candidates: list[Any] = []
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            candidates.append(error.get("message"))
        candidates += [error, data.get("message"), data.get("detail")]
    for candidate in candidates:
        if isinstance(candidate, list) and candidate:  # FastAPI: [{"loc": ..., "msg": ...}]
            first = candidate[0]
            candidate = first.get("msg") if isinstance(first, dict) else first
        if isinstance(candidate, str) and candidate.strip():
            return one_line(candidate)
    return one_line(text)


def http_fix(status: int) -> str:
    """What to do about an HTTP error status from a model server."""
    if status in (401, 403):
        return "check the endpoint's API key."
    if status == 404:
        return "check the URL: give the server's base URL (http://host:port or …/v1)."
    if status in (400, 422):
        return "check the model name and the generation parameters the server accepts."
    if status == 503:
        return "the server is still loading or overloaded: wait and retry."
    return "read the server's log (Models screen → servers)."


def _os_reason(error: BaseException) -> str:
    """The operating system's reason under httpx's wrapper ("All connection attempts failed")."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno).lower()
        current = current.__cause__ or current.__context__
    return one_line(str(error)).lower() or "cannot connect"


def transport_error(url: str, error: httpx.HTTPError, timeout: httpx.Timeout) -> ChatError:
    """httpx's failure to connect, to hear back in time or to finish reading, said for the user."""
    import httpx

    if isinstance(error, httpx.ConnectTimeout):
        return ChatError(
            f"{url}: no connection within {timeout.connect or 0:g} s.",
            fix="check the host and port, and that the server is running.",
        )
    if isinstance(error, httpx.ConnectError):
        return ChatError(
            f"{url}: cannot connect ({_os_reason(error)}).",
            fix="start the model's server (Models screen) or correct the endpoint URL.",
        )
    if isinstance(error, httpx.ReadTimeout):
        return ChatError(
            f"{url}: the server sent nothing for {timeout.read or 0:g} s.",
            fix="the server is stuck or overloaded: check its log, or raise the read timeout.",
        )
    if isinstance(error, httpx.TimeoutException):
        return ChatError(f"{url}: timed out ({type(error).__name__}).", fix="check the server and the network.")
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError):
        return ChatError(
            f"{url}: the connection broke mid-answer ({one_line(str(error)) or type(error).__name__}).",
            fix="the server stopped or crashed: check that it runs and read its log.",
        )
    return ChatError(f"{url}: {type(error).__name__}: {one_line(str(error))}.", fix="check the server and the URL.")
