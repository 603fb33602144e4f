"""The test tree keeps its shape: helpers in tests/helpers, real tools in tests/integration, unique module names.

A test module that imports from another test module ties the two together (moving or
renaming one breaks the other); an ``integration`` test under tests/core or tests/tui makes
the fast folders slow; and under pytest's default import mode two test modules with the
same file name cannot both be collected. Each rule reads the source only, so this is fast.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FAST_FOLDERS = ("core", "tui")
SHARED = "tests.helpers"


def tree_modules() -> list[Path]:
    """Every Python file of the test tree that pytest collects or imports (benchmarks are scripts of their own)."""
    return sorted(path for path in TESTS.rglob("*.py") if "bench" not in path.relative_to(TESTS).parts)


def imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, dotted name) of every module an ``import`` or ``from … import`` names, wherever it stands."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def cross_test_imports(source: str) -> list[tuple[int, str]]:
    """Imports of a test module or of a test folder other than the shared helpers, with their lines."""
    bad = []
    for line, module in imported_modules(ast.parse(source)):
        parts = module.split(".")
        if parts[-1].startswith("test_") or (
            parts[0] == "tests" and module != SHARED and not module.startswith(SHARED + ".")
        ):
            bad.append((line, module))
    return bad


def integration_marks(source: str) -> list[int]:
    """Lines that put the ``integration`` marker on a test or a module (``pytest.mark.integration``)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr == "integration"
        and isinstance(node.value, ast.Attribute) and node.value.attr == "mark"
    ]


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(TESTS.parent)}:{line}"


def test_no_test_module_imports_from_another() -> None:
    found = [
        f"{where(path, line)} imports {module}"
        for path in tree_modules()
        for line, module in cross_test_imports(path.read_text(encoding="utf-8"))
    ]
    assert not found, (
        "test modules import only from tests.helpers (move the shared function there and import it from both):\n"
        + "\n".join(found)
    )


def test_integration_tests_live_in_tests_integration() -> None:
    found = [
        where(path, line)
        for folder in FAST_FOLDERS
        for path in sorted((TESTS / folder).rglob("*.py"))
        for line in integration_marks(path.read_text(encoding="utf-8"))
    ]
    assert not found, (
        "tests/core and tests/tui hold only fast tests: move these integration tests to tests/integration "
        "(into a module named for what it tests):\n" + "\n".join(found)
    )


def test_every_module_in_tests_integration_is_marked() -> None:
    unmarked = [
        str(path.relative_to(TESTS.parent))
        for path in sorted((TESTS / "integration").glob("test_*.py"))
        if not integration_marks(path.read_text(encoding="utf-8"))
    ]
    assert not unmarked, (
        "mark these with pytest.mark.integration so that `-m 'not integration'` leaves them out:\n"
        + "\n".join(unmarked)
    )


def test_test_module_names_are_unique() -> None:
    # pytest's default ("prepend") import mode imports each test module by its file name alone.
    names = Counter(path.name for path in tree_modules() if path.name.startswith("test_"))
    clashes = sorted(name for name, count in names.items() if count > 1)
    assert not clashes, "two test modules share a file name; rename one so that pytest can import both: " + ", ".join(
        f"{name} ({', '.join(str(p.relative_to(TESTS.parent)) for p in tree_modules() if p.name == name)})"
        for name in clashes
    )


def test_the_rules_see_what_they_are_for() -> None:
    source = (
        "import pytest\n"
        "from tests.helpers.pilot import wait_until\n"
        "from tests.tui.test_train import text_of\n"
        "import test_cli\n"
        "from tests.core.samples import LOG\n"
        "def test_x():\n"
        "    from tests.helpers import ggufs\n"
        "    from tests.integration.test_arena_mode import PROMPTS\n"
        "pytestmark = [pytest.mark.integration]\n"
        "@pytest.mark.integration\n"
        "def test_y(): pass\n"
        "@pytest.mark.gpu\n"
        "def test_z(): pass\n"
    )
    assert sorted(cross_test_imports(source)) == [
        (3, "tests.tui.test_train"), (4, "test_cli"), (5, "tests.core.samples"),
        (8, "tests.integration.test_arena_mode"),
    ]
    assert sorted(integration_marks(source)) == [9, 10]
