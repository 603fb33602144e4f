"""The rater mode's language on screen: Textual's own texts (binding descriptions) through the catalogue.

Binding descriptions are written in the classes (where the operator's Arena shares them), so
a rater screen translates its copy of them when it is made (:func:`speak_bindings`); the
rest of the rater mode's texts go through :func:`core.base.i18n._` where they are drawn.
"""

from __future__ import annotations

from dataclasses import replace

from textual.binding import BindingsMap
from textual.dom import DOMNode

from core.base.i18n import tr


def speak_bindings(node: DOMNode, source: BindingsMap | None = None) -> BindingsMap:
    """Give ``node`` (a screen or the app) its bindings with their descriptions in the active language.

    ``source`` holds them as written (English); it is the node's own when not given. Returns it, to
    keep for a later change of language.
    """
    source = source or node._bindings
    node._bindings = BindingsMap(
        [replace(binding, description=tr(binding.description), tooltip=tr(binding.tooltip))
         for bindings in source.key_to_bindings.values() for binding in bindings])
    return source
