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
        "core.base.errors",
        "core.profiles",
        "core.swift.dialects",
        "core.swift.flags",
        "core.swift.diagnose",
        "core.base.gpu",
        "core.doctor",
        "core.base.db",
        "core.base.workspace",
    ):
        assert expected in imported
    loaded: list[str] = report["loaded"]  # type: ignore[assignment]
    culprits = report["culprits"]
    ui = [name for name in FORBIDDEN_UI if name in loaded]
    assert not ui, f"importing core pulled in UI libraries {ui}; first imported by: {culprits}"
    heavy = [name for name in FORBIDDEN_HEAVY if name in loaded]
    assert not heavy, f"importing core pulled in heavy libraries {heavy}; first imported by: {culprits}"


# Each room may import its own floor and the floors below it, never one above: a change to
# one stage then stays in its folder. The ground holds what several stages share, in its own
# order: base and stats (pure statistics, so the arena's pair schedule and the results share
# one fit), then the profiles, then swift (dialects, flags and failure diagnosis, used by
# training, export and deploy alike). The stages follow the path of the data; the demo, the
# doctor and the user config sit on top.
FLOORS = {"base": 0, "stats": 0, "profiles": 1, "swift": 2, "train": 3, "models": 4, "arena": 5, "results": 6}
TOP = 7


def _floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS.get(parts[1], TOP) if len(parts) > 1 else TOP


def _core_imports(path: Path) -> set[str]:
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "core" else [f"core.{alias.name}" for alias in node.names]
            found.update(name for name in names if name.split(".")[0] == "core")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "core")
    return found


def test_arrows_point_down_only() -> None:
    core_dir = ROOT / "core"
    upward: list[str] = []
    for path in sorted(core_dir.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for imported in sorted(_core_imports(path)):
            if _floor(imported) > _floor(module):
                upward.append(f"{module} imports {imported}")
    assert not upward, "imports that point up a floor:\n" + "\n".join(upward)


def test_the_ground_floor_imports_nothing_above_it() -> None:
    ground = sorted((ROOT / "core" / "base").rglob("*.py")) + sorted((ROOT / "core" / "stats").rglob("*.py"))
    assert ground, "core/base is missing"
    for path in ground:
        above = {name for name in _core_imports(path) if _floor(name) > 0}
        assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"
