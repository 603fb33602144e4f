"""The browser door's walls, probed with real websockets against a real ``mhbench web``.

No other site's page (nor a client that names none) starts an app; the tabs open at once are
capped and the extra one is told why; a ``tui/`` folder where the server stands is never run;
and a server killed outright takes its tabs with it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import psutil
import pytest

from core.base.workspace import Workspace
from tests.helpers.browser import door_server
from tests.helpers.door_sockets import alive, received_text, refused_status, socket_url, tab_processes, wait_for

pytestmark = pytest.mark.integration


def origin(url: str) -> str:
    return url.rstrip("/")


def test_a_page_from_another_site_or_no_page_starts_nothing(workspace: Workspace) -> None:
    with door_server(workspace.root) as (server, url):
        async def probe() -> None:
            async with aiohttp.ClientSession() as session:
                assert await refused_status(session, url, "http://evil.example") == 403
                assert await refused_status(session, url, "https://127.0.0.1.evil.example") == 403
                assert await refused_status(session, url, None) == 403, "a client that names no page is refused"
                assert tab_processes(server.pid) == []
                async with session.ws_connect(socket_url(url), origin=origin(url)) as tab:
                    await received_text(tab)
                    assert len(tab_processes(server.pid)) == 1, "the door's own page opens a tab"

        asyncio.run(probe())
    log = (workspace.root / f"web-{url.rsplit(':', 1)[1].strip('/')}.log").read_text(errors="replace")
    assert "refused a websocket from Origin 'http://evil.example'" in log, "the operator sees the refusal"


def test_the_tab_cap_holds_and_the_extra_tab_is_told_why(workspace: Workspace) -> None:
    with door_server(workspace.root, None, "--max-tabs", "2") as (server, url):
        async def probe() -> None:
            async with aiohttp.ClientSession() as session:
                first = await session.ws_connect(socket_url(url), origin=origin(url))
                second = await session.ws_connect(socket_url(url), origin=origin(url))
                await received_text(first)
                await received_text(second)
                async with session.ws_connect(socket_url(url), origin=origin(url)) as third:
                    told = await received_text(third, "The rating door is full")
                    assert "评分入口已满" in told and "2" in told
                    assert len(tab_processes(server.pid)) == 2, "the third tab started no app"
                    async with session.get(url) as page:
                        body = await page.text()
                        assert page.status == 503 and "评分入口已满" in body and "The rating door is full" in body
                await first.close()
                wait_for(lambda: len(tab_processes(server.pid)) == 1, "the closed tab's app to end")
                async with session.ws_connect(socket_url(url), origin=origin(url)) as again:
                    await received_text(again)  # a place is free again
                await second.close()

        asyncio.run(probe())


def test_a_tui_folder_in_the_current_directory_is_not_run(workspace: Workspace, tmp_path: Path) -> None:
    planted = tmp_path / "cwd"
    marker = tmp_path / "planted-code-ran"
    for package in ("tui", "tui/rater"):
        (planted / package).mkdir(parents=True)
        (planted / package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (planted / "tui/rater/__main__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    # The operator's own start never reads the current directory either (``-P``, as the console script);
    # the tabs must not bring it back.
    with door_server(workspace.root, None, cwd=planted, python=(sys.executable, "-P")) as (server, url):
        async def probe() -> None:
            async with aiohttp.ClientSession() as session, session.ws_connect(socket_url(url),
                                                                              origin=origin(url)) as tab:
                await received_text(tab)
                (process,) = tab_processes(server.pid)
                assert process.cwd() == str(planted)
                entry = Path(next(part for part in process.cmdline() if part.endswith("__main__.py")))
                assert entry.is_absolute() and entry.parent.parent.parent != planted

        asyncio.run(probe())
    assert not marker.exists(), "the tab ran the tui/ folder of the server's current directory"


def test_tabs_end_when_their_server_is_killed(workspace: Workspace) -> None:
    with door_server(workspace.root) as (server, url):
        async def open_two() -> list[int]:
            async with aiohttp.ClientSession() as session:
                tabs = [await session.ws_connect(socket_url(url), origin=origin(url)) for _ in range(2)]
                for tab in tabs:
                    await received_text(tab)
                pids = [process.pid for process in tab_processes(server.pid)]
                os.kill(server.pid, signal.SIGKILL)
                return pids

        processes = [psutil.Process(pid) for pid in asyncio.run(open_two())]
        assert len(processes) == 2
        wait_for(lambda: not any(alive(process) for process in processes), "the tabs to end after their server", 30)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_a_wildcard_bind_opens_tabs_for_this_machines_own_addresses_only(workspace: Workspace) -> None:
    with door_server(workspace.root, None, "--host", "0.0.0.0", "--public") as (server, url):
        port = url.rsplit(":", 1)[1].strip("/")

        async def probe() -> None:
            async with aiohttp.ClientSession() as session:
                assert await refused_status(session, url, f"http://rebound.evil.example:{port}") == 403
                async with session.get(url, headers={"Host": f"127.0.0.1:{port}"}) as page:
                    assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in await page.text()
                async with session.ws_connect(socket_url(url), origin=f"http://localhost:{port}") as tab:
                    await received_text(tab)
                    assert len(tab_processes(server.pid)) == 1

        asyncio.run(probe())
