"""The keymap: every binding has an id, config.toml moves keys in the running app, docs/config.md lists them all."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from textual.widgets import Static, TabbedContent

from core.base.errors import MhbenchError
from core.config import load_config
from tests.helpers.pilot import wait_until
from tui.app import MhbenchApp
from tui.results.screen import ResultsScreen
from tui.shell.help import HelpScreen
from tui.shell.keymap import README_BEGIN, README_END, binding_catalogue, check_config, iter_bindings, keymap_markdown
from tui.train.profiles import ProfilesScreen

ROOT = Path(__file__).resolve().parents[2]
# The manual's page on config and keys, where scripts/keymap_table.py writes the table of every binding id.
KEYMAP_PAGE = ROOT / "docs" / "config.md"


def _config(tmp_path: Path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_the_catalogue_holds_every_binding_and_every_binding_has_an_id() -> None:
    missing = [f"{owner.__name__}: {binding.key}" for owner, binding in iter_bindings() if not binding.id]
    assert not missing, f"bindings without an id cannot be moved by config.toml: {missing}"
    # Every `id="…"` written in a Binding in tui/ is found by importing the classes.
    written = {found for path in (ROOT / "tui").rglob("*.py")
               for found in re.findall(r"Binding\([^)]*?\bid=\"([^\"]+)\"", path.read_text(encoding="utf-8"))}
    catalogue = binding_catalogue()
    assert written and written <= set(catalogue)
    assert len(catalogue) >= 66
    assert catalogue["app.mode.train"].keys == "f3" and catalogue["train.stop"].owners == ("TrainScreen",)


def test_the_docs_list_every_binding_id_as_the_code_has_it() -> None:
    page = KEYMAP_PAGE.read_text(encoding="utf-8")
    start, end = page.find(README_BEGIN), page.find(README_END)
    assert 0 <= start < end, "docs/config.md has no keymap table markers"
    assert page[start:end + len(README_END)] == keymap_markdown(), (
        "docs/config.md's key table is out of date: run `.venv/bin/python scripts/keymap_table.py --write`")
    for binding_id in binding_catalogue():
        assert f"| `{binding_id}` |" in page


def test_the_docs_example_is_a_valid_config(tmp_path: Path) -> None:
    page = KEYMAP_PAGE.read_text(encoding="utf-8")
    section = page[page.index("# Config and keys"):]
    example = section[section.index("```toml\n") + 8:section.index("```", section.index("```toml\n") + 8)]
    assert tomllib.loads(example)["keymap"]
    check_config(_config(tmp_path, example))


def test_unknown_binding_id_suggests_the_real_one(tmp_path: Path) -> None:
    file = _config(tmp_path, 'theme = "nord"\n\n[keymap]\n"app.help" = "f9"\n"app.mode.trian" = "f7"\n')
    with pytest.raises(MhbenchError) as caught:
        check_config(file)
    error = caught.value
    assert (error.line, error.key) == (5, "keymap.app.mode.trian")
    assert "Did you mean 'app.mode.train'?" in str(error) and "\n" not in str(error)


def test_unknown_theme_suggests(tmp_path: Path) -> None:
    with pytest.raises(MhbenchError, match=r":1: key 'theme': unknown theme 'nordd'. Did you mean 'nord'\?"):
        check_config(_config(tmp_path, 'theme = "nordd"\n'))


def test_two_bindings_of_one_screen_on_one_key_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MhbenchError, match=r"'n' is already bound to 'train\.new' on TrainScreen"):
        check_config(_config(tmp_path, '[keymap]\n"train.stop" = "n"\n'))
    # Moving the other one away too is fine, and so is shadowing an app key on a screen.
    check_config(_config(tmp_path, '[keymap]\n"train.stop" = "n"\n"train.new" = "ctrl+n"\n"results.next_tab" = "f1"\n'))


async def test_config_moves_a_mode_key_and_a_screen_key(demo, tmp_path: Path) -> None:
    file = _config(tmp_path, 'theme = "nord"\n[keymap]\napp.mode.train = "f7"\n"results.next_tab" = "w"\n')
    check_config(file)
    app = MhbenchApp(demo.workspace, keymap=file.config.keymap, theme=file.config.theme)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen), 10, "the Profiles screen")
        assert app.theme == "nord"
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "the help")
        assert "app.mode.train    f7" in str(app.screen.query_one("#help-text", Static).render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfilesScreen), 5, "the help to close")
        await pilot.press("f3")
        await pilot.pause()  # the key has been handled: a switch would have happened by now
        assert app.current_mode == "profiles", "F3 still switches to Train after moving it to F7"
        await pilot.press("f7")
        await wait_until(pilot, lambda: app.current_mode == "train", 10, "F7 to open Train")
        assert "(F7)" in next(c.help for c in app.get_system_commands(app.screen) if c.title == "Go to Train")
        # A screen's binding moves too: the Results tab key, from t to w.
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen), 10, "the Results screen")
        tabs = app.screen.query_one("#results-tabs", TabbedContent)
        before = tabs.active
        await pilot.press("t")
        await pilot.pause()  # the key has been handled: a tab change would have happened by now
        assert tabs.active == before, "t still changes the tab after moving it to w"
        await pilot.press("w")
        await wait_until(pilot, lambda: tabs.active != before, 5, "w to change the tab")
