"""The cross-process lock on `<dir>/lock`: shared to read, exclusive to write.

flock locks belong to the open file, so two Database objects in one process
exclude each other like two processes do. Re-entrant within one holder: a
nested acquire while already holding the lock is a no-op.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UsageError

if TYPE_CHECKING:
    from engine.store.database import Database


class FileLock:
    """An flock on one file, counted so nested holds do not release early."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.depth = 0
        self.exclusive = False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def acquire(self, exclusive: bool) -> None:
        if self.depth:
            if exclusive and not self.exclusive:
                raise UsageError("Cannot upgrade a shared store lock to an exclusive one.")
            self.depth += 1
            return
        fcntl.flock(self.fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        self.depth = 1
        self.exclusive = exclusive

    def release(self) -> None:
        self.depth -= 1
        if not self.depth:
            self.exclusive = False
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    @contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        self.acquire(exclusive)
        try:
            yield
        finally:
            self.release()


class Hold:
    """`with db._reading()` / `db._writing()`: the database's mutex, its flock (shared
    or exclusive), then a catch-up. A plain object: every operation takes one, and
    a generator-based context manager costs more than the flock itself."""

    __slots__ = ("db", "exclusive")

    def __init__(self, db: Database, exclusive: bool) -> None:
        self.db = db
        self.exclusive = exclusive

    def __enter__(self) -> None:
        db = self.db
        db._mutex.acquire()
        try:
            db._check_open()
            if self.exclusive:
                db._check_writable()
            db._lock.acquire(self.exclusive)
            try:
                db._catch_up()
            except BaseException:
                db._lock.release()
                raise
        except BaseException:
            db._mutex.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self.db._lock.release()
        self.db._mutex.release()
