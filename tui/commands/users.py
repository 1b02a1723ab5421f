"""`listsync users add|list|remove`: who may sync with this device's listener.

Users live in `<data dir>/userallowlist.json`; until it exists the shipped
sample allowlist is used, and the first edit copies it there (mode 0600).
New passwords are stored as scrypt hashes.
"""

from __future__ import annotations

import argparse
import json
import sys

from engine import (
    add_user,
    allowlist_path,
    check_user_name,
    effective_allowlist_path,
    list_users,
    remove_user,
)
from tui.commands._passwords import read_password
from tui.commands._tls_common import data_dir_of


def _add(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    name = check_user_name(args.user_name)
    created = add_user(data_dir, name, read_password(args.password_file, new=True))
    verb = "Added" if created else "Changed the password of"
    print(f"{verb} {name} in {allowlist_path(data_dir)}.")
    return 0


def _list(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    users = list_users(data_dir)
    if args.json:
        print(json.dumps([{"name": u.name, "kind": u.kind} for u in users]))
        return 0
    print(f"# {effective_allowlist_path(data_dir)}")
    for user in users:
        print(f"{user.name}\t{user.kind}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    if not remove_user(data_dir, args.user_name):
        print(f"listsync: there is no user {args.user_name!r}.", file=sys.stderr)
        return 1
    print(f"Removed {args.user_name} from {allowlist_path(data_dir)}.")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "users", help="add, list or remove users allowed to sync with this listener",
        description="Edits <data dir>/userallowlist.json (copied from the shipped sample "
                    "on the first edit; mode 0600). New passwords are stored scrypt-hashed.")
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a user, or change their password")
    add.add_argument("user_name", metavar="NAME")
    add.add_argument("--password-file", metavar="FILE",
                     help="read the password from the first line of FILE")
    add.set_defaults(func=_add)
    lst = actions.add_parser("list", help="list users and how their password is stored")
    lst.add_argument("--json", action="store_true", help='[{"name": ..., "kind": ...}, ...]')
    lst.set_defaults(func=_list)
    rm = actions.add_parser("remove", help="remove a user")
    rm.add_argument("user_name", metavar="NAME")
    rm.set_defaults(func=_remove)
