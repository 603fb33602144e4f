"""The browser door's addresses: which Origins open a tab, what ``--public-url`` accepts, what a tab runs."""

from __future__ import annotations

import argparse
import os
import shlex
import socket
from pathlib import Path

import pytest

from tui.cli.web import public_url, tab_command
from tui.rater.web_door import DOOR_FULL, door_origins, full_page, origin_of


def test_an_origin_is_written_as_a_browser_writes_it() -> None:
    assert origin_of("HTTPS://Rate.Example.org:443/path/") == "https://rate.example.org"
    assert origin_of("http://127.0.0.1:80") == "http://127.0.0.1"
    assert origin_of("http://127.0.0.1:9999/") == "http://127.0.0.1:9999"
    assert origin_of("http://[::1]:8765") == "http://[::1]:8765"


def test_the_public_url_alone_opens_tabs_else_the_address_served() -> None:
    assert door_origins("127.0.0.1", 8765, "https://rate.example.org/") == {"https://rate.example.org"}
    assert door_origins("127.0.0.1", 8765, None) == {
        "http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765"}
    assert door_origins("10.0.0.5", 8765, None) == {"http://10.0.0.5:8765"}
    wildcard = door_origins("0.0.0.0", 8765, None)
    assert {"http://127.0.0.1:8765", f"http://{socket.gethostname().lower()}:8765"} <= wildcard
    assert not any("evil" in origin or origin.endswith(":9999") for origin in wildcard)


def test_public_url_takes_http_and_https_addresses_only() -> None:
    assert public_url("https://rate.example.org/") == "https://rate.example.org"
    assert public_url("http://127.0.0.1:9999") == "http://127.0.0.1:9999"
    for bad in ("rate.example.org", "ftp://x", "https://", "http://h:port", "https://h/?q=1"):
        with pytest.raises(argparse.ArgumentTypeError):
            public_url(bad)


def test_a_tab_runs_the_installed_rater_app_by_its_absolute_path() -> None:
    command = tab_command("/w s")
    assert command.startswith("exec ")
    argv = shlex.split(command[len("exec "):])
    entry = Path(argv[2])
    assert argv[1] == "-P" and entry.is_absolute() and entry.parts[-3:] == ("tui", "rater", "__main__.py")
    assert argv[3:] == ["--workspace", "/w s", "--browser", "--door-pid", str(os.getpid())]
    english = shlex.split(tab_command("/w s", "en")[len("exec "):])
    assert english[3:] == [*argv[3:], "--lang", "en"], "the operator's default language reaches every tab"


def test_the_full_door_says_why_in_chinese_then_english() -> None:
    page = full_page(12)
    assert page.index("评分入口已满") < page.index("The rating door is full") and "12" in page
    assert all("{limit}" in line for line in DOOR_FULL)
