"""A fresh workspace whose catalogue sees the demo's profiles: for serving and merging a demo model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from core.base.db import open_workspace
from core.base.workspace import Workspace


def demo_catalog(demo: Any, root: Path) -> Workspace:
    """A workspace at ``root`` with a copy of the demo's profiles (the demo workspace itself stays untouched)."""
    workspace = open_workspace(Workspace(root))
    shutil.copytree(demo.workspace.profiles_dir, workspace.profiles_dir, dirs_exist_ok=True)
    return workspace
