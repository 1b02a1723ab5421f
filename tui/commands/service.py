"""`listsync service unit --kind run|kiosk`: print a systemd unit for this installation.

The units ship in the package (tui/units/); this fills in the account to run
as and the installed `listsync` command, with the options this run was given.
"""

from __future__ import annotations

import argparse
import getpass
import shlex
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from engine import UsageError, check_user_name

UNITS = {"run": "listsync-run.service", "kiosk": "listsync-kiosk@.service"}


def register(sub: Any) -> None:
    parser = sub.add_parser("service", help="systemd units for running unattended")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    unit = actions.add_parser("unit", help="print a systemd unit (save it under "
                                           "/etc/systemd/system/)")
    unit.add_argument("--kind", choices=sorted(UNITS), required=True,
                      help="run: the headless peer; kiosk: the app on a terminal (tty1)")
    unit.add_argument("--user", dest="unit_user", metavar="NAME",
                      help="the listsync user the service opens (default: --user or settings)")
    unit.add_argument("--system-user", metavar="ACCOUNT",
                      help="the Linux account the service runs as (default: you)")
    unit.set_defaults(func=run_unit, own_settings=True)


def listsync_command() -> list[str]:
    """How to start this installation's `listsync`, as an absolute command."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "listsync" and argv0.exists():
        return [str(argv0.resolve())]
    found = shutil.which("listsync")
    if found:
        return [str(Path(found).resolve())]
    return [sys.executable, "-m", "tui"]


def unit_text(kind: str, *, account: str, options: list[str]) -> str:
    template = resources.files("tui").joinpath("units", UNITS[kind]).read_text(encoding="utf-8")
    command = shlex.join(listsync_command())
    args = "".join(" " + shlex.quote(o) for o in options)
    return (template.replace("@USER@", account).replace("@EXEC@", command)
            .replace("@ARGS@", args))


def run_unit(args: argparse.Namespace) -> int:
    user = args.unit_user or args.user
    account = args.system_user or getpass.getuser()
    if any(c.isspace() or c in "%$\"'\\" for c in account) or not account:
        raise UsageError(f"{account!r} is not a usable account name.")
    options: list[str] = []
    if args.config:
        options += ["--config", str(Path(args.config).expanduser().resolve())]
    if args.data_dir:
        options += ["--data-dir", str(Path(args.data_dir).expanduser().resolve())]
    if user:
        options += ["--user", check_user_name(user)]
    elif args.kind == "run":
        print("listsync: note: no --user given; the service takes it from [general] user "
              "in the settings file.", file=sys.stderr)
    if args.db != "userdb":
        options += ["--db", args.db]
    print(unit_text(args.kind, account=account, options=options), end="")
    return 0
