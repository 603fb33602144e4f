"""config.toml: parsing, one-line errors with the line and a did-you-mean, and where values come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.base.errors import MhbenchError
from core.config import CONFIG_ENV, Settings, choose_rater, choose_workspace, config_path, find_line, load_config
from core.config.schema import Config

GOOD = """\
theme = "nord"
default_rater = "r1"
workspace = "ws"

[keymap]
"app.mode.train" = "f7"
app.mode.models = "ctrl+t, f8"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> MhbenchError:
    with pytest.raises(MhbenchError) as caught:
        load_config(_write(tmp_path, text))
    return caught.value


def test_a_good_file_reads_every_field(tmp_path: Path) -> None:
    file = load_config(_write(tmp_path, GOOD))
    assert file.exists and file.origin == "flag"
    assert file.config.theme == "nord" and file.config.default_rater == "r1"
    # A relative workspace is relative to the config file; dotted ids, quoted or not, are the same.
    assert file.config.workspace == tmp_path / "ws"
    assert file.config.keymap == {"app.mode.train": "f7", "app.mode.models": "ctrl+t, f8"}
    assert file.sets("theme") and not Config().keymap


def test_every_field_has_a_description() -> None:
    for name, field in Config.model_fields.items():
        assert field.description, f"Config.{name} has no docstring"


def test_unknown_key_names_file_line_and_suggests(tmp_path: Path) -> None:
    error = _error(tmp_path, 'default_rater = "r1"\nthem = "nord"\n')
    assert error.path == tmp_path / "config.toml" and error.line == 2 and error.key == "them"
    text = str(error)
    assert "\n" not in text and "Did you mean 'theme'?" in text and "Fix:" in text


def test_bad_type_names_the_key_and_line(tmp_path: Path) -> None:
    error = _error(tmp_path, '\n\ntheme = 3\n')
    assert (error.line, error.key) == (3, "theme")
    assert "valid string" in str(error) and "(got 3)" in str(error)
    error = _error(tmp_path, '[keymap]\n"app.help" = 1\n')
    assert (error.line, error.key) == (2, "keymap.app.help")


def test_key_names_are_checked(tmp_path: Path) -> None:
    error = _error(tmp_path, '[keymap]\n"app.help" = "F9"\n')
    assert (error.line, error.key) == (2, "keymap.app.help") and "'f9'" in str(error)
    error = _error(tmp_path, '[keymap]\n"app.help" = "f9,"\n')
    assert "empty key" in str(error)
    error = _error(tmp_path, '[keymap]\n"app.help" = "ctrl t"\n')
    assert "ctrl+t" in str(error)


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    error = _error(tmp_path, 'theme = "nord"\ndefault_rater = \n')
    assert error.line == 2 and "not valid TOML" in str(error)


def test_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MhbenchError, match=r"does not exist.*--config"):
        load_config(tmp_path / "nope.toml")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(MhbenchError, match=f"does not exist.*{CONFIG_ENV}"):
        load_config()
    # At the platform's default place, no file simply means the defaults.
    monkeypatch.delenv(CONFIG_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path, origin = config_path()
    assert origin == "default" and path == tmp_path / "xdg" / "mhbench" / "config.toml"
    file = load_config()
    assert not file.exists and file.config == Settings()


def test_the_flag_beats_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "env.toml"))
    assert config_path(tmp_path / "flag.toml") == (tmp_path / "flag.toml", "flag")
    assert config_path() == (tmp_path / "env.toml", "env")


def test_workspace_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = load_config(_write(tmp_path, 'workspace = "/data/from-config"\n'))
    monkeypatch.setenv("MHBENCH_HOME", "/data/from-env")
    assert choose_workspace("/data/flag", file).source == "flag --workspace"
    assert choose_workspace(None, file).value == "/data/from-env"
    monkeypatch.delenv("MHBENCH_HOME")
    chosen = choose_workspace(None, file)
    assert (chosen.value, chosen.source) == ("/data/from-config", str(file.path))
    empty = load_config(_write(tmp_path, ""))
    assert choose_workspace(None, empty).source == "default"


def test_rater_order(tmp_path: Path) -> None:
    file = load_config(_write(tmp_path, 'default_rater = "r7"\n'))
    assert choose_rater("r1", file).value == "r1"
    assert (choose_rater(None, file).value, choose_rater(None, file).source) == ("r7", str(file.path))
    assert choose_rater(None, load_config(_write(tmp_path, ""))).value is None


def test_find_line_reads_tables_and_spellings() -> None:
    text = '# top\ntheme = "x"\n[keymap]\n"app.help" = "f9"\napp . quit = "ctrl+x"\n[other]\ntheme = 1\n'
    assert find_line(text, "theme") == 2
    assert find_line(text, "app.help", "keymap") == 4
    assert find_line(text, "app.quit", "keymap") == 5
    assert find_line(text, "app.missing", "keymap") is None


def test_a_rater_id_has_no_spaces(tmp_path: Path) -> None:
    error = _error(tmp_path, 'default_rater = "dr who"\n')
    assert (error.line, error.key) == (1, "default_rater") and "without spaces" in str(error)
