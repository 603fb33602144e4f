"""``mhbench raters …`` (the operator assigns raters and their tokens) and ``mhbench rate`` (the rater mode).

A token is printed once, to stdout, when it is made; only its hash is kept. Like
the rest of :mod:`tui.cli`, nothing heavy loads before a command runs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from core.base.text import strip_control
from tui.cli.common import opened_workspace, say

if TYPE_CHECKING:
    from core.base.workspace import Workspace


def _sessions(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def add_commands(commands: Any) -> None:
    """Add ``raters`` and ``rate`` to ``mhbench``'s subparsers."""
    raters = commands.add_parser("raters", help="add, list or revoke raters and their tokens (for the rater mode)")
    verbs = raters.add_subparsers(dest="raters_command", metavar="ACTION", required=True)
    add = verbs.add_parser("add", help="give a rater a token (shown once) and assign sessions (assigning does not "
                           "restrict a session: see `raters restrict`)")
    add.add_argument("name", help="the rater id, e.g. r1")
    add.add_argument("--sessions", metavar="S1,S2", help="sessions to assign (ids, id prefixes or names)")
    listing = verbs.add_parser("list", help="every rater: token state and assigned sessions (never the token)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = verbs.add_parser("revoke", help="revoke a rater's token: no new connection gets in with it")
    revoke.add_argument("name")
    assign = verbs.add_parser("assign", help="assign sessions to a rater (or --remove them); a session stays open to "
                              "every rater until `raters restrict` limits it to its assigned ones")
    assign.add_argument("name")
    assign.add_argument("--sessions", metavar="S1,S2", required=True)
    assign.add_argument("--remove", action="store_true", help="unassign instead")
    restrict = verbs.add_parser("restrict", help="open a session only to its assigned raters (or --open it again)")
    restrict.add_argument("session")
    restrict.add_argument("--open", action="store_true", help="open the session to every rater again")
    attempts = verbs.add_parser("attempts", help="wrong tokens tried lately (all doors) and whether login is "
                                "paused; --clear opens it again")
    attempts.add_argument("--clear", action="store_true", help="forget the wrong tokens: login opens at once")
    raters.set_defaults(handler=cmd_raters)

    rate = commands.add_parser("rate", help="the rater mode: your sessions, the Arena and the rubric, nothing else")
    # Own dests: ``mhbench --rater`` (and the config's default_rater) fill in when these are not given.
    rate.add_argument("--rater", dest="rate_rater", metavar="NAME", help="your rater id (default: --rater, the "
                      "config's default_rater, else the last one in this workspace, else asked)")
    rate.add_argument("--session", dest="rate_session", metavar="S", help="open this session at once")
    rate.add_argument("--token", dest="rate_token", action="store_true",
                      help="ask for the rater's token first, as the browser does (a shared SSH account: each "
                           "rater logs in with their own token; --rater is then ignored)")
    rate.add_argument("--lang", dest="rate_lang", choices=("zh", "en"), default=None,
                      help="the rater mode's language (default: the rater's remembered choice, else zh); "
                           "remembered for the rater")
    rate.set_defaults(handler=cmd_rate, starts_app=True)


def _warn_open(workspace: Workspace, session_ids: Sequence[str]) -> None:
    """Assigning is not restricting: say so for each assigned session that every rater still sees."""
    from core.arena.raters import open_to_all

    for session_id in open_to_all(workspace, session_ids):
        say(f"warning: session {session_id} is open to every rater, assigned or not; "
            f"`mhbench raters restrict {session_id}` limits it to its assigned raters.")


def _attempts_line(workspace: Workspace) -> str | None:
    """The global try limit as the operator reads it, or None when no wrong token was tried lately."""
    from core.arena.token_tries import clock_time, tries_state

    state = tries_state(workspace, time.time())
    if not state.failures or state.last_at is None:
        return None
    door = (f"login paused for everyone until {clock_time(time.time() + state.retry_after_s)}" if state.closed
            else "login open")
    return (f"{state.failures} wrong token(s) in the last hour, the last at {clock_time(state.last_at)}: {door} "
            "(`mhbench raters attempts --clear` opens it).")


def cmd_raters(args: argparse.Namespace) -> int:
    from core.arena import raters

    workspace = opened_workspace(args)
    action = args.raters_command
    if action == "add":
        issued = raters.add_rater(workspace, args.name, _sessions(args.sessions))
        print(issued.token)
        say(f"rater {issued.rater}: this token is shown once and stored only as a hash; give it to them "
            "privately (`mhbench web` and `mhbench rate --token` ask for it).")
        _warn_open(workspace, raters.get_rater(workspace, issued.rater).sessions)
    elif action == "attempts":
        from core.arena.token_tries import clear_failures

        if args.clear:
            print(f"forgot {clear_failures(workspace)} wrong token(s): login is open.")
        else:
            print(_attempts_line(workspace) or "no wrong token tried in the last hour: login is open.")
    elif action == "list":
        records = raters.list_raters(workspace)
        if args.json:
            print(json.dumps([{"name": r.name, "state": r.state, "created_at": r.created_at,
                               "token_created_at": r.token_created_at, "revoked_at": r.revoked_at,
                               "sessions": list(r.sessions)} for r in records], ensure_ascii=False, indent=2))
            return 0
        if not records:
            print("no raters yet: `mhbench raters add NAME` gives one a token.")
        for r in records:  # names come from the database: whatever got in is printed harmless
            print(strip_control(f"{r.name:<16} {r.state:<9} {r.created_at[:16]}  {', '.join(r.sessions) or '-'}"))
        attempts = _attempts_line(workspace)
        if attempts:
            print(attempts)
    elif action == "revoke":
        record = raters.revoke_rater(workspace, args.name)
        print(f"{record.name} revoked at {record.revoked_at}")
    elif action == "assign":
        record = raters.assign_sessions(workspace, args.name, _sessions(args.sessions), remove=args.remove)
        print(f"{record.name} assigned: {', '.join(record.sessions) or 'no sessions'}")
        if not args.remove:
            _warn_open(workspace, record.sessions)
    else:
        session_id = raters.restrict_session(workspace, args.session, restricted=not args.open)
        print(f"{session_id}: {'open to every rater' if args.open else 'only its assigned raters see and rate it'}")
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    from core.arena.sessions import get_session

    workspace = opened_workspace(args)
    # Resolved before the app starts: a mistyped session is named on the terminal, not in a screen.
    session = get_session(workspace, args.rate_session).id if args.rate_session else None
    rater = None if args.rate_token else args.rate_rater or args.rater
    if rater:
        from core.arena.raters import check_rater_name, refuse_revoked
        from core.arena.ratings import remember_rater

        rater = check_rater_name(rater)  # a person: never a judge's name
        refuse_revoked(workspace, rater)
        rater = remember_rater(workspace, rater)
    from tui.rater.app import RaterApp

    config = args.config_file.config
    RaterApp(workspace, rater, session=session, token_required=args.rate_token, language=args.rate_lang,
             keymap=config.keymap, theme=config.theme).run()
    return 0

