"""Storage faults swept over every write and fsync of a workload: ENOSPC or EIO at
the Nth call, once or from then on. The caller gets StorageFailedError, the write
is not acknowledged, the store refuses writes until reopened, and reopening
recovers exactly the acknowledged state. (tests/store/test_faults.py covers
single faults per operation kind, short writes and compaction steps.)"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.errors import StorageFailedError
from engine.store import Database
from engine.store.journal import FileOps
from engine.store.revs import Revision, make_rev_id


@dataclass
class NthCallFails(FileOps):
    """Real file operations; the `nth` call of kind `op` fails (and every later one too
    if `persistent`). Counting starts once `armed`."""

    op: str = "write"
    nth: int = 0
    code: int = errno.EIO
    persistent: bool = False
    armed: bool = False
    calls: dict[str, int] = field(default_factory=dict)

    def _tick(self, kind: str) -> None:
        if not self.armed:
            return
        self.calls[kind] = count = self.calls.get(kind, 0) + 1
        if kind == self.op and (count == self.nth or (self.persistent and count > self.nth)):
            raise OSError(self.code, os.strerror(self.code))

    def write(self, fd: int, data: bytes, offset: int) -> None:
        self._tick("write")
        super().write(fd, data, offset)

    def fsync(self, fd: int) -> None:
        self._tick("fsync")
        super().fsync(fd)

    def sync_data(self, fd: int) -> None:  # the journal's fdatasync
        self._tick("fsync")
        super().sync_data(fd)

    def allocate(self, fd: int, offset: int, length: int) -> None:
        # The journal's fallocate: too rare here to sweep (tests/store/test_faults.py).
        self._tick("allocate")
        super().allocate(fd, offset, length)


State = dict[str, Any]
Step = Callable[[Database, State], None]


def _revision(doc_id: str, n: int) -> Revision:
    body = {"n": n}
    rev = make_rev_id(None, False, body)
    return Revision(doc_id, rev, False, body, [rev])


def _save(doc_id: str, body: dict[str, Any]) -> Step:
    def step(db: Database, model: State) -> None:
        current = model.get(doc_id)
        model[doc_id] = db.save(doc_id, body, rev=current)
    return step


def _delete(doc_id: str) -> Step:
    def step(db: Database, model: State) -> None:
        model[doc_id] = db.delete(doc_id, rev=model[doc_id])
    return step


def _local(value: int) -> Step:
    def step(db: Database, model: State) -> None:
        db.put_local("checkpoint", {"seq": value})
        model["_local"] = value
    return step


def _blob_doc(db: Database, model: State) -> None:
    ref = db.blobs.put(b"picture bytes " * 5000, "image/png")
    model["_blob"] = ref["digest"]
    model["pic"] = db.save("pic", {"image": ref}, rev=None)


def _from_peer(db: Database, model: State) -> None:
    revs = [_revision(f"peer{i}", i) for i in range(5)]
    db.put_revisions(revs)
    model.update({r.doc_id: r.rev for r in revs})


WORKLOAD: list[Step] = [
    _save("a", {"v": 1}), _save("b", {"v": 1}), _save("a", {"v": 2}), _local(1),
    _blob_doc, _from_peer, _delete("b"), _save("c", {"v": 1}), _local(2),
    _save("a", {"v": 3}),
]


def _observed(db: Database) -> State:
    state: State = {d.id: d.rev for d in db.all_docs(include_deleted=True)}
    local = db.get_local("checkpoint")
    if local is not None:
        state["_local"] = local["seq"]
    return state


def _calls_in_workload(tmp_path: Path) -> dict[str, int]:
    ops = NthCallFails(nth=0)
    with Database.open(tmp_path / "dry", file_ops=ops) as db:
        ops.armed = True
        model: State = {}
        for step in WORKLOAD:
            step(db, model)
    return ops.calls


CASES = [(op, code, persistent) for op in ("write", "fsync")
         for code in (errno.ENOSPC, errno.EIO) for persistent in (False, True)]


@pytest.mark.parametrize(("op", "code", "persistent"), CASES,
                         ids=[f"{o}-{errno.errorcode[c]}-{'persistent' if p else 'once'}"
                              for o, c, p in CASES])
def test_a_fault_at_every_nth_call_is_refused_and_recovered(
        tmp_path: Path, op: str, code: int, persistent: bool) -> None:
    total = _calls_in_workload(tmp_path)[op]
    assert total >= 10
    for nth in range(1, total + 1):
        path = tmp_path / f"db-{nth}"
        ops = NthCallFails(op=op, nth=nth, code=code, persistent=persistent)
        acked: State = {}
        with Database.open(path, file_ops=ops) as db:
            ops.armed = True
            failed_step = -1
            for index, step in enumerate(WORKLOAD):
                attempt = dict(acked)
                try:
                    step(db, attempt)
                except StorageFailedError as err:
                    assert str(err).endswith(".")
                    failed_step = index
                    break
                acked = attempt
            assert failed_step >= 0, f"call {nth} of {op} never failed"
            assert _observed(db) == _without_blob(acked)  # reads still work, nothing unacked
            ops.armed = False  # the disk recovers; this handle still refuses (no retry-and-hope)
            with pytest.raises(StorageFailedError, match="reopen"):
                db.save("after", {}, rev=None)
            with pytest.raises(StorageFailedError):
                db.put_local("after", {})
        with Database.open(path) as db:
            assert db.check() == [], f"{op} call {nth}"
            assert _observed(db) == _without_blob(acked), f"{op} call {nth}"
            if "_blob" in acked:
                assert db.blobs.verify(acked["_blob"])
            db.save("after", {"recovered": True}, rev=None)  # writable again
            for step in WORKLOAD[failed_step:]:  # and the rest of the work goes through
                step(db, acked)
            assert _observed(db) == {**_without_blob(acked), "after": db.get("after").rev}  # type: ignore[union-attr]


def _without_blob(state: State) -> State:
    return {k: v for k, v in state.items() if k != "_blob"}
