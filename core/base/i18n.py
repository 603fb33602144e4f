"""The rater mode's languages: gettext catalogues, simplified Chinese by default, English on request.

The raters are Chinese counsellors; the operator's workbench stays in English. The texts a
rater reads (the rater mode's screens, the Arena's shared pieces, the rubric of
:mod:`core.arena.rubric`) are written in English in the code, marked with :func:`tr` (translated
where they are shown) or :func:`N_` (only marked, where a constant is defined), and translated by
real gettext catalogues: ``core/base/locale/<lang>/LC_MESSAGES/mhbench.po``. The ``.po`` files
are the source; each is compiled to the ``.mo`` format by :func:`compile_po` when first needed and
read by :class:`gettext.GNUTranslations`, so a fresh clone, an editable install and a wheel (which
carries the ``.po`` files as package data) all work with no build step.

One language is active per process (each terminal rater mode and each browser tab is its own
process); until :func:`use_language` is called it is English, the catalogue's source language, so
the operator's app never changes. Stdlib only.
"""

from __future__ import annotations

import ast
import gettext
import io
import struct
from functools import cache
from pathlib import Path

from core.base.errors import MhbenchError

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "N_", "active_language", "catalogue", "catalogue_path",
           "compile_po", "marked_messages", "parse_po", "po_entry", "tr", "use_language"]

LANGUAGES = ("zh", "en")
"""The rater mode's languages; English is the source text and needs no catalogue."""
DEFAULT_LANGUAGE = "zh"
"""What a rater reads unless they or the operator chose otherwise."""
DOMAIN = "mhbench"
LOCALE_DIR = Path(__file__).with_name("locale")

_active: gettext.NullTranslations = gettext.NullTranslations()
_active_language = "en"


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue where it is defined; :func:`tr` translates it where it is shown."""
    return message


def tr(message: str) -> str:
    """``message`` in the active language (itself where the catalogue has no translation)."""
    return _active.gettext(message) if message else message


def active_language() -> str:
    return _active_language


def use_language(language: str) -> None:
    """Make ``language`` this process's language for every later :func:`tr`."""
    global _active, _active_language
    _active = catalogue(language)
    _active_language = language


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The translations of ``language``: English is the source text, any other is read from its ``.po``."""
    if language not in LANGUAGES:
        raise MhbenchError(f"no language '{language}' for the rater mode.", fix=f"use one of: {', '.join(LANGUAGES)}.")
    if language == "en":
        return gettext.NullTranslations()
    path = catalogue_path(language)
    return gettext.GNUTranslations(io.BytesIO(compile_po(path.read_text(encoding="utf-8"), path)))


def _po_string(text: str, path: Path, line: int) -> str:
    try:
        value = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        value = None
    if not isinstance(value, str):
        raise MhbenchError(f"{path}:{line}: {text[:40]!r} is not a quoted string.",
                           fix='quote every msgid and msgstr line: "text".')
    return value


def parse_po(text: str, path: Path) -> dict[str, str]:
    """A ``.po`` file's messages, msgid to msgstr (the header under ``""``); fuzzy and empty ones left out.

    Only what the catalogues here use: msgid, msgstr, continued strings and comments (no plurals,
    no contexts). A line it cannot read is an error naming the file and the line.
    """
    messages: dict[str, str] = {}
    entry: dict[str, str] = {}
    part = ""
    fuzzy = False

    def flush() -> None:
        nonlocal entry, fuzzy
        if "msgid" in entry and (entry.get("msgstr") or entry["msgid"] == "") and not fuzzy:
            messages[entry["msgid"]] = entry.get("msgstr", "")
        entry, fuzzy = {}, False

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if "msgid" in entry:
                flush()
            fuzzy = fuzzy or (line.startswith("#,") and "fuzzy" in line)
            continue
        keyword, _space, rest = line.partition(" ")
        if keyword in ("msgid", "msgstr"):
            if keyword == "msgid" and "msgid" in entry:
                flush()
            part = keyword
            entry[part] = _po_string(rest, path, number)
        elif line.startswith('"') and part:
            entry[part] += _po_string(line, path, number)
        else:
            raise MhbenchError(f"{path}:{number}: cannot read {line[:40]!r}.",
                               fix="each entry is a msgid line and a msgstr line, each a quoted string.")
    if "msgid" in entry:
        flush()
    return messages


def marked_messages(source: str) -> list[str]:
    """The messages a Python source marks for the catalogue: the string literal of each ``tr(…)`` and ``N_(…)``.

    What the catalogue-completeness test reads; a call on anything but a literal (a variable holding a
    message marked elsewhere) is not a message of its own.
    """
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tr", "N_") \
                and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and node.args[0].value and node.args[0].value not in found:
            found.append(node.args[0].value)
    return found


def po_entry(message: str, translation: str) -> str:
    """One entry of a ``.po`` file, long strings split at their newlines as gettext's tools write them."""

    def quoted(text: str) -> str:
        lines = text.splitlines(keepends=True)
        if len(lines) <= 1:
            return _po_quote(text)
        return '""\n' + "\n".join(_po_quote(line) for line in lines)

    return f"msgid {quoted(message)}\nmsgstr {quoted(translation)}\n"


def _po_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def compile_po(text: str, path: Path) -> bytes:
    """The ``.mo`` file (GNU gettext's binary catalogue, little-endian) of a ``.po`` file's text."""
    messages = parse_po(text, path)
    ids = sorted(messages)
    keys = [key.encode("utf-8") for key in ids]
    values = [messages[key].encode("utf-8") for key in ids]
    header_size = 7 * 4
    ids_table = header_size
    strs_table = ids_table + len(ids) * 8
    data_start = strs_table + len(ids) * 8
    data = bytearray()
    id_entries, str_entries = [], []
    for key in keys:
        id_entries.append((len(key), data_start + len(data)))
        data += key + b"\0"
    for value in values:
        str_entries.append((len(value), data_start + len(data)))
        data += value + b"\0"
    out = bytearray(struct.pack("<7I", 0x950412DE, 0, len(ids), ids_table, strs_table, 0, 0))
    for length, offset in id_entries:
        out += struct.pack("<2I", length, offset)
    for length, offset in str_entries:
        out += struct.pack("<2I", length, offset)
    return bytes(out + data)
