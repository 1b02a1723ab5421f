"""`listsync settings show|path|init`: the settings file every command and the app read.

`show` prints the settings in effect (after checking the file), `path` where
the file is, and `init` writes a commented file with every key at its default.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine import Settings, UsageError, dumps_settings, save_settings, settings_path
from tui.commands._settings import settings_of


def register(sub: Any) -> None:
    parser = sub.add_parser("settings", help="show, locate or create the settings file")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("show", help="print the settings in effect, as TOML").set_defaults(
        func=_show)
    actions.add_parser("path", help="print where the settings file is").set_defaults(
        func=_path, own_settings=True)
    init = actions.add_parser("init", help="write a commented settings file with the defaults")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(func=_init, own_settings=True)


def _show(args: argparse.Namespace) -> int:
    s = settings_of(args)
    path, _ = settings_path(args.config)
    origin = f"# from {path}" if s.path else f"# no file at {path}: built-in defaults"
    print(origin)
    print(dumps_settings(s), end="")
    return 0


def _path(args: argparse.Namespace) -> int:
    path, _ = settings_path(args.config)
    print(path)
    return 0


def _init(args: argparse.Namespace) -> int:
    path, _ = settings_path(args.config)
    if path.exists() and not args.force:
        raise UsageError(f"{path} already exists; use --force to replace it with the defaults.")
    save_settings(Settings(), path)
    print(f"wrote {path}")
    return 0
