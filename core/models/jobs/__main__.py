"""``python -m core.models.jobs JOB_DIR`` (the supervisor) or ``python -m core.models.jobs quantize SRC DST TYPE``."""

from __future__ import annotations

import sys

from core.models.jobs.supervisor import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
