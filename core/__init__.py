"""mhbench core: all logic, no terminal. Never imports textual or rich."""

from __future__ import annotations

__version__ = "0.1.0"
