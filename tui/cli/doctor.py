"""``mhbench doctor``: what is installed, and what each missing piece disables."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(commands: Any) -> None:
    doctor = commands.add_parser("doctor", help="report what is installed and what each missing piece disables")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from core.base.workspace import resolve
    from core.doctor import report_json, report_text, run_doctor

    checks = run_doctor(resolve(args.workspace).root)  # a report: a missing workspace is not an error here
    print(report_json(checks) if args.json else report_text(checks))
    return 0 if all(check.status != "missing" for check in checks) else 1
