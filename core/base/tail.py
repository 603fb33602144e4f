"""Incremental tails of the files a detached process writes: JSON Lines and text logs.

The TUI polls about twice a second for the whole life of a training run, a merge, a
conversion or a server, and such a log can grow for days, so every poll costs O(new
bytes): the tails remember a byte offset, read only what was appended since, and never
re-read or re-split old text. A line is handed out only once its newline has arrived;
the unfinished tail end is buffered (ms-swift and tqdm write in pieces, and half a JSON
object must never be parsed). :func:`last_lines` reads the end of a log of any size
backwards, for explaining a process that failed.

What the lines *mean* is the caller's business (ms-swift's ``logging.jsonl`` records are
read in :mod:`core.train.records`). Stdlib, plus orjson when it is there.
"""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.base.text import strip_control, terminal_line, terminal_lines

__all__ = ["JsonlTail", "TextTail", "last_lines"]

CHUNK = 4 << 20
"""Bytes per read: big enough that a first open of a huge log is a few dozen syscalls."""

BAD_LINES_KEPT = 100
"""How many bad line numbers a :class:`JsonlTail` remembers; the count goes on."""

MAX_PENDING_TEXT = 1 << 20
"""A text line longer than this without a newline is handed out anyway, so a runaway writer cannot grow memory."""

# --------------------------------------------------------------------------- byte-offset tail


class _ByteTail:
    """The shared mechanics: offset, partial-line buffer, truncation and replacement detection.

    Opening the file on every poll (rather than holding it) costs a few microseconds and
    notices a file that was replaced; ``fstat`` gives the size to read up to, so a writer
    appending during the poll is simply picked up next time.
    """

    def __init__(self, path: Path | str, offset: int = 0) -> None:
        if offset < 0:
            raise ValueError(f"offset must be >= 0, not {offset}")
        self.path = Path(path)
        self._pos = offset  # bytes of the file read so far, pending included
        self._committed = offset  # the byte after the last line handed out
        self._pending = bytearray()  # read bytes after the last newline
        self._identity: tuple[int, int] | None = None
        self._last_byte: int | None = None  # the byte at _pos - 1, to notice a rewrite in place
        self.restarts = 0
        """How many times the file shrank or was replaced and reading began again at byte 0."""
        self.problem: str | None = None
        """Why the last poll could not open the file (other than its not existing yet), else None."""
        self.caught_up = True
        """False when the last poll stopped at ``max_bytes`` before the end of the file."""

    @property
    def offset(self) -> int:
        """The byte just after the last complete line: where a new tail should start to go on from here."""
        return self._committed

    def _restart(self) -> None:
        self._pos = 0
        self._committed = 0
        self._pending.clear()
        self._last_byte = None
        self.restarts += 1
        self._on_restart()

    def _on_restart(self) -> None:
        """Subclasses forget what they derived from the old file."""

    def _consume(self, complete: bytes) -> None:
        """Handle bytes that end with a newline (one or many complete lines)."""
        raise NotImplementedError

    def _read(self, max_bytes: int | None) -> None:
        """Read what is new; hand every completed line to :meth:`_consume`; keep the rest pending."""
        try:
            handle = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed below; raw reads avoid a copy
        except FileNotFoundError:
            self.problem = None
            return
        except OSError as error:
            self.problem = f"{self.path}: {error.strerror or error}"
            return
        self.problem = None
        with handle:
            status = os.fstat(handle.fileno())
            identity = (status.st_dev, status.st_ino)
            size = status.st_size
            if size < self._pos or (self._identity is not None and identity != self._identity):
                self._restart()
            elif self._last_byte is not None and self._pos > 0:
                # Same inode, not shorter: make sure it was not rewritten in place under us.
                handle.seek(self._pos - 1)
                if handle.read(1) != bytes((self._last_byte,)):
                    self._restart()
            self._identity = identity
            if size <= self._pos:
                self.caught_up = True
                return
            handle.seek(self._pos)
            budget = size - self._pos if max_bytes is None else min(size - self._pos, max(max_bytes, 1))
            while budget > 0:
                chunk = handle.read(min(CHUNK, budget))
                if not chunk:
                    break
                budget -= len(chunk)
                self._pos += len(chunk)
                self._last_byte = chunk[-1]
                self._take(chunk, self._pos - len(chunk))
            self.caught_up = self._pos >= size

    def _take(self, chunk: bytes, start: int) -> None:
        """``start``: the file offset of ``chunk``'s first byte."""
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self._pending += chunk  # amortised O(len(chunk)); a long partial line is never re-copied
            self._on_pending()
            return
        if self._pending:
            complete = bytes(self._pending) + chunk[: cut + 1]
            self._pending.clear()
        else:
            complete = chunk[: cut + 1]
        self._pending += chunk[cut + 1 :]
        self._committed = start + cut + 1
        self._consume(complete)
        self._on_pending()

    def _on_pending(self) -> None:
        """Called after the pending buffer changed."""


# --------------------------------------------------------------------------- JSON Lines

_DECODER = json.JSONDecoder()
# The C scanner behind ``raw_decode``, called directly: a third less time per line on a first open
# of a long log. Same parser, same strictness; ``raw_decode`` stands in where it is missing.
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = getattr(_DECODER, "scan_once", _DECODER.raw_decode)
_JSON_SPACE = " \t\r\n"

try:  # orjson parses a step line about four times faster: a 1M-line log opens in about a second.
    import orjson

    _FAST_LOADS: Callable[[str], Any] | None = orjson.loads
except ImportError:  # pragma: no cover - orjson is a base dependency; the stdlib parser stands in
    _FAST_LOADS = None


class JsonlTail(_ByteTail):
    """Tail a JSON Lines file (ms-swift's ``logging.jsonl``): each poll returns the objects of the lines
    completed since the last.

    A missing file is a process that has not logged yet: ``[]``. A file that shrank or was
    replaced is read again from the start (``restarts`` counts it). Lines that are not a
    JSON object are skipped and counted; they never raise, because one torn line (a
    killed writer) must not hide the rest of a run. Not thread-safe: one poller at a time.
    """

    def __init__(self, path: Path | str, offset: int = 0, *, lines_before: int = 0) -> None:
        """``lines_before``: how many lines precede ``offset``, when known, so bad-line numbers stay absolute."""
        super().__init__(path, offset)
        self.lines_read = lines_before
        """Complete lines consumed, counting from the start of the file (or from ``lines_before``)."""
        self.bad_lines = 0
        self.bad_line_numbers: list[int] = []
        """1-based numbers of the first :data:`BAD_LINES_KEPT` bad lines."""
        self._out: list[dict[str, object]] = []

    def _on_restart(self) -> None:
        self.lines_read = 0
        self.bad_lines = 0
        self.bad_line_numbers = []

    def _bad(self, number: int) -> None:
        self.bad_lines += 1
        if len(self.bad_line_numbers) < BAD_LINES_KEPT:
            self.bad_line_numbers.append(number)

    def _consume(self, complete: bytes) -> None:
        lines = complete.decode("utf-8", errors="replace").split("\n")
        lines.pop()  # the empty string after the final newline
        number = self.lines_read
        out = self._out
        if _FAST_LOADS is not None:
            self.lines_read = self._consume_fast(lines, number, out, _FAST_LOADS)
            return
        scan_once = _SCAN_ONCE
        for line in lines:
            number += 1
            # Only a line that starts with "{" can be an object; anything else is rejected unparsed.
            if not line.startswith("{"):
                stripped = line.strip(_JSON_SPACE)
                if not stripped:
                    continue  # a blank line is not worth a warning
                if not stripped.startswith("{"):
                    self._bad(number)
                    continue
                line = stripped
            try:
                obj, end = scan_once(line, 0)
            except (ValueError, RecursionError, StopIteration):
                self._bad(number)
                continue
            if end != len(line) and line[end:].strip(_JSON_SPACE):
                self._bad(number)  # an object followed by more text on the same line
                continue
            out.append(obj)
        self.lines_read = number

    def _consume_fast(
        self, lines: list[str], number: int, out: list[dict[str, object]], loads: Callable[[str], Any]
    ) -> int:
        for line in lines:
            number += 1
            try:
                obj = loads(line)
            except ValueError:
                if line.strip(_JSON_SPACE):
                    self._bad(number)
                continue
            if isinstance(obj, dict):
                out.append(obj)
            else:
                self._bad(number)
        return number

    def poll(self, max_bytes: int | None = None) -> list[dict[str, object]]:
        """The JSON objects of every line completed since the last poll, in file order.

        ``max_bytes`` bounds the work of one call (a UI catching up with a huge log in
        slices); ``caught_up`` then says whether the end was reached.
        """
        self._out = []
        self._read(max_bytes)
        out, self._out = self._out, []
        return out


# --------------------------------------------------------------------------- text


class TextTail(_ByteTail):
    """Tail a process's ``stdout.log``: new completed lines, tqdm bars collapsed, terminal controls removed.

    tqdm redraws its bar with carriage returns and writes the newline only when the
    bar closes, so the bar in progress is the pending partial line: :attr:`current`
    holds what a terminal would show for it. The pending bytes are compacted to the
    last redraw on every poll, so a bar that runs for hours costs nothing extra.
    """

    def __init__(self, path: Path | str, offset: int = 0, max_lines: int = 2000) -> None:
        super().__init__(path, offset)
        self._lines: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._new: list[str] = []
        self.current = ""
        """The live partial line (tqdm's bar), collapsed and cleaned; "" when none."""

    @property
    def lines(self) -> collections.deque[str]:
        """The last ``max_lines`` completed lines, oldest first."""
        return self._lines

    def tail(self, n: int) -> list[str]:
        """The last ``n`` completed lines, oldest first."""
        if n <= 0:
            return []
        size = len(self._lines)
        return [self._lines[i] for i in range(max(0, size - n), size)]

    def _on_restart(self) -> None:
        self._lines.clear()
        self.current = ""

    def _consume(self, complete: bytes) -> None:
        lines = terminal_lines(complete.decode("utf-8", errors="replace"))
        lines.pop()  # after the final newline
        self._new.extend(lines)
        self._lines.extend(lines)

    def _on_pending(self) -> None:
        pending = self._pending
        if b"\r" in pending:
            # Keep only the last redraw that shows something, and what follows the last CR.
            segments = bytes(pending).split(b"\r")
            last = segments.pop()
            keep = b""
            for segment in reversed(segments):
                if strip_control(segment.decode("utf-8", errors="replace")).strip():
                    keep = segment
                    break
            pending[:] = keep + b"\r" + last
        if len(pending) > MAX_PENDING_TEXT:
            self._consume(bytes(pending) + b"\n")  # a runaway line: hand it out rather than grow
            pending.clear()
            self._committed = self._pos
        text = pending.decode("utf-8", errors="replace").rstrip("\ufffd")  # a split multibyte char is not shown
        self.current = terminal_line(text) if pending else ""

    def poll(self, max_bytes: int | None = None) -> list[str]:
        """The lines completed since the last poll; :attr:`current` is updated too."""
        self._new = []
        self._read(max_bytes)
        new, self._new = self._new, []
        return new


def last_lines(path: Path | str, n: int, *, block: int = 1 << 16, max_bytes: int = 16 << 20) -> list[str]:
    """The last ``n`` lines of a file, collapsed and cleaned like :class:`TextTail`'s, reading backwards.

    For diagnosing a failed run from a log of any size: only the end is read (at most
    ``max_bytes``). A final line without a newline counts as a line. Missing file: ``[]``.
    """
    if n <= 0:
        return []
    try:
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError:
        return []
    with handle:
        end = os.fstat(handle.fileno()).st_size
        size = end
        blocks: list[bytes] = []
        newlines = 0
        while end > 0 and newlines <= n and size - end < max_bytes:
            start = max(0, end - block)
            handle.seek(start)
            data = handle.read(end - start)
            blocks.append(data)
            newlines += data.count(b"\n")
            end = start
    data = b"".join(reversed(blocks))
    if end > 0:
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else data  # drop the partial first line
    if data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        return []
    return terminal_lines(data.decode("utf-8", errors="replace"))[-n:]
