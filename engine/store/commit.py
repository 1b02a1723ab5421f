"""`Database._commit`: append records as one durable batch, then index them.

A big batch is indexed by a helper thread while the fdatasync runs (see
overlap.py). Until the sync returns, the index then holds records that may
never be durable: the database's mutex keeps this process's readers out
meanwhile, and if the write fails the index is rebuilt without them before
the mutex is let go, so no reader ever sees an unsaved write.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import msgpack

from engine.errors import StorageFailedError, StoreError
from engine.store import overlap
from engine.store.index import Index
from engine.store.journal import scan
from engine.store.records import build

if TYPE_CHECKING:
    from engine.store.database import Database

Item = tuple[str, list[Any], bytes | None]  # (record kind, fields, body)


def commit(db: Database, items: list[Item]) -> None:
    """Append `items` as one durable batch, then index them (caller holds the write lock)."""
    journal = db._journal
    if len(items) == 1:
        records = [journal.encode(items[0][0], False, items[0][1], items[0][2])]
    else:
        last = len(items) - 1
        records = [journal.encode(kind, i < last, fields, body)
                   for i, (kind, fields, body) in enumerate(items)]
    _write(db, records, len(records), partial(_index_from, db, items, records))


def commit_revs(db: Database, rows: list[Any], packer: msgpack.Packer) -> None:
    """`commit` for revision records given as `records.build` takes them."""
    data, spans = build(packer, rows)
    index = db._index
    _write(db, [data], len(spans) // 2, partial(index.add_revs, rows, spans))


def _write(db: Database, records: list[bytes], count: int,
           index: Callable[[int], None]) -> None:
    """Append records (`count` of them) and index them: `index(offset of the first)`."""
    journal = db._journal
    if count < overlap.MIN_RECORDS:
        try:
            offsets = journal.append(records)
        except StorageFailedError:
            db._failed = True
            raise
        index(offsets[0])
        return
    before = journal.end
    helper = overlap.borrow()
    job = partial(index, before)
    try:
        journal.append(records, partial(helper.start, job))
    except BaseException as err:
        if isinstance(err, StorageFailedError):
            db._failed = True
        if helper.busy:
            try:
                helper.wait()
            except Exception:  # the write's error is the one to report
                pass
            _unindex_from(db, before)
        raise
    else:
        helper.wait()
    finally:
        overlap.give_back(helper)


def index_batch(db: Database, items: list[Item], offsets: list[int],
                records: list[bytes]) -> None:
    """Index appended records, given where each one lies."""
    index = db._index
    for (kind, fields, body), off, rec in zip(items, offsets, records, strict=True):
        end = off + len(rec)
        if kind == "R":  # [seq, doc id, rev, ancestors, deleted]
            index.add_rev(fields[0], fields[1], fields[2], fields[3], fields[4],
                          -1 if body is None else end - len(body), 0 if body is None else len(body))
        else:
            body_len = -1 if body is None else len(body)
            index.apply([([kind, False, *fields, body], end - max(body_len, 0), body_len)])


def _index_from(db: Database, items: list[Item], records: list[bytes], start: int) -> None:
    """`index_batch` for records appended at `start`."""
    offsets = []
    for rec in records:
        offsets.append(start)
        start += len(rec)
    index_batch(db, items, offsets, records)


def _unindex_from(db: Database, end: int) -> None:
    """Rebuild the index from the records before `end`. Should even that fail, the
    handle is closed: an index that may show an unsaved write must not be read."""
    journal = db._journal
    db._index = Index(db.max_history, db.max_ancestor_bodies)
    db._cache.clear()
    journal.end = 0
    try:
        scan(journal.path, journal.fd, 0, end, db._apply_scanned)
        if journal.end != end:
            raise StoreError(f"The journal {journal.path} changed under a failed write.")
    except Exception:  # the caller raises the write's error; this one would hide it
        db.close()
