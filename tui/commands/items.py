"""`listsync items`, `set NAME QTY` and `adjust NAME DELTA`: the inventory from a shell.

Edits are read-modify-write with optimistic concurrency (engine.update_list), so
any number of processes, and a running sync, may change the list at once
without losing a count. An unknown item for `adjust` is exit 1 (the request is
well-formed, the list just lacks it); malformed arguments are exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import (
    Database,
    NotFoundError,
    UsageError,
    adjust,
    find_item,
    items_view,
    open_list_db,
    read_list,
    set_quantity,
    update_list,
)


def _whole_number(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None


def register(sub: Any) -> None:
    items = sub.add_parser("items", help="print the inventory")
    items.add_argument("--json", action="store_true",
                       help='print [{"key": ..., "value": ...}, ...] instead of a table')
    items.set_defaults(func=run_items)
    set_ = sub.add_parser("set", help="set an item's quantity (adds the item if it is new)")
    set_.add_argument("name", metavar="NAME")
    set_.add_argument("qty", metavar="QTY", type=_whole_number)
    set_.set_defaults(func=run_set)
    adj = sub.add_parser("adjust", help="add DELTA (may be negative) to an item's quantity")
    adj.add_argument("name", metavar="NAME")
    adj.add_argument("delta", metavar="DELTA", type=_whole_number)
    adj.set_defaults(func=run_adjust)


def open_db(args: argparse.Namespace) -> Database:
    if not args.user:
        raise UsageError(f"The {args.command} command needs --user NAME to know whose list to use.")
    return open_list_db(Path(args.data_dir) if args.data_dir else None, args.user, args.db)


def run_items(args: argparse.Namespace) -> int:
    with open_db(args) as db:
        rows = items_view(read_list(db))
    if args.json:
        _emit(json.dumps([{"key": r["key"], "value": r["value"]} for r in rows],
                         ensure_ascii=False))
        return 0
    width = max([len("Item"), *(len(r["key"]) for r in rows)])
    _emit("\n".join([f"{'Item':<{width}}  {'Qty':>6}",
                     *(f"{r['key']:<{width}}  {r['value']:>6}" for r in rows)]))
    return 0


def _emit(text: str) -> None:
    """Print `text`; a reader that stops early (`| head`) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush fails quietly too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _edit(args: argparse.Namespace, op: Callable[..., dict[str, Any]], amount: int) -> int:
    with open_db(args) as db:
        def change(body: dict[str, Any]) -> dict[str, Any]:
            return op(body, args.name, amount, device=db.uuid, user=args.user, now=time.time())

        try:
            body = update_list(db, change)
        except NotFoundError as err:
            raise NotFoundError(f"There is no item called {args.name!r}; "
                                f"`listsync set {args.name!r} QTY` adds it.") from err
    row = find_item(body, args.name)
    assert row is not None, "an edit that succeeded leaves its item in the list"
    print(f"{row['key']}: {row['value']}")
    return 0


def run_set(args: argparse.Namespace) -> int:
    return _edit(args, set_quantity, args.qty)


def run_adjust(args: argparse.Namespace) -> int:
    return _edit(args, adjust, args.delta)
