"""The browser door's cost: page load to a usable rating screen, and keystroke latency vs a terminal.

    .venv/bin/python tests/bench/web.py [--keys 200]

A workspace with one session whose answers are stored (no model server), and a rater.
Browser: headless Chromium against a real ``mhbench web`` on 127.0.0.1, then again through a
real nginx doing TLS in front of it (``--public-url https://…``, as raters reach it). *Load-to-usable*
runs from ``driver.get`` to both answers of the first item on screen, typing the token
and Enter on the session as soon as each screen is there. *Keystroke latency* is from
the page sending a key down the websocket to the first screen update coming back.
Terminal: the same rater app (``mhbench rate``) in a pseudo-terminal of the same size,
from writing the key to the first output. Keys alternate a score digit and Backspace,
which redraw the rating bar and save nothing. The last line is the summary of the direct door;
the line above it, the proxy's (target: keystroke p99 through the proxy <= 1.5x the terminal's).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.helpers.browser import Tab, browser_missing, chrome, web_door  # noqa: E402
from tests.helpers.tls_proxy import proxied_door, proxy_missing  # noqa: E402

COLUMNS, ROWS = 140, 40


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def make_workspace(root: Path) -> tuple[Path, str, str]:
    from core.arena.raters import add_rater
    from core.base.db import open_workspace
    from core.base.workspace import Workspace
    from tests.helpers.rater_world import make_session

    workspace = open_workspace(Workspace(root / "ws"))
    session = make_session(workspace, root)
    return workspace.root, session.id, add_rater(workspace, "alice").token


def quiet(tab: Tab, seconds: float = 0.25) -> None:
    """Wait until the tab has received nothing for ``seconds``."""
    last, since = tab.frames(), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.03)
        now = tab.frames()
        if now != last:
            last, since = now, time.monotonic()


def browser_figures(url: str, token: str, keys: int, self_signed: bool = False) -> tuple[float, list[float]]:
    from selenium.webdriver.common.keys import Keys

    with chrome(self_signed=self_signed) as driver:
        tab = Tab(driver, url)
        started = time.monotonic()
        tab.open()
        tab.wait_text("个人令牌")  # the login, in the rater mode's default language
        tab.keys(token + "\n", pause=0)
        tab.wait_text("您的评分组")
        tab.wait_text("已评 0/3")
        tab.keys(Keys.ENTER, pause=0)
        tab.wait(lambda: "alpha-answer-q1" in tab.text() and "bravo-answer-q1" in tab.text(), "both answers")
        load_to_usable = time.monotonic() - started
        quiet(tab, 1.0)
        latencies: list[float] = []
        for index in range(keys):
            sent_before = int(driver.execute_script("return window.__sent.length"))
            frames_before = tab.frames()
            tab.keys("4" if index % 2 == 0 else Keys.BACKSPACE, pause=0)
            tab.wait(lambda before=frames_before: tab.frames() > before, "the screen update", 30)
            sent, arrived = driver.execute_script(
                "return [window.__sent[arguments[0]], window.__frames[arguments[1]]]", sent_before, frames_before)
            latencies.append((arrived - sent) / 1000)
            quiet(tab)
    return load_to_usable, latencies


def read_until(fd: int, needles: tuple[str, ...], timeout: float) -> None:
    seen, deadline = "", time.monotonic() + timeout
    while not all(needle in seen for needle in needles):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the terminal app never showed {needles}: {seen[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            seen += os.read(fd, 65536).decode("utf-8", "replace")


def drain(fd: int, seconds: float = 0.25) -> None:
    since = time.monotonic()
    while time.monotonic() - since < seconds:
        ready, _, _ = select.select([fd], [], [], 0.03)
        if ready:
            os.read(fd, 65536)
            since = time.monotonic()


def terminal_figures(workspace: Path, session_id: str, keys: int) -> list[float]:
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    process = subprocess.Popen([sys.executable, "-m", "tui.cli", "--workspace", str(workspace), "rate", "--rater",
                                "alice", "--session", session_id], stdin=secondary, stdout=secondary,
                               stderr=secondary, cwd=ROOT, env=env, start_new_session=True, close_fds=True)
    os.close(secondary)
    try:
        read_until(primary, ("alpha-answer-q1", "bravo-answer-q1"), 60)
        drain(primary, 1.0)
        latencies: list[float] = []
        for index in range(keys):
            started = time.monotonic()
            os.write(primary, b"4" if index % 2 == 0 else b"\x7f")
            ready, _, _ = select.select([primary], [], [], 30)
            if not ready:
                raise RuntimeError("no screen update after a key")
            latencies.append(time.monotonic() - started)
            drain(primary)
        os.write(primary, b"\x11")  # Ctrl+Q
        process.wait(20)
        return latencies
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            process.wait()
        os.close(primary)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200, help="keystrokes per side (default 200: p99 needs them)")
    args = parser.parse_args()
    missing = browser_missing()
    if missing:
        print(f"web: skipped: {missing}")
        return 1
    with tempfile.TemporaryDirectory(prefix="mhbench-web-bench-") as temp:
        workspace, session_id, token = make_workspace(Path(temp))
        terminal = terminal_figures(workspace, session_id, args.keys)
        with web_door(workspace) as url:
            load, browser = browser_figures(url, token, args.keys)
        no_proxy = proxy_missing()
        if no_proxy is None:
            with proxied_door(workspace, Path(temp) / "nginx") as url:
                proxy_load, proxied = browser_figures(url, token, args.keys, self_signed=True)
    ratio = p99(browser) / p99(terminal)
    print(f"terminal keystroke: median {median(terminal) * 1000:.1f} ms, "
          f"p99 {p99(terminal) * 1000:.1f} ms ({len(terminal)} keys)")
    print(f"browser keystroke:  median {median(browser) * 1000:.1f} ms, "
          f"p99 {p99(browser) * 1000:.1f} ms ({len(browser)} keys; target ratio <= 1.5)")
    if no_proxy is None:
        print(f"proxied keystroke:  median {median(proxied) * 1000:.1f} ms, "
              f"p99 {p99(proxied) * 1000:.1f} ms ({len(proxied)} keys, nginx TLS; target ratio <= 1.5)")
        print(f"web through the TLS proxy: load-to-usable s {proxy_load:.2f}, "
              f"keystroke p99 ratio {p99(proxied) / p99(terminal):.2f}")
    else:
        print(f"web through the TLS proxy: skipped: {no_proxy}")
    print(f"web: load-to-usable s {load:.2f}, keystroke p99 ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
