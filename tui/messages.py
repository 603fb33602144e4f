"""Messages that workers post to the UI; the only way a thread touches widgets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from core.gpu import GpuReport
    from core.profiles import ProfileEntry


class ProfilesLoaded(Message):
    """Every profile file was read and validated."""

    def __init__(self, entries: Sequence[ProfileEntry]) -> None:
        super().__init__()
        self.entries = entries


class GpusSampled(Message):
    """A fresh NVML reading (possibly "no GPU")."""

    def __init__(self, report: GpuReport) -> None:
        super().__init__()
        self.report = report


class FlagCheckDone(Message):
    """The installed swift accepted or rejected a profile's command."""

    def __init__(self, profile_name: str, text: str, ok: bool) -> None:
        super().__init__()
        self.profile_name = profile_name
        self.text = text
        self.ok = ok
