"""The app's key bindings by id, and the checks of a user's config that only the app can make.

Every ``Binding`` in ``tui/`` has an id, so ``[keymap]`` in ``config.toml`` can move any of them
(Textual applies it: ``App.set_keymap``). Which ids and which themes exist is known here, not in
core: :func:`check_config` names an unknown id with a did-you-mean over the real ones.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode

from core.base.errors import did_you_mean
from core.config import ConfigFile


@dataclass(frozen=True)
class BindingEntry:
    """One binding id: its default keys, what it does, and the classes (screens, the app) that bind it."""

    id: str
    keys: str
    description: str
    action: str
    owners: tuple[str, ...]


def iter_bindings() -> Iterator[tuple[type[DOMNode], Binding]]:
    """Every Binding that a class in ``tui`` declares itself, importing each tui module to find them.

    Importing is what makes this exact (a binding built in code is found too); it costs about
    0.1 s, paid only when a config has a ``[keymap]`` or ``mhbench config`` runs.
    """
    import tui

    for info in sorted(pkgutil.walk_packages(tui.__path__, prefix="tui."), key=lambda info: info.name):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, DOMNode) and value.__module__ == module.__name__:
                for binding in value.__dict__.get("BINDINGS", []):
                    if isinstance(binding, Binding):
                        yield value, binding


def binding_catalogue() -> dict[str, BindingEntry]:
    """Binding id → entry, sorted by id."""
    found: dict[str, BindingEntry] = {}
    for owner, binding in iter_bindings():
        if binding.id is None:
            continue
        known = found.get(binding.id)
        owners = (*known.owners, owner.__name__) if known else (owner.__name__,)
        found[binding.id] = BindingEntry(
            id=binding.id, keys=known.keys if known else binding.key, description=binding.description,
            action=binding.action, owners=owners,
        )
    return dict(sorted(found.items()))


def theme_names() -> list[str]:
    """The themes the app can show: Textual's built-in ones (the app registers none of its own)."""
    from textual.theme import BUILTIN_THEMES

    return sorted(BUILTIN_THEMES)


def check_config(file: ConfigFile) -> None:
    """Raise a one-line MhbenchError for an unknown theme, binding id, or two bindings on one key."""
    theme = file.config.theme
    if theme is not None and theme not in theme_names():
        raise file.error(f"unknown theme '{theme}'.{did_you_mean(theme, theme_names())}", key="theme",
                         fix=f"use one of: {', '.join(theme_names())}.")
    if file.config.keymap:
        check_keymap(file, binding_catalogue())


def check_keymap(file: ConfigFile, catalogue: Mapping[str, BindingEntry]) -> None:
    for binding_id in file.config.keymap:
        if binding_id not in catalogue:
            raise file.error(
                f"unknown binding id.{did_you_mean(binding_id, catalogue)}", key=binding_id, table="keymap",
                fix="see `mhbench config --show` or the README's key table for the binding ids.",
            )
    clash = first_clash(file.config.keymap, catalogue)
    if clash is not None:
        moved, other, key, owner = clash
        raise file.error(
            f"'{key}' is already bound to '{other}' on {owner}.", key=moved, table="keymap",
            fix=f"choose another key, or move '{other}' too.",
        )


def effective_keys(keymap: Mapping[str, str], entry: BindingEntry) -> list[str]:
    return [key.strip() for key in keymap.get(entry.id, entry.keys).split(",")]


def first_clash(keymap: Mapping[str, str], catalogue: Mapping[str, BindingEntry]) -> tuple[str, str, str, str] | None:
    """(moved id, other id, key, owner) where the keymap puts two bindings of one class on one key.

    Textual would keep only one of them, silently; the user should hear it before the app starts.
    Clashes between classes are fine: a screen's key shadows the app's, as F1 does in the Arena.
    """
    by_owner: dict[str, list[BindingEntry]] = {}
    for entry in catalogue.values():
        for owner in entry.owners:
            by_owner.setdefault(owner, []).append(entry)
    for moved in keymap:
        for owner in catalogue[moved].owners:
            for other in by_owner[owner]:
                if other.id == moved:
                    continue
                shared = set(effective_keys(keymap, catalogue[moved])) & set(effective_keys(keymap, other))
                if shared:
                    return moved, other.id, sorted(shared)[0], owner
    return None


README_BEGIN = "<!-- keymap table: generated by scripts/keymap_table.py; tests/tui/test_keymap.py keeps it honest -->"
README_END = "<!-- end of keymap table -->"


def keymap_markdown(catalogue: Mapping[str, BindingEntry] | None = None) -> str:
    """The README's table of every binding id, its default keys and what it does, between its markers."""
    entries = (catalogue if catalogue is not None else binding_catalogue()).values()
    rows = [README_BEGIN, "| binding id | default keys | what it does | action | where |", "|---|---|---|---|---|"]
    for entry in entries:
        where = ", ".join("every screen" if owner == "MhbenchApp" else owner for owner in entry.owners)
        keys = ", ".join(f"`{key}`" for key in entry.keys.split(","))
        what = entry.description.replace("|", "\\|")
        rows.append(f"| `{entry.id}` | {keys} | {what} | `{entry.action}` | {where} |")
    rows.append(README_END)
    return "\n".join(rows)
