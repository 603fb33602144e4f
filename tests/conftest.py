"""Shared fixtures: a demo workspace made once per session, offline environment for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.base.db import open_workspace

# The shared helpers assert too (a job finished, a diagnosis names its cause): give their failures
# the same detail as a test module's own asserts.
pytest.register_assert_rewrite("tests.helpers")

# Tests never touch a hub: every library that could look something up is told it is offline.
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The demo workspace, created once; tests must not modify it."""
    from core.demo import create_demo

    return create_demo(tmp_path_factory.mktemp("demo") / "ws")


@pytest.fixture()
def workspace(tmp_path: Path):
    from core.base.workspace import Workspace

    return open_workspace(Workspace(tmp_path / "ws"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the swift flag cache out of the user's home but shared across tests."""
    monkeypatch.setenv("MHBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from core.base.gpu import sample_gpus

    if any(item.get_closest_marker("gpu") for item in items) and not sample_gpus().available:
        skip = pytest.mark.skip(reason="needs an NVIDIA GPU")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the user's own config.toml (keymap, workspace, rater) out of every test: an empty one instead."""
    empty = tmp_path_factory.getbasetemp() / "empty-config.toml"
    if not empty.exists():
        empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("MHBENCH_CONFIG", str(empty))
