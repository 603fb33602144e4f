"""``mhbench raters …`` (the operator assigns raters and their tokens) and ``mhbench rate`` (the rater mode).

A token is printed once, to stdout, when it is made; only its hash is kept. Like
the rest of :mod:`tui.cli`, nothing heavy loads before a command runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tui.cli.common import opened_workspace, say


def _sessions(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def add_commands(commands: Any) -> None:
    """Add ``raters`` and ``rate`` to ``mhbench``'s subparsers."""
    raters = commands.add_parser("raters", help="add, list or revoke raters and their tokens (for the rater mode)")
    verbs = raters.add_subparsers(dest="raters_command", metavar="ACTION", required=True)
    add = verbs.add_parser("add", help="give a rater a token (shown once) and assign sessions")
    add.add_argument("name", help="the rater id, e.g. r1")
    add.add_argument("--sessions", metavar="S1,S2", help="sessions to assign (ids, id prefixes or names)")
    listing = verbs.add_parser("list", help="every rater: token state and assigned sessions (never the token)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = verbs.add_parser("revoke", help="revoke a rater's token: no new connection gets in with it")
    revoke.add_argument("name")
    assign = verbs.add_parser("assign", help="assign sessions to a rater (or --remove them)")
    assign.add_argument("name")
    assign.add_argument("--sessions", metavar="S1,S2", required=True)
    assign.add_argument("--remove", action="store_true", help="unassign instead")
    restrict = verbs.add_parser("restrict", help="open a session only to its assigned raters (or --open it again)")
    restrict.add_argument("session")
    restrict.add_argument("--open", action="store_true", help="open the session to every rater again")
    raters.set_defaults(handler=cmd_raters)

    rate = commands.add_parser("rate", help="the rater mode: your sessions, the Arena and the rubric, nothing else")
    # Own dests: ``mhbench --rater`` (and the config's default_rater) fill in when these are not given.
    rate.add_argument("--rater", dest="rate_rater", metavar="NAME", help="your rater id (default: --rater, the "
                      "config's default_rater, else the last one in this workspace, else asked)")
    rate.add_argument("--session", dest="rate_session", metavar="S", help="open this session at once")
    rate.set_defaults(handler=cmd_rate, starts_app=True)


def cmd_raters(args: argparse.Namespace) -> int:
    from core.arena import raters

    workspace = opened_workspace(args)
    action = args.raters_command
    if action == "add":
        issued = raters.add_rater(workspace, args.name, _sessions(args.sessions))
        print(issued.token)
        say(f"rater {issued.rater}: this token is shown once and stored only as a hash; give it to them "
            "privately (`mhbench web` asks for it).")
    elif action == "list":
        records = raters.list_raters(workspace)
        if args.json:
            print(json.dumps([{"name": r.name, "state": r.state, "created_at": r.created_at,
                               "token_created_at": r.token_created_at, "revoked_at": r.revoked_at,
                               "sessions": list(r.sessions)} for r in records], ensure_ascii=False, indent=2))
            return 0
        if not records:
            print("no raters yet: `mhbench raters add NAME` gives one a token.")
        for r in records:
            print(f"{r.name:<16} {r.state:<9} {r.created_at[:16]}  {', '.join(r.sessions) or '-'}")
    elif action == "revoke":
        record = raters.revoke_rater(workspace, args.name)
        print(f"{record.name} revoked at {record.revoked_at}")
    elif action == "assign":
        record = raters.assign_sessions(workspace, args.name, _sessions(args.sessions), remove=args.remove)
        print(f"{record.name}: {', '.join(record.sessions) or 'no sessions'}")
    else:
        session_id = raters.restrict_session(workspace, args.session, restricted=not args.open)
        print(f"{session_id}: {'open to every rater' if args.open else 'only its assigned raters'}")
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    from core.arena.sessions import get_session

    workspace = opened_workspace(args)
    # Resolved before the app starts: a mistyped session is named on the terminal, not in a screen.
    session = get_session(workspace, args.rate_session).id if args.rate_session else None
    rater = args.rate_rater or args.rater
    if rater:
        from core.arena.raters import check_rater_name
        from core.arena.ratings import remember_rater

        rater = remember_rater(workspace, check_rater_name(rater))  # a person: never a judge's name
    from tui.rater.app import RaterApp

    config = args.config_file.config
    RaterApp(workspace, rater, session=session, keymap=config.keymap, theme=config.theme).run()
    return 0

