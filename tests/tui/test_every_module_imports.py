"""Every tui module imports: a room that moved leaves no importer naming its old place.

mypy checks only ``core``, and a screen's lazy imports run only when its mode opens, so a
stale import in a rarely opened pane would otherwise surface in front of a user.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import tui

ROOT = Path(__file__).resolve().parents[2]


def test_every_tui_module_imports() -> None:
    failed = {}
    for info in pkgutil.walk_packages(tui.__path__, prefix="tui."):
        try:
            importlib.import_module(info.name)
        except Exception as error:
            failed[info.name] = f"{type(error).__name__}: {error}"
    assert not failed, failed


def test_every_lazy_import_names_a_module_that_exists() -> None:
    """Imports inside functions (the lazy ones) are resolved too, without running them."""
    missing = []
    for folder in ("core", "tui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in ("core", "tui") and importlib.util.find_spec(name) is None:
                        missing.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not missing, "\n".join(missing)
