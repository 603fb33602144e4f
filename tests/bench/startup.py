"""Time to the first frame of `mhbench` next to a bare Textual app (Header, Static, Footer).

Both run in a real pseudo-terminal (80×24), from process start until their first
frame's text reaches the terminal, so the figure includes the interpreter, every
import and the first paint, as a user over SSH would feel it. Prints medians and
their ratio (target ≤ 1.4).

    .venv/bin/python tests/bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

BARE_APP = '''
from textual.app import App
from textual.widgets import Footer, Header, Static

class Bare(App):
    TITLE = "bench-bare"

    def compose(self):
        yield Header()
        yield Static("bench-ready")
        yield Footer()

Bare().run()
'''


# Each app's header title: painted in its first frame, by the same Header widget.
BARE_MARKER = b"bench-bare"
MHBENCH_MARKER = b"mhbench"


def time_to_marker(argv: list[str], marker: bytes, timeout: float = 60.0) -> float:
    """Seconds from spawning ``argv`` in a pty until ``marker`` appears on its screen."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.environ["COLUMNS"], os.environ["LINES"] = "80", "24"
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = b""
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if marker in seen:
                return time.perf_counter() - started
        raise RuntimeError(f"{argv} never showed {marker!r}; last output: {seen[-400:]!r}")
    finally:
        os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(fd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from core.demo import create_demo

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        demo = create_demo(root / "ws")
        bare_script = root / "bare.py"
        bare_script.write_text(BARE_APP, encoding="utf-8")
        mhbench = [sys.executable, "-m", "tui.cli", "--workspace", str(demo.workspace.root)]
        bare = [sys.executable, str(bare_script)]
        # One warm-up each, so both read their files from the page cache.
        time_to_marker(bare, BARE_MARKER)
        time_to_marker(mhbench, MHBENCH_MARKER)
        bare_times, mhbench_times = [], []
        for _ in range(args.runs):
            bare_times.append(time_to_marker(bare, BARE_MARKER))
            mhbench_times.append(time_to_marker(mhbench, MHBENCH_MARKER))
    bare_median = statistics.median(bare_times)
    mhbench_median = statistics.median(mhbench_times)
    print(f"bare Textual app  first frame: median {bare_median * 1000:7.1f} ms  (runs: {', '.join(f'{t * 1000:.0f}' for t in bare_times)})")
    print(f"mhbench           first frame: median {mhbench_median * 1000:7.1f} ms  (runs: {', '.join(f'{t * 1000:.0f}' for t in mhbench_times)})")
    # Runs alternate, so each pair saw the same machine load: the median of the pairs' ratios
    # is steadier on a shared machine than the ratio of the two medians.
    pairs = sorted(m / b for m, b in zip(mhbench_times, bare_times, strict=True))
    print(f"ratio mhbench / bare: {statistics.median(pairs):.2f} median of {len(pairs)} interleaved pairs "
          f"(ratio of medians {mhbench_median / bare_median:.2f}, of fastest runs "
          f"{min(mhbench_times) / min(bare_times):.2f}; target <= 1.4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
