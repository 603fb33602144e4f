"""Put on PYTHONPATH of an mhbench run by its supervisor: swift's graceful exit watches the run's own
stop file (``MHBENCH_STOP_FILE``) instead of the machine-wide ``/tmp/stop``.

swift 4.6's ``ShutdownManager`` stops training when ``/tmp/stop`` exists, and its graceful-exit
callback gives no way to name another file, so one ``touch /tmp/stop`` by anyone on the box would
stop every run there. This hook gives the manager the run's file as its default, when swift loads
it; nothing else is touched, and nothing is imported early (it runs at every interpreter start,
torchrun's workers included).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

_STOP_FILE = os.environ.get("MHBENCH_STOP_FILE")
_MODULE = "swift.utils.shutdown_manager"


class _RunStopFile:
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            manager = module.ShutdownManager
            original = manager.__init__

            def __init__(self: Any, signals: Any = None, stop_file: Any = None) -> None:
                original(self, signals, stop_file or _STOP_FILE)

            manager.__init__ = __init__

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if _STOP_FILE:
    sys.meta_path.insert(0, _RunStopFile())
