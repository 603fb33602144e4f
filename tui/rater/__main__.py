"""The app each browser tab of ``mhbench web`` runs: ``python -P /abs/tui/rater/__main__.py --workspace DIR --browser``.

textual-serve starts this command once per websocket (one per tab). It takes no
operator subcommand: the tab's first screen asks for the rater's token. The door runs it
by its absolute path, so the code that runs is the code installed beside this file;
``python -m tui.rater`` works as well from a terminal. With ``--door-pid`` the app ends
when that process (the door's server) is no longer its parent: a killed server leaves
no tab behind with the database open.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run by path: this file's own tree, not the current directory's, provides tui
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# How often a tab looks at its parent, and how long it gives its app to end before it stops itself.
PARENT_CHECK_S = 0.5
EXIT_GRACE_S = 5.0


def end_with_door(door_pid: int) -> None:
    """Watch the parent from a thread; once it is not the door, ask the app to end, then make sure."""

    def watch() -> None:
        while os.getppid() == door_pid:
            time.sleep(PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)  # the web driver turns SIGTERM into the app's own exit
        time.sleep(EXIT_GRACE_S)
        os._exit(1)  # its output pipe is gone, so a stuck exit must not keep the database open

    threading.Thread(target=watch, name="door-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.rater", description=__doc__)
    parser.add_argument("--workspace", required=True, metavar="DIR")
    parser.add_argument("--browser", action="store_true", help="a browser tab: ask for a token, record 'browser'")
    parser.add_argument("--lang", choices=("zh", "en"), default=None,
                        help="the rater mode's language (default: the rater's own choice, else zh)")
    parser.add_argument("--door-pid", type=int, metavar="PID",
                        help="the door's server: end when it is no longer this process's parent")
    args = parser.parse_args(argv)
    from core.base.errors import MhbenchError
    from core.base.workspace import resolve

    if args.door_pid is not None:
        end_with_door(args.door_pid)
    try:
        workspace = resolve(args.workspace, must_exist=True)
    except MhbenchError as error:
        print(f"mhbench: error: {error}", file=sys.stderr)
        return 2
    from tui.rater.app import RaterApp

    RaterApp(workspace, source="browser" if args.browser else "terminal", token_required=True,
             language=args.lang).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
