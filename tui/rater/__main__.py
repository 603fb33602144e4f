"""``python -m tui.rater --workspace DIR --browser``: the app each browser tab of ``mhbench web`` runs.

textual-serve starts this command once per websocket (one per tab). It takes no
operator subcommand: the tab's first screen asks for the rater's token.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.rater", description=__doc__)
    parser.add_argument("--workspace", required=True, metavar="DIR")
    parser.add_argument("--browser", action="store_true", help="a browser tab: ask for a token, record 'browser'")
    parser.add_argument("--lang", choices=("zh", "en"), default=None,
                        help="the rater mode's language (default: the rater's own choice, else zh)")
    args = parser.parse_args(argv)
    from core.base.errors import MhbenchError
    from core.base.workspace import resolve

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
