"""``core`` never imports the terminal UI libraries, nor the heavy ML stack at import time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN_UI = ("textual", "rich")
FORBIDDEN_HEAVY = ("torch", "transformers", "swift", "llama_cpp", "datasets")

SCRIPT = r"""
import importlib, json, pkgutil, sys
forbidden = sys.argv[1].split(",")

def offending():
    return {m for m in sys.modules if m.split(".")[0] in forbidden}

import core
names = ["core"]
failed = {}
culprits = {}
seen = offending()
if seen:
    culprits["core"] = sorted(seen)
for info in pkgutil.walk_packages(core.__path__, prefix="core."):
    try:
        importlib.import_module(info.name)
        names.append(info.name)
    except Exception as error:
        failed[info.name] = f"{type(error).__name__}: {error}"
    now = offending()
    if now - seen:
        culprits[info.name] = sorted({m.split(".")[0] for m in now - seen})
    seen = now
loaded = sorted({m.split(".")[0] for m in seen})
print(json.dumps({"imported": names, "failed": failed, "loaded": loaded, "culprits": culprits}))
"""


def _import_all_core() -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, ",".join(FORBIDDEN_UI + FORBIDDEN_HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_core_imports_without_ui_or_heavy_libraries() -> None:
    report = _import_all_core()
    imported = list(report["imported"])  # type: ignore[call-overload]
    assert report["failed"] == {}, f"core modules that fail to import: {report['failed']}"
    for expected in (
        "core.errors",
        "core.profiles",
        "core.swift",
        "core.gpu",
        "core.doctor",
        "core.db",
        "core.workspace",
    ):
        assert expected in imported
    loaded: list[str] = report["loaded"]  # type: ignore[assignment]
    culprits = report["culprits"]
    ui = [name for name in FORBIDDEN_UI if name in loaded]
    assert not ui, f"importing core pulled in UI libraries {ui}; first imported by: {culprits}"
    heavy = [name for name in FORBIDDEN_HEAVY if name in loaded]
    assert not heavy, f"importing core pulled in heavy libraries {heavy}; first imported by: {culprits}"
