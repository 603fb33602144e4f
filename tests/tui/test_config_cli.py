"""`mhbench --config` and `mhbench config --show`: the sources of every value, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.base.db import open_workspace
from core.base.workspace import Workspace


def mhbench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _show(*args: str, env: dict[str, str] | None = None) -> dict:
    result = mhbench(*args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_show_names_the_source_of_each_value(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('default_rater = "r7"\nworkspace = "from-config"\n[keymap]\n"app.mode.train" = "f7"\n',
                      encoding="utf-8")
    env = {"MHBENCH_HOME": ""}
    shown = _show("--config", str(config), "config", "--show", "--json", env=env)
    assert shown["config_file"] == {"path": str(config), "source": "flag --config", "exists": True}
    settings = shown["settings"]
    assert settings["workspace"] == {"value": str(tmp_path / "from-config"), "source": str(config)}
    assert settings["default_rater"] == {"value": "r7", "source": str(config)}
    assert settings["theme"]["source"] == "default"
    assert shown["keymap"]["app.mode.train"] == {
        "keys": "f7", "default": "f3", "source": str(config), "description": "Train", "where": "MhbenchApp"}
    assert shown["keymap"]["app.help"]["source"] == "default"
    # Flags and the environment beat the file; --config works after the command too, and via the env.
    shown = _show("--workspace", str(tmp_path / "flag"), "--rater", "r1", "config", "--json", "--config", str(config))
    assert shown["settings"]["workspace"]["source"] == "flag --workspace"
    assert shown["settings"]["default_rater"] == {"value": "r1", "source": "flag --rater"}
    shown = _show("config", "--json", env={"MHBENCH_CONFIG": str(config), "MHBENCH_HOME": str(tmp_path / "env")})
    assert shown["config_file"]["source"] == "env MHBENCH_CONFIG"
    assert shown["settings"]["workspace"] == {"value": str(tmp_path / "env"), "source": "env MHBENCH_HOME"}
    text = mhbench("config", "--show", env={"MHBENCH_CONFIG": str(config), "MHBENCH_HOME": ""}).stdout
    assert "default_rater  r7" in text and f"[{config}]" in text and "app.mode.train" in text


def test_defaults_when_there_is_no_file(tmp_path: Path) -> None:
    env = {"MHBENCH_CONFIG": "", "MHBENCH_HOME": "", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    shown = _show("config", "--json", env=env)
    assert shown["config_file"] == {"path": str(tmp_path / "xdg" / "mhbench" / "config.toml"),
                                    "source": "default location", "exists": False}
    assert {setting["source"] for setting in shown["settings"].values()} == {"default"}
    assert {binding["source"] for binding in shown["keymap"].values()} == {"default"}
    assert mhbench("config", "--path", env=env).stdout.strip() == shown["config_file"]["path"]


def test_the_config_workspace_is_used_by_every_command(tmp_path: Path) -> None:
    workspace = open_workspace(Workspace(tmp_path / "ws"))
    (workspace.profiles_dir / "mine.toml").write_text('name = "mine"\nextends = "qwen2.5-7b-instruct"\n',
                                                      encoding="utf-8")
    other = open_workspace(Workspace(tmp_path / "other"))
    config = tmp_path / "config.toml"
    config.write_text(f'workspace = "{workspace.root}"\n', encoding="utf-8")

    def profile_names(home: str, *flags: str) -> set[str]:
        result = mhbench(*flags, "profiles", "--json", env={"MHBENCH_CONFIG": str(config), "MHBENCH_HOME": home})
        assert result.returncode == 0, result.stderr
        return {entry["name"] for entry in json.loads(result.stdout)}

    assert "mine" in profile_names("")
    # MHBENCH_HOME still wins over the config's workspace, and --workspace over both.
    assert "mine" not in profile_names(str(other.root))
    assert "mine" not in profile_names("", "--workspace", str(other.root))


def test_a_bad_config_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[keymap]\n"app.mode.trian" = "f7"\n', encoding="utf-8")
    result = mhbench("--config", str(config), "config", "--show")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert f"{config}:2: key 'keymap.app.mode.trian': unknown binding id. Did you mean 'app.mode.train'?" in result.stderr
    config.write_text('thme = "nord"\n', encoding="utf-8")
    result = mhbench("runs", "--config", str(config))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{config}:1: key 'thme': unknown key. Did you mean 'theme'?" in result.stderr
    result = mhbench("--config", str(tmp_path / "missing.toml"), "runs")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_the_tui_refuses_a_bad_theme_before_touching_the_workspace(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('theme = "nordd"\n', encoding="utf-8")
    result = mhbench("--config", str(config), "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{config}:1: key 'theme': unknown theme 'nordd'. Did you mean 'nord'?" in result.stderr
    assert not (tmp_path / "ws").exists()


def test_every_command_that_starts_an_app_checks_the_theme_and_keymap_first(tmp_path: Path, capsys) -> None:
    """``rate`` and ``web`` start apps too: a bad theme or binding id stops them before the workspace is touched."""
    from tui.cli import main

    config = tmp_path / "config.toml"
    workspace = tmp_path / "ws"
    for text, message in (('theme = "nordd"\n', "unknown theme 'nordd'. Did you mean 'nord'?"),
                          ('[keymap]\n"app.mode.trian" = "f7"\n', "unknown binding id. Did you mean 'app.mode.train'?")):
        config.write_text(text, encoding="utf-8")
        for command in (["rate", "--rater", "r1"], ["web", "--port", "8765"]):
            assert main(["--config", str(config), "--workspace", str(workspace), *command]) == 2, command
            (line,) = capsys.readouterr().err.strip().splitlines()
            assert line.startswith(f"mhbench: error: {config}:") and message in line, (command, line)
            assert not workspace.exists()
    # A command that starts no app reads the config without asking what only the app knows.
    workspace.mkdir()
    assert main(["--config", str(config), "--workspace", str(workspace), "runs"]) == 0
