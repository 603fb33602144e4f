"""The browser door where raters are: behind a real nginx doing TLS, and behind an ``ssh -L`` on another port.

``mhbench web --public-url`` builds its page from the address raters open, so headless Chromium
(accepting the proxy's self-signed certificate) logs in over https/wss and rates an item by keys
only; through a forwarder on another local port the page loads and its websocket connects. The
screenshots stay under pytest's temporary folder.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest

from core.arena.raters import add_rater
from core.arena.ratings import current_ratings
from core.base.workspace import Workspace
from tests.helpers.browser import Tab, browser_missing, chrome, door_server, free_port
from tests.helpers.door_sockets import refused_status
from tests.helpers.rater_world import make_session
from tests.helpers.tls_proxy import proxied_door, proxy_missing, tcp_forwarder

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
    pytest.mark.skipif(proxy_missing() is not None, reason=proxy_missing() or ""),
]


def socket_address(tab: Tab) -> str:
    return str(tab.driver.execute_script("return document.getElementById('terminal').dataset.sessionWebsocketUrl"))


def log_in(tab: Tab, token: str, session_name: str) -> None:
    """Type the token on the first screen and wait for the rater's sessions (the session's name is data,
    not a label, so this holds in either language)."""
    mark = tab.mark()
    tab.keys(token + "\n", pause=0)
    tab.wait_text(session_name, mark)


def test_a_rater_logs_in_through_the_tls_proxy(workspace: Workspace, tmp_path: Path) -> None:
    session = make_session(workspace, tmp_path)
    token = add_rater(workspace, "alice").token
    with proxied_door(workspace.root, tmp_path / "nginx") as url, chrome(self_signed=True) as driver:
        tab = Tab(driver, url).open()
        assert driver.current_url == url
        assert socket_address(tab) == url.replace("https://", "wss://") + "ws", "the page names the proxy, not the door"
        assert "127.0.0.1:" + url.rsplit(":", 1)[1] in socket_address(tab)
        (tmp_path / "proxy-login.png").write_bytes(driver.get_screenshot_as_png())
        log_in(tab, token, session.name)
        (tmp_path / "proxy-sessions.png").write_bytes(driver.get_screenshot_as_png())

        async def other_site() -> int | None:
            insecure = ssl.create_default_context()
            insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=insecure)) as client:
                return await refused_status(client, url, "https://evil.example")

        assert asyncio.run(other_site()) == 403, "through the proxy too, another site's page opens no tab"


def test_an_item_is_rated_by_keys_only_through_the_tls_proxy(workspace: Workspace, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    session = make_session(workspace, tmp_path)
    token = add_rater(workspace, "alice").token
    with proxied_door(workspace.root, tmp_path / "nginx") as url, chrome(self_signed=True) as driver:
        tab = Tab(driver, url).open()
        log_in(tab, token, session.name)
        tab.keys(Keys.ENTER)  # the highlighted (only) session
        tab.wait(lambda: "alpha-answer-q1" in tab.text() and "bravo-answer-q1" in tab.text(), "both answers")
        tab.keys("43s54sa")  # scores, safety and the preference, as a terminal rater types them
        tab.keys(Keys.ENTER)
        tab.wait(lambda: len(current_ratings(workspace, session_id=session.id)) == 1, "the saved rating")
        (tmp_path / "proxy-rated.png").write_bytes(driver.get_screenshot_as_png())
    (rating,) = current_ratings(workspace, session_id=session.id)
    assert (rating.rater, rating.source, rating.item_position) == ("alice", "browser", 0)


def test_the_page_loads_and_connects_over_another_local_port(workspace: Workspace, tmp_path: Path) -> None:
    door, local = free_port(), free_port()
    with door_server(workspace.root, door, "--public-url", f"http://127.0.0.1:{local}"), \
            tcp_forwarder(local, door) as url, chrome() as driver:
        tab = Tab(driver, url).open()  # waits for the first frame: the websocket is open and the app drew
        assert socket_address(tab) == f"ws://127.0.0.1:{local}/ws"
        assert driver.execute_script("return document.body.classList.contains('-connected') || "
                                     "document.querySelector('.textual-terminal.-connected') !== null")
