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


# Packages whose modules may not take each other's private names: a name another module needs is
# part of its module's interface (public, documented), or the code lives in the wrong module.
# tui/ joins once the branch that cleans up tui/ is merged.
NO_PRIVATE_IMPORTS = ("core", "tui")


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _private_imports(text: str, module: str, *, package: bool = False) -> list[str]:
    """``module imports _name from source`` for each private name the code takes from another project module."""
    import ast

    found: list[str] = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:  # relative: counted from the module's own package
            parts = module.split(".")
            base = parts[: len(parts) - node.level + (1 if package else 0)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        if source.split(".")[0] not in ("core", "tui") or source == module:
            continue
        found += [f"{module} imports {alias.name} from {source}" for alias in node.names
                  if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_no_module_takes_a_private_name_from_another() -> None:
    offenders: list[str] = []
    for package in NO_PRIVATE_IMPORTS:
        for path in sorted((ROOT / package).rglob("*.py")):
            offenders += _private_imports(path.read_text(encoding="utf-8"), _module_name(path),
                                          package=path.name == "__init__.py")
    assert not offenders, (
        "private names imported across modules (make the name public with a docstring, or move the code "
        "to where it belongs):\n" + "\n".join(offenders)
    )


def test_the_private_import_check_sees_absolute_and_relative_imports() -> None:
    code = (
        "from core.base.processes import _mark_failed, utc_now\n"
        "from .gpu import _sampler\n"
        "from . import __doc__\n"
        "import core.base._hidden\n"
    )
    assert _private_imports(code, "core.base.sample") == [
        "core.base.sample imports _mark_failed from core.base.processes",
        "core.base.sample imports _sampler from core.base.gpu",
    ]
    assert _private_imports("from .place import _Hidden\n", "core.arena", package=True) == [
        "core.arena imports _Hidden from core.arena.place"
    ]
    assert _private_imports("from core.x import _own\n", "core.x") == []  # a module's own names are its own
