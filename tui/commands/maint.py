"""`listsync check`, `compact`, `export FILE` and `import FILE`: looking after a database.

`check` exits 0 when the journal and blobs are healthy and 1 (listing each
problem) when not; `import` merges a backup through the same rules as sync,
so it never overwrites newer data. These open an existing database only;
`import` creates an empty one (without the sample list) if there is none.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine import (
    Database,
    UsageError,
    export_backup,
    import_backup,
    list_resolver,
    open_existing,
    open_user_db,
)
from tui.commands._tls_common import data_dir_of


def register(sub: Any) -> None:
    sub.add_parser("check", help="verify the journal and blobs (exit 1 if damaged)"
                   ).set_defaults(func=run_check)
    sub.add_parser("compact", help="rewrite the journal without dropped history; "
                                   "delete unused blobs").set_defaults(func=run_compact)
    exp = sub.add_parser("export", help="write a portable backup (documents and blobs) to FILE")
    exp.add_argument("file", metavar="FILE")
    exp.set_defaults(func=run_export)
    imp = sub.add_parser("import", help="merge a backup from FILE (never overwrites newer data)")
    imp.add_argument("file", metavar="FILE")
    imp.set_defaults(func=run_import)


def _user(args: argparse.Namespace) -> str:
    if not args.user:
        raise UsageError(f"The {args.command} command needs --user NAME to know whose "
                         "database to use.")
    user: str = args.user
    return user


def _existing(args: argparse.Namespace) -> Database:
    db = open_existing(data_dir_of(args), _user(args), args.db)
    db.resolver = list_resolver
    return db


def run_check(args: argparse.Namespace) -> int:
    with _existing(args) as db:
        problems = db.check()
        for problem in problems:
            print(f"problem: {problem}")
        if problems:
            print(f"{db.path}: {len(problems)} problem(s) found.")
            return 1
        print(f"{db.path}: journal and blobs are healthy ({len(db.all_docs())} documents).")
    return 0


def run_compact(args: argparse.Namespace) -> int:
    with _existing(args) as db:
        before = db.journal_bytes
        db.compact()
        after = db.journal_bytes
    print(f"{db.path}: compacted the journal from {before:,} to {after:,} bytes of records.")
    return 0


def run_export(args: argparse.Namespace) -> int:
    target = Path(args.file).expanduser()
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name for the backup.")
    if not target.parent.is_dir():
        raise UsageError(f"The folder {target.parent} does not exist.")
    with _existing(args) as db:
        summary = export_backup(db, target)
    print(f"exported {summary.documents} documents ({summary.revisions} revisions) and "
          f"{summary.blobs} blobs to {target}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    source = Path(args.file).expanduser()
    if not source.is_file():
        raise UsageError(f"There is no backup file {source}.")
    with open_user_db(data_dir_of(args), _user(args), args.db) as db:
        db.resolver = list_resolver
        summary = import_backup(db, source)
    print(f"imported {summary.documents} documents from {source}: {summary.revisions} new "
          f"revisions, {summary.blobs} new blobs (newer local changes kept)")
    return 0
