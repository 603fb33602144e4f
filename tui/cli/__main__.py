"""``python -m tui.cli``: the same as the ``mhbench`` entry point (tests and the Models screen start it so)."""

from __future__ import annotations

import sys

from tui.cli import main

sys.exit(main())
