"""``python -m tui.cli``: the same as the ``mhbench`` entry point (tests and the Models screen start it so)."""

from __future__ import annotations

import sys

from tui.cli import main

# Guarded: the keymap catalogue and the import test import every tui module, this one included.
if __name__ == "__main__":
    sys.exit(main())
