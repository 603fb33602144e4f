"""Headless Chromium against a real ``mhbench web``: the pieces the browser test and the web bench share.

Selenium drives Debian's ``chromium`` through Debian's ``chromedriver`` (Selenium Manager is
given both paths, so it downloads nothing). The page's terminal draws on a canvas, so a
script hooked in before the page's own reads what the server sends down the websocket:
``window.__text`` is every byte of terminal output so far, decoded, ``window.__frames``
the arrival time (``performance.now()``) of each message, and ``window.__sent`` the time of
each message the page sent (keys, resizes, pings). The browser resolves no host but
127.0.0.1 (textual-serve's page links a web font; no test touches the network).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HOOK = """
window.__text = ''; window.__frames = []; window.__sent = []; window.__size = null;
const Native = window.WebSocket;
function Hooked(url, protocols) {
  const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
  socket.addEventListener('message', (event) => {
    const at = performance.now();
    const take = (buffer) => { window.__text += new TextDecoder().decode(buffer); window.__frames.push(at); };
    if (event.data instanceof Blob) { event.data.arrayBuffer().then(take); }
    else if (event.data instanceof ArrayBuffer) { take(event.data); }
    else { window.__frames.push(at); }
  });
  const send = socket.send.bind(socket);
  socket.send = (data) => {
    window.__sent.push(performance.now());
    // The terminal's size in cells, as the page tells the server (textual-serve's resize message).
    if (typeof data === 'string' && data.includes('"resize"')) {
      try { const message = JSON.parse(data); if (message[0] === 'resize') { window.__size = message[1]; } }
      catch (error) { /* not JSON: not a resize */ }
    }
    return send(data);
  };
  return socket;
}
Hooked.prototype = Native.prototype;
Object.assign(Hooked, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
window.WebSocket = Hooked;
"""


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return (f"Debian's {program} is not installed (scripts/test.sh installs chromium and chromium-driver "
                    "when run as root with apt-get)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def door_server(workspace: Path, port: int | None = None, *options: str, cwd: Path = ROOT,
                python: tuple[str, ...] = (sys.executable,)) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``mhbench web`` on 127.0.0.1 as a real process, with ``options`` (``--public-url``, ``--max-tabs``);
    yields it and its direct URL, and stops it (its group: the server and its tabs) at the end."""
    port = port or free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (workspace / f"web-{port}.log").open("wb")
    process = subprocess.Popen([*python, "-m", "tui.cli", "--workspace", str(workspace), "web",
                                "--port", str(port), *options], cwd=cwd, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((workspace / f"web-{port}.log").read_text(errors="replace")) from None
                time.sleep(0.2)
        yield process, f"http://127.0.0.1:{port}/"
    finally:
        try:
            os.killpg(process.pid, 15)
            process.wait(20)
        except ProcessLookupError:
            process.wait()
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()


@contextmanager
def web_door(workspace: Path, port: int | None = None, *options: str) -> Iterator[str]:
    """:func:`door_server`, for a test that needs only its URL."""
    with door_server(workspace, port, *options) as (_, url):
        yield url


@contextmanager
def chrome(*, self_signed: bool = False) -> Iterator[Any]:
    """Headless Chromium with a 1280×800 viewport and only 127.0.0.1 reachable.

    ``self_signed``: accept a certificate no authority signed (the test's TLS proxy makes its own)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                     "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                     # Two raters' tabs live in one browser: a background tab must keep its websocket
                     # and timers running, as a person's second window would, not be throttled.
                     "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
                     "--disable-renderer-backgrounding"):
        options.add_argument(argument)
    if self_signed:
        options.add_argument("--ignore-certificate-errors")
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class Tab:
    """One browser tab on the door: open it, type into its terminal, read what it was sent."""

    def __init__(self, driver: Any, url: str, size: tuple[int, int] = (1280, 800)) -> None:
        """``url``: the door's base URL, direct or through a proxy; ``size``: the viewport in CSS pixels."""
        self.driver, self.url, self.size = driver, url, size
        self.handle: str | None = None

    def open(self, new_window: bool = False) -> Tab:
        """Load the door in this tab (or a new one): each tab gets the viewport and the hook once."""
        driver = self.driver
        if new_window:
            driver.switch_to.new_window("tab")
        self.handle = driver.current_window_handle
        hooked: set[str] = driver.__dict__.setdefault("mhbench_hooked", set())
        if self.handle not in hooked:  # CDP settings belong to one tab
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": self.size[0], "height": self.size[1], "deviceScaleFactor": 1,
                                    "mobile": False})
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
            hooked.add(self.handle)
        driver.get(self.url)
        self.wait(lambda: len(self.text()) > 200, "the first frame")
        return self

    def close(self) -> None:
        """Close this tab (its websocket, so its app, ends); the driver moves to another tab if any."""
        self.driver.switch_to.window(self.handle)
        self.driver.close()
        if self.driver.window_handles:
            self.driver.switch_to.window(self.driver.window_handles[0])

    def text(self) -> str:
        return str(self.driver.execute_script("return window.__text || ''"))

    def frames(self) -> int:
        return int(self.driver.execute_script("return (window.__frames || []).length"))

    def mark(self) -> int:
        """Where the output is now: :meth:`since` reads only what comes after."""
        return len(self.text())

    def since(self, mark: int) -> str:
        return self.text()[mark:]

    def keys(self, keys: str, pause: float = 0.15) -> None:
        from selenium.webdriver.common.by import By

        field = self.driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
        for key in keys:
            field.send_keys(key)
            time.sleep(pause)

    def cells(self) -> tuple[int, int]:
        """The terminal's size in cells (columns, rows), as the page last told the server."""
        self.wait(lambda: bool(self.driver.execute_script("return window.__size")), "the terminal's size")
        size = self.driver.execute_script("return window.__size")
        return int(size["width"]), int(size["height"])

    def click_cell(self, column: int, row: int) -> None:
        """Click the middle of one cell of the terminal, as a rater's mouse (or finger) would."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By

        screen = self.driver.find_element(By.CSS_SELECTOR, ".xterm-screen")
        columns, rows = self.cells()
        width, height = screen.rect["width"], screen.rect["height"]
        x = (column + 0.5) * width / columns - width / 2  # Selenium's offsets are from the element's centre
        y = (row + 0.5) * height / rows - height / 2
        ActionChains(self.driver).move_to_element_with_offset(screen, int(x), int(y)).click().perform()

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the tab was sent:\n{self.text()[-3000:]}")
            time.sleep(0.1)

    def wait_text(self, needle: str, mark: int = 0, timeout: float = 60.0) -> None:
        self.wait(lambda: needle in self.since(mark), repr(needle), timeout)
