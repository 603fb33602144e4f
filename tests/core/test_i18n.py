"""The rater mode's catalogues: real gettext from the committed .po, complete for every text the rater mode marks."""

from __future__ import annotations

import gettext
import io
import re
import subprocess
from pathlib import Path

import pytest

from core.arena.rubric import CPSYCOUN_RUBRIC, DEFAULT_CRISIS_ONLY_RUBRIC, DEFAULT_RUBRIC
from core.base import i18n
from core.base.errors import MhbenchError

ROOT = Path(__file__).resolve().parents[2]
RATER_SOURCES = [
    "core/arena/rubric.py", "core/arena/controller.py", "core/arena/reports.py", "core/arena/raters.py",
    "core/arena/door.py", "core/arena/ratings.py",
    "tui/arena/screen.py", "tui/arena/dialogue.py", "tui/arena/history.py", "tui/arena/rating_bar.py", "tui/arena/side.py", "tui/arena/moving.py", "tui/arena/help.py",
    *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tui" / "rater").glob("*.py")),
]
"""Every module whose texts a rater reads: the rater mode's own and the Arena pieces it shares."""
LATIN_WORDS = re.compile(r"[A-Za-z]{4,}")
KEPT_LATIN = {"mhbench", "CPsyCoun", "Zhang", "Enter", "Ctrl", "English", "default", "crisis", "only"}
"""Words a Chinese text keeps as they are: names, keys, and a rubric's name as the operator typed it."""


def _marked() -> list[str]:
    messages: list[str] = []
    for source in RATER_SOURCES:
        for message in i18n.marked_messages((ROOT / source).read_text(encoding="utf-8")):
            if message not in messages:
                messages.append(message)
    return messages


def test_every_text_the_rater_mode_marks_has_a_chinese_translation() -> None:
    messages = _marked()
    assert len(messages) > 100, "the rater mode's texts are marked"
    catalogue = i18n.parse_po(i18n.catalogue_path("zh").read_text(encoding="utf-8"), i18n.catalogue_path("zh"))
    missing = [message for message in messages if not catalogue.get(message)]
    assert not missing, f"no zh translation for: {missing}"
    stale = [message for message in catalogue if message and message not in messages]
    assert not stale, f"translations of texts the code no longer has: {stale}"
    for message in messages:
        translated = catalogue[message]
        assert set(re.findall(r"\{\w+\}", message)) == set(re.findall(r"\{\w+\}", translated)), message
        english = {word for word in LATIN_WORDS.findall(re.sub(r"\{\w+\}", "", translated))
                   if word not in KEPT_LATIN}
        assert not english or message == "中文", f"English left in the translation of {message!r}: {english}"


def test_the_marked_texts_are_found_in_the_code_as_written() -> None:
    source = 'x = tr("one")\ny = N_("two")\nz = tr(variable)\nw = other("three")\nv = tr("one")\n'
    assert i18n.marked_messages(source) == ["one", "two"]


def test_a_po_file_compiles_to_a_mo_that_gettext_reads(tmp_path: Path) -> None:
    path = tmp_path / "x.po"
    text = ('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
            "# a comment\n"
            'msgid "safe"\nmsgstr "安全"\n\n'
            'msgid ""\n"two\\n"\n"lines \\"quoted\\""\nmsgstr ""\n"两行\\n"\n"“引号”"\n\n'
            '#, fuzzy\nmsgid "fuzzy"\nmsgstr "不要"\n\n'
            'msgid "untranslated"\nmsgstr ""\n')
    path.write_text(text, encoding="utf-8")
    translations = gettext.GNUTranslations(io.BytesIO(i18n.compile_po(text, path)))
    assert translations.gettext("safe") == "安全"
    assert translations.gettext('two\nlines "quoted"') == "两行\n“引号”"
    assert translations.gettext("fuzzy") == "fuzzy" and translations.gettext("untranslated") == "untranslated"
    entry = i18n.po_entry("a\nb", "甲\n乙")
    assert i18n.parse_po(entry, path) == {"a\nb": "甲\n乙"}


def test_a_broken_po_line_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.po"
    with pytest.raises(MhbenchError) as raised:
        i18n.parse_po('msgid "ok"\nmsgstr "好"\nmsgid unquoted\n', path)
    assert f"{path}:3" in str(raised.value) and "quote" in str(raised.value)


def test_english_until_a_language_is_chosen_and_the_rubric_in_both() -> None:
    assert i18n.active_language() == "en" and i18n.tr("empathy") == "empathy"  # the operator's app never changes
    try:
        i18n.use_language("zh")
        assert i18n.tr("empathy") == "共情" and i18n.tr("professionalism") == "专业性"
        for rubric in (DEFAULT_RUBRIC, DEFAULT_CRISIS_ONLY_RUBRIC, CPSYCOUN_RUBRIC):
            assert rubric.shown_text() != rubric.text and rubric.shown_text().count("\n") == rubric.text.count("\n")
            for dimension in rubric.dimensions:
                assert i18n.tr(dimension.label) != dimension.label and i18n.tr(dimension.help) != dimension.help
        i18n.use_language("en")
        assert DEFAULT_RUBRIC.shown_text() == DEFAULT_RUBRIC.text
    finally:
        i18n.use_language("en")
    with pytest.raises(MhbenchError, match="zh, en"):
        i18n.catalogue("fr")


def test_the_catalogue_is_tracked_and_ships_inside_the_package() -> None:
    relative = i18n.catalogue_path("zh").relative_to(ROOT)
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(relative)], cwd=ROOT, capture_output=True)
    assert tracked.returncode == 0, f"{relative} is not committed: a fresh clone would have no Chinese"
    assert relative.parts[0] == "core", "the wheel packages core/ and tui/ whole"


SHOWN_CALLS = {"Static", "Button", "RateButton", "Binding", "SystemCommand", "AskText", "Choose", "notify", "Input",
               "update", "MhbenchError", "add_option", "exit"}
"""Calls whose text a rater reads: a string literal given to them in the rater mode must be marked."""


def _unmarked_literals(source: str) -> list[str]:
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name not in SHOWN_CALLS:
            continue
        given = [*node.args, *(keyword.value for keyword in node.keywords
                               if keyword.arg in ("title", "placeholder", "description", "message", "fix"))]
        for argument in given:
            for part in ast.walk(argument):
                if isinstance(part, ast.Constant) and isinstance(part.value, str) \
                        and LATIN_WORDS.search(part.value) and not _inside_marker(argument, part):
                    found.append(f"line {part.lineno}: {part.value!r}")
    return found


def _inside_marker(root: object, target: object) -> bool:
    import ast

    for node in ast.walk(root):  # type: ignore[arg-type]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tr", "N_") \
                and any(part is target for part in ast.walk(node)):
            return True
    return False


def test_the_rater_modes_own_screens_give_no_unmarked_text_to_a_widget() -> None:
    assert _unmarked_literals('self.notify("Saved it", title=tr("Done"))\nStatic(tr("Fine"))') == ["line 1: 'Saved it'"]
    # Binding descriptions, labels, notices, placeholders, errors: each must go through the catalogue. Action and
    # widget names (lower-case ids such as "token-input", "switch_language") are not texts: they hold no space
    # or capital and are left out below.
    for path in sorted((ROOT / "tui" / "rater").glob("*.py")):
        unmarked = [found for found in _unmarked_literals(path.read_text(encoding="utf-8"))
                    if re.search(r"[A-Z ]", found.split(": ", 1)[1][1:-1])]
        assert not unmarked, f"{path.name}: texts a rater reads that the catalogue does not have: {unmarked}"
