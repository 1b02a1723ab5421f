"""Big batches are indexed on a helper thread while their fdatasync runs: the index
they leave is the one a scan of the journal builds, and a batch whose write or sync
fails is never seen, though it was indexed before the sync failed."""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from engine.errors import StorageFailedError
from engine.store import Database, make_rev_id, overlap
from engine.store.revs import Revision
from tests.store.test_faults import FaultyOps

BIG = max(40, overlap.MIN_RECORDS)  # records: enough for the helper thread to index them


def _state(db: Database) -> tuple[Any, ...]:
    """Everything a reader of this handle can see."""
    docs = db.all_docs(include_deleted=True)
    return (db.update_seq, db.changes(), docs, {d.id: db.leaves(d.id) for d in docs},
            db.get_local("cp"))


def _big_save(db: Database, prefix: str) -> None:
    edits: list[tuple[str, dict[str, Any], str | None]] = [
        (f"{prefix}{i}", {"i": i, "pad": "x" * 300}, None) for i in range(BIG)]
    current = db.get("a")
    assert current is not None
    edits.append(("a", {"v": prefix}, current.rev))  # an edit of an existing document too
    db.save_many(edits)


def _big_put(db: Database, prefix: str) -> None:
    batch = []
    for i in range(BIG):
        body = {"i": i, "from": "peer"}
        rev = make_rev_id(None, False, body)
        batch.append(Revision(f"{prefix}{i}", rev, False, body, [rev]))
    current = db.get("a")
    assert current is not None
    body = {"v": prefix, "from": "peer"}
    rev = make_rev_id(current.rev, False, body)
    batch.append(Revision("a", rev, False, body, [rev, current.rev]))  # a conflict-free child
    db.put_revisions(batch)


def _seed(db: Database) -> None:
    rev = db.save("a", {"v": 0}, rev=None)
    for i in range(1, 8):  # a history long enough that the batch's edit trims a body
        rev = db.save("a", {"v": i}, rev=rev)
    db.put_local("cp", {"seq": 1})
    db.save_many([(f"old{i}", {"i": i}, None) for i in range(BIG)])


@pytest.mark.parametrize("write", [_big_save, _big_put], ids=["save_many", "put_revisions"])
def test_a_big_batch_leaves_the_index_a_scan_of_the_journal_builds(
        db_path: Path, write: Any) -> None:
    with Database.open(db_path, max_ancestor_bodies=2) as db:
        _seed(db)
        write(db, "new")
        write(db, "more")
        assert db.get("new0") is not None and db.get("a").body["v"] == "more"  # type: ignore[union-attr]
        assert db.check() == []  # compares this handle's index with a fresh scan's
        seen = _state(db)
    with Database.open(db_path, max_ancestor_bodies=2) as db:
        assert _state(db) == seen


@pytest.mark.parametrize("write", [_big_save, _big_put], ids=["save_many", "put_revisions"])
@pytest.mark.parametrize("fault", [("fsync", errno.EIO), ("write", errno.ENOSPC),
                                   ("short-write", errno.ENOSPC)])
def test_a_big_batch_whose_write_fails_is_never_seen_and_reopening_recovers(
        db_path: Path, write: Any, fault: tuple[str, int]) -> None:
    ops = FaultyOps()
    db = Database.open(db_path, file_ops=ops, max_ancestor_bodies=2)
    _seed(db)
    before = _state(db)
    ops.failing[fault[0]] = fault[1]
    with pytest.raises(StorageFailedError, match="not saved"):
        write(db, "new")
    ops.failing.clear()
    assert _state(db) == before  # the records indexed beside the failed sync are gone
    assert db.get("new0") is None and db.get_rev("new0", make_rev_id(
        None, False, {"i": 0, "from": "peer"})) is None
    with pytest.raises(StorageFailedError, match="reopen"):
        write(db, "again")
    assert _state(db) == before
    db.close()
    with Database.open(db_path, max_ancestor_bodies=2) as db:
        assert _state(db) == before
        assert db.check() == []
        write(db, "new")  # writable again, and the batch goes through
        assert db.get("new0") is not None and db.check() == []


def test_big_batches_still_work_in_a_forked_child(db_path: Path) -> None:
    """A fork copies the idle helpers but not their threads; the child makes its own."""
    with Database.open(db_path) as db:
        db.save_many([(f"parent{i}", {"i": i}, None) for i in range(BIG)])  # helpers now idle
    pid = os.fork()
    if pid == 0:  # the child: any failure, or a hang cut by the alarm, is a non-zero exit
        code = 1
        try:
            signal.alarm(30)
            with Database.open(db_path) as db:
                db.save_many([(f"child{i}", {"i": i}, None) for i in range(BIG)])
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with Database.open(db_path) as db:
        assert db.get(f"child{BIG - 1}") is not None and db.check() == []
