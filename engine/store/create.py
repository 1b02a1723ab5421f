"""Opening and creating databases, and where users' databases live.

A new database is built as `journal.init` (header record, then whatever
`init(db)` writes) under the exclusive lock and renamed to `journal` only when
complete, so no process ever sees a half-initialised database and a crash
during init leaves nothing behind that counts.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import CorruptJournalError, InvalidIdError, NotFoundError, StorageFailedError
from engine.store.index import FORMAT
from engine.store.journal import FileOps, Journal, encode
from engine.store.lock import FileLock

if TYPE_CHECKING:
    from engine.store.database import Database

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/listsync`, else `~/.local/share/listsync`."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "listsync"


def check_name(name: object, what: str) -> str:
    """A user or database name must be one safe path component."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidIdError(
            f"The {what} {name!r} must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.")
    return name


def open_user_db(data_dir: Path | None, user: str, db: str = "userdb",
                 init: Callable[[Database], None] | None = None) -> Database:
    """Open (creating on first use) `<data dir>/<user>/<db>`; `init` runs once at creation."""
    from engine.store.database import Database
    path = (data_dir or default_data_dir()) / check_name(user, "user name") / check_name(
        db, "database name")
    return Database.open(path, create=True, init=init)


def _make_dirs(path: Path, ops: FileOps) -> None:
    missing = []
    cur = path
    while not cur.exists():
        missing.append(cur)
        cur = cur.parent
    for d in reversed([*missing]):
        d.mkdir(exist_ok=True)
        ops.fsync_dir(d.parent)
    blobs = path / "blobs"
    if not blobs.exists():
        blobs.mkdir(exist_ok=True)
        ops.fsync_dir(path)


def open_database(cls: type[Database], path: Path, create: bool, max_history: int,
                  max_bodies: int, init: Callable[[Database], None] | None,
                  ops: FileOps) -> Database:
    journal_path = path / "journal"
    if not create and not journal_path.is_file():
        raise NotFoundError(f"There is no database at {path}.")
    try:
        if create:
            _make_dirs(path, ops)
        lock = FileLock(path / "lock")
    except OSError as err:
        raise StorageFailedError(f"Cannot create the database folder {path}: {err}.") from err
    db = None
    try:
        if not journal_path.exists():
            with lock.hold(True):
                if not journal_path.exists():
                    return _create(cls, path, lock, max_history, max_bodies, init, ops)
        db = cls(path, lock, Journal(journal_path, ops), ops, max_history, max_bodies)
        with db._reading():
            if db._index.uuid is None:
                raise CorruptJournalError(str(journal_path), 0, "it has no header record")
        if db._torn_tail_seen:
            with db._writing():  # cut the tail now, under the exclusive lock
                pass
        return db
    except BaseException:
        if db is not None:
            db._journal.close()
        lock.close()
        raise


def _create(cls: type[Database], path: Path, lock: FileLock, max_history: int,
            max_bodies: int, init: Callable[[Database], None] | None, ops: FileOps) -> Database:
    tmp = path / "journal.init"
    tmp.unlink(missing_ok=True)  # a creator that crashed earlier; we hold the lock
    db = None
    try:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            ops.write(fd, encode("M", False, uuid.uuid4().hex, 0, FORMAT), 0)
            ops.fsync(fd)
        finally:
            os.close(fd)
        db = cls(path, lock, Journal(tmp, ops), ops, max_history, max_bodies)
        with db._writing():
            pass
        if init is not None:
            init(db)
        ops.rename(tmp, path / "journal")
        ops.fsync_dir(path)
        db._journal.path = path / "journal"
        return db
    except BaseException as err:
        if db is not None:
            db._journal.close()
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise StorageFailedError(f"Creating the database at {path} failed: {err}.") from err
        raise
