"""Toasts that show Chinese whole.

Textual paints a screen line in chops, cut wherever any widget on that line starts or
ends, the widgets a toast covers included; each chop is taken from the topmost widget.
A double-width character of a toast that straddles such a cut is split by Rich into two
spaces, so a toast over the Profiles or Train panes loses a character here and there
(``…checkpoint-10，请…`` showed without its comma, a line's last character vanished).

:class:`WholeCharacterToast` renders as Textual's toast does, then moves each
double-width character that would straddle a cut one cell to the right (a space before
it). The cuts are read at render time, so a toast re-rendered over another screen or
pane is right again. The slack comes from the toast's right padding (``app.tcss``).
"""

from __future__ import annotations

from collections.abc import Collection

from rich.cells import get_character_cell_size
from rich.segment import Segment
from textual.dom import NoScreen
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import _toast


def keep_wide_characters_whole(strip: Strip, cuts: Collection[int]) -> Strip:
    """``strip`` with a space before every double-width character that would straddle one of ``cuts``.

    ``cuts`` are cell offsets in the strip. The result keeps the strip's width; what is
    pushed past its end (the toast's right padding) is dropped.
    """
    if not cuts:
        return strip
    width = strip.cell_length
    segments: list[Segment] = []
    column = 0
    moved = False
    for segment in strip:
        text, style, control = segment
        if control:
            segments.append(segment)
            continue
        characters: list[str] = []
        for character in text:
            size = get_character_cell_size(character)
            while size == 2 and column + 1 in cuts:
                characters.append(" ")
                column += 1
                moved = True
            characters.append(character)
            column += size
        segments.append(Segment("".join(characters), style, control))
    if not moved:
        return strip
    return Strip(segments).crop(0, width)


class WholeCharacterToast(_toast.Toast):
    """Textual's toast, with its double-width characters kept off the screen's cuts."""

    def render_lines(self, crop: Region) -> list[Strip]:
        lines = super().render_lines(crop)
        region = self.region  # NULL_REGION when not placed on a screen: then there is nothing to keep off
        if not region:
            return lines
        try:
            screen_cuts = self.screen._compositor.cuts
        except NoScreen:
            return lines
        left = region.x + crop.x
        kept: list[Strip] = []
        for index, strip in enumerate(lines):
            y = region.y + crop.y + index
            right = left + strip.cell_length
            inside = {cut - left for cut in screen_cuts[y] if left < cut < right} if 0 <= y < len(screen_cuts) else set()
            kept.append(keep_wide_characters_whole(strip, inside))
        return kept


def keep_toasts_whole() -> None:
    """Make every toast a :class:`WholeCharacterToast`: Textual's toast rack builds toasts by this module name."""
    _toast.Toast = WholeCharacterToast  # type: ignore[misc]
