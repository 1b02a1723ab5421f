"""The `listsync` command line: global options, subcommands, error mapping.

Each subcommand lives in `tui/commands/<name>.py` and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Every `EngineError` becomes one sentence on stderr and its exit code; a
traceback is shown only with `--debug`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from engine import EngineError
from tui.commands._settings import apply_settings

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES = [
    "tui.commands.items",
    "tui.commands.identity",
    "tui.commands.users",
    "tui.commands.trust",
    "tui.commands.serve",
    "tui.commands.sync",
    "tui.commands.peers",
    "tui.commands.demo",
    "tui.commands.run",
    "tui.commands.maint",
    "tui.commands.doctor",
    "tui.commands.service",
    "tui.commands.settings",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"listsync: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="listsync",
        description="Keep a shop's inventory in sync between devices on a LAN, peer to peer.",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="where users' databases live")
    parser.add_argument("--user", metavar="NAME", help="whose database to open")
    parser.add_argument("--db", metavar="NAME", default="userdb", help="database name")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--config", metavar="FILE", help="settings file (default: "
                        "$LISTSYNC_CONFIG, else ~/.config/listsync/settings.toml)")
    parser.add_argument("--kiosk", action="store_true", default=None,
                        help="app: lock it to the inventory (quitting needs Ctrl+Q, Ctrl+X)")
    parser.add_argument("--log-file", metavar="FILE",
                        help="app: write the log here (default: <data dir>/listsync.log)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is not None and not logging.getLogger().handlers:
        # Engine warnings reach a shell user as plain lines; the app logs to a file.
        logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                            format="listsync: %(message)s")
    try:
        apply_settings(args)  # a bad settings file stops everything before it starts
        if args.command is None:
            from tui.commands.app import run_app

            return run_app(args)
        result: int = args.func(args)
        return result
    except EngineError as err:
        if args.debug:
            raise
        print(f"listsync: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`listsync items | head`); nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
