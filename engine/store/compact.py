"""Compaction: rewrite the journal with only what the index keeps, then drop old blobs.

Order matters for crash safety: the new journal is written to a temp file and
fsynced, renamed over the old one, and the folder fsynced; only then do
unreferenced blobs go. A crash before the rename leaves the old state, after
it the new one; never a mix.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import InvalidIdError, StorageFailedError
from engine.store.blobs import blob_refs
from engine.store.index import FORMAT
from engine.store.journal import encode

if TYPE_CHECKING:
    from engine.store.database import Database

_FLUSH = 1024 * 1024  # bytes gathered before each write


def compact(db: Database, blob_grace: float) -> None:
    with db._writing():
        tmp = db.path / "journal.compact"
        try:
            _write_new_journal(db, tmp)
            db.ops.rename(tmp, db.path / "journal")
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise StorageFailedError(f"Compacting {db.path} failed ({err}); "
                                     "the database is unchanged.") from err
        try:
            db.ops.fsync_dir(db.path)
        except OSError as err:
            db._failed = True
            raise StorageFailedError(f"Compacting {db.path} failed ({err}).") from err
        db._reload()
        # A creator that crashed mid-init left this; creators hold the same lock.
        (db.path / "journal.init").unlink(missing_ok=True)
        _drop_unreferenced_blobs(db, blob_grace)


def _write_new_journal(db: Database, tmp: Path) -> None:
    index = db._index
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        pending: list[bytes] = [encode("M", False, index.uuid, index.update_seq, FORMAT)]
        size = len(pending[0])
        offset = 0

        def emit(record: bytes) -> None:
            nonlocal size, offset
            pending.append(record)
            size += len(record)
            if size >= _FLUSH:
                data = b"".join(pending)
                db.ops.write(fd, data, offset)
                offset += len(data)
                pending.clear()
                size = 0

        for seq, doc_id in index.by_seq.items():
            for node in index.docs[doc_id].ordered():
                body = None if node.loc is None else db._journal.read(*node.loc)
                emit(encode("R", False, seq, doc_id, node.rev,
                            [node.parent] if node.parent else [], node.deleted, body=body))
        for local_id, loc in sorted(index.locals.items()):
            emit(encode("L", False, local_id, body=db._journal.read(*loc)))
        data = b"".join(pending)
        db.ops.write(fd, data, offset)
        db.ops.fsync(fd)
    finally:
        os.close(fd)


def _drop_unreferenced_blobs(db: Database, grace: float) -> None:
    """Delete blobs no kept body mentions (the exclusive lock keeps savers out)."""
    index = db._index
    keep: set[object] = set()
    bodies = [n.loc for tree in index.docs.values() for n in tree.nodes.values()
              if n.loc is not None and not n.deleted]
    for loc in [*bodies, *index.locals.values()]:
        keep.update(ref.get("digest") for ref in blob_refs(db._body(loc)))
    cutoff = time.time() - grace
    for entry in os.scandir(db.blobs.dir):
        name = entry.name
        if name.startswith(".tmp-") or "sha256-" + name not in keep:
            try:
                if entry.stat().st_mtime > cutoff:
                    continue  # may belong to a save that is about to happen
            except FileNotFoundError:
                continue
            if name.startswith(".tmp-"):
                Path(entry.path).unlink(missing_ok=True)
            else:
                with contextlib.suppress(InvalidIdError):  # not a blob file: leave it
                    db.blobs.delete("sha256-" + name)
