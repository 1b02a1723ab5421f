"""Storage faults: a failed write or fsync is never acknowledged, the store then
refuses writes until reopened, and reopening recovers a consistent database."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from engine.errors import StorageFailedError
from engine.store import Database
from engine.store.journal import FileOps


class FaultyOps(FileOps):
    """Real file operations, except that the named one fails while armed."""

    def __init__(self) -> None:
        self.failing: dict[str, int] = {}

    def _maybe_fail(self, name: str) -> None:
        if name in self.failing:
            code = self.failing[name]
            raise OSError(code, os.strerror(code))

    def write(self, fd: int, data: bytes, offset: int) -> None:
        self._maybe_fail("write")
        if "short-write" in self.failing:  # half the data lands, then the disk is full
            super().write(fd, data[: len(data) // 2], offset)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        super().write(fd, data, offset)

    def fsync(self, fd: int) -> None:
        self._maybe_fail("fsync")
        super().fsync(fd)

    def sync_data(self, fd: int) -> None:
        self._maybe_fail("fsync")
        super().sync_data(fd)

    def allocate(self, fd: int, offset: int, length: int) -> None:
        self._maybe_fail("allocate")
        super().allocate(fd, offset, length)

    def rename(self, src: Path, dst: Path) -> None:
        self._maybe_fail("rename")
        super().rename(src, dst)

    def fsync_dir(self, path: Path) -> None:
        self._maybe_fail("fsync_dir")
        super().fsync_dir(path)


@pytest.mark.parametrize("fault", [("write", errno.ENOSPC), ("fsync", errno.EIO),
                                   ("short-write", errno.ENOSPC)])
def test_failed_write_is_not_acknowledged_and_blocks_writes_until_reopen(
        db_path: Path, fault: tuple[str, int]) -> None:
    ops = FaultyOps()
    db = Database.open(db_path, file_ops=ops)
    r1 = db.save("a", {"v": 1}, rev=None)
    ops.failing[fault[0]] = fault[1]
    with pytest.raises(StorageFailedError) as info:
        db.save("b", {"v": 1}, rev=None)
    assert str(info.value).endswith(".")
    assert db.get("b") is None
    ops.failing.clear()  # the disk is fine again, but this handle stays refused
    with pytest.raises(StorageFailedError):
        db.save("c", {}, rev=None)
    with pytest.raises(StorageFailedError):
        db.put_local("x", {})
    assert db.get("a").rev == r1  # type: ignore[union-attr]  # reads still work
    db.close()
    with Database.open(db_path) as db:
        assert db.get("a").rev == r1  # type: ignore[union-attr]
        assert db.get("b") is None
        assert db.check() == []
        db.save("c", {}, rev=None)


def test_failed_blob_write_leaves_no_blob_and_no_temp_file(db_path: Path) -> None:
    ops = FaultyOps()
    with Database.open(db_path, file_ops=ops) as db:
        ops.failing["fsync"] = errno.EIO
        with pytest.raises(StorageFailedError):
            db.blobs.put(b"picture", "image/png")
        assert list(db.blobs.dir.iterdir()) == []


@pytest.mark.parametrize("step", ["write", "fsync", "rename", "fsync_dir"])
def test_failure_at_any_compaction_step_leaves_old_or_new_state(
        db_path: Path, step: str) -> None:
    ops = FaultyOps()
    with Database.open(db_path, file_ops=ops) as db:
        rev = None
        for i in range(20):
            rev = db.save("d", {"i": i}, rev=rev)
        db.save("other", {"x": 1}, rev=None)
        db.put_local("cp", {"seq": 1})
        before = (db.changes(), db.get("d"), db.update_seq)
        size = (db_path / "journal").stat().st_size
        ops.failing[step] = errno.EIO
        with pytest.raises(StorageFailedError):
            db.compact()
        ops.failing.clear()
    assert not (db_path / "journal.compact").exists()
    with Database.open(db_path) as db:
        assert (db.changes(), db.get("d"), db.update_seq) == before
        assert db.get_local("cp") == {"seq": 1}
        assert db.check() == []
        compacted = (db_path / "journal").stat().st_size < size
        assert compacted == (step == "fsync_dir")  # only then had the rename happened


def test_leftovers_of_a_crashed_compaction_or_creation_are_harmless(db_path: Path) -> None:
    with Database.open(db_path) as db:
        db.save("a", {"v": 1}, rev=None)
    (db_path / "journal.compact").write_bytes(b"half a new journal")
    (db_path / "journal.init").write_bytes(b"half an old creation")
    (db_path / "blobs" / ".tmp-0123").write_bytes(b"half a blob")
    with Database.open(db_path) as db:
        assert db.get("a") is not None and db.check() == []
        db.compact(blob_grace=0)
        assert db.get("a") is not None and db.check() == []
    assert not (db_path / "journal.compact").exists()
    assert not (db_path / "journal.init").exists()
    assert list((db_path / "blobs").iterdir()) == []


def test_failed_preallocation_is_not_acknowledged_and_reopening_recovers(
        db_path: Path) -> None:
    ops = FaultyOps()
    db = Database.open(db_path, file_ops=ops)
    r1 = db.save("a", {"v": 1}, rev=None)
    ops.failing["allocate"] = errno.EIO
    with pytest.raises(StorageFailedError):  # too big for the zeros already there
        db.save("big", {"pad": "x" * 400_000}, rev=None)
    assert db.get("big") is None
    ops.failing.clear()
    with pytest.raises(StorageFailedError, match="reopen"):
        db.save("c", {}, rev=None)
    db.close()
    with Database.open(db_path) as db:
        assert db.get("a").rev == r1 and db.get("big") is None  # type: ignore[union-attr]
        assert db.check() == []
        db.save("big", {"pad": "x" * 400_000}, rev=None)
        assert db.check() == []


def test_a_disk_too_full_to_preallocate_still_takes_writes_that_fit(db_path: Path) -> None:
    ops = FaultyOps()
    with Database.open(db_path, file_ops=ops) as db:
        db.save("a", {"v": 1}, rev=None)
        ops.failing["allocate"] = errno.ENOSPC
        big = db.save("big", {"pad": "x" * 400_000}, rev=None)
        db.save("more", {"v": 2}, rev=None)
        assert db.check() == []
    with Database.open(db_path) as db:
        assert db.get("big").rev == big  # type: ignore[union-attr]
        assert {d.id for d in db.all_docs()} == {"a", "big", "more"}
