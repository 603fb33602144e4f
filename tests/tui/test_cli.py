"""The command line: fast help, scriptable output, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.commands import mhbench

HEAVY = ("textual.app", "torch", "transformers", "swift", "llama_cpp", "datasets", "pydantic")


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom tui.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "usage: mhbench" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_profiles_json_lists_all_shipped(tmp_path: Path) -> None:
    result = mhbench("profiles", "--json", workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for name in ("qwen2.5-7b-instruct", "llama3.1-8b-instruct", "llama3-chinese-8b-instruct-v2", "llama2-7b-dolly-qlora"):
        assert rows[name]["ok"] and rows[name]["origin"] == "shipped"


def test_bad_profile_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    profiles = tmp_path / "ws" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "neg.toml").write_text('name = "neg"\nextends = "qwen2.5-7b-instruct"\n[train]\nlearning_rate = -0.1\n', encoding="utf-8")
    result = mhbench("train", "neg", "--dry-run", workspace=tmp_path / "ws")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "neg.toml" in lines[0] and "train.learning_rate" in lines[0] and "greater than 0" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_profile_suggests(tmp_path: Path) -> None:
    result = mhbench("train", "qwen2.5-7b-instruc", "--dry-run", "--no-check", workspace=tmp_path / "ws")
    assert result.returncode == 2
    assert "Did you mean 'qwen2.5-7b-instruct'" in result.stderr


def test_dry_run_both_dialects_without_check(tmp_path: Path) -> None:
    four = mhbench("train", "qwen2.5-7b-instruct", "--dry-run", "--dialect", "4", "--json", workspace=tmp_path / "ws")
    three = mhbench("train", "qwen2.5-7b-instruct", "--dry-run", "--dialect", "3", "--json", workspace=tmp_path / "ws")
    argv4, argv3 = json.loads(four.stdout)["argv"], json.loads(three.stdout)["argv"]
    assert "--tuner_type" in argv4 and "--train_type" not in argv4
    assert "--train_type" in argv3 and "--tuner_type" not in argv3
    assert argv4[argv4.index("--model_type") + 1] == "qwen2"
    assert argv3[argv3.index("--model_type") + 1] == "qwen2_5"


def test_an_empty_workspace_exports_a_header_only_csv(tmp_path: Path) -> None:
    out = tmp_path / "ratings.csv"
    result = mhbench("export", "ratings", "--out", str(out), workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\n") == 1 and b"rating_id" in data


def test_doctor_reports(tmp_path: Path) -> None:
    result = mhbench("doctor", "--json", workspace=tmp_path / "ws")
    names = [check["name"] for check in json.loads(result.stdout)]
    assert names[0] == "Python" and "ms-swift" in names and "disk" in names


def test_a_plain_tui_start_parses_as_the_full_parser_would() -> None:
    """The quick path for a TUI start (no subcommand parsers built) reads its options the same way."""
    from tui.cli import build_parser, tui_start_args

    for argv in ([], ["-w", "ws"], ["--workspace=ws", "--rater", "r1"], ["--config", "c.toml", "-w", "ws"]):
        quick = tui_start_args(argv)
        assert quick is not None, argv
        assert vars(quick) == vars(build_parser().parse_args(argv)), argv
    for argv in (["profiles"], ["--help"], ["-w"], ["--bogus"], ["-w", "ws", "demo"]):
        assert tui_start_args(argv) is None, argv


def mhbench_hints() -> dict[str, str]:
    """Every `mhbench …` that the code's strings tell a user to run, with where it is written.

    Docstrings are for readers of the code and are skipped; an f-string's fields and a
    concatenation's other parts stand for a value, as do words like PROFILE, NAME or ….
    """
    import ast
    import re

    root = Path(__file__).resolve().parents[2]
    hints: dict[str, str] = {}

    def text_of(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(text_of(part) or "VALUE" for part in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = text_of(node.left), text_of(node.right)
            if left is not None or right is not None:
                return (left or "VALUE") + (right or "VALUE")
        return None

    for path in sorted([*(root / "core").rglob("*.py"), *(root / "tui").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                      and (body := node.body) and isinstance(body[0], ast.Expr)}
        for node in ast.walk(tree):
            if id(node) in docstrings or not isinstance(node, ast.expr):
                continue
            text = text_of(node)
            for hint in re.findall(r"`(mhbench(?: [^`]*)?)`", text or ""):
                hints.setdefault(hint, f"{path.relative_to(root)}:{node.lineno}")
    return hints


def test_every_hint_names_a_command_that_exists() -> None:
    """A fix that names an `mhbench` command names one the real parser accepts (a missing argument aside)."""
    import contextlib
    import io
    import re
    import shlex

    from tui.cli import build_parser

    hints = mhbench_hints()
    assert "mhbench session list" in hints and len(hints) > 30
    placeholder = re.compile(r"^(?:[A-Z][A-Z0-9_,.\[\]]*|…|VALUE.*)$")
    wrong = []
    for hint, where in hints.items():
        words = ["1" if placeholder.match(word) else word for word in shlex.split(hint)[1:]]
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(words)
        except SystemExit as exit_:
            # Naming a command without its required arguments still names a command that exists.
            if exit_.code != 0 and not re.search(r"the following arguments are required|expected one argument",
                                                 errors.getvalue()):
                wrong.append(f"{where}: `{hint}`: {errors.getvalue().strip().splitlines()[-1]}")
    assert not wrong, "\n".join(wrong)


def test_each_command_is_registered_where_it_lives_and_nothing_imports_back() -> None:
    """Every command's handler comes from the module that added its parser; no command module imports the package."""
    import ast

    from tui.cli import COMMAND_GROUPS, build_parser

    parser = build_parser()
    (commands,) = [action for action in parser._actions if action.dest == "command"]
    for name, subparser in commands.choices.items():  # type: ignore[union-attr]
        handler = subparser.get_default("handler")
        assert handler is not None and handler.__module__.split(".")[-1] in COMMAND_GROUPS, name
    package = Path(__file__).resolve().parents[2] / "tui" / "cli"
    for path in package.glob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "tui.cli", f"{path.name} imports tui.cli: a cycle"
