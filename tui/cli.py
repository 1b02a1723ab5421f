"""The `listsync` command line: global options, subcommands, error mapping.

Each subcommand lives in `tui/commands/<name>.py` and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`.
`COMMANDS` names each one's module and one-line help, so only the chosen
command's module is imported (the app imports none). Every `EngineError`
becomes one sentence on stderr and its exit code; a traceback only with `--debug`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from engine import EngineError
from tui.commands._settings import apply_settings

# Subcommand -> (module whose register() adds its parser, the help `listsync --help` shows),
# in the order `--help` lists them. A test checks each help against its module's.
COMMANDS: dict[str, tuple[str, str]] = {
    "items": ("tui.commands.items", "print the inventory"),
    "set": ("tui.commands.items", "set an item's quantity (adds the item if it is new)"),
    "adjust": ("tui.commands.items", "add DELTA (may be negative) to an item's quantity"),
    "identity": ("tui.commands.identity",
                 "show or replace the listener's generated TLS identity"),
    "users": ("tui.commands.users",
              "add, list or remove users allowed to sync with this listener"),
    "trust": ("tui.commands.trust", "listener certificates remembered on first use (tofu)"),
    "serve": ("tui.commands.serve", "passive peer: listen for replicators (headless)"),
    "sync": ("tui.commands.sync", "active peer: replicate with a listener (headless)"),
    "peers": ("tui.commands.peers", "browse the LAN for listeners"),
    "demo": ("tui.commands.demo", "a second peer on this machine, and the app synced to it"),
    "run": ("tui.commands.run", "listen, advertise and keep syncing with peers (a service)"),
    "check": ("tui.commands.maint", "verify the journal and blobs (exit 1 if damaged)"),
    "compact": ("tui.commands.maint",
                "rewrite the journal without dropped history; delete unused blobs"),
    "export": ("tui.commands.maint",
               "write a portable backup (documents and blobs) to FILE"),
    "import": ("tui.commands.maint", "merge a backup from FILE (never overwrites newer data)"),
    "doctor": ("tui.commands.doctor", "check multicast, port, identity, allowlist and clock"),
    "service": ("tui.commands.service", "systemd units for running unattended"),
    "settings": ("tui.commands.settings", "show, locate or create the settings file"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"listsync: {message}", file=sys.stderr)
        raise SystemExit(2)


class _LazyCommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Subcommands that stand as placeholders (name and help) until one is chosen; then its
    module registers the real parsers. Importing every module cost ~0.2 s per start."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: set[str] = set()  # modules whose register() has run
        for name, (_module, help_text) in COMMANDS.items():
            self.add_parser(name, help=help_text)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        module = COMMANDS.get(values[0], ("", ""))[0]
        if module and module not in self._loaded:
            self._loaded.add(module)
            mine = {name for name, (m, _help) in COMMANDS.items() if m == module}
            for name in mine:  # the module adds them again, for real
                del self._name_parser_map[name]
            self._choices_actions = [a for a in self._choices_actions if a.dest not in mine]
            importlib.import_module(module).register(self)
        super().__call__(parser, namespace, values, option_string)


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
    parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                          action=_LazyCommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # No cyclic GC while starting (see tui/__main__.py): a command gets it back before it
    # runs, the app once it has painted (ListsyncApp.on_mount).
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: Sequence[str] | None) -> int:
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
        gc.enable()  # `serve` and `run` live long
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
