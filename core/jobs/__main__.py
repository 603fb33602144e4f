"""``python -m core.jobs JOB_DIR`` (the supervisor) or ``python -m core.jobs quantize SRC DST TYPE``."""

from __future__ import annotations

import sys

from core.jobs.supervisor import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
